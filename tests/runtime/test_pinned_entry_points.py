"""The entry point's shapes (index.py), the dead-letter send (dead_letters.py), pipeline failures
(health.py) and the EMF timestamp (metrics.py), pinned field by field (issue 14, `make mutation`).

Log lines are behaviour (operators query them), so tests compare a record's whole ``extra`` field
set; outcomes are compared as the raw (Lambda sink) shape returns or raises them. AWS is a botocore
Stubber on the handler's own clients.
"""

from __future__ import annotations

import io
import json
import logging
import re
import time
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import aws_calls
import clients
import dead_letters
import health
import metrics
import pytest
import results
import settings
from botocore.stub import Stubber

from tests.runtime import notifications as n
from tests.runtime.helpers import Stubs, logged, reconfigure
from tests.runtime.test_pinned_tasks import extras, only

QUEUE_URL = "https://sqs.us-east-1.amazonaws.com/111122223333/speaker-search-dlq"


# -- index.py: dispatch and the raw shape ------------------------------------------------------


@pytest.mark.parametrize(
    ("note", "reason", "level"),
    [
        (n.envelope("Something Else", {"detailStatus": "x"}), "unknown detail-type", logging.WARNING),
        (
            n.analytics_ready(status="AnalyticsStopped"),
            "VoiceAnalyticsStatus other than AnalyticsReady needs no action",
            logging.DEBUG,
        ),
    ],
    ids=["unknown-type", "other-analytics-status"],
)
def test_notifications_needing_no_action_are_skipped_with_their_reason_and_level(
    handler: ModuleType,
    stubs: Stubs,
    caplog: pytest.LogCaptureFixture,
    note: dict[str, Any],
    reason: str,
    level: int,
) -> None:
    assert handler.handler(note, None) == {"outcome": "skipped", "reason": reason}
    record = only(caplog, "notification_skipped")
    assert (record.levelno, record.reason, record.searchId) == (level, reason, "search-abc")


@pytest.mark.parametrize(
    ("note", "reason"),
    [
        ({"detail-type": 7, "detail": {}}, "detail-type must be a string, got number"),
        ({"detail-type": "SpeakerSearchStatus", "detail": []}, "detail must be an object, got array"),
        (
            n.envelope("SpeakerSearchStatus", {"taskId": "t-1"}),
            "detail.detailStatus must be a non-empty string, got null",
        ),
        (
            n.envelope("VoiceAnalyticsStatus", {"detailStatus": ""}),
            "detail.detailStatus must be a non-empty string, got str",
        ),
    ],
    ids=["detail-type", "detail", "no-status", "empty-status"],
)
def test_a_malformed_notification_is_rejected_with_its_reason(
    handler: ModuleType, stubs: Stubs, caplog: pytest.LogCaptureFixture, note: dict[str, Any], reason: str
) -> None:
    with pytest.raises(handler.NotificationFailedError) as raised:
        handler.handler(note, None)
    assert str(raised.value) == reason
    record = only(caplog, "notification_rejected")
    assert (record.levelno, record.reason, record.searchId) == (logging.WARNING, reason, "search-abc")


def test_each_detail_type_reaches_its_own_handler(handler: ModuleType, stubs: Stubs) -> None:
    stubs.events.add_response("put_events", {"FailedEntryCount": 0, "Entries": [{"EventId": "e-1"}]})
    assert handler.handler(n.search_status(), None)["outcome"] == "published"
    # Voice tone is off: its results are a documented skip, not a speaker search result.
    assert handler.handler(n.voice_tone(), None)["outcome"] == "skipped"
    pipeline = n.envelope("Media Insights State Change", {"eventType": "chime:MediaInsightsTemporaryFailure"})
    assert (
        handler.handler(pipeline, None)["reason"]
        == "pipeline failure logged: chime:MediaInsightsTemporaryFailure"
    )


def test_a_handler_bug_fails_only_its_record_and_is_logged_with_frames_only(
    handler: ModuleType, stubs: Stubs, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    phone = "+12065550100"

    def broken(*args: Any) -> Any:
        raise KeyError(phone)  # the message quotes personal data; the frames' source lines do not

    monkeypatch.setattr(results, "build_result", broken)

    result = handler.handler(n.sqs_event(n.search_status()), None)

    assert result == {"batchItemFailures": [{"itemIdentifier": "m-0"}]}
    record = only(caplog, "notification_failed")
    fields = extras(record)
    stack = fields.pop("stack")
    assert "in broken" in stack
    # One traceback entry per frame, each starting on its own line, as traceback prints them.
    assert stack.startswith('  File "')
    assert len(re.findall(r'^  File "', stack, re.MULTILINE)) == stack.count('File "') >= 2
    assert phone not in stack
    assert fields["reason"] == "unexpected error: KeyError"
    assert (fields["messageId"], fields["searchId"], record.levelno) == ("m-0", "search-abc", logging.ERROR)


def test_the_batch_summary_counts_records_by_outcome(
    handler: ModuleType, stubs: Stubs, caplog: pytest.LogCaptureFixture
) -> None:
    stubs.chime.add_response(
        "start_speaker_search_task", {"SpeakerSearchTask": {"SpeakerSearchTaskId": "t-1"}}
    )
    event = n.sqs_event(n.analytics_ready(), n.analytics_ready(voice_connector_id=n.FOREIGN_CONNECTOR), "[1]")

    assert handler.handler(event, None) == {"batchItemFailures": [{"itemIdentifier": "m-2"}]}

    assert extras(only(caplog, "batch_processed")) == {"records": 3, "started": 1, "skipped": 1, "failed": 1}


def test_metrics_are_written_once_per_invocation_also_when_a_raw_notification_fails(
    handler: ModuleType, stubs: Stubs, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = io.StringIO()
    monkeypatch.setattr(metrics, "_out", out)
    stubs.chime.add_client_error(
        "start_speaker_search_task", service_error_code="BadRequestException", http_status_code=400
    )
    with pytest.raises(handler.NotificationFailedError):
        handler.handler(n.analytics_ready(), None)
    [line] = [json.loads(text) for text in out.getvalue().splitlines()]
    assert line["SpeakerSearchFailedStarts"] == 1.0


# -- dead_letters.py ---------------------------------------------------------------------------


@pytest.fixture
def sqs(handler: ModuleType, monkeypatch: pytest.MonkeyPatch) -> Iterator[Stubber]:
    reconfigure(handler, monkeypatch, DEAD_LETTER_QUEUE_URL=QUEUE_URL)
    with Stubber(clients.sqs()) as stub:
        yield stub
        stub.assert_no_pending_responses()


def send(record: dict[str, Any], reason: str = "GoneException: not retryable") -> bool:
    deadline = aws_calls.Deadline.after(30.0)
    return dead_letters.send(record, reason, settings.get(), deadline, {"messageId": "m-9"})


def attributes(reason: str, message_id: str | None = "m-9") -> dict[str, Any]:
    expected = {
        "failureReason": {"DataType": "String", "StringValue": reason},
        "failedBy": {"DataType": "String", "StringValue": "chime-speaker-search"},
    }
    if message_id is not None:
        expected["sourceMessageId"] = {"DataType": "String", "StringValue": message_id}
    return expected


def test_a_dead_letter_is_the_unchanged_body_with_reason_and_source_as_attributes(
    sqs: Stubber, caplog: pytest.LogCaptureFixture
) -> None:
    sqs.add_response(
        "send_message",
        {"MessageId": "dlq-1"},
        expected_params={
            "QueueUrl": QUEUE_URL,
            "MessageBody": "original body",
            "MessageAttributes": attributes("GoneException: not retryable"),
        },
    )
    assert send({"messageId": "m-9", "body": "original body"}) is True
    record = only(caplog, "sent_to_dead_letter_queue")
    assert (record.levelno, extras(record)) == (
        logging.WARNING,
        {"messageId": "m-9", "reason": "GoneException: not retryable"},
    )


@pytest.mark.parametrize(
    ("reason", "sent"),
    [("", "unknown"), ("x" * 1001, "x" * dead_letters.MAX_REASON_LENGTH)],
    ids=["empty", "too-long"],
)
def test_the_reason_attribute_is_never_empty_and_at_most_1000_characters(
    sqs: Stubber, reason: str, sent: str
) -> None:
    assert dead_letters.MAX_REASON_LENGTH == 1000
    sqs.add_response(
        "send_message",
        {"MessageId": "dlq-1"},
        expected_params={"QueueUrl": QUEUE_URL, "MessageBody": "b", "MessageAttributes": attributes(sent)},
    )
    assert send({"messageId": "m-9", "body": "b"}, reason) is True


@pytest.mark.parametrize("message_id", [None, "", 42], ids=["missing", "empty", "not-a-string"])
def test_without_a_usable_message_id_no_source_attribute_is_sent(sqs: Stubber, message_id: Any) -> None:
    record: dict[str, Any] = {"body": "b"}
    if message_id is not None:
        record["messageId"] = message_id
    sqs.add_response(
        "send_message",
        {"MessageId": "dlq-1"},
        expected_params={
            "QueueUrl": QUEUE_URL,
            "MessageBody": "b",
            "MessageAttributes": attributes("r", None),
        },
    )
    assert send(record, "r") is True


@pytest.mark.parametrize("body", [None, "", 42], ids=["missing", "empty", "not-a-string"])
def test_a_record_without_a_body_to_send_is_not_dead_lettered(
    sqs: Stubber, body: Any, caplog: pytest.LogCaptureFixture
) -> None:
    record: dict[str, Any] = {"messageId": "m-9"}
    if body is not None:
        record["body"] = body
    assert send(record) is False
    # Not even attempted (an attempt would fail on the Stubber and log dead_letter_send_failed).
    assert not logged(caplog, "dead_letter_send_failed")


def test_without_a_dead_letter_queue_nothing_is_sent(
    handler: ModuleType, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.delenv("DEAD_LETTER_QUEUE_URL", raising=False)
    settings.reset()
    with Stubber(clients.sqs()):
        assert send({"messageId": "m-9", "body": "b"}) is False
    assert not logged(caplog, "dead_letter_send_failed")


def test_a_throttled_send_is_retried(sqs: Stubber, caplog: pytest.LogCaptureFixture) -> None:
    sqs.add_client_error("send_message", service_error_code="ThrottlingException", http_status_code=400)
    sqs.add_response("send_message", {"MessageId": "dlq-1"})
    assert send({"messageId": "m-9", "body": "b"}) is True
    assert only(caplog, "aws_call_retrying").operation == "SendMessage"


def test_a_send_that_fails_leaves_the_record_to_sqs_and_is_logged(
    sqs: Stubber, caplog: pytest.LogCaptureFixture
) -> None:
    sqs.add_client_error("send_message", service_error_code="AccessDenied", http_status_code=403)
    assert send({"messageId": "m-9", "body": "b"}, "why") is False
    record = only(caplog, "dead_letter_send_failed")
    assert (record.levelno, extras(record)) == (
        logging.ERROR,
        {"messageId": "m-9", "errorCode": "AccessDenied", "reason": "why"},
    )
    assert not logged(caplog, "sent_to_dead_letter_queue")


# -- health.py -------------------------------------------------------------------------------


def pipeline(event_type: str, **detail: Any) -> dict[str, Any]:
    return n.envelope("Media Insights State Change", {"eventType": event_type, **detail}, "n-pipe")


def pipeline_detail(**detail: Any) -> dict[str, Any]:
    return n.envelope("Media Insights State Change", detail, "n-pipe")


def test_a_pipeline_failure_is_logged_once_and_done(
    handler: ModuleType, stubs: Stubs, caplog: pytest.LogCaptureFixture
) -> None:
    note = pipeline(
        "chime:MediaInsightsPermanentFailure",
        voiceConnectorId=n.SERVED_CONNECTOR,
        failureReason="  Stream not found  ",
        failureOrigin="Voice Connector",
        httpStatusCode=500,
    )
    assert handler.handler(note, None) == {
        "outcome": "skipped",
        "reason": "pipeline failure logged: chime:MediaInsightsPermanentFailure",
    }
    record = only(caplog, "pipeline_failure")
    assert record.levelno == logging.WARNING
    fields = extras(record)
    assert {k: fields[k] for k in ("eventType", "failureReason", "failureOrigin", "httpStatusCode")} == {
        "eventType": "chime:MediaInsightsPermanentFailure",
        "failureReason": "Stream not found",
        "failureOrigin": "Voice Connector",
        "httpStatusCode": "500",
    }


@pytest.mark.parametrize(
    ("detail", "reason"),
    [
        ({"eventType": "chime:MediaInsightsInProgress"}, "pipeline state change is not a failure"),
        (
            {"eventType": "chime:MediaInsightsTemporaryFailure", "voiceConnectorId": n.FOREIGN_CONNECTOR},
            "voice connector not served by this deployment",
        ),
    ],
    ids=["not-a-failure", "foreign-connector"],
)
def test_pipeline_changes_not_ours_to_report_are_skipped_at_debug(
    handler: ModuleType, stubs: Stubs, caplog: pytest.LogCaptureFixture, detail: dict[str, Any], reason: str
) -> None:
    assert handler.handler(pipeline_detail(**detail), None) == {"outcome": "skipped", "reason": reason}
    record = only(caplog, "notification_skipped")
    assert (record.levelno, record.reason) == (logging.DEBUG, reason)
    assert not logged(caplog, "pipeline_failure")


@pytest.mark.parametrize(
    ("value", "logged_as"),
    [
        (500, "500"),
        ("Voice Connector", "Voice Connector"),
        ("a" * 64, "a" * 64),
        ("a" * 65, None),
        ("500; +1 206 555 0100", None),
        (True, None),
        (None, None),
        (5.5, None),
        ("", None),
    ],
)
def test_only_short_plain_values_of_origin_and_status_are_logged(value: Any, logged_as: str | None) -> None:
    assert health._short(value) == logged_as


# -- metrics.py ------------------------------------------------------------------------------


def test_the_emf_timestamp_is_the_flush_time_in_milliseconds(monkeypatch: pytest.MonkeyPatch) -> None:
    out = io.StringIO()
    monkeypatch.setattr(metrics, "_out", out)
    metrics.discard()
    metrics.count(metrics.SPEAKER_SEARCH_STARTED)
    before = time.time() * 1000
    metrics.flush("s-1")
    after = time.time() * 1000
    [line] = [json.loads(text) for text in out.getvalue().splitlines()]
    assert before - 1 <= line["_aws"]["Timestamp"] <= after
