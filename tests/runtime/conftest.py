"""Fixtures for the speaker-search runtime tests.

Every test gets an isolated AWS environment (fake credentials, us-east-1, no profile, no
endpoint overrides) and a freshly reset handler module whose backoff sleeps are recorded instead
of slept and whose jitter is seeded.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import aws_calls
import boto3
import clients
import pytest
import settings
from botocore.stub import Stubber
from moto import mock_aws

from tests.runtime.fake_aws import FakeAws
from tests.runtime.helpers import Stubs
from tests.support import load_handler, use_offline_aws

HANDLER_ENV = {
    "VOICE_PROFILE_DOMAIN_ID": "vpd-0123456789",
    "CALL_LEG": "Caller",
    "VOICE_CONNECTOR_IDS": "vc-one, vc-two",
    "EVENT_BUS_NAME": "speaker-bus",
    "SEARCH_ID": "search-abc",
    "LOG_LEVEL": "DEBUG",
}


@pytest.fixture(autouse=True)
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    use_offline_aws(monkeypatch, HANDLER_ENV)


@dataclass
class SleepRecorder:
    delays: list[float] = field(default_factory=list)

    def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


@pytest.fixture
def sleeps() -> SleepRecorder:
    return SleepRecorder()


@pytest.fixture
def handler(monkeypatch: pytest.MonkeyPatch, sleeps: SleepRecorder) -> Iterator[ModuleType]:
    """The handler module, reset to the test environment, with instant deterministic backoff."""
    mod = load_handler("speaker_search")
    monkeypatch.setattr(aws_calls, "_sleep", sleeps)
    monkeypatch.setattr(aws_calls, "_rng", random.Random(1234))
    mod.reset_for_tests()
    yield mod
    mod.reset_for_tests()


@pytest.fixture
def stubs(handler: ModuleType) -> Iterator[Stubs]:
    """botocore Stubbers on the handler's real clients (requests are validated against the models).

    Also captures every PutEvents request so tests can inspect the Detail JSON itself.
    """
    chime, events = clients.chime(), clients.events()
    captured: list[dict[str, Any]] = []
    events.meta.events.register(
        "before-parameter-build.events.PutEvents", lambda params, **_: captured.append(params)
    )
    with Stubber(chime) as chime_stub, Stubber(events) as events_stub:
        yield Stubs(chime_stub, events_stub, captured)
        chime_stub.assert_no_pending_responses()
        events_stub.assert_no_pending_responses()


@pytest.fixture
def fake_aws(handler: ModuleType, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeAws]:
    """A local fake AWS on 127.0.0.1 that the handler's real clients talk to over HTTP.

    Client timeouts are shortened so slow-response faults cost fractions of a second.
    """
    fake = FakeAws().start()
    monkeypatch.setenv("AWS_ENDPOINT_URL_CHIME_SDK_VOICE", fake.url)
    monkeypatch.setenv("AWS_ENDPOINT_URL_EVENTBRIDGE", fake.url)
    monkeypatch.setattr(clients, "CONNECT_TIMEOUT_S", 0.5)
    monkeypatch.setattr(clients, "READ_TIMEOUT_S", 0.3)
    monkeypatch.setattr(clients, "SAFETY_MARGIN_S", 0.2)
    handler.reset_for_tests()
    try:
        yield fake
    finally:
        fake.stop()


#: A reply slower than :func:`roomy_timeouts`' read timeout, so it always ends in a read timeout.
SLOWER_THAN_ROOMY_READ_TIMEOUT_S = 2.5


@pytest.fixture
def roomy_timeouts(handler: ModuleType, fake_aws: FakeAws, monkeypatch: pytest.MonkeyPatch) -> None:
    """Timeouts for tests that count attempts exactly: on a loaded machine an ordinary reply of the
    local fake can take longer than the 0.3 s read timeout above, which would add an attempt."""
    monkeypatch.setattr(clients, "CONNECT_TIMEOUT_S", 1.0)
    monkeypatch.setattr(clients, "READ_TIMEOUT_S", 1.0)
    handler.reset_for_tests()


@dataclass
class StateAws:
    """moto's in-process DynamoDB and SQS: the state table and the dead-letter queue."""

    table_name: str
    dead_letter_queue_url: str

    def items(self) -> list[dict[str, Any]]:
        return boto3.client("dynamodb").scan(TableName=self.table_name)["Items"]

    def dead_letters(self) -> list[dict[str, Any]]:
        """The messages in the dead-letter queue (received with visibility 0: they stay there)."""
        response = boto3.client("sqs").receive_message(
            QueueUrl=self.dead_letter_queue_url,
            MaxNumberOfMessages=10,
            MessageAttributeNames=["All"],
            VisibilityTimeout=0,
        )
        return response.get("Messages", [])


@pytest.fixture(scope="module")
def _moto() -> Iterator[StateAws]:
    """moto started once per module (starting it and creating the resources costs seconds)."""
    with mock_aws():
        boto3.client("dynamodb", region_name="us-east-1").create_table(
            TableName="speaker-search-state",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        sqs = boto3.client("sqs", region_name="us-east-1")
        yield StateAws("speaker-search-state", sqs.create_queue(QueueName="speaker-search-dlq")["QueueUrl"])


@pytest.fixture
def state_aws(handler: ModuleType, monkeypatch: pytest.MonkeyPatch, _moto: StateAws) -> StateAws:
    """The handler with its state table and dead-letter queue served by moto, both emptied.

    moto intercepts only the AWS endpoints it serves; the chime/events fakes on 127.0.0.1 and
    botocore Stubbers keep working beside it.
    """
    ddb = boto3.client("dynamodb")
    for item in ddb.scan(TableName=_moto.table_name)["Items"]:
        ddb.delete_item(TableName=_moto.table_name, Key={"pk": item["pk"]})
    sqs = boto3.client("sqs")
    while messages := sqs.receive_message(QueueUrl=_moto.dead_letter_queue_url, MaxNumberOfMessages=10).get(
        "Messages"
    ):
        for message in messages:
            sqs.delete_message(QueueUrl=_moto.dead_letter_queue_url, ReceiptHandle=message["ReceiptHandle"])
    monkeypatch.setenv("STATE_TABLE_NAME", _moto.table_name)
    monkeypatch.setenv("DEAD_LETTER_QUEUE_URL", _moto.dead_letter_queue_url)
    settings.reset()  # not the clients: a Stubber may already sit on the chime client
    return _moto
