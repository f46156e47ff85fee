"""What the three custom-resource type modules share: lambda/_common/cfn_custom_resource.py, clients, logging.

The shared module is tested directly here; the per-handler files test it again through each handler's
lifecycle (throttling, conflicts, tags, tokens in the stubbed requests).
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Callable
from types import ModuleType
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.custom_resources.conftest import FUNCTION_ROOT, TYPE_MODULES, Invoke, load
from tests.custom_resources.fakes import FakeChimeSdkVoice, cfn_event
from tests.support import LAMBDA_ROOT

TOKEN_PATTERN = re.compile(r"[-_a-zA-Z0-9]{2,64}")
TOKEN_HANDLERS = ("voice_profile_domain", "media_insights_configuration")


def call(shared: ModuleType, *args: Any, **kwargs: Any) -> Any:
    """``call_api`` with a deadline far enough away not to matter."""
    return shared.call_api(*args, deadline=shared.Deadline.after(900.0), **kwargs)


def sync(shared: ModuleType, *args: Any) -> None:
    shared.sync_tags(*args, deadline=shared.Deadline.after(900.0))


def client_error(code: str, message: str = "details") -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, "Operation")


class Flaky:
    """A callable API method: raises the given error codes in turn, then returns ``result``."""

    def __init__(self, *codes: str, result: Any = None) -> None:
        self.codes = list(codes)
        self.result = {"ok": True} if result is None else result
        self.calls: list[dict[str, Any]] = []

    def __call__(self, **kwargs: Any) -> Any:
        self.calls.append(kwargs)
        if self.codes:
            raise client_error(self.codes.pop(0))
        return self.result


class AlwaysFailing:
    def __init__(self, code: str) -> None:
        self.code = code
        self.calls = 0

    def __call__(self, **kwargs: Any) -> Any:
        self.calls += 1
        raise client_error(self.code, "still busy")


class TagClient:
    def __init__(self, untag: Callable[..., Any] | None = None) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self._untag = untag

    def untag_resource(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(("UntagResource", kwargs))
        if self._untag is not None:
            self._untag(**kwargs)
        return {}

    def tag_resource(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(("TagResource", kwargs))
        return {}


# -- every handler uses the one shared module ------------------------------------------------------------


@pytest.mark.parametrize("folder", TYPE_MODULES)
def test_each_handler_uses_the_shared_module_and_keeps_no_copy(folder: str, shared: ModuleType) -> None:
    handler = load(folder)

    assert handler.call_api is shared.call_api
    assert handler.ApiError is shared.ApiError
    # The client comes from the shared getter, so it has the shared BOTO_CONFIG.
    assert handler._client.__qualname__ == "lazy_client.<locals>.client"
    for copied in (
        "_sleep",
        "_backoff_s",
        "_call",
        "_CLIENT",
        "BOTO_CONFIG",
        "THROTTLE_ATTEMPTS",
        "BACKOFF_BASE_S",
        "BACKOFF_CAP_S",
    ):
        assert not hasattr(handler, copied), f"{folder} still defines {copied}"
    text = (FUNCTION_ROOT / f"{folder}.py").read_text()
    assert "# ---- shared" not in text
    assert "def call_api" not in text
    assert "class ApiError" not in text


@pytest.mark.parametrize("folder", TOKEN_HANDLERS)
def test_handlers_that_create_resources_use_the_shared_tokens_and_tags(
    folder: str, shared: ModuleType
) -> None:
    handler = load(folder)

    assert handler.client_request_token is shared.client_request_token
    assert handler.parse_tags is shared.parse_tags
    assert handler.sync_tags is shared.sync_tags
    assert "def client_request_token" not in (FUNCTION_ROOT / f"{folder}.py").read_text()


def test_patching_the_shared_sleep_reaches_a_handlers_retries(
    domain_handler: ModuleType,
    voice: FakeChimeSdkVoice,
    invoke: Invoke,
    shared: ModuleType,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    slept: list[float] = []
    monkeypatch.setattr(load("aws_calls"), "_sleep", slept.append)
    voice.fail("CreateVoiceProfileDomain", "ThrottledClientException", times=2)
    key = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"

    invoke(domain_handler, voice, cfn_event("Create", {"Name": "callers", "KmsKeyArn": key}))

    assert len(slept) == 2


# -- tokens ------------------------------------------------------------------------------------------------


def test_tokens_are_deterministic_64_char_and_per_request(shared: ModuleType) -> None:
    event = cfn_event("Create", {}, request_id="5a7b0c1d-aaaa-bbbb-cccc-0123456789ab")

    token = shared.client_request_token(event)

    assert TOKEN_PATTERN.fullmatch(token)
    assert len(token) == 64
    assert shared.client_request_token(dict(event)) == token
    assert shared.client_request_token({**event, "RequestId": "other"}) != token
    assert shared.client_request_token({**event, "LogicalResourceId": "Other"}) != token
    assert shared.client_request_token({**event, "StackId": event["StackId"] + "x"}) != token


def test_token_is_the_sha256_of_stack_logical_id_and_request(shared: ModuleType) -> None:
    event = {"StackId": "stack", "LogicalResourceId": "Domain", "RequestId": "req-1", "Other": "ignored"}

    assert shared.client_request_token(event) == hashlib.sha256(b"stack|Domain|req-1").hexdigest()


# -- API calls with retries ----------------------------------------------------------------------------------


def test_botocore_never_retries_because_aws_calls_does(shared: ModuleType) -> None:
    config = shared.client_config()
    assert config.retries == {"total_max_attempts": 1}
    assert config.connect_timeout == shared.CONNECT_TIMEOUT_S == 5
    assert config.read_timeout == shared.READ_TIMEOUT_S == 30
    assert shared.ATTEMPT_COST_S == 35


def test_a_successful_call_passes_keyword_arguments_and_returns_the_response(
    shared: ModuleType, sleeps: list[float]
) -> None:
    fn = Flaky(result={"Thing": 1})

    assert call(shared, "GetThing", "thing 'a'", fn, Id="a", Flag=True) == {"Thing": 1}
    assert fn.calls == [{"Id": "a", "Flag": True}]
    assert sleeps == []


def test_throttling_is_retried_with_full_jitter_backoff(
    shared: ModuleType, sleeps: list[float], caplog: pytest.LogCaptureFixture
) -> None:
    fn = Flaky("ThrottledClientException", "ThrottledClientException", "ThrottledClientException")

    with caplog.at_level(logging.INFO):
        assert call(shared, "GetThing", "thing 'a'", fn, Id="a") == {"ok": True}

    assert len(fn.calls) == 4
    assert len(sleeps) == 3
    for attempt, delay in enumerate(sleeps, start=1):
        assert 0 <= delay <= min(shared.BACKOFF_CAP_S, shared.BACKOFF_BASE_S * 2 ** (attempt - 1))
    (retried,) = [r for r in caplog.records if r.getMessage() == "api_retried"]
    assert retried.__dict__["attempts"] == 4
    assert retried.__dict__["operation"] == "GetThing"


@pytest.mark.parametrize(
    ("code", "status"),
    [
        ("ThrottledClientException", 429),
        ("Throttling", 400),
        ("ThrottlingException", 400),
        ("TooManyRequestsException", 400),
        ("SomethingElse", 429),
    ],
)
def test_every_form_of_throttling_is_retried(
    shared: ModuleType, sleeps: list[float], code: str, status: int
) -> None:
    """Both services: chime-sdk-voice says ThrottledClientException, media pipelines Throttling, and
    an HTTP 429 is throttling whatever its code."""
    error = ClientError({"Error": {"Code": code}, "ResponseMetadata": {"HTTPStatusCode": status}}, "Op")
    outcomes: list[Any] = [error, {"ok": True}]

    def fn() -> Any:
        outcome = outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    assert call(shared, "GetThing", "thing 'a'", fn) == {"ok": True}
    assert len(sleeps) == 1


def test_throttling_on_every_attempt_gives_up_after_the_attempt_limit(
    shared: ModuleType, sleeps: list[float]
) -> None:
    fn = AlwaysFailing("ThrottledClientException")

    with pytest.raises(shared.ApiError) as excinfo:
        call(shared, "PutThing", "thing 'a'", fn)

    assert shared.THROTTLE_ATTEMPTS == 5
    assert fn.calls == shared.THROTTLE_ATTEMPTS
    assert len(sleeps) == shared.THROTTLE_ATTEMPTS - 1
    assert str(excinfo.value) == (
        f"PutThing failed for thing 'a': ThrottledClientException: still busy "
        f"(after {shared.THROTTLE_ATTEMPTS} attempts)"
    )
    assert excinfo.value.code == "ThrottledClientException"
    assert excinfo.value.operation == "PutThing"
    assert isinstance(excinfo.value.__cause__, ClientError)


def test_other_errors_fail_at_once_naming_operation_resource_and_code(
    shared: ModuleType, sleeps: list[float]
) -> None:
    fn = Flaky("AccessDeniedException")

    with pytest.raises(shared.ApiError) as excinfo:
        call(shared, "CreateThing", "thing 'a'", fn)

    assert str(excinfo.value) == "CreateThing failed for thing 'a': AccessDeniedException: details"
    assert isinstance(excinfo.value, RuntimeError)
    assert len(fn.calls) == 1
    assert sleeps == []


def test_an_error_without_code_is_reported_as_unknown(shared: ModuleType) -> None:
    def fn() -> None:
        raise ClientError({}, "Operation")

    with pytest.raises(shared.ApiError, match=r"^GetThing failed for thing: Unknown: $") as excinfo:
        call(shared, "GetThing", "thing", fn)
    assert excinfo.value.code == "Unknown"


def test_conflicts_are_not_retried_without_a_budget(shared: ModuleType, sleeps: list[float]) -> None:
    fn = Flaky("ConflictException")

    with pytest.raises(shared.ApiError, match=r"ConflictException: details$"):
        call(shared, "DeleteThing", "thing 'a'", fn)

    assert len(fn.calls) == 1
    assert sleeps == []


def test_a_short_conflict_is_waited_out_within_the_budget(shared: ModuleType, sleeps: list[float]) -> None:
    fn = Flaky("ConflictException", "ConflictException")

    assert call(shared, "DeleteThing", "thing 'a'", fn, conflict_budget_s=20.0, Id="a") == {"ok": True}

    assert len(fn.calls) == 3
    assert len(sleeps) == 2


def test_a_lasting_conflict_is_retried_until_the_budget_is_spent(
    shared: ModuleType, sleeps: list[float]
) -> None:
    fn = AlwaysFailing("ConflictException")
    budget = 30.0

    with pytest.raises(
        shared.ApiError, match=r"DeleteThing failed for thing 'a': ConflictException: .*attempts"
    ):
        call(shared, "DeleteThing", "thing 'a'", fn, conflict_budget_s=budget)

    assert budget - shared.BACKOFF_CAP_S < sum(sleeps) <= budget
    assert fn.calls == len(sleeps) + 1
    assert fn.calls > shared.THROTTLE_ATTEMPTS  # the conflict budget, not the throttle limit, decides


def test_any_positive_conflict_budget_waits_out_conflicts_and_ends_within_it(
    shared: ModuleType, sleeps: list[float], small_jitter: float
) -> None:
    fn = Flaky(*["ConflictException"] * 7)

    assert call(shared, "DeleteThing", "thing 'a'", fn, conflict_budget_s=1.0) == {"ok": True}
    assert len(fn.calls) == 8  # more than THROTTLE_ATTEMPTS: the budget, not the count, decides

    sleeps.clear()
    lasting = AlwaysFailing("ConflictException")
    with pytest.raises(shared.ApiError, match="ConflictException"):
        call(shared, "DeleteThing", "thing 'a'", lasting, conflict_budget_s=1.0)
    # The call's own deadline is the budget (plus one attempt), far inside the 900 s one it was given.
    assert 1.0 - small_jitter < sum(sleeps) <= 1.0


def test_the_message_counts_attempts_from_the_second_one_on(shared: ModuleType) -> None:
    fn = Flaky("ThrottledClientException", "AccessDeniedException")

    with pytest.raises(shared.ApiError) as excinfo:
        call(shared, "CreateThing", "thing 'a'", fn)

    assert (
        str(excinfo.value)
        == "CreateThing failed for thing 'a': AccessDeniedException: details (after 2 attempts)"
    )


def test_an_error_that_is_no_aws_answer_is_named_by_its_type_without_a_message(shared: ModuleType) -> None:
    def fn() -> None:
        raise KeyError("local bug")

    with pytest.raises(shared.ApiError, match=r"^GetThing failed for thing 'a': KeyError: $"):
        call(shared, "GetThing", "thing 'a'", fn)


# -- tags --------------------------------------------------------------------------------------------------


def test_tags_parse_into_an_ordered_dict(shared: ModuleType) -> None:
    tags = [{"Key": "team", "Value": "voice"}, {"Key": "env"}, {"Key": "k" * 128, "Value": "v" * 256}]

    assert list(shared.parse_tags(tags, 3).items()) == [
        ("team", "voice"),
        ("env", ""),
        ("k" * 128, "v" * 256),
    ]


@pytest.mark.parametrize("value", [None, "", []])
def test_absent_tags_are_empty(shared: ModuleType, value: Any) -> None:
    assert shared.parse_tags(value, 50) == {}


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("team=voice", r"Invalid property Tags='team=voice': expected a list of at most 2 \{Key, Value\}"),
        ([{"Key": str(i), "Value": ""} for i in range(3)], r"at most 2 \{Key, Value\}"),
        (["team"], r"Invalid property Tags item 'team': expected Key \(1-128 chars\) and Value \(0-256\)"),
        ([{"Value": "x"}], "Tags item"),
        ([{"Key": "", "Value": "x"}], "Tags item"),
        ([{"Key": "k" * 129, "Value": "x"}], "Tags item"),
        ([{"Key": "k", "Value": "v" * 257}], "Tags item"),
        ([{"Key": "k", "Value": 1}], "Tags item"),
        (
            [{"Key": "k", "Value": "a"}, {"Key": "k", "Value": "b"}],
            "Invalid property Tags: duplicate Key 'k'",
        ),
    ],
)
def test_invalid_tags_are_rejected_naming_the_problem(shared: ModuleType, value: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        shared.parse_tags(value, 2)


def test_previous_tags_are_read_leniently(shared: ModuleType) -> None:
    assert shared.previous_tags([{"Key": "a", "Value": "1"}], 2) == {"a": "1"}
    assert shared.previous_tags("not a list", 2) == {}
    assert shared.previous_tags([{"Key": "a"}, {"Key": "a"}], 2) == {}


def test_sync_tags_sends_only_the_difference(shared: ModuleType) -> None:
    client = TagClient()
    old = {"keep": "1", "change": "old", "drop": "x"}
    new = {"keep": "1", "change": "new", "add": "y"}

    sync(shared, client, "arn:thing", "thing 'a'", old, new)

    assert client.calls == [
        ("UntagResource", {"ResourceARN": "arn:thing", "TagKeys": ["drop"]}),
        (
            "TagResource",
            {
                "ResourceARN": "arn:thing",
                "Tags": [{"Key": "change", "Value": "new"}, {"Key": "add", "Value": "y"}],
            },
        ),
    ]


def test_sync_tags_makes_no_call_when_nothing_changed(shared: ModuleType) -> None:
    client = TagClient()

    sync(shared, client, "arn:thing", "thing 'a'", {"a": "1"}, {"a": "1"})
    sync(shared, client, "arn:thing", "thing 'a'", {}, {})

    assert client.calls == []


def test_sync_tags_retries_throttling_and_names_the_resource_on_failure(
    shared: ModuleType, sleeps: list[float]
) -> None:
    throttled = TagClient(untag=Flaky("ThrottledClientException"))
    sync(shared, throttled, "arn:thing", "thing 'a'", {"a": "1"}, {})
    assert [name for name, _ in throttled.calls] == ["UntagResource", "UntagResource"]
    assert len(sleeps) == 1

    denied = TagClient(untag=Flaky("AccessDeniedException"))
    with pytest.raises(shared.ApiError, match=r"^UntagResource failed for thing 'a': AccessDeniedException"):
        sync(shared, denied, "arn:thing", "thing 'a'", {"a": "1"}, {"b": "2"})
    assert [name for name, _ in denied.calls] == ["UntagResource"]


# -- clients, request types, logging -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("folder", "service"),
    [
        ("voice_profile_domain", "chime-sdk-voice"),
        ("media_insights_configuration", "chime-sdk-media-pipelines"),
        ("streaming_association", "chime-sdk-voice"),
    ],
)
def test_the_default_client_never_retries_and_is_created_once(folder: str, service: str) -> None:
    handler = load(folder)

    client = handler._client()

    assert client.meta.service_model.service_name == service
    assert client.meta.region_name == "us-east-1"
    assert client.meta.config.retries["total_max_attempts"] == 1
    assert handler._client() is client


@pytest.mark.parametrize("folder", TYPE_MODULES)
def test_unknown_request_types_are_rejected(folder: str) -> None:
    handler = load(folder)

    with pytest.raises(ValueError, match="RequestType"):
        handler.handle(cfn_event("Replace", {}), object(), load("cfn_custom_resource").Deadline.after(60.0))


def test_logs_carry_no_key_arn_or_token(
    domain_handler: ModuleType, voice: FakeChimeSdkVoice, invoke: Invoke, caplog: pytest.LogCaptureFixture
) -> None:
    key = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    event = cfn_event("Create", {"Name": "callers", "KmsKeyArn": key})
    voice.fail("CreateVoiceProfileDomain", "ThrottledClientException")

    with caplog.at_level(logging.DEBUG):
        invoke(domain_handler, voice, event)

    logged = " ".join(f"{record.getMessage()} {record.__dict__}" for record in caplog.records)
    assert {"request", "api_retried", "domain_created"} <= {record.getMessage() for record in caplog.records}
    assert key not in logged
    assert domain_handler.client_request_token(event) not in logged


def test_a_throttle_after_a_long_conflict_wait_still_gets_its_own_retries(
    shared: ModuleType, sleeps: list[float]
) -> None:
    """A configuration delete waits out conflicts for minutes; a throttle then must not fail it
    (the call is bounded by its time budget, not by the throttle attempt count)."""
    fn = Flaky(*(["ConflictException"] * 8), "ThrottledClientException", "ThrottledClientException")

    assert call(shared, "DeleteThing", "thing 'a'", fn, conflict_budget_s=600.0) == {"ok": True}

    assert len(fn.calls) == 11
    assert len(sleeps) == 10


def test_every_call_goes_through_the_one_aws_calls_loop(
    domain_handler: ModuleType, voice: FakeChimeSdkVoice, invoke: Invoke, monkeypatch: pytest.MonkeyPatch
) -> None:
    """cfn_custom_resource keeps no retry loop of its own: aws_calls.call runs every attempt."""
    calls = load("aws_calls")
    real = calls.call
    operations: list[str] = []

    def spy(fn: Callable[[], Any], **kwargs: Any) -> Any:
        operations.append(kwargs["operation"])
        return real(fn, **kwargs)

    monkeypatch.setattr(calls, "call", spy)
    key = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    voice.fail("CreateVoiceProfileDomain", "ThrottledClientException")

    invoke(domain_handler, voice, cfn_event("Create", {"Name": "callers", "KmsKeyArn": key}))

    assert operations == ["CreateVoiceProfileDomain"]
    assert voice.count("CreateVoiceProfileDomain") == 2
    source = (LAMBDA_ROOT / "_common" / "cfn_custom_resource.py").read_text()
    assert "while True" not in source
    assert "_sleep(" not in source
