"""Voice tone end to end: both starts (faults, duplicates, independence), tone results, EMF output."""

from __future__ import annotations

import io
import json
import logging
import time
from types import ModuleType
from typing import Any

import aws_calls
import calls
import clients
import metrics
import pytest
import results
import settings as settings_module
import task_kinds

from tests.runtime import fake_aws as f
from tests.runtime import notifications as n
from tests.runtime.conftest import SLOWER_THAN_ROOMY_READ_TIMEOUT_S as SLOW_S
from tests.runtime.conftest import StateAws
from tests.runtime.fake_aws import FakeAws
from tests.runtime.helpers import FakeContext, Stubs, logged, reconfigure

READY = n.sqs_event(n.analytics_ready())
SEARCH_PATH = "/voice-connectors/vc-one/speaker-search-tasks"
TONE_PATH = "/voice-connectors/vc-one/voice-tone-analysis-tasks"
TONE_TOKEN = task_kinds.client_request_token("vc-one", "tx-1", task_kinds.NO_CALL_LEG, task_kinds.VOICE_TONE)
SEARCH_TOKEN = task_kinds.client_request_token("vc-one", "tx-1", "Caller")


@pytest.fixture
def tone_on(handler: ModuleType, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    reconfigure(handler, monkeypatch, VOICE_TONE_ANALYSIS="true")
    return handler


@pytest.fixture
def emf(monkeypatch: pytest.MonkeyPatch) -> io.StringIO:
    buffer = io.StringIO()
    monkeypatch.setattr(metrics, "_out", buffer)
    return buffer


def emf_values(out: io.StringIO) -> dict[tuple[str, str | None], list[float]]:
    """(metric name, Status or None) -> values, over every EMF line written."""
    values: dict[tuple[str, str | None], list[float]] = {}
    for line in out.getvalue().splitlines():
        record = json.loads(line)
        (directive,) = record["_aws"]["CloudWatchMetrics"]
        assert directive["Namespace"] == "ChimeSpeakerSearch"
        assert record["SearchId"] == "search-abc"
        for metric in directive["Metrics"]:
            value = record[metric["Name"]]
            values.setdefault((metric["Name"], record.get("Status")), []).extend(
                value if isinstance(value, list) else [value]
            )
    return values


def paths(fake: FakeAws) -> list[str]:
    return [r.path for r in fake.requests_for(f.CHIME)]


def only_search_requests(fake: FakeAws, reply: f.Reply) -> Any:
    """A fault policy that hits speaker search starts only (the request is recorded before it)."""
    return lambda service: reply if fake.requests[-1].path == SEARCH_PATH else None


def tone_detail(status: str = "VoiceToneAnalysisSuccessful", **overrides: Any) -> dict[str, Any]:
    detail: dict[str, Any] = {
        "taskId": "tone-task-1",
        "detailStatus": status,
        "voiceConnectorId": n.SERVED_CONNECTOR,
        "transactionId": "tx-1",
        "callId": n.CALL_ID,
        "isCaller": True,
        # AWS's example (Chime SDK developer guide, voice analytics notification targets), strings and all.
        "voiceToneAnalysisDetails": {
            "currentAverageVoiceTone": {
                "startTime": "2022-08-26T17:55:15.563Z",
                "endTime": "2022-08-26T17:55:45.720Z",
                "voiceToneLabel": "neutral",
                "voiceToneScore": {"neutral": "0.83", "positive": "0.13", "negative": "0.04"},
            },
            "overallAverageVoiceTone": {
                "startTime": "2022-08-26T16:23:13.344Z",
                "endTime": "2022-08-26T17:55:45.720Z",
                "voiceToneLabel": "positive",
                "voiceToneScore": {"neutral": "0.25", "positive": "0.65", "negative": "0.1"},
            },
        },
    }
    detail.update(overrides)
    return {k: v for k, v in detail.items() if v is not None}


def tone_notification(**overrides: Any) -> dict[str, Any]:
    return n.envelope("VoiceToneAnalysisStatus", tone_detail(**overrides), "n-tone-1")


# -- the two starts ----------------------------------------------------------------------------


def test_ready_starts_both_tasks_with_distinct_tokens(
    tone_on: ModuleType, fake_aws: FakeAws, emf: Any
) -> None:
    assert tone_on.handler(READY, FakeContext(60_000)) == {"batchItemFailures": []}

    search, tone = fake_aws.requests_for(f.CHIME)
    assert search.path == SEARCH_PATH and tone.path == TONE_PATH
    assert tone.json == {"TransactionId": "tx-1", "LanguageCode": "en-US", "ClientRequestToken": TONE_TOKEN}
    assert search.json["ClientRequestToken"] == SEARCH_TOKEN != TONE_TOKEN
    values = emf_values(emf)
    assert values[(metrics.SPEAKER_SEARCH_STARTED, None)] == [1.0]
    assert values[(metrics.VOICE_TONE_STARTED, None)] == [1.0]
    assert len(values[(metrics.VOICE_TONE_START_LATENCY, None)]) == 1


def test_voice_tone_off_starts_only_the_search(handler: ModuleType, fake_aws: FakeAws) -> None:
    assert handler.handler(READY, FakeContext(60_000)) == {"batchItemFailures": []}
    assert paths(fake_aws) == [SEARCH_PATH]


def test_start_request_matches_the_botocore_model(tone_on: ModuleType, stubs: Stubs) -> None:
    stubs.chime.add_response(
        "start_speaker_search_task", {"SpeakerSearchTask": {"SpeakerSearchTaskId": "task-1"}}
    )
    stubs.chime.add_response(
        "start_voice_tone_analysis_task",
        {"VoiceToneAnalysisTask": {"VoiceToneAnalysisTaskId": "tone-1"}},
        expected_params={
            "VoiceConnectorId": "vc-one",
            "TransactionId": "tx-1",
            "LanguageCode": "en-US",
            "ClientRequestToken": TONE_TOKEN,
        },
    )
    assert tone_on.handler(READY, FakeContext(30_000)) == {"batchItemFailures": []}


@pytest.mark.parametrize(
    "faults",
    [
        [f.throttled()] * 3,
        [f.service_unavailable(), f.connection_reset()],
        [f.slow(SLOW_S)],
    ],
    ids=["429x3", "503-reset", "read-timeout"],
)
@pytest.mark.usefixtures("roomy_timeouts")
def test_voice_tone_start_is_retried_with_the_same_token(
    tone_on: ModuleType, fake_aws: FakeAws, faults: list[f.Reply]
) -> None:
    fake_aws.script(f.CHIME, f.Reply(), *faults)  # the search start first, then the faults hit voice tone

    assert tone_on.handler(READY, FakeContext(60_000)) == {"batchItemFailures": []}

    tone_tokens = [
        r.json["ClientRequestToken"] for r in fake_aws.requests_for(f.CHIME) if r.path == TONE_PATH
    ]
    assert tone_tokens == [TONE_TOKEN] * (len(faults) + 1)
    assert len(fake_aws.tasks) == 2


def test_a_failed_search_start_does_not_stop_voice_tone(
    tone_on: ModuleType, fake_aws: FakeAws, emf: Any, caplog: pytest.LogCaptureFixture
) -> None:
    fake_aws.fault_policy = only_search_requests(fake_aws, f.throttled())

    result = tone_on.handler(READY, FakeContext(60_000))

    assert result == {"batchItemFailures": [{"itemIdentifier": "m-0"}]}  # redelivered for the search
    assert paths(fake_aws).count(SEARCH_PATH) == clients.MAX_ATTEMPTS
    assert paths(fake_aws).count(TONE_PATH) == 1
    assert logged(caplog, "voice_tone_started", duplicate=False)
    assert logged(caplog, "speaker_search_start_failed", errorCode="ThrottledClientException")
    values = emf_values(emf)
    assert values[(metrics.SPEAKER_SEARCH_FAILED_STARTS, None)] == [1.0]
    assert values[(metrics.VOICE_TONE_STARTED, None)] == [1.0]
    assert (metrics.VOICE_TONE_FAILED_STARTS, None) not in values


def test_a_failed_voice_tone_start_does_not_stop_the_search(
    tone_on: ModuleType, fake_aws: FakeAws, emf: Any, caplog: pytest.LogCaptureFixture
) -> None:
    fake_aws.script(f.CHIME, f.Reply(), f.bad_request())

    result = tone_on.handler(READY, FakeContext(60_000))

    assert result == {"batchItemFailures": [{"itemIdentifier": "m-0"}]}
    assert logged(caplog, "speaker_search_started", duplicate=False)
    [failure] = logged(caplog, "voice_tone_start_failed", errorCode="BadRequestException")
    assert failure.attempts == 1  # permanent: not retried in-process
    values = emf_values(emf)
    assert values[(metrics.VOICE_TONE_FAILED_STARTS, None)] == [1.0]
    assert values[(metrics.SPEAKER_SEARCH_STARTED, None)] == [1.0]


def test_redelivery_after_a_partial_failure_reuses_both_tokens(
    tone_on: ModuleType, fake_aws: FakeAws
) -> None:
    """The record fails for the search; its redelivery asks again with the same tokens, so the
    voice tone task that did start is not started a second time (one task per kind in the fake)."""
    fake_aws.script(f.CHIME, *[f.throttled()] * clients.MAX_ATTEMPTS)
    assert tone_on.handler(READY, FakeContext(60_000)) == {"batchItemFailures": [{"itemIdentifier": "m-0"}]}

    assert tone_on.handler(READY, FakeContext(60_000)) == {"batchItemFailures": []}

    tone_tokens = {
        r.json["ClientRequestToken"] for r in fake_aws.requests_for(f.CHIME) if r.path == TONE_PATH
    }
    assert tone_tokens == {TONE_TOKEN}
    assert sorted(key[-1] for key in fake_aws.tasks) == ["Caller", "voice-tone-analysis-tasks"]
    assert fake_aws.duplicate_starts == 0


def test_a_first_conflict_on_voice_tone_is_contention_retried_not_a_duplicate(
    tone_on: ModuleType, fake_aws: FakeAws, emf: Any, caplog: pytest.LogCaptureFixture
) -> None:
    fake_aws.script(f.CHIME, f.Reply(), f.conflict())

    assert tone_on.handler(READY, FakeContext(60_000)) == {"batchItemFailures": []}

    assert logged(caplog, "voice_tone_started", duplicate=False, attempts=2)
    values = emf_values(emf)
    assert values[(metrics.VOICE_TONE_STARTED, None)] == [1.0]
    assert (metrics.VOICE_TONE_DUPLICATE_STARTS, None) not in values


def test_a_conflict_on_voice_tone_after_its_own_lost_start_is_a_duplicate_not_a_failure(
    tone_on: ModuleType, fake_aws: FakeAws, emf: Any, caplog: pytest.LogCaptureFixture
) -> None:
    fake_aws.duplicate_start_answer = "conflict"
    fake_aws.script(f.CHIME, f.Reply(), f.lost_response())  # the tone task starts, its answer is lost

    assert tone_on.handler(READY, FakeContext(60_000)) == {"batchItemFailures": []}

    assert logged(caplog, "voice_tone_started", duplicate=True)
    values = emf_values(emf)
    assert values[(metrics.VOICE_TONE_DUPLICATE_STARTS, None)] == [1.0]
    assert (metrics.VOICE_TONE_STARTED, None) not in values


def test_bad_call_leg_fails_only_the_search_start(
    handler: ModuleType, fake_aws: FakeAws, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    reconfigure(handler, monkeypatch, VOICE_TONE_ANALYSIS="true", CALL_LEG="Agent")

    assert handler.handler(READY, FakeContext(60_000)) == {"batchItemFailures": [{"itemIdentifier": "m-0"}]}

    assert paths(fake_aws) == [TONE_PATH]
    assert logged(caplog, "speaker_search_start_failed", attempts=0)
    assert logged(caplog, "voice_tone_started", duplicate=False)


def test_a_throttled_search_leaves_voice_tone_its_share_of_the_deadline(
    tone_on: ModuleType, fake_aws: FakeAws, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(aws_calls, "_sleep", time.sleep)  # real backoff: the deadline is real time
    monkeypatch.setattr(clients, "BACKOFF_BASE_S", 0.1)
    monkeypatch.setattr(clients, "BACKOFF_CAP_S", 0.3)
    fake_aws.fault_policy = only_search_requests(fake_aws, f.service_unavailable())

    started = time.monotonic()
    result = tone_on.handler(READY, FakeContext(3_000))

    assert time.monotonic() - started < 3.0
    assert result == {"batchItemFailures": [{"itemIdentifier": "m-0"}]}
    assert 1 <= paths(fake_aws).count(SEARCH_PATH) < clients.MAX_ATTEMPTS  # stopped by its share
    assert logged(caplog, "voice_tone_started", duplicate=False)


# -- VoiceToneAnalysisStatus -> Voice Tone Analysis Result ---------------------------------------


def test_tone_result_from_aws_example_has_numbers_not_strings(tone_on: ModuleType, fake_aws: FakeAws) -> None:
    assert tone_on.handler(n.sqs_event(tone_notification()), None) == {"batchItemFailures": []}

    [event] = fake_aws.published
    assert (event["Source"], event["DetailType"], event["EventBusName"]) == (
        "chime-speaker-search",
        "Voice Tone Analysis Result",
        "speaker-bus",
    )
    assert event["Detail"] == {
        "searchId": "search-abc",
        "voiceConnectorId": "vc-one",
        "transactionId": "tx-1",
        "callLeg": "Caller",
        "taskId": "tone-task-1",
        "status": "VoiceToneAnalysisSuccessful",
        "current": {
            "label": "neutral",
            "scores": {"positive": 0.13, "negative": 0.04, "neutral": 0.83},
            "startTime": "2022-08-26T17:55:15.563Z",
            "endTime": "2022-08-26T17:55:45.720Z",
        },
        "overall": {
            "label": "positive",
            "scores": {"positive": 0.65, "negative": 0.1, "neutral": 0.25},
            "startTime": "2022-08-26T16:23:13.344Z",
            "endTime": "2022-08-26T17:55:45.720Z",
        },
        "notificationId": "n-tone-1",
        "notificationTime": "2024-05-01T12:00:00Z",
    }
    assert n.CALL_ID not in json.dumps(event)


def test_tone_result_accepts_float_scores_and_nulls_what_is_missing(tone_on: ModuleType) -> None:
    detail = tone_detail(
        isCaller=False,
        voiceToneAnalysisDetails={
            "currentAverageVoiceTone": {
                "voiceToneLabel": "negative",
                "voiceToneScore": {"positive": 0.2, "negative": "0.7", "neutral": "n/a"},
            }
        },
        transactionId=None,
    )
    settings = settings_module.get()
    result = results.build_voice_tone_result(n.envelope("VoiceToneAnalysisStatus", detail), detail, settings)
    assert result["callLeg"] == "Callee"
    assert result["transactionId"] is None
    assert result["current"] == {
        "label": "negative",
        "scores": {"positive": 0.2, "negative": 0.7, "neutral": None},
        "startTime": None,
        "endTime": None,
    }
    assert result["overall"] is None


def test_tone_result_nulls_fields_of_the_wrong_type(tone_on: ModuleType) -> None:
    """Odd types from the notification become null in the result, never a crash or a copied value."""
    detail = tone_detail(
        voiceToneAnalysisDetails={
            "currentAverageVoiceTone": {
                "voiceToneLabel": 5,
                "voiceToneScore": "high",
                "startTime": "  ",
                "endTime": ["2022-08-26T17:55:45.720Z"],
            }
        }
    )
    notification = {**n.envelope("VoiceToneAnalysisStatus", detail), "id": 7, "time": 1661536545}
    result = results.build_voice_tone_result(notification, detail, settings_module.get())
    assert result["current"] == {
        "label": None,
        "scores": {"positive": None, "negative": None, "neutral": None},
        "startTime": None,
        "endTime": None,
    }
    assert (result["notificationId"], result["notificationTime"]) == (None, None)


def test_failure_status_without_details_publishes_null_tones(tone_on: ModuleType, fake_aws: FakeAws) -> None:
    notification = tone_notification(
        status="VoiceToneAnalysisFailure", voiceToneAnalysisDetails=None, isCaller=None
    )
    assert tone_on.handler(n.sqs_event(notification), None) == {"batchItemFailures": []}
    [event] = fake_aws.published
    detail = event["Detail"]
    assert (detail["status"], detail["current"], detail["overall"], detail["callLeg"]) == (
        "VoiceToneAnalysisFailure",
        None,
        None,
        None,  # voice tone takes no leg, so the configured CALL_LEG says nothing here
    )


@pytest.mark.parametrize("status", sorted(results.VOICE_TONE_STATUSES))
def test_each_tone_status_is_published_and_counted_by_status(
    tone_on: ModuleType, fake_aws: FakeAws, emf: Any, status: str
) -> None:
    assert tone_on.handler(n.sqs_event(tone_notification(status=status)), None) == {"batchItemFailures": []}
    assert [e["Detail"]["status"] for e in fake_aws.published] == [status]
    values = emf_values(emf)
    assert values[(metrics.VOICE_TONE_RESULTS, status)] == [1.0]
    assert values[(metrics.VOICE_TONE_RESULTS, None)] == [1.0]


def test_speaker_search_results_are_counted_in_total_and_by_status(
    handler: ModuleType, fake_aws: FakeAws, emf: Any
) -> None:
    assert handler.handler(n.sqs_event(n.search_status("IdentificationNoMatchesFound")), None) == {
        "batchItemFailures": []
    }
    values = emf_values(emf)
    assert values[(metrics.SPEAKER_SEARCH_RESULTS, "IdentificationNoMatchesFound")] == [1.0]
    assert values[(metrics.SPEAKER_SEARCH_RESULTS, None)] == [1.0]


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"taskId": None}, "detail.taskId is missing"),
        ({"voiceToneAnalysisDetails": ["x"]}, "detail.voiceToneAnalysisDetails must be an object, got array"),
    ],
)
def test_malformed_tone_results_fail_the_record(
    tone_on: ModuleType, fake_aws: FakeAws, caplog: pytest.LogCaptureFixture, overrides: Any, reason: str
) -> None:
    result = tone_on.handler(n.sqs_event(tone_notification(**overrides)), None)
    assert result == {"batchItemFailures": [{"itemIdentifier": "m-0"}]}
    assert logged(caplog, "notification_rejected", reason=reason)
    assert fake_aws.published == []


@pytest.mark.parametrize(
    ("overrides", "level", "reason"),
    [
        (
            {"status": "VoiceToneAnalysisMaybe"},
            logging.WARNING,
            "unknown VoiceToneAnalysisStatus detailStatus",
        ),
        ({"voiceConnectorId": n.FOREIGN_CONNECTOR}, logging.DEBUG, calls.NOT_SERVED),
    ],
    ids=["unknown-status", "other-connector"],
)
def test_tone_notifications_not_ours_are_skipped(
    tone_on: ModuleType,
    fake_aws: FakeAws,
    caplog: pytest.LogCaptureFixture,
    overrides: Any,
    level: int,
    reason: str,
) -> None:
    assert tone_on.handler(n.sqs_event(tone_notification(**overrides)), None) == {"batchItemFailures": []}
    [record] = logged(caplog, "notification_skipped")
    assert (record.levelno, record.reason) == (level, reason)
    assert fake_aws.published == []


def test_a_tone_result_after_voice_tone_was_turned_off_is_skipped(
    handler: ModuleType, fake_aws: FakeAws, caplog: pytest.LogCaptureFixture
) -> None:
    assert handler.handler(n.sqs_event(tone_notification()), None) == {"batchItemFailures": []}
    [record] = logged(caplog, "notification_skipped")
    assert (record.levelno, record.reason) == (logging.DEBUG, "voice tone analysis is not enabled")
    assert fake_aws.published == []


def test_a_published_tone_result_is_logged_with_its_status(
    tone_on: ModuleType, fake_aws: FakeAws, caplog: pytest.LogCaptureFixture, emf: Any
) -> None:
    assert tone_on.handler(n.sqs_event(tone_notification()), FakeContext(60_000)) == {"batchItemFailures": []}
    [published] = fake_aws.published
    [record] = logged(caplog, "voice_tone_result_published")
    assert record.status == published["Detail"]["status"]
    assert record.taskId == "tone-task-1"


def test_publish_failure_of_a_tone_result_fails_the_record(
    tone_on: ModuleType, fake_aws: FakeAws, caplog: pytest.LogCaptureFixture, emf: Any
) -> None:
    fake_aws.fault_policy = lambda service: f.events_internal_error() if service == f.EVENTS else None
    result = tone_on.handler(n.sqs_event(tone_notification()), FakeContext(60_000))
    assert result == {"batchItemFailures": [{"itemIdentifier": "m-0"}]}
    assert logged(caplog, "voice_tone_result_publish_failed")
    assert (metrics.VOICE_TONE_RESULTS, None) not in emf_values(emf)


# -- with the state table: the duplicate rules apply to voice tone too ---------------------------


@pytest.fixture(params=f.DUPLICATE_START_ANSWERS)
def answer(request: pytest.FixtureRequest, fake_aws: FakeAws) -> str:
    """AWS does not document a repeated start's answer: every test below runs under each one."""
    fake_aws.duplicate_start_answer = request.param
    return str(request.param)


def test_a_search_that_failed_never_repeats_the_started_voice_tone(
    tone_on: ModuleType, fake_aws: FakeAws, state_aws: StateAws, answer: str, emf: Any
) -> None:
    fake_aws.script(f.CHIME, *[f.throttled()] * clients.MAX_ATTEMPTS)  # the search's whole budget
    first = tone_on.handler(READY, FakeContext(60_000))
    assert first == {"batchItemFailures": [{"itemIdentifier": "m-0"}]}  # redelivered for the search

    assert tone_on.handler(READY, FakeContext(60_000)) == {"batchItemFailures": []}

    assert paths(fake_aws).count(TONE_PATH) == 1  # the redelivery made no second voice tone call
    assert fake_aws.repeat_starts == 0 and fake_aws.duplicate_starts == 0
    values = emf_values(emf)
    assert values[(metrics.VOICE_TONE_STARTED, None)] == [1.0]
    assert values[(metrics.VOICE_TONE_DUPLICATE_STARTS, None)] == [1.0]
    assert values[(metrics.SPEAKER_SEARCH_STARTED, None)] == [1.0]
    assert state_aws.dead_letters() == []


def test_a_second_delivery_of_a_started_call_is_a_duplicate_for_both_kinds(
    tone_on: ModuleType, fake_aws: FakeAws, state_aws: StateAws, answer: str, emf: Any
) -> None:
    for _ in range(2):
        assert tone_on.handler(READY, FakeContext(60_000)) == {"batchItemFailures": []}
    assert sorted(paths(fake_aws)) == [SEARCH_PATH, TONE_PATH]
    values = emf_values(emf)
    for started, duplicate in (
        (metrics.SPEAKER_SEARCH_STARTED, metrics.SPEAKER_SEARCH_DUPLICATE_STARTS),
        (metrics.VOICE_TONE_STARTED, metrics.VOICE_TONE_DUPLICATE_STARTS),
    ):
        assert values[(started, None)] == [1.0] and values[(duplicate, None)] == [1.0]


def test_a_tone_status_records_its_task_as_started(
    tone_on: ModuleType, fake_aws: FakeAws, state_aws: StateAws, emf: Any
) -> None:
    """The evidence that settles an RLE after a lost start answer, as for speaker search."""
    assert tone_on.handler(n.sqs_event(tone_notification()), None) == {"batchItemFailures": []}

    assert tone_on.handler(READY, FakeContext(60_000)) == {"batchItemFailures": []}

    assert paths(fake_aws) == [SEARCH_PATH]  # voice tone: already started, no call
    assert emf_values(emf)[(metrics.VOICE_TONE_DUPLICATE_STARTS, None)] == [1.0]
