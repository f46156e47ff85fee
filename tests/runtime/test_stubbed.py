"""Handler behaviour against botocore Stubbers on the real clients (requests validated by the models)."""

from __future__ import annotations

import hashlib
import json
import logging
import re
from types import ModuleType
from typing import Any

import clients
import pytest
import results
import task_kinds

from tests.runtime import notifications as n
from tests.runtime.helpers import FakeContext, Stubs, logged, reconfigure

TOKEN_RULE = re.compile(r"[-_a-zA-Z0-9]{2,64}")
TASK_RESPONSE = {
    "SpeakerSearchTask": {"SpeakerSearchTaskId": "task-42", "SpeakerSearchTaskStatus": "IN_QUEUE"}
}
PUT_OK = {"FailedEntryCount": 0, "Entries": [{"EventId": "e-1"}]}


def expect_start(
    stubs: Stubs, transaction_id: str = "tx-1", connector: str = n.SERVED_CONNECTOR, leg: str = "Caller"
) -> str:
    """Queue one StartSpeakerSearchTask response whose request must match exactly; return the token."""
    token = hashlib.sha256(f"{connector}|{transaction_id}|{leg}|speaker-search".encode()).hexdigest()[:64]
    stubs.chime.add_response(
        "start_speaker_search_task",
        TASK_RESPONSE,
        expected_params={
            "VoiceConnectorId": connector,
            "TransactionId": transaction_id,
            "VoiceProfileDomainId": "vpd-0123456789",
            "CallLeg": leg,
            "ClientRequestToken": token,
        },
    )
    return token


def expect_put(stubs: Stubs) -> None:
    stubs.events.add_response("put_events", PUT_OK)


# -- StartSpeakerSearchTask ----------------------------------------------------------------------


@pytest.mark.parametrize("leg", ["Caller", "Callee"])
def test_analytics_ready_starts_search_with_configured_leg(
    handler: ModuleType,
    stubs: Stubs,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    leg: str,
) -> None:
    reconfigure(handler, monkeypatch, CALL_LEG=leg)
    token = expect_start(stubs, leg=leg)

    result = handler.handler(n.sqs_event(n.analytics_ready()), FakeContext(60_000))

    assert result == {"batchItemFailures": []}
    assert TOKEN_RULE.fullmatch(token)
    [record] = logged(caplog, "speaker_search_started", messageId="m-0")
    assert (record.taskId, record.callLeg, record.duplicate, record.attempts) == ("task-42", leg, False, 1)


def test_token_is_stable_and_valid(handler: ModuleType) -> None:
    token = task_kinds.client_request_token("vc-one", "tx-1", "Caller")
    assert token == task_kinds.client_request_token("vc-one", "tx-1", "Caller")
    assert token == hashlib.sha256(b"vc-one|tx-1|Caller|speaker-search").hexdigest()[:64]
    assert TOKEN_RULE.fullmatch(token)
    assert len(token) == 64
    others = {
        task_kinds.client_request_token("vc-one", "tx-1", "Callee"),
        task_kinds.client_request_token("vc-one", "tx-2", "Caller"),
        task_kinds.client_request_token("vc-two", "tx-1", "Caller"),
    }
    assert token not in others
    assert len(others) == 3


def test_token_is_valid_for_awkward_ids(handler: ModuleType) -> None:
    """SIP-ish IDs with '@', '.', spaces and unicode still give a token the API accepts."""
    token = task_kinds.client_request_token("vc one", "12345678-1234@10.0.0.1;tag=ü", "Callee")
    assert TOKEN_RULE.fullmatch(token)


def test_a_first_conflict_is_contention_and_retried_with_the_same_token(
    handler: ModuleType, stubs: Stubs, caplog: pytest.LogCaptureFixture, sleeps: Any
) -> None:
    stubs.chime.add_client_error(
        "start_speaker_search_task", service_error_code="ConflictException", http_status_code=409
    )
    expect_start(stubs)  # the retry carries the same parameters, token included
    result = handler.handler(n.sqs_event(n.analytics_ready()), None)
    assert result == {"batchItemFailures": []}
    assert logged(caplog, "speaker_search_started", messageId="m-0", duplicate=False, attempts=2)
    assert len(sleeps.delays) == 1


def test_without_a_state_table_a_conflict_on_every_attempt_is_redelivered_not_taken_for_a_task(
    handler: ModuleType, stubs: Stubs, caplog: pytest.LogCaptureFixture
) -> None:
    """Nothing tells contention from a running task here: the visible choice (redelivery, at worst
    the DLQ) over a call reported searched that never was."""
    for _ in range(clients.MAX_ATTEMPTS):
        stubs.chime.add_client_error(
            "start_speaker_search_task", service_error_code="ConflictException", http_status_code=409
        )
    result = handler.handler(n.sqs_event(n.analytics_ready()), FakeContext(120_000))
    assert result == {"batchItemFailures": [{"itemIdentifier": "m-0"}]}
    [line] = logged(caplog, "speaker_search_start_failed", messageId="m-0")
    assert (line.errorCode, line.permanent) == ("ConflictException", False)


def test_throttling_is_retried_with_backoff(
    handler: ModuleType, stubs: Stubs, sleeps: Any, caplog: pytest.LogCaptureFixture
) -> None:
    for _ in range(2):
        stubs.chime.add_client_error(
            "start_speaker_search_task", service_error_code="ThrottledClientException", http_status_code=429
        )
    expect_start(stubs)  # the third attempt must carry the same parameters, token included

    assert handler.handler(n.sqs_event(n.analytics_ready()), FakeContext(60_000)) == {"batchItemFailures": []}
    assert len(sleeps.delays) == 2
    assert 0 <= sleeps.delays[0] <= clients.BACKOFF_BASE_S
    assert 0 <= sleeps.delays[1] <= 2 * clients.BACKOFF_BASE_S
    [record] = logged(caplog, "speaker_search_started")
    assert record.attempts == 3


@pytest.mark.parametrize(
    ("code", "status"),
    [
        ("BadRequestException", 400),
        ("NotFoundException", 404),
        ("GoneException", 410),
        ("UnprocessableEntityException", 422),
        ("AccessDeniedException", 403),
        ("ForbiddenException", 403),
        ("UnauthorizedClientException", 401),
    ],
)
def test_permanent_errors_fail_the_record_without_retry(
    handler: ModuleType, stubs: Stubs, sleeps: Any, caplog: pytest.LogCaptureFixture, code: str, status: int
) -> None:
    stubs.chime.add_client_error(
        "start_speaker_search_task", service_error_code=code, http_status_code=status
    )
    result = handler.handler(n.sqs_event(n.analytics_ready()), None)
    assert result == {"batchItemFailures": [{"itemIdentifier": "m-0"}]}
    assert sleeps.delays == []
    [record] = logged(caplog, "speaker_search_start_failed", messageId="m-0")
    assert (record.errorCode, record.attempts) == (code, 1)


# -- notifications that need no action -----------------------------------------------------------


@pytest.mark.parametrize(
    "notification",
    [
        n.analytics_ready(status="PostCallVoiceAnalytics", isCaller=True),
        n.voice_tone(),
        n.analytics_ready(voice_connector_id=n.FOREIGN_CONNECTOR),
        n.search_status(voice_connector_id=n.FOREIGN_CONNECTOR),
    ],
    ids=["post-call", "voice-tone", "other-connector-ready", "other-connector-result"],
)
def test_skipped_at_debug_without_any_call(
    handler: ModuleType, stubs: Stubs, caplog: pytest.LogCaptureFixture, notification: dict[str, Any]
) -> None:
    result = handler.handler(n.sqs_event(notification), None)  # any AWS call would hit an empty Stubber
    assert result == {"batchItemFailures": []}
    [record] = logged(caplog, "notification_skipped", messageId="m-0")
    assert record.levelno == logging.DEBUG
    assert stubs.put_events_calls == []


def test_unset_connector_list_filters_nothing(
    handler: ModuleType, stubs: Stubs, monkeypatch: pytest.MonkeyPatch
) -> None:
    reconfigure(handler, monkeypatch, VOICE_CONNECTOR_IDS=" ")
    expect_start(stubs, connector=n.FOREIGN_CONNECTOR)
    ready = n.analytics_ready(voice_connector_id=n.FOREIGN_CONNECTOR)
    assert handler.handler(n.sqs_event(ready), None) == {"batchItemFailures": []}


# -- SpeakerSearchStatus -> result event ---------------------------------------------------------


@pytest.mark.parametrize("status", n.SEARCH_STATUSES)
def test_each_search_status_publishes_one_normalised_event(
    handler: ModuleType, stubs: Stubs, caplog: pytest.LogCaptureFixture, status: str
) -> None:
    expect_put(stubs)
    notification = n.search_status(status, task_id="task-9", notification_id="n-77", is_caller=False)

    assert handler.handler(n.sqs_event(notification), None) == {"batchItemFailures": []}

    [call] = stubs.put_events_calls
    [entry] = call["Entries"]
    assert (entry["Source"], entry["DetailType"], entry["EventBusName"]) == (
        "chime-speaker-search",
        "Speaker Search Result",
        "speaker-bus",
    )
    assert json.loads(entry["Detail"]) == {
        "searchId": "search-abc",
        "voiceConnectorId": "vc-one",
        "transactionId": "tx-1",
        "callLeg": "Callee",
        "taskId": "task-9",
        "status": "VoiceprintGenerationSuccessful" if status == "VoiceprintGenerationSuccess" else status,
        "matches": [],
        "bestMatch": None,
        "voiceProfileDomainId": "vpd-0123456789",
        "notificationId": "n-77",
        "notificationTime": "2024-05-01T12:00:00Z",
    }
    assert logged(caplog, "speaker_search_result_published", messageId="m-0", taskId="task-9")


def test_result_constants_are_the_documented_names(handler: ModuleType) -> None:
    assert results.RESULT_SOURCE == "chime-speaker-search"
    assert results.RESULT_DETAIL_TYPE == "Speaker Search Result"


def test_matches_ranked_from_string_and_float_scores(
    handler: ModuleType, stubs: Stubs, caplog: pytest.LogCaptureFixture
) -> None:
    expect_put(stubs)
    results = [
        {"voiceProfileId": "vp-low", "confidenceScore": "0.77136436"},
        {"voiceProfileId": "vp-top", "confidenceScore": 0.94567856},
        {"voiceProfileId": "vp-mid", "confidenceScore": " 0.82783350 "},
        {"voiceProfileId": "vp-one", "confidenceScore": 1},
        {"voiceProfileId": "vp-bad", "confidenceScore": "high"},
        {"voiceProfileId": "vp-nan", "confidenceScore": "NaN"},
        {"voiceProfileId": "vp-bool", "confidenceScore": True},
        {"confidenceScore": "0.99"},
        {"voiceProfileId": "", "confidenceScore": "0.5"},
        "not-an-object",
    ]
    handler.handler(n.sqs_event(n.search_status(results=results)), None)

    [detail] = stubs.published_details()
    assert detail["matches"] == [
        {"voiceProfileId": "vp-one", "confidenceScore": 1.0},
        {"voiceProfileId": "vp-top", "confidenceScore": 0.94567856},
        {"voiceProfileId": "vp-mid", "confidenceScore": 0.8278335},
        {"voiceProfileId": "vp-low", "confidenceScore": 0.77136436},
    ]
    assert detail["bestMatch"] == {"voiceProfileId": "vp-one", "confidenceScore": 1.0}
    [dropped] = logged(caplog, "matches_dropped")
    assert (dropped.dropped, dropped.kept) == (6, 4)


def test_scores_outside_unit_range_are_not_clamped(handler: ModuleType, stubs: Stubs) -> None:
    expect_put(stubs)
    results = [
        {"voiceProfileId": "vp-a", "confidenceScore": "1.5"},
        {"voiceProfileId": "vp-b", "confidenceScore": -0.1},
    ]
    handler.handler(n.sqs_event(n.search_status(results=results)), None)
    assert [m["confidenceScore"] for m in stubs.published_details()[0]["matches"]] == [1.5, -0.1]


@pytest.mark.parametrize(
    ("is_caller", "configured", "expected"),
    [
        (True, "Callee", "Caller"),
        (False, "Caller", "Callee"),
        ("yes", "Callee", "Callee"),
        (None, "Caller", "Caller"),
    ],
)
def test_result_call_leg_from_is_caller_else_configuration(
    handler: ModuleType,
    stubs: Stubs,
    monkeypatch: pytest.MonkeyPatch,
    is_caller: Any,
    configured: str,
    expected: str,
) -> None:
    reconfigure(handler, monkeypatch, CALL_LEG=configured)
    expect_put(stubs)
    handler.handler(n.sqs_event(n.search_status(is_caller=is_caller)), None)
    assert stubs.published_details()[0]["callLeg"] == expected


def test_result_without_connector_is_published_with_nulls(handler: ModuleType, stubs: Stubs) -> None:
    expect_put(stubs)
    notification = n.search_status(voice_connector_id=None, transaction_id=None)
    del notification["id"]
    assert handler.handler(n.sqs_event(notification), None) == {"batchItemFailures": []}
    detail = stubs.published_details()[0]
    assert (detail["voiceConnectorId"], detail["transactionId"], detail["notificationId"]) == (
        None,
        None,
        None,
    )


def test_unknown_search_status_is_skipped_with_warning(
    handler: ModuleType, stubs: Stubs, caplog: pytest.LogCaptureFixture
) -> None:
    result = handler.handler(n.sqs_event(n.search_status("SomethingNew")), None)
    assert result == {"batchItemFailures": []}
    [record] = logged(caplog, "notification_skipped", messageId="m-0")
    assert record.levelno == logging.WARNING
    assert "unknown" in record.reason


# -- transports ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "wrap",
    [
        json.dumps,
        n.sns_envelope,
        n.double_encoded,
        n.records_wrapper,
        lambda m: n.sns_envelope(n.double_encoded(m)),
        lambda m: n.records_wrapper(json.dumps(m)),
    ],
    ids=["plain", "sns", "double-encoded", "records-wrapper", "sns-double-encoded", "records-wrapper-string"],
)
def test_wrapped_bodies_are_unwrapped(handler: ModuleType, stubs: Stubs, wrap: Any) -> None:
    expect_start(stubs)
    assert handler.handler(n.sqs_event(wrap(n.analytics_ready())), None) == {"batchItemFailures": []}


def test_batch_processes_every_record_and_reports_only_failures(
    handler: ModuleType, stubs: Stubs, caplog: pytest.LogCaptureFixture
) -> None:
    expect_start(stubs, transaction_id="tx-a")
    stubs.chime.add_client_error(
        "start_speaker_search_task", service_error_code="NotFoundException", http_status_code=404
    )
    expect_put(stubs)
    expect_start(stubs, transaction_id="tx-c")
    event = n.sqs_event(
        n.analytics_ready("tx-a"),
        n.analytics_ready("tx-b"),
        n.search_status(),
        "not json",
        n.analytics_ready("tx-c"),
    )
    assert handler.handler(event, None) == {
        "batchItemFailures": [{"itemIdentifier": "m-1"}, {"itemIdentifier": "m-3"}]
    }
    [summary] = logged(caplog, "batch_processed")
    assert (summary.records, summary.started, summary.published, summary.failed) == (5, 2, 1, 2)


def test_raw_notification_returns_summary(handler: ModuleType, stubs: Stubs) -> None:
    expect_start(stubs)
    assert handler.handler(n.analytics_ready(), FakeContext(30_000)) == {
        "outcome": "started",
        "reason": "speaker_search: task started",
    }
    expect_put(stubs)
    assert handler.handler(n.search_status(), None)["outcome"] == "published"
    assert handler.handler(n.voice_tone(), None)["outcome"] == "skipped"


def test_raw_notification_failure_raises_for_async_retry(handler: ModuleType, stubs: Stubs) -> None:
    stubs.chime.add_client_error(
        "start_speaker_search_task", service_error_code="ServiceUnavailableException", http_status_code=503
    )
    stubs.chime.add_client_error(
        "start_speaker_search_task", service_error_code="BadRequestException", http_status_code=400
    )
    with pytest.raises(handler.NotificationFailedError, match="BadRequestException"):
        handler.handler(n.analytics_ready(), None)
    with pytest.raises(handler.NotificationFailedError, match=r"detail\.transactionId is missing"):
        handler.handler(n.analytics_ready(transaction_id=None), None)


def test_raw_records_wrapper_is_not_mistaken_for_an_sqs_batch(handler: ModuleType, stubs: Stubs) -> None:
    expect_start(stubs)
    assert handler.handler({"Records": [n.analytics_ready()]}, None)["outcome"] == "started"


def test_empty_sqs_batch(handler: ModuleType) -> None:
    assert handler.handler({"Records": []}, None) == {"batchItemFailures": []}


# -- clients -------------------------------------------------------------------------------------


def test_clients_do_no_retrying_of_their_own(handler: ModuleType) -> None:
    for client in (clients.chime(), clients.events()):
        config = client.meta.config
        assert config.retries["total_max_attempts"] == 1
        assert (config.connect_timeout, config.read_timeout) == (2.0, 5.0)
        assert "chime-speaker-search/" in config.user_agent_extra
    assert clients.chime() is clients.chime()  # cached per container
