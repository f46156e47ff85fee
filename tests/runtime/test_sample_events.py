"""The package's sample events (chime_speaker_search.sample_events) through the real handler.

Each notification does what it stands for (a start, a published result, a pipeline failure log); each
request passes the handler's validation, and the same request with a required field removed does
not. chime-sdk-voice and EventBridge are the local HTTP fake; the state table is moto's.
"""

from __future__ import annotations

import copy
import json
import logging
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from chime_speaker_search import event_types, sample_events
from tests.runtime import fake_aws as f
from tests.runtime.conftest import StateAws
from tests.runtime.helpers import reconfigure

DOMAIN = "vpd-0123456789"  # the runtime tests' VOICE_PROFILE_DOMAIN_ID
CONNECTOR = sample_events.load("analytics-ready")["detail"]["voiceConnectorId"]
TRANSACTION = sample_events.load("analytics-ready")["detail"]["transactionId"]
SEARCH_ID = sample_events.load("enroll-voice-profile.delivered")["event"]["detail"]["searchId"]
REQUESTS = ["speaker-search-consent", "enroll-voice-profile", "update-voice-profile", "delete-voice-profile"]
PROFILE_OUTCOMES = {
    event_types.VOICE_PROFILE_ENROLLED_DETAIL_TYPE,
    event_types.VOICE_PROFILE_UPDATED_DETAIL_TYPE,
    event_types.VOICE_PROFILE_DELETED_DETAIL_TYPE,
    event_types.VOICE_PROFILE_REQUEST_FAILED_DETAIL_TYPE,
}
#: A required field of each request, removed to show that validation can fail.
REQUIRED = {
    "speaker-search-consent": "transactionId",
    "enroll-voice-profile": "speakerSearchTaskId",
    "update-voice-profile": "voiceProfileId",
    "delete-voice-profile": "voiceProfileId",
}


def _handler_reads_the_envelope() -> bool:
    """Whether this tree's handler unwraps the request envelope the construct's rules add.

    The construct wraps every request (event_types.REQUEST_ENVELOPE); a handler that reads the
    envelope is fed the ``.delivered`` sample as the queue holds it, one that does not yet is fed
    the event inside it (what it accepted before the envelope existed).
    """
    sources = (Path(__file__).parents[2] / "lambda" / "speaker_search").glob("*.py")
    return any(event_types.REQUEST_ENVELOPE in p.read_text(encoding="utf-8") for p in sources)


def _request_body(name: str) -> dict[str, Any]:
    delivered = sample_events.load(f"{name}.delivered")
    return delivered if _handler_reads_the_envelope() else delivered["event"]


def _sqs(*bodies: Any) -> dict[str, Any]:
    return {
        "Records": [
            {
                "messageId": f"m-{i}",
                "receiptHandle": f"rh-{i}",
                "body": json.dumps(body),
                "attributes": {"ApproximateReceiveCount": "1"},
                "messageAttributes": {},
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:111122223333:speaker-search",
                "awsRegion": "us-east-1",
            }
            for i, body in enumerate(bodies)
        ]
    }


def _run(handler: ModuleType, *bodies: Any) -> dict[str, Any]:
    result: dict[str, Any] = handler.handler(_sqs(*bodies), None)
    return result


@pytest.fixture
def served(handler: ModuleType, fake_aws: f.FakeAws, monkeypatch: pytest.MonkeyPatch) -> f.FakeAws:
    """The handler serving the samples' connector and search, against the local fake."""
    reconfigure(handler, monkeypatch, VOICE_CONNECTOR_IDS=CONNECTOR, SEARCH_ID=SEARCH_ID)
    return fake_aws


# --- notifications ---------------------------------------------------------------------------------


def test_analytics_ready_starts_a_speaker_search_for_its_call(handler: ModuleType, served: f.FakeAws) -> None:
    assert _run(handler, sample_events.load("analytics-ready")) == {"batchItemFailures": []}
    (start,) = [r for r in served.requests_for(f.CHIME) if r.operation == "StartSpeakerSearchTask"]
    assert start.path == f"/voice-connectors/{CONNECTOR}/speaker-search-tasks"
    body = start.json
    assert (body["TransactionId"], body["VoiceProfileDomainId"], body["CallLeg"]) == (
        TRANSACTION,
        DOMAIN,
        "Caller",
    )


def test_an_identification_is_published_with_its_matches_ranked(
    handler: ModuleType, served: f.FakeAws
) -> None:
    sample = sample_events.load("speaker-search-status-identification")
    assert _run(handler, sample) == {"batchItemFailures": []}
    (event,) = served.published
    assert (event["Source"], event["DetailType"]) == (
        event_types.RESULT_EVENT_SOURCE,
        event_types.RESULT_EVENT_DETAIL_TYPE,
    )
    detail = event["Detail"]
    assert detail["status"] == "IdentificationSuccessful"
    assert (detail["voiceConnectorId"], detail["transactionId"], detail["callLeg"]) == (
        CONNECTOR,
        TRANSACTION,
        "Caller",
    )
    expected = [
        {"voiceProfileId": r["voiceProfileId"], "confidenceScore": float(r["confidenceScore"])}
        for r in sample["detail"]["speakerSearchDetails"]["results"]
    ]
    assert detail["matches"] == expected  # the sample lists them best first, scores as strings
    assert detail["bestMatch"] == expected[0]


def test_a_voiceprint_status_is_published_with_the_status_list_spelling(
    handler: ModuleType, served: f.FakeAws
) -> None:
    sample = sample_events.load("speaker-search-status-voiceprint")
    assert sample["detail"]["detailStatus"] == "VoiceprintGenerationSuccess"  # as AWS's example spells it
    assert _run(handler, sample) == {"batchItemFailures": []}
    (event,) = served.published
    assert event["Detail"]["status"] == "VoiceprintGenerationSuccessful"
    assert event["Detail"]["matches"] == []


def test_a_voice_tone_status_is_published_with_numeric_scores(
    handler: ModuleType, served: f.FakeAws, monkeypatch: pytest.MonkeyPatch
) -> None:
    reconfigure(handler, monkeypatch, VOICE_TONE_ANALYSIS="true")
    assert _run(handler, sample_events.load("voice-tone-analysis-status")) == {"batchItemFailures": []}
    (event,) = served.published
    assert event["DetailType"] == event_types.VOICE_TONE_EVENT_DETAIL_TYPE
    detail = event["Detail"]
    assert detail["current"]["label"] == "positive"
    assert detail["current"]["scores"] == {"positive": 0.83, "negative": 0.05, "neutral": 0.12}
    assert detail["overall"]["scores"] == {"positive": 0.30, "negative": 0.09, "neutral": 0.61}


def test_a_pipeline_failure_as_delivered_is_logged_with_its_reason(
    handler: ModuleType, served: f.FakeAws, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    assert _run(handler, sample_events.load("media-insights-state-change-failure.delivered")) == {
        "batchItemFailures": []
    }
    (record,) = [r for r in caplog.records if r.getMessage() == "pipeline_failure"]
    assert record.eventType == "chime:MediaInsightsCreateFailed"  # type: ignore[attr-defined]
    assert record.failureReason == "Access denied when assuming resource access role"  # type: ignore[attr-defined]
    assert served.published == [] and served.requests_for(f.CHIME) == []


# --- requests --------------------------------------------------------------------------------------


@pytest.fixture
def requests_on(
    handler: ModuleType, served: f.FakeAws, state_aws: StateAws, monkeypatch: pytest.MonkeyPatch
) -> f.FakeAws:
    reconfigure(handler, monkeypatch, REQUIRE_CONSENT="true", ENABLE_ENROLLMENT="true")
    return served


def _validation_failures(fake: f.FakeAws, caplog: pytest.LogCaptureFixture) -> list[str]:
    """Reasons that say a request's detail was malformed: logged skips (consent) and published
    failures (voice profile requests) whose reason names a ``detail.`` field."""
    logged = [str(getattr(r, "reason", "")) for r in caplog.records]
    published = [str(e["Detail"].get("reason")) for e in fake.published]
    return [reason for reason in logged + published if "detail." in reason]


@pytest.mark.parametrize("name", REQUESTS)
def test_each_request_sample_passes_the_handlers_validation(
    name: str, handler: ModuleType, requests_on: f.FakeAws, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    _run(handler, _request_body(name))
    assert _validation_failures(requests_on, caplog) == []
    outcomes = [e["DetailType"] for e in requests_on.published]
    if name == "speaker-search-consent":
        (audit,) = [e["Detail"] for e in requests_on.published]
        assert outcomes == [event_types.CONSENT_RECORDED_DETAIL_TYPE]
        assert (audit["voiceConnectorId"], audit["transactionId"], audit["consent"]) == (
            CONNECTOR,
            TRANSACTION,
            "granted",
        )
    else:
        # Served: what AWS then answers (the fake knows no such task or profile) is another matter.
        assert outcomes and set(outcomes) <= PROFILE_OUTCOMES


@pytest.mark.parametrize("name", REQUESTS)
def test_the_same_request_without_a_required_field_fails_validation(
    name: str, handler: ModuleType, requests_on: f.FakeAws, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    body = copy.deepcopy(_request_body(name))
    event = body.get("event", body)
    del event["detail"][REQUIRED[name]]
    _run(handler, body)
    failures = _validation_failures(requests_on, caplog)
    assert failures and all(f"detail.{REQUIRED[name]}" in reason for reason in failures)
    assert not any(r.operation.endswith("VoiceProfile") for r in requests_on.requests_for(f.CHIME))
