"""What the result path reports: outcome reasons, documented log fields and the PutEvents request.

Found by mutation testing (`make mutation`): each test fails when one of these outputs changes
(a log field renamed, a reason lost, a failed PutEvents entry without an error code...).
"""

from __future__ import annotations

import io
import json
import logging
from types import ModuleType
from typing import Any

import aws_calls
import calls
import metrics
import pytest
import results

from tests.runtime import notifications as n
from tests.runtime.helpers import Stubs, logged
from tests.runtime.test_stubbed import expect_put


def test_raw_outcome_reasons_of_a_published_and_a_skipped_result(handler: ModuleType, stubs: Stubs) -> None:
    expect_put(stubs)
    assert handler.handler(n.search_status(), None) == {"outcome": "published", "reason": "result published"}
    assert handler.handler(n.search_status(status="SomethingNew"), None) == {
        "outcome": "skipped",
        "reason": "unknown SpeakerSearchStatus detailStatus",
    }
    assert handler.handler(n.search_status(voice_connector_id=n.FOREIGN_CONNECTOR), None) == {
        "outcome": "skipped",
        "reason": calls.NOT_SERVED,
    }


def test_published_log_line_carries_status_match_count_and_attempts(
    handler: ModuleType, stubs: Stubs, caplog: pytest.LogCaptureFixture
) -> None:
    stubs.events.add_client_error(
        "put_events", service_error_code="ThrottlingException", http_status_code=400
    )
    expect_put(stubs)
    scores = [
        {"voiceProfileId": "vp-1", "confidenceScore": 0.9},
        {"voiceProfileId": "vp-2", "confidenceScore": 0.5},
    ]
    note = n.search_status(status="VoiceprintGenerationSuccess", results=scores)

    handler.handler(n.sqs_event(note), None)

    [record] = logged(caplog, "speaker_search_result_published", messageId="m-0")
    assert (record.status, record.matchCount, record.attempts) == ("VoiceprintGenerationSuccessful", 2, 2)
    [retry] = logged(caplog, "aws_call_retrying")
    assert (retry.operation, retry.errorCode, retry.attempts) == ("PutEvents", "ThrottlingException", 1)


def test_publish_failure_is_logged_with_code_reason_attempts_and_raised_with_them(
    handler: ModuleType, stubs: Stubs, caplog: pytest.LogCaptureFixture
) -> None:
    stubs.events.add_client_error(
        "put_events", service_error_code="AccessDeniedException", http_status_code=400
    )
    with pytest.raises(handler.NotificationFailedError) as raised:
        handler.handler(n.search_status(), None)
    assert str(raised.value) == "AccessDeniedException: not retryable"
    [record] = logged(caplog, "speaker_search_result_publish_failed")
    assert (record.errorCode, record.reason, record.attempts) == ("AccessDeniedException", "not retryable", 1)
    assert record.levelno == logging.ERROR


def test_a_failed_entry_without_error_code_is_reported_as_failed_entry(
    handler: ModuleType, stubs: Stubs, caplog: pytest.LogCaptureFixture
) -> None:
    stubs.events.add_response("put_events", {"FailedEntryCount": 1, "Entries": [{}]})
    result = handler.handler(n.sqs_event(n.search_status()), None)
    assert result == {"batchItemFailures": [{"itemIdentifier": "m-0"}]}
    [record] = logged(caplog, "speaker_search_result_publish_failed")
    assert (record.errorCode, record.attempts) == ("FailedEntry", 1)


def test_a_response_without_failed_entry_count_is_a_success(handler: ModuleType, stubs: Stubs) -> None:
    stubs.events.add_response("put_events", {"Entries": [{"EventId": "e-1"}]})
    assert handler.handler(n.sqs_event(n.search_status()), None) == {"batchItemFailures": []}


def test_detail_is_compact_json(handler: ModuleType, stubs: Stubs) -> None:
    # Compact separators keep the event small (EventBridge limits an entry to 256 KB).
    expect_put(stubs)
    handler.handler(
        n.sqs_event(n.search_status(results=[{"voiceProfileId": "vp", "confidenceScore": 1}])), None
    )
    text = stubs.put_events_calls[0]["Entries"][0]["Detail"]
    assert text == json.dumps(json.loads(text), separators=(",", ":"))
    assert ", " not in text
    assert '": ' not in text


def test_failed_entry_error_message_is_its_code() -> None:
    error = aws_calls.FailedEntryError("InternalFailure")
    assert (str(error), error.code) == ("InternalFailure", "InternalFailure")


# -- parsing speakerSearchDetails ----------------------------------------------------------------


@pytest.mark.parametrize(
    "details", [None, {}, {"results": None}], ids=["no-details", "no-results", "null-results"]
)
def test_a_result_without_matches_drops_nothing(
    handler: ModuleType, stubs: Stubs, caplog: pytest.LogCaptureFixture, details: Any
) -> None:
    note = n.search_status(status="IdentificationNoMatchesFound")
    if details is not None:
        note["detail"]["speakerSearchDetails"] = details
    expect_put(stubs)
    handler.handler(n.sqs_event(note), None)
    assert stubs.published_details()[0]["matches"] == []
    assert logged(caplog, "matches_dropped") == []


@pytest.mark.parametrize(
    ("details", "reason"),
    [
        ([], "detail.speakerSearchDetails must be an object, got array"),
        ({"results": {"a": 1}}, "detail.speakerSearchDetails.results must be an array, got dict"),
        ({"results": "x"}, "detail.speakerSearchDetails.results must be an array, got str"),
    ],
)
def test_malformed_search_details_are_rejected_with_their_json_type(
    handler: ModuleType, stubs: Stubs, caplog: pytest.LogCaptureFixture, details: Any, reason: str
) -> None:
    note = n.search_status()
    note["detail"]["speakerSearchDetails"] = details
    assert handler.handler(n.sqs_event(note), None) == {"batchItemFailures": [{"itemIdentifier": "m-0"}]}
    [record] = logged(caplog, "notification_rejected")
    assert record.reason == reason


def test_an_unusable_entry_is_skipped_and_later_entries_still_count(
    handler: ModuleType, stubs: Stubs, caplog: pytest.LogCaptureFixture
) -> None:
    entries = ["not-an-object", {"voiceProfileId": "vp-1", "confidenceScore": "0.4"}, 7]
    expect_put(stubs)
    handler.handler(n.sqs_event(n.search_status(task_id="task-7", results=entries)), None)
    assert stubs.published_details()[0]["matches"] == [{"voiceProfileId": "vp-1", "confidenceScore": 0.4}]
    [dropped] = logged(caplog, "matches_dropped")
    assert (dropped.dropped, dropped.kept) == (2, 1)
    # The warning names the result it came from, by ID fields only.
    assert (dropped.taskId, dropped.voiceConnectorId, dropped.transactionId) == ("task-7", "vc-one", "tx-1")


def test_parse_score_accepts_numbers_and_numeric_strings_only() -> None:
    assert results.parse_score(" 0.25 ") == 0.25
    assert results.parse_score(1) == 1.0
    for bad in (True, None, "high", [0.5], float("nan"), "nan"):
        assert results.parse_score(bad) is None


# -- the results metric --------------------------------------------------------------------------


@pytest.fixture
def emf(monkeypatch: pytest.MonkeyPatch) -> io.StringIO:
    """What metrics.flush writes (one Embedded Metric Format JSON line per dimension set)."""
    buffer = io.StringIO()
    monkeypatch.setattr(metrics, "_out", buffer)
    return buffer


def result_counts(emf: io.StringIO) -> list[tuple[str, Any]]:
    lines = [json.loads(line) for line in emf.getvalue().splitlines()]
    return [
        (line.get("Status"), line[metrics.SPEAKER_SEARCH_RESULTS])
        for line in lines
        if metrics.SPEAKER_SEARCH_RESULTS in line
    ]


def test_a_published_result_is_counted_by_its_status(
    handler: ModuleType, stubs: Stubs, emf: io.StringIO
) -> None:
    expect_put(stubs)
    handler.handler(n.sqs_event(n.search_status(status="VoiceprintGenerationSuccess")), None)
    # Once in total (dimension SearchId) and once by status (SearchId, Status).
    assert result_counts(emf) == [(None, 1.0), ("VoiceprintGenerationSuccessful", 1.0)]


def test_a_result_that_failed_to_publish_is_not_counted(
    handler: ModuleType, stubs: Stubs, emf: io.StringIO
) -> None:
    stubs.events.add_client_error(
        "put_events", service_error_code="AccessDeniedException", http_status_code=400
    )
    handler.handler(n.sqs_event(n.search_status()), None)
    assert result_counts(emf) == []


@pytest.mark.parametrize(("detail_type", "json_type"), [(7, "number"), (None, "null"), (["x"], "array")])
def test_a_non_string_detail_type_is_rejected_naming_its_json_type(
    handler: ModuleType, caplog: pytest.LogCaptureFixture, detail_type: Any, json_type: str
) -> None:
    note = n.search_status()
    note["detail-type"] = detail_type
    handler.handler(n.sqs_event(note), None)
    [record] = logged(caplog, "notification_rejected")
    assert record.reason == f"detail-type must be a string, got {json_type}"
