"""Pipeline failures end to end: AWS's example events, through the synthesized rule's input
transformer (emulated), into the handler, out as one log line without personal data.

EventBridge's behaviour for a path that the event lacks is not pinned down here [U]: the
transformer emulation renders it as null and, in a second variant, as an empty string; the
handler must behave the same under both.
"""

from __future__ import annotations

import json
import logging
import re
from types import ModuleType
from typing import Any

import pytest

from tests.conftest import Synthesized
from tests.runtime import notifications as n
from tests.runtime.helpers import Stubs, logged

PHONE_FROM, PHONE_TO = "+12065550100", "+13605550199"


def aws_example(event_type: str, **extra: Any) -> dict[str, Any]:
    """A Media Insights State Change as the Chime SDK developer guide shows it (values filled in)."""
    detail = {
        "version": "0",
        "mediaInsightsPipelineArn": "arn:aws:chime:us-east-1:111122223333:media-insights-pipeline/p-1",
        "eventType": event_type,
        "callId": n.CALL_ID,
        "transactionId": "tx-1",
        "fromNumber": PHONE_FROM,
        "toNumber": PHONE_TO,
        "voiceConnectorId": n.SERVED_CONNECTOR,
        "direction": "Inbound",
        **extra,
    }
    return {
        "version": "0",
        "id": "ev-1",
        "detail-type": "Media Insights State Change",
        "source": "aws.chime",
        "account": "111122223333",
        "region": "us-east-1",
        "time": "2024-05-01T12:00:00Z",
        "resources": [],
        "detail": detail,
    }


def transform(synth: Synthesized, event: dict[str, Any], missing: str) -> str:
    """What the health rule's InputTransformer puts on the queue for ``event``."""
    (rule,) = [v for k, v in synth.resources("AWS::Events::Rule").items() if "PipelineHealthRule" in k]
    (target,) = rule["Properties"]["Targets"]
    transformer = target["InputTransformer"]

    def lookup(path: str) -> Any:
        value: Any = event
        for part in path.removeprefix("$.").split("."):
            if not isinstance(value, dict) or part not in value:
                return None
            value = value[part]
        return value

    values = {name: lookup(path) for name, path in transformer["InputPathsMap"].items()}
    return re.sub(
        r"<([\w-]+)>",
        lambda m: missing if values[m.group(1)] is None else json.dumps(values[m.group(1)]),
        transformer["InputTemplate"],
    )


@pytest.fixture(params=["null", '""'], ids=["missing-as-null", "missing-as-empty"])
def missing(request: pytest.FixtureRequest) -> str:
    return str(request.param)


FAILURES = [
    aws_example(
        "chime:MediaInsightsCreateFailed",
        mediaInsightsPipelineConfigurationArn="arn:aws:chime:us-east-1:111122223333:media-insights-pipeline-configuration/c",
        failureOrigin="Voice Connector",
        httpStatusCode="403",
        failureReason="Access denied when assuming resource access role",
    ),
    aws_example("chime:MediaInsightsTemporaryFailure"),
    aws_example("chime:MediaInsightsPermanentFailure", failureReason=f"Stream for {PHONE_FROM} not found"),
]


@pytest.mark.parametrize("event", FAILURES, ids=lambda e: e["detail"]["eventType"])
def test_each_failure_is_logged_once_without_personal_data(
    handler: ModuleType,
    stubs: Stubs,
    single: Synthesized,
    missing: str,
    event: dict[str, Any],
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    body = transform(single, event, missing)
    for personal in (PHONE_FROM, PHONE_TO, n.CALL_ID, "Inbound"):
        if personal != PHONE_FROM or "failureReason" not in event["detail"]:
            assert personal not in body  # never even reaches the queue, except inside a reason

    # Any AWS call would hit an empty Stubber: a failure is logged, nothing is started or published.
    assert handler.handler(n.sqs_event(body), None) == {"batchItemFailures": []}

    [record] = logged(caplog, "pipeline_failure", messageId="m-0")
    assert record.levelno == logging.WARNING
    assert record.eventType == event["detail"]["eventType"]
    assert (record.voiceConnectorId, record.transactionId) == ("vc-one", "tx-1")
    expected_reason = event["detail"].get("failureReason")
    if expected_reason is None:
        assert record.failureReason is None
    else:
        assert record.failureReason == expected_reason.replace(PHONE_FROM, "<digits>")
    logs = caplog.text + json.dumps([vars(r) for r in caplog.records], default=str) + capsys.readouterr().out
    for personal in (PHONE_FROM, PHONE_TO.removeprefix("+"), n.CALL_ID):
        assert personal not in logs


def test_create_failed_carries_origin_and_status(
    handler: ModuleType, stubs: Stubs, single: Synthesized, caplog: pytest.LogCaptureFixture
) -> None:
    handler.handler(n.sqs_event(transform(single, FAILURES[0], "null")), None)
    [record] = logged(caplog, "pipeline_failure")
    assert (record.failureOrigin, record.httpStatusCode) == ("Voice Connector", "403")


@pytest.mark.parametrize(
    "event",
    [
        aws_example("chime:MediaInsightsInProgress"),
        aws_example("chime:MediaInsightsPermanentFailure", voiceConnectorId="vc-foreign"),
    ],
    ids=["not-a-failure", "other-connector"],
)
def test_other_state_changes_are_skipped(
    handler: ModuleType,
    stubs: Stubs,
    single: Synthesized,
    event: dict[str, Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    assert handler.handler(n.sqs_event(transform(single, event, "null")), None) == {"batchItemFailures": []}
    assert logged(caplog, "pipeline_failure") == []
    [record] = logged(caplog, "notification_skipped")
    assert record.levelno == logging.DEBUG
