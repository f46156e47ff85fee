"""What the three custom resource handlers share: copied helpers, tokens, clients, logging."""

from __future__ import annotations

import logging
import re
from types import ModuleType

import pytest

from tests.custom_resources.conftest import HANDLER_FOLDERS, Invoke
from tests.custom_resources.fakes import FakeChimeSdkVoice, cfn_event
from tests.support import LAMBDA_ROOT, load_handler

RETRY_BLOCK = "# ---- shared: API calls with retries"
TOKEN_BLOCK = "# ---- shared: tokens and tags"
TOKEN_PATTERN = re.compile(r"[-_a-zA-Z0-9]{2,64}")


def source(folder: str) -> str:
    return (LAMBDA_ROOT / folder / "index.py").read_text()


def block(text: str, start: str) -> str:
    begin = text.index(start)
    end = text.index("\n# ---- ", begin + 1)
    return text[begin:end]


def test_the_copied_retry_block_is_identical_in_every_handler() -> None:
    blocks = {folder: block(source(folder), RETRY_BLOCK) for folder in HANDLER_FOLDERS}

    assert len(set(blocks.values())) == 1, "edit the shared block in all three handlers"


def test_the_copied_token_and_tag_block_is_identical_where_resources_are_created() -> None:
    blocks = {
        block(source(folder), TOKEN_BLOCK)
        for folder in ("voice_profile_domain", "media_insights_configuration")
    }

    assert len(blocks) == 1


@pytest.mark.parametrize("folder", ["voice_profile_domain", "media_insights_configuration"])
def test_tokens_are_deterministic_64_char_and_per_request(folder: str) -> None:
    handler = load_handler(folder)
    event = cfn_event("Create", {}, request_id="5a7b0c1d-aaaa-bbbb-cccc-0123456789ab")

    token = handler.client_request_token(event)

    assert TOKEN_PATTERN.fullmatch(token)
    assert len(token) == 64
    assert handler.client_request_token(dict(event)) == token
    assert handler.client_request_token({**event, "RequestId": "other"}) != token
    assert handler.client_request_token({**event, "LogicalResourceId": "Other"}) != token


@pytest.mark.parametrize(
    ("folder", "service"),
    [
        ("voice_profile_domain", "chime-sdk-voice"),
        ("media_insights_configuration", "chime-sdk-media-pipelines"),
        ("streaming_association", "chime-sdk-voice"),
    ],
)
def test_the_default_client_uses_standard_retries_and_is_created_once(folder: str, service: str) -> None:
    handler = load_handler(folder)

    client = handler._client()

    assert client.meta.service_model.service_name == service
    assert client.meta.region_name == "us-east-1"
    assert client.meta.config.retries == {"mode": "standard", "total_max_attempts": 3}
    assert handler._client() is client


@pytest.mark.parametrize("folder", HANDLER_FOLDERS)
def test_unknown_request_types_are_rejected(folder: str) -> None:
    handler = load_handler(folder)

    with pytest.raises(ValueError, match="RequestType"):
        handler.handle(cfn_event("Replace", {}), object())


def test_logs_carry_no_key_arn_or_token(
    domain_handler: ModuleType, voice: FakeChimeSdkVoice, invoke: Invoke, caplog: pytest.LogCaptureFixture
) -> None:
    key = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    event = cfn_event("Create", {"Name": "callers", "KmsKeyArn": key})
    voice.fail("CreateVoiceProfileDomain", "ThrottledClientException")

    with caplog.at_level(logging.DEBUG):
        invoke(domain_handler, voice, event)

    logged = " ".join(f"{record.getMessage()} {record.__dict__}" for record in caplog.records)
    assert {"request", "api_retry", "domain_created"} <= {record.getMessage() for record in caplog.records}
    assert key not in logged
    assert domain_handler.client_request_token(event) not in logged
