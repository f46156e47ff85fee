"""Which requests are served, and the documented reason of every request that is not (issue 10).

A raw (non-SQS) invocation returns the outcome and its reason (a failure raises it), so each
skip, refusal and consent outcome is checked by its exact reason and its log line's level. The
bus is a botocore Stubber, the state table moto's; no call here reaches chime-sdk-voice.
"""

from __future__ import annotations

import logging
from types import ModuleType
from typing import Any

import pytest

from tests.runtime import notifications as n
from tests.runtime.conftest import StateAws
from tests.runtime.helpers import Stubs, logged, put_ok, reconfigure

SOURCE = "chime-speaker-search.requests"


def request(
    detail_type: str, detail: dict[str, Any], *, at: Any = "2029-11-25T10:01:00Z", **fields: Any
) -> dict[str, Any]:
    """The request as its rule delivers it (envelope, ingested ``at``); ``fields`` change the event."""
    event = n.envelope(detail_type, detail, "req-1")
    event.update(source=SOURCE, time="2029-11-25T10:01:00Z")
    event.update(fields)
    return n.request_envelope(event, at)


def consent(value: Any = "granted", **detail: Any) -> dict[str, Any]:
    return {"voiceConnectorId": n.SERVED_CONNECTOR, "transactionId": "tx-1", "consent": value, **detail}


def enroll(**detail: Any) -> dict[str, Any]:
    return request(
        "Enroll Voice Profile",
        {
            "searchId": "search-abc",
            "speakerSearchTaskId": "ssk-task-1",
            "consentReference": "ivr-42",
            **detail,
        },
    )


@pytest.fixture
def bus(handler: ModuleType, stubs: Stubs, state_aws: StateAws, monkeypatch: pytest.MonkeyPatch) -> Stubs:
    reconfigure(handler, monkeypatch, REQUIRE_CONSENT="true", ENABLE_ENROLLMENT="true")
    return stubs


def skipped(caplog: pytest.LogCaptureFixture) -> tuple[int, str]:
    [line] = logged(caplog, "notification_skipped")
    return line.levelno, line.reason


# -- requests that are not served ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("event", "reason", "level"),
    [
        (
            request("Speaker Search Consent", consent(), source="someone.else"),
            "request from an unexpected source",
            logging.WARNING,
        ),
        (enroll(searchId="search-other"), "request for another SpeakerSearch (searchId)", logging.WARNING),
        (
            request("Speaker Search Consent", consent(voiceConnectorId=n.FOREIGN_CONNECTOR)),
            "voice connector not served by this deployment",
            logging.INFO,
        ),
    ],
    ids=["other-source", "other-search", "other-connector"],
)
def test_a_request_not_for_this_construct_is_skipped_with_its_reason(
    bus: Stubs,
    handler: ModuleType,
    caplog: pytest.LogCaptureFixture,
    event: dict[str, Any],
    reason: str,
    level: int,
) -> None:
    assert handler.handler(event, None) == {"outcome": "skipped", "reason": reason}
    assert skipped(caplog) == (level, reason)


@pytest.mark.parametrize(
    ("event", "reason"),
    [
        (request("Speaker Search Consent", consent()), "consent gate is off (REQUIRE_CONSENT is not true)"),
        (enroll(), "enrollment is off (ENABLE_ENROLLMENT is not true)"),
    ],
    ids=["consent", "enroll"],
)
def test_a_request_for_a_feature_that_is_off_is_skipped_with_a_warning(
    handler: ModuleType, stubs: Stubs, caplog: pytest.LogCaptureFixture, event: dict[str, Any], reason: str
) -> None:
    assert handler.handler(event, None) == {"outcome": "skipped", "reason": reason}
    assert skipped(caplog) == (logging.WARNING, reason)


@pytest.mark.parametrize(
    ("unset", "event", "reason"),
    [
        (
            "STATE_TABLE_NAME",
            request("Speaker Search Consent", consent()),
            "REQUIRE_CONSENT needs STATE_TABLE_NAME",
        ),
        ("STATE_TABLE_NAME", enroll(), "enrollment needs STATE_TABLE_NAME and VOICE_PROFILE_DOMAIN_ID"),
        (
            "VOICE_PROFILE_DOMAIN_ID",
            enroll(),
            "enrollment needs STATE_TABLE_NAME and VOICE_PROFILE_DOMAIN_ID",
        ),
    ],
    ids=["consent-without-table", "enroll-without-table", "enroll-without-domain"],
)
def test_a_feature_without_the_resources_it_needs_fails_as_misconfigured(
    handler: ModuleType,
    stubs: Stubs,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    unset: str,
    event: dict[str, Any],
    reason: str,
) -> None:
    monkeypatch.delenv(unset, raising=False)
    reconfigure(handler, monkeypatch, REQUIRE_CONSENT="true", ENABLE_ENROLLMENT="true")
    with pytest.raises(handler.NotificationFailedError) as raised:
        handler.handler(event, None)
    assert str(raised.value) == f"invalid configuration: {reason}"
    [line] = logged(caplog, "invalid_configuration")
    assert line.reason == reason


# -- malformed consent -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("detail", "reason"),
    [
        (consent("maybe"), "detail.consent must be 'granted' or 'declined', got 'maybe'"),
        (consent("y" * 100), "detail.consent must be 'granted' or 'declined', got '" + "y" * 39),
        (consent(1), "detail.consent must be 'granted' or 'declined', got number"),
        (consent(None), "detail.consent must be 'granted' or 'declined', got null"),
        (consent(voiceConnectorId=None), "detail.voiceConnectorId is missing"),
        (consent(transactionId=7), "detail.transactionId must be a string, got number"),
        (consent(consentReference=["ivr"]), "detail.consentReference must be a string, got array"),
    ],
    ids=["unknown", "long", "number", "null", "no-connector", "number-tx", "array-reference"],
)
def test_a_malformed_consent_is_skipped_with_the_exact_reason(
    bus: Stubs, handler: ModuleType, caplog: pytest.LogCaptureFixture, detail: dict[str, Any], reason: str
) -> None:
    body = {k: v for k, v in detail.items() if v is not None or k == "consent"}
    expected = f"malformed consent: {reason}"
    assert handler.handler(request("Speaker Search Consent", body), None) == {
        "outcome": "skipped",
        "reason": expected,
    }
    assert skipped(caplog) == (logging.WARNING, expected)


# -- consent outcomes ------------------------------------------------------------------------------


def test_a_consent_before_analytics_ready_is_recorded_and_waits(
    bus: Stubs, handler: ModuleType, caplog: pytest.LogCaptureFixture
) -> None:
    put_ok(bus)
    event = request("Speaker Search Consent", consent(consentReference="ivr-42"))
    assert handler.handler(event, None) == {
        "outcome": "skipped",
        "reason": "consent recorded; the call starts when AnalyticsReady arrives",
    }
    [line] = logged(caplog, "consent_recorded")
    assert (line.levelno, line.consent, line.consentReference, line.decidedAt, line.callReady) == (
        logging.INFO,
        "granted",
        "ivr-42",
        "2029-11-25T10:01:00Z",
        False,
    )
    assert bus.published_details()[0]["requestId"] == "req-1"
    # the audit event's own log line, named like every published event's (<prefix>_published)
    [audit_line] = logged(caplog, "consent_recorded_published")
    assert (audit_line.levelno, audit_line.attempts) == (logging.INFO, 1)


def test_an_older_decision_arriving_late_is_skipped(
    bus: Stubs, handler: ModuleType, caplog: pytest.LogCaptureFixture
) -> None:
    put_ok(bus)
    handler.handler(request("Speaker Search Consent", consent("declined")), None)
    late = request("Speaker Search Consent", consent("granted"), at="2029-11-25T10:00:00Z")
    reason = "a later consent decision, or a decline with the same time, is already recorded"
    assert handler.handler(late, None) == {"outcome": "skipped", "reason": reason}
    assert skipped(caplog) == (logging.INFO, reason)


def test_an_ingestion_time_with_fractions_of_a_second_is_kept(bus: Stubs, handler: ModuleType) -> None:
    put_ok(bus)
    handler.handler(request("Speaker Search Consent", consent(), at="2029-11-25T10:01:00.250Z"), None)
    assert bus.published_details()[0]["decidedAt"] == "2029-11-25T10:01:00.250Z"


@pytest.mark.parametrize("time", [None, 1_700_000_000, "yesterday", "2099-01-01T00:00:00Z"])
def test_the_events_own_time_plays_no_part(bus: Stubs, handler: ModuleType, time: Any) -> None:
    put_ok(bus)
    envelope = request("Speaker Search Consent", consent())
    envelope["event"].pop("time") if time is None else envelope["event"].update(time=time)
    handler.handler(envelope, None)
    assert bus.published_details()[0]["decidedAt"] == "2029-11-25T10:01:00Z"


@pytest.mark.parametrize(
    "at",
    [None, 1_700_000_000, "2029-11-25 10:01:00Z", "2029-11-25T10:01:00Z trailing", "2029-11-25T10:01:00"],
    ids=["missing", "number", "space", "trailing", "no-offset"],
)
def test_an_envelope_without_a_usable_ingestion_time_is_malformed_and_serves_nothing(
    bus: Stubs, handler: ModuleType, caplog: pytest.LogCaptureFixture, at: Any
) -> None:
    envelope = request("Speaker Search Consent", consent(), at=at)
    if at is None:
        del envelope["ingestionTime"]
    with pytest.raises(handler.NotificationFailedError) as raised:
        handler.handler(envelope, None)
    reason = "envelope.ingestionTime is not an ISO 8601 date-time with an offset"
    assert str(raised.value) == reason
    [line] = logged(caplog, "notification_rejected")
    assert line.reason == reason
    assert bus.published_details() == []


@pytest.mark.parametrize(
    ("notification_id", "consent_request_id", "profile_request_id"),
    [("req-9", "req-9", "req-9"), (None, None, "unknown"), (42, None, "unknown")],
    ids=["string", "missing", "number"],
)
def test_the_request_id_is_the_events_id_when_it_is_a_string(
    bus: Stubs,
    handler: ModuleType,
    notification_id: Any,
    consent_request_id: str | None,
    profile_request_id: str,
) -> None:
    put_ok(bus)
    put_ok(bus)
    events = [
        request("Speaker Search Consent", consent()),
        request("Delete Voice Profile", {"searchId": "search-abc"}),  # fails: no voiceProfileId
    ]
    for envelope in events:
        event = envelope["event"]
        event.pop("id") if notification_id is None else event.update(id=notification_id)
        handler.handler(envelope, None)
    assert [d["requestId"] for d in bus.published_details()] == [consent_request_id, profile_request_id]
