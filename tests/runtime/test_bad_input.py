"""Bad input corpus: each case sits in a batch next to a good record and must affect only itself.

Policy under test (module docstring of the handler): malformed -> ``notification_rejected``
(WARNING) and a batch item failure, so SQS moves it to the DLQ after maxReceiveCount; not ours
to handle -> ``notification_skipped``, counted as done.
"""

from __future__ import annotations

import json
import logging
from types import ModuleType
from typing import Any

import pytest
import results

from tests.runtime import notifications as n
from tests.runtime.helpers import Stubs, logged, reconfigure
from tests.runtime.test_stubbed import PUT_OK, expect_start

REJECT, SKIP = "notification_rejected", "notification_skipped"


def ready_with(**detail: Any) -> dict[str, Any]:
    notification = n.analytics_ready()
    notification["detail"].update(detail)
    return notification


def ready_without(key: str) -> dict[str, Any]:
    notification = n.analytics_ready()
    del notification["detail"][key]
    return notification


def result_with(**detail: Any) -> dict[str, Any]:
    notification = n.search_status()
    notification["detail"].update(detail)
    return notification


def nested(levels: int) -> str:
    body = json.dumps(n.analytics_ready())
    for _ in range(levels):
        body = n.sns_envelope(body)
    return body


CORPUS: list[tuple[str, Any, str, str]] = [
    # (case id, SQS body, expected log message, expected text in the logged reason)
    ("not-json", "{not json", REJECT, "not valid JSON"),
    ("empty-body", "", REJECT, "not valid JSON"),
    ("json-array", "[1, 2]", REJECT, "JSON array"),
    ("json-number", "42", REJECT, "JSON number"),
    ("json-null", "null", REJECT, "JSON null"),
    ("json-bool", "true", REJECT, "JSON boolean"),
    ("json-string-of-text", '"hello"', REJECT, "not valid JSON"),
    ("json-string-of-number", '"42"', REJECT, "JSON number"),
    ("sns-wrapped-text", n.sns_envelope("plain text message"), REJECT, "not valid JSON"),
    ("sns-wrapped-array", n.sns_envelope("[]"), REJECT, "JSON array"),
    ("records-wrapped-text", n.records_wrapper("hello"), REJECT, "not valid JSON"),
    ("records-wrapper-empty", n.records_wrapper(), REJECT, "0 entries"),
    (
        "records-wrapper-two",
        n.records_wrapper(n.analytics_ready(), n.analytics_ready("tx-9")),
        REJECT,
        "2 entries",
    ),
    ("object-without-detail-type", {"hello": "world"}, REJECT, "no detail-type"),
    ("too-deeply-wrapped", nested(4), REJECT, "unwrapping steps"),
    ("detail-type-int", {**n.analytics_ready(), "detail-type": 7}, REJECT, "detail-type must be a string"),
    (
        "detail-missing",
        {k: v for k, v in n.analytics_ready().items() if k != "detail"},
        REJECT,
        "detail must be",
    ),
    ("detail-list", {**n.analytics_ready(), "detail": []}, REJECT, "detail must be an object, got array"),
    ("detail-status-missing", ready_without("detailStatus"), REJECT, "detailStatus"),
    ("detail-status-int", ready_with(detailStatus=3), REJECT, "detailStatus must be a non-empty string"),
    ("transaction-missing", ready_without("transactionId"), REJECT, "transactionId is missing"),
    ("transaction-empty", ready_with(transactionId=""), REJECT, "transactionId is empty"),
    ("transaction-blank", ready_with(transactionId="   "), REJECT, "transactionId is empty"),
    (
        "transaction-int",
        ready_with(transactionId=12345),
        REJECT,
        "transactionId must be a string, got number",
    ),
    ("transaction-list", ready_with(transactionId=["tx"]), REJECT, "got array"),
    ("transaction-dict", ready_with(transactionId={"id": "tx"}), REJECT, "got dict"),
    ("transaction-oversized", ready_with(transactionId="t" * 1025), REJECT, "longer than 1024"),
    ("connector-missing", ready_without("voiceConnectorId"), REJECT, "voiceConnectorId is missing"),
    ("connector-empty", ready_with(voiceConnectorId=""), REJECT, "voiceConnectorId is empty"),
    ("connector-int", ready_with(voiceConnectorId=1), REJECT, "voiceConnectorId must be a string"),
    ("connector-list", ready_with(voiceConnectorId=["vc-one"]), REJECT, "voiceConnectorId must be a string"),
    ("connector-oversized", ready_with(voiceConnectorId="v" * 5000), REJECT, "longer than 1024"),
    ("result-task-missing", result_with(taskId=None), REJECT, "taskId is missing"),
    ("result-task-int", result_with(taskId=5), REJECT, "taskId must be a string"),
    ("result-connector-int", result_with(voiceConnectorId=5), REJECT, "voiceConnectorId must be a string"),
    ("result-details-list", result_with(speakerSearchDetails=[]), REJECT, "speakerSearchDetails must be"),
    (
        "result-results-dict",
        result_with(speakerSearchDetails={"results": {}}),
        REJECT,
        "results must be an array",
    ),
    (
        "unknown-detail-type",
        n.envelope("Chime VoiceConnector Streaming Status", {}),
        SKIP,
        "unknown detail-type",
    ),
    ("unknown-search-status", n.search_status("IdentificationMaybe"), SKIP, "unknown SpeakerSearchStatus"),
]


@pytest.mark.parametrize(("body", "message", "reason"), [c[1:] for c in CORPUS], ids=[c[0] for c in CORPUS])
def test_bad_record_affects_only_itself(
    handler: ModuleType, stubs: Stubs, caplog: pytest.LogCaptureFixture, body: Any, message: str, reason: str
) -> None:
    expect_start(stubs, transaction_id="tx-good")
    event = n.sqs_event(
        n.analytics_ready("tx-good"), body, n.analytics_ready("tx-good", notification_id="n-dup")
    )
    expect_start(stubs, transaction_id="tx-good")  # the duplicate after the bad record is processed too

    result = handler.handler(event, None)  # must not raise

    expected_failures = [{"itemIdentifier": "m-1"}] if message == REJECT else []
    assert result == {"batchItemFailures": expected_failures}
    assert len(logged(caplog, "speaker_search_started")) == 2
    [record] = logged(caplog, message, messageId="m-1")
    assert reason in record.reason
    assert record.levelno == logging.WARNING
    assert len(record.reason) < 200  # a reason, not an echo of the payload


def test_invalid_call_leg_fails_starts_but_still_publishes_results(
    handler: ModuleType, stubs: Stubs, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    reconfigure(handler, monkeypatch, CALL_LEG="caller")
    stubs.events.add_response("put_events", PUT_OK)
    event = n.sqs_event(n.analytics_ready("tx-1"), n.search_status(is_caller=True), n.analytics_ready("tx-2"))

    result = handler.handler(event, None)

    assert result == {"batchItemFailures": [{"itemIdentifier": "m-0"}, {"itemIdentifier": "m-2"}]}
    failures = logged(caplog, "speaker_search_start_failed")
    assert [r.messageId for r in failures] == ["m-0", "m-2"]
    assert all("CALL_LEG='caller'" in r.reason and "Caller, Callee" in r.reason for r in failures)
    assert stubs.published_details()[0]["callLeg"] == "Caller"


def test_invalid_call_leg_result_without_is_caller_has_null_leg(
    handler: ModuleType, stubs: Stubs, monkeypatch: pytest.MonkeyPatch
) -> None:
    reconfigure(handler, monkeypatch, CALL_LEG="Both")
    stubs.events.add_response("put_events", PUT_OK)
    assert handler.handler(n.sqs_event(n.search_status()), None) == {"batchItemFailures": []}
    assert stubs.published_details()[0]["callLeg"] is None


def test_missing_domain_fails_starts_with_reason(
    handler: ModuleType, stubs: Stubs, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    reconfigure(handler, monkeypatch, VOICE_PROFILE_DOMAIN_ID="")
    assert handler.handler(n.sqs_event(n.analytics_ready()), None) == {
        "batchItemFailures": [{"itemIdentifier": "m-0"}]
    }
    [record] = logged(caplog, "speaker_search_start_failed")
    assert "VOICE_PROFILE_DOMAIN_ID is not set" in record.reason


def test_unexpected_bug_fails_one_record_not_the_batch(
    handler: ModuleType, stubs: Stubs, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(*_: Any) -> Any:
        raise KeyError("boom")

    monkeypatch.setattr(results, "build_result", broken)
    expect_start(stubs)
    result = handler.handler(n.sqs_event(n.search_status(), n.analytics_ready()), None)
    assert result == {"batchItemFailures": [{"itemIdentifier": "m-0"}]}
    [record] = logged(caplog, "notification_failed", messageId="m-0")
    assert record.reason == "unexpected error: KeyError"
    assert "broken" in record.stack
