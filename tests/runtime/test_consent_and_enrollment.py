"""Consent gate and voice profile requests (issue 10): every order and outcome, duplicates, lost
responses and malformed requests. The state table and DLQ are moto's; chime-sdk-voice is the local
HTTP fake (consent) or a botocore Stubber (voice profiles, validated against the service model).
"""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from types import ModuleType
from typing import Any

import aws_calls
import consent_state
import enrollment_state
import metrics
import pytest
import state
from notifications import parse_instant

from tests.runtime import fake_aws as f
from tests.runtime import notifications as n
from tests.runtime.conftest import StateAws
from tests.runtime.helpers import (
    Stubs,
    events_of,
    in_domain,
    index_tasks,
    listing,
    logged,
    put_ok,
    state_item,
    voiceprints_ready,
)

SOURCE = "chime-speaker-search.requests"


#: The request events' own ``time``, set by their producer: never used for ordering (``at`` is).
PRODUCER_TIME = "2031-01-01T00:00:00Z"


def request(
    detail_type: str, detail: dict[str, Any], *, rid: str = "req-1", at: str = "2029-11-25T10:01:00Z"
) -> dict[str, Any]:
    """The request as its rule delivers it: in the envelope, ingested by EventBridge ``at``."""
    event = n.envelope(detail_type, detail, rid)
    event.update(source=SOURCE, time=PRODUCER_TIME)
    return n.request_envelope(event, at)


def consent(
    value: Any = "granted", *, tx: str = "tx-1", vc: str = n.SERVED_CONNECTOR, **kw: Any
) -> dict[str, Any]:
    detail = {"voiceConnectorId": vc, "transactionId": tx, "consent": value, "consentReference": "ivr-42"}
    return request("Speaker Search Consent", detail, **kw)


@pytest.fixture
def emf(monkeypatch: pytest.MonkeyPatch) -> io.StringIO:
    buffer = io.StringIO()
    monkeypatch.setattr(metrics, "_out", buffer)
    return buffer


def total(out: io.StringIO, name: str, status: str | None = None) -> float:
    result = 0.0
    for line in out.getvalue().splitlines():
        data = json.loads(line)
        if name in data and (status is None or data.get("Status") == status):
            value = data[name]
            result += sum(value) if isinstance(value, list) else value
    return result


def published(fake: f.FakeAws, detail_type: str) -> list[dict[str, Any]]:
    return [p["Detail"] for p in fake.published if p["DetailType"] == detail_type]


def start_calls(fake: f.FakeAws) -> list[f.Request]:
    return [r for r in fake.requests_for(f.CHIME) if r.path.endswith("/speaker-search-tasks")]


@pytest.fixture
def gate(
    handler: ModuleType, fake_aws: f.FakeAws, state_aws: StateAws, monkeypatch: pytest.MonkeyPatch
) -> f.FakeAws:
    monkeypatch.setenv("REQUIRE_CONSENT", "true")
    import settings

    settings.reset()
    return fake_aws


def run(handler: ModuleType, *bodies: Any) -> dict[str, Any]:
    result: dict[str, Any] = handler.handler(n.sqs_event(*bodies), None)
    return result


# -- consent gate ----------------------------------------------------------------------------------


def test_no_consent_means_no_search_and_no_failure(
    handler: ModuleType, gate: f.FakeAws, state_aws: StateAws
) -> None:
    assert run(handler, n.analytics_ready()) == {"batchItemFailures": []}
    assert start_calls(gate) == []
    assert state_aws.dead_letters() == []


def test_consent_before_analytics_ready_starts_on_the_notification(
    handler: ModuleType, gate: f.FakeAws, emf: io.StringIO
) -> None:
    assert run(handler, consent()) == {"batchItemFailures": []}
    assert start_calls(gate) == []
    assert run(handler, n.analytics_ready()) == {"batchItemFailures": []}
    assert len(start_calls(gate)) == 1
    assert total(emf, "ConsentGranted") == 1
    [audit] = published(gate, "Speaker Search Consent Recorded")
    assert audit == {
        "searchId": "search-abc",
        "requestId": "req-1",
        "voiceConnectorId": n.SERVED_CONNECTOR,
        "transactionId": "tx-1",
        "consent": "granted",
        "consentReference": "ivr-42",
        "decidedAt": "2029-11-25T10:01:00Z",
    }


def test_consent_after_analytics_ready_starts_the_pending_call(handler: ModuleType, gate: f.FakeAws) -> None:
    run(handler, n.analytics_ready())
    assert start_calls(gate) == []
    assert run(handler, consent()) == {"batchItemFailures": []}
    assert len(start_calls(gate)) == 1
    # A redelivered consent or AnalyticsReady starts nothing twice.
    run(handler, consent(), n.analytics_ready())
    assert len(gate.tasks) == 1
    assert gate.duplicate_starts == 0


@pytest.mark.parametrize("order", ["consent-first", "ready-first"])
def test_declined_means_never_searched(
    handler: ModuleType, gate: f.FakeAws, emf: io.StringIO, order: str
) -> None:
    bodies = [consent("declined"), n.analytics_ready()]
    for body in bodies if order == "consent-first" else bodies[::-1]:
        assert run(handler, body) == {"batchItemFailures": []}
    assert start_calls(gate) == []
    assert total(emf, "CallsNotSearched", status="declined") == 1
    assert total(emf, "ConsentDeclined") == 1


def test_declined_after_the_start_stops_the_running_task(handler: ModuleType, gate: f.FakeAws) -> None:
    run(handler, consent(at="2029-11-25T10:00:00Z"), n.analytics_ready())
    assert gate.active_tasks == {"task-000001"}
    assert run(handler, consent("declined", rid="req-2", at="2029-11-25T10:05:00Z")) == {
        "batchItemFailures": []
    }
    assert gate.stopped_tasks == ["task-000001"]
    # Stopping again (a redelivered decline) finds the task gone and still succeeds.
    assert run(handler, consent("declined", rid="req-2", at="2029-11-25T10:05:00Z")) == {
        "batchItemFailures": []
    }


def test_a_decline_stops_a_task_whose_id_only_its_status_names(handler: ModuleType, gate: f.FakeAws) -> None:
    """Found by bench/soak.py: the start's answer was lost, the retry got 409, so the decline
    could not stop the task by ID; its first status notification names it, and it is stopped then."""
    gate.duplicate_start_answer = "conflict"
    gate.script(f.CHIME, f.lost_response())
    run(handler, consent(at="2029-11-25T10:00:00Z"), n.analytics_ready())
    run(handler, consent("declined", rid="req-2", at="2029-11-25T10:05:00Z"))
    assert gate.active_tasks == {"task-000001"}  # not stoppable yet: its ID is unknown
    status = n.search_status(task_id="task-000001", transaction_id="tx-1", is_caller=True)
    assert run(handler, status) == {"batchItemFailures": []}
    assert gate.stopped_tasks == ["task-000001"]
    assert gate.active_tasks == set()
    run(handler, status)  # a second status for the task: nothing more to stop
    assert gate.stopped_tasks == ["task-000001"]


def test_the_latest_decision_wins_whatever_the_delivery_order(handler: ModuleType, gate: f.FakeAws) -> None:
    run(handler, consent("declined", at="2029-11-25T10:05:00Z"))
    run(handler, consent("granted", rid="older", at="2029-11-25T10:00:00Z"))  # arrives late, is older
    run(handler, n.analytics_ready())
    assert start_calls(gate) == []


def test_a_tie_is_decided_for_declined(handler: ModuleType, gate: f.FakeAws) -> None:
    run(handler, consent("granted"), consent("declined", rid="req-2"), n.analytics_ready())
    assert start_calls(gate) == []


@pytest.mark.parametrize(
    ("status", "code"),
    [(404, "NotFoundException"), (422, "UnprocessableEntityException"), (410, "GoneException")],
)
def test_consent_after_the_call_ended_is_a_documented_skip(
    handler: ModuleType, gate: f.FakeAws, state_aws: StateAws, emf: io.StringIO, status: int, code: str
) -> None:
    """Issue 23 item 7: a late consent answered 422 is the "ended" skip too, not the DLQ."""
    run(handler, n.analytics_ready())
    gate.script(f.CHIME, f.Reply(status, code, label=str(status)))
    assert run(handler, consent()) == {"batchItemFailures": []}
    assert total(emf, "CallsNotSearched", status="ended") == 1
    assert state_aws.dead_letters() == []


@pytest.mark.parametrize(
    "body",
    [
        consent("maybe"),
        consent(None),
        consent(1),
        consent(tx=""),
        consent(tx="x" * 2000),
        request("Speaker Search Consent", {"voiceConnectorId": n.SERVED_CONNECTOR}),
        request(
            "Speaker Search Consent",
            {"voiceConnectorId": n.SERVED_CONNECTOR, "transactionId": ["a"], "consent": "granted"},
        ),
    ],
    ids=["unknown-value", "null", "number", "empty-tx", "oversized-tx", "missing", "wrong-type"],
)
def test_malformed_consent_is_skipped_with_a_reason_and_the_neighbours_go_on(
    handler: ModuleType,
    gate: f.FakeAws,
    state_aws: StateAws,
    caplog: pytest.LogCaptureFixture,
    body: dict[str, Any],
) -> None:
    result = run(handler, body, consent(tx="tx-2"), n.analytics_ready("tx-2"))
    assert result == {"batchItemFailures": []}
    [skipped] = logged(caplog, "notification_skipped", messageId="m-0")
    assert skipped.reason.startswith("malformed consent")
    assert len(start_calls(gate)) == 1  # the good neighbour was started
    assert state_aws.dead_letters() == []


def test_consent_for_a_connector_this_construct_does_not_serve_is_ignored(
    handler: ModuleType, gate: f.FakeAws, state_aws: StateAws
) -> None:
    assert run(handler, consent(vc=n.FOREIGN_CONNECTOR)) == {"batchItemFailures": []}
    assert state_aws.items() == []


def test_a_request_from_another_source_is_not_trusted(handler: ModuleType, gate: f.FakeAws) -> None:
    forged = consent()
    forged["event"]["source"] = "someone.else"
    run(handler, forged, n.analytics_ready())
    assert start_calls(gate) == []


def test_with_the_gate_off_every_call_is_searched_and_consent_events_are_ignored(
    handler: ModuleType, fake_aws: f.FakeAws, state_aws: StateAws
) -> None:
    run(handler, consent("declined"), n.analytics_ready())
    assert len(start_calls(fake_aws)) == 1


def test_consent_state_holds_ids_only(handler: ModuleType, gate: f.FakeAws, state_aws: StateAws) -> None:
    run(handler, consent(), n.analytics_ready())
    [call] = [i for i in state_aws.items() if i["pk"]["S"].startswith("call#")]
    assert set(call) == {"pk", "consent", "consentReference", "decidedAtMs", "ready", "expiresAt"}
    assert n.SERVED_CONNECTOR not in call["pk"]["S"]  # a digest of the IDs
    assert float(call["expiresAt"]["N"]) <= state._now() + 48 * 3600 + 1


# -- enrollment ------------------------------------------------------------------------------------

TASK = "ssk-task-1"
PROFILE = {
    "VoiceProfileId": "vp-1",
    "VoiceProfileArn": "arn:aws:chime:us-east-1:111122223333:voice-profile/vp-1",
    "VoiceProfileDomainId": "vpd-0123456789",
    "CreatedTimestamp": datetime(2029, 11, 25, 10, 0, tzinfo=UTC),
    "UpdatedTimestamp": datetime(2029, 11, 25, 10, 0, tzinfo=UTC),
    "ExpirationTimestamp": datetime(2032, 11, 25, 10, 0, tzinfo=UTC),
}


def enroll(*, rid: str = "req-1", **detail: Any) -> dict[str, Any]:
    body = {"searchId": "search-abc", "speakerSearchTaskId": TASK, "consentReference": "ivr-42", **detail}
    return request("Enroll Voice Profile", {k: v for k, v in body.items() if v is not None}, rid=rid)


@pytest.fixture
def enrollment(
    handler: ModuleType, stubs: Stubs, state_aws: StateAws, monkeypatch: pytest.MonkeyPatch
) -> Stubs:
    monkeypatch.setenv("ENABLE_ENROLLMENT", "true")
    import settings

    settings.reset()
    index_tasks(state_aws.table_name, TASK, "t-2", "t-3")  # tasks this construct started
    voiceprints_ready(monkeypatch)
    return stubs


def test_enroll_creates_one_profile_and_publishes_it(
    enrollment: Stubs, handler: ModuleType, emf: io.StringIO
) -> None:
    enrollment.chime.add_response(
        "create_voice_profile", {"VoiceProfile": PROFILE}, {"SpeakerSearchTaskId": TASK}
    )
    put_ok(enrollment)
    assert run(handler, enroll(externalId="crm-7")) == {"batchItemFailures": []}
    [(detail_type, detail)] = events_of(enrollment)
    assert detail_type == "Voice Profile Enrolled"
    assert detail == {
        "searchId": "search-abc",
        "requestId": "req-1",
        "voiceProfileId": "vp-1",
        "voiceProfileArn": PROFILE["VoiceProfileArn"],
        "expirationTimestamp": "2032-11-25T10:00:00Z",
        "speakerSearchTaskId": TASK,
        "consentReference": "ivr-42",
        "externalId": "crm-7",
    }
    assert total(emf, "VoiceProfilesEnrolled") == 1


def test_a_second_request_for_the_same_task_publishes_the_existing_profile(
    enrollment: Stubs, handler: ModuleType, emf: io.StringIO
) -> None:
    enrollment.chime.add_response(
        "create_voice_profile", {"VoiceProfile": PROFILE}, {"SpeakerSearchTaskId": TASK}
    )
    put_ok(enrollment, 2)
    run(handler, enroll())
    run(handler, enroll())  # redelivered (or a second request): no second CreateVoiceProfile
    assert [d["voiceProfileId"] for _, d in events_of(enrollment)] == ["vp-1", "vp-1"]
    assert total(emf, "VoiceProfilesEnrolled") == 1


def test_a_lost_create_response_adopts_the_profile_it_made(
    enrollment: Stubs, handler: ModuleType, state_aws: StateAws, monkeypatch: pytest.MonkeyPatch
) -> None:
    attempted = PROFILE["CreatedTimestamp"].timestamp() - 1
    monkeypatch.setattr(state, "_now", lambda: attempted)
    enrollment_state.begin_enroll(state_aws.table_name, TASK, "req-0", _deadline())
    monkeypatch.setattr(state, "_now", lambda: attempted + 600)  # the attempt's window has passed
    other = {**PROFILE, "VoiceProfileId": "vp-old", "CreatedTimestamp": datetime(2029, 1, 1, tzinfo=UTC)}
    listing(enrollment, _summary(other), _summary(PROFILE))
    put_ok(enrollment)
    assert run(handler, enroll()) == {"batchItemFailures": []}
    [(detail_type, detail)] = events_of(enrollment)
    assert (detail_type, detail["voiceProfileId"]) == ("Voice Profile Enrolled", "vp-1")


def test_a_lost_create_that_made_nothing_is_created_again(
    enrollment: Stubs, handler: ModuleType, state_aws: StateAws, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(state, "_now", lambda: 1_000.0)
    enrollment_state.begin_enroll(state_aws.table_name, TASK, "req-0", _deadline())
    monkeypatch.setattr(state, "_now", lambda: 5_000.0)
    enrollment.chime.add_response("list_voice_profiles", {"VoiceProfiles": [_summary(PROFILE)]})
    enrollment.chime.add_response(
        "create_voice_profile", {"VoiceProfile": PROFILE}, {"SpeakerSearchTaskId": TASK}
    )
    put_ok(enrollment)
    assert run(handler, enroll()) == {"batchItemFailures": []}
    assert events_of(enrollment)[0][0] == "Voice Profile Enrolled"


def test_a_lost_create_does_not_adopt_a_profile_another_lost_create_may_have_made(
    enrollment: Stubs, handler: ModuleType, state_aws: StateAws, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Found by bench/soak.py: a summary does not name its task, so one candidate is not proof.

    This task's create failed unseen (no profile); another task's create made vp-1 and its answer
    was lost too. Adopting vp-1 here would enroll someone else's voiceprint.
    """
    table, domain = state_aws.table_name, "vpd-0123456789"
    attempted = PROFILE["CreatedTimestamp"].timestamp() - 1
    monkeypatch.setattr(state, "_now", lambda: attempted)
    enrollment_state.begin_enroll(table, TASK, "req-0", _deadline())
    enrollment_state.note_create_attempt(table, domain, TASK, _deadline())
    enrollment_state.note_create_attempt(table, domain, "ssk-task-2", _deadline())
    monkeypatch.setattr(state, "_now", lambda: attempted + 600)  # both windows have passed
    listing(enrollment, _summary(PROFILE))
    put_ok(enrollment)
    assert run(handler, enroll()) == {"batchItemFailures": []}
    [(detail_type, detail)] = events_of(enrollment)
    assert (detail_type, detail["reason"]) == ("Voice Profile Request Failed", "AmbiguousLostResponse")
    assert not enrollment_state.profile_claimed(table, "vp-1", _deadline())
    # The verdict stands once the other create has settled: one request, one outcome.
    other = [
        a.entry for a in enrollment_state.create_attempts(table, domain, _deadline()) if a.task_id != TASK
    ]
    enrollment_state.clear_create_attempts(table, domain, other, _deadline())
    put_ok(enrollment)
    assert run(handler, enroll()) == {"batchItemFailures": []}  # no ListVoiceProfiles this time
    assert [d["reason"] for _, d in events_of(enrollment)] == ["AmbiguousLostResponse"] * 2


def test_a_transient_error_checking_a_lost_create_is_retried_not_reported(
    enrollment: Stubs, handler: ModuleType, state_aws: StateAws, monkeypatch: pytest.MonkeyPatch
) -> None:
    import clients

    monkeypatch.setattr(clients, "MAX_ATTEMPTS", 1)
    monkeypatch.setattr(state, "_now", lambda: 1_000.0)
    enrollment_state.begin_enroll(state_aws.table_name, TASK, "req-0", _deadline())
    monkeypatch.setattr(state, "_now", lambda: 5_000.0)
    enrollment.chime.add_client_error(
        "list_voice_profiles", service_error_code="ServiceUnavailableException", http_status_code=503
    )
    assert run(handler, enroll()) == {"batchItemFailures": [{"itemIdentifier": "m-0"}]}
    assert events_of(enrollment) == []  # no failure event: a redelivery looks again


def test_a_create_stays_recorded_until_its_outcome_is_known(
    enrollment: Stubs, handler: ModuleType, state_aws: StateAws
) -> None:
    table, domain = state_aws.table_name, "vpd-0123456789"
    enrollment.chime.add_client_error(
        "create_voice_profile", service_error_code="ServiceFailureException", http_status_code=500
    )
    run(handler, enroll())  # unanswered: the create may have made a profile
    enrollment.chime.add_response(
        "create_voice_profile",
        {"VoiceProfile": {**PROFILE, "VoiceProfileId": "vp-2"}},
        {"SpeakerSearchTaskId": "t-2"},
    )
    enrollment.chime.add_client_error(
        "create_voice_profile", service_error_code="GoneException", http_status_code=410
    )
    put_ok(enrollment, 2)
    run(handler, enroll(speakerSearchTaskId="t-2"))  # answered
    run(handler, enroll(speakerSearchTaskId="t-3"))  # definitely failed
    assert [a.task_id for a in enrollment_state.create_attempts(table, domain, _deadline())] == [TASK]
    assert [d for d, _ in events_of(enrollment)] == ["Voice Profile Enrolled", "Voice Profile Request Failed"]


def test_a_create_in_flight_elsewhere_is_not_duplicated(
    enrollment: Stubs, handler: ModuleType, state_aws: StateAws
) -> None:
    enrollment_state.begin_enroll(state_aws.table_name, TASK, "req-0", _deadline())
    assert run(handler, enroll()) == {"batchItemFailures": [{"itemIdentifier": "m-0"}]}  # redelivered later


def test_a_5xx_on_create_is_not_retried_in_process(
    enrollment: Stubs, handler: ModuleType, sleeps: Any
) -> None:
    enrollment.chime.add_client_error(
        "create_voice_profile", service_error_code="ServiceFailureException", http_status_code=500
    )
    assert run(handler, enroll()) == {"batchItemFailures": [{"itemIdentifier": "m-0"}]}
    assert sleeps.delays == []


@pytest.mark.parametrize(
    ("code", "status"),
    [
        ("GoneException", 410),
        ("NotFoundException", 404),
        ("BadRequestException", 400),
        ("ResourceLimitExceededException", 400),
    ],
)
def test_an_enroll_that_cannot_be_served_publishes_a_failure(
    enrollment: Stubs, handler: ModuleType, emf: io.StringIO, code: str, status: int
) -> None:
    enrollment.chime.add_client_error(
        "create_voice_profile", service_error_code=code, http_status_code=status
    )
    put_ok(enrollment)
    assert run(handler, enroll()) == {"batchItemFailures": []}
    [(detail_type, detail)] = events_of(enrollment)
    assert detail_type == "Voice Profile Request Failed"
    assert (detail["request"], detail["reason"], detail["speakerSearchTaskId"]) == (
        "Enroll Voice Profile",
        code,
        TASK,
    )
    assert total(emf, "VoiceProfileRequestsFailed") == 1
    # A redelivery of the request gets the same answer without a second create (found by
    # bench/soak.py: a second create whose answer was lost gave the request a second outcome).
    put_ok(enrollment)
    assert run(handler, enroll()) == {"batchItemFailures": []}
    assert events_of(enrollment)[-1] == (detail_type, detail)
    # The claim is released: a later request for the task may try again.
    enrollment.chime.add_response("create_voice_profile", {"VoiceProfile": PROFILE})
    put_ok(enrollment)
    run(handler, enroll(rid="req-2"))
    assert events_of(enrollment)[-1][0] == "Voice Profile Enrolled"


def test_enroll_without_consent_reference_calls_nothing(enrollment: Stubs, handler: ModuleType) -> None:
    put_ok(enrollment)
    assert run(handler, enroll(consentReference=None)) == {"batchItemFailures": []}
    [(detail_type, detail)] = events_of(enrollment)
    assert detail_type == "Voice Profile Request Failed"
    assert detail["reason"] == "detail.consentReference is required"


@pytest.mark.parametrize(
    "detail",
    [
        {"speakerSearchTaskId": 7},
        {"speakerSearchTaskId": ""},
        {"speakerSearchTaskId": "t" * 2000},
        {"externalId": {"a": 1}},
    ],
    ids=["number", "empty", "oversized", "object"],
)
def test_malformed_voice_profile_requests_publish_a_failure(
    enrollment: Stubs, handler: ModuleType, detail: dict[str, Any]
) -> None:
    put_ok(enrollment)
    enrollment.chime.add_response(
        "start_speaker_search_task", {"SpeakerSearchTask": {"SpeakerSearchTaskId": "t"}}
    )
    result = run(handler, enroll(**detail), n.analytics_ready())
    assert result == {"batchItemFailures": []}
    [(detail_type, failure)] = events_of(enrollment)
    assert detail_type == "Voice Profile Request Failed"
    assert failure["reason"].startswith("detail.")


def test_update_refreshes_the_profile(enrollment: Stubs, handler: ModuleType, emf: io.StringIO) -> None:
    in_domain(enrollment)
    enrollment.chime.add_response(
        "update_voice_profile",
        {"VoiceProfile": PROFILE},
        {"VoiceProfileId": "vp-1", "SpeakerSearchTaskId": TASK},
    )
    put_ok(enrollment)
    body = request(
        "Update Voice Profile",
        {
            "searchId": "search-abc",
            "voiceProfileId": "vp-1",
            "speakerSearchTaskId": TASK,
            "consentReference": "ivr-43",
        },
    )
    assert run(handler, body) == {"batchItemFailures": []}
    [(detail_type, detail)] = events_of(enrollment)
    assert (detail_type, detail["voiceProfileId"], detail["consentReference"]) == (
        "Voice Profile Updated",
        "vp-1",
        "ivr-43",
    )
    assert total(emf, "VoiceProfilesUpdated") == 1


@pytest.mark.parametrize(
    "gone", ["no", "before", "meanwhile"], ids=["deleted", "already-gone", "gone-meanwhile"]
)
def test_delete_succeeds_also_when_the_profile_is_already_gone(
    enrollment: Stubs, handler: ModuleType, emf: io.StringIO, gone: str
) -> None:
    if gone == "before":  # GetVoiceProfile finds nothing: no DeleteVoiceProfile
        enrollment.chime.add_client_error(
            "get_voice_profile", service_error_code="NotFoundException", http_status_code=404
        )
    else:
        in_domain(enrollment)
    if gone == "meanwhile":
        enrollment.chime.add_client_error(
            "delete_voice_profile", service_error_code="NotFoundException", http_status_code=404
        )
    elif gone == "no":
        enrollment.chime.add_response("delete_voice_profile", {}, {"VoiceProfileId": "vp-1"})
    put_ok(enrollment)
    body = request("Delete Voice Profile", {"searchId": "search-abc", "voiceProfileId": "vp-1"})
    assert run(handler, body) == {"batchItemFailures": []}
    assert events_of(enrollment) == [
        (
            "Voice Profile Deleted",
            {
                "searchId": "search-abc",
                "requestId": "req-1",
                "voiceProfileId": "vp-1",
                "consentReference": None,
            },
        )
    ]
    assert total(emf, "VoiceProfilesDeleted") == 1


def test_requests_for_another_construct_or_with_enrollment_off_are_skipped(
    handler: ModuleType, stubs: Stubs, state_aws: StateAws, caplog: pytest.LogCaptureFixture
) -> None:
    assert run(handler, enroll()) == {"batchItemFailures": []}  # ENABLE_ENROLLMENT unset
    [line] = logged(caplog, "notification_skipped", messageId="m-0")
    assert "enrollment is off" in line.reason


def test_the_audit_log_has_ids_and_consent_reference_only(
    enrollment: Stubs, handler: ModuleType, caplog: pytest.LogCaptureFixture
) -> None:
    enrollment.chime.add_response("create_voice_profile", {"VoiceProfile": PROFILE})
    put_ok(enrollment)
    run(handler, enroll(externalId="Jane Doe +1 555 0100"))
    [line] = logged(caplog, "voice_profile_enrolled_published", messageId="m-0")
    assert (line.speakerSearchTaskId, line.consentReference) == (TASK, "ivr-42")
    assert all("Jane" not in str(r.__dict__) for r in caplog.records)


def _deadline() -> Any:
    return aws_calls.Deadline.after(30)


def _summary(profile: dict[str, Any]) -> dict[str, Any]:
    return {
        k: profile[k]
        for k in (
            "VoiceProfileId",
            "VoiceProfileArn",
            "VoiceProfileDomainId",
            "CreatedTimestamp",
            "UpdatedTimestamp",
            "ExpirationTimestamp",
        )
    }


def test_values_that_are_not_id_shaped_never_reach_the_logs(
    handler: ModuleType, gate: f.FakeAws, caplog: pytest.LogCaptureFixture
) -> None:
    phone = "+1 555 0100"
    body = consent()
    body["event"]["detail"]["consentReference"] = phone
    assert run(handler, body) == {"batchItemFailures": []}
    assert logged(caplog, "consent_recorded", messageId="m-0")
    assert all(phone not in str(r.__dict__) for r in caplog.records)


def test_a_decline_that_lands_while_the_start_is_in_flight_stops_the_new_task(
    handler: ModuleType, gate: f.FakeAws, state_aws: StateAws
) -> None:
    run(handler, consent(at="2029-11-25T10:00:00Z"))

    def decline_meanwhile(service: str) -> f.Reply | None:
        if service == f.CHIME and not gate.tasks:  # the start request: the decline is handled now
            consent_state.record_consent(
                state_aws.table_name,
                n.SERVED_CONNECTOR,
                "tx-1",
                consent="declined",
                consent_reference=None,
                decided_at=parse_instant("2029-11-25T10:05:00Z"),  # type: ignore[arg-type]
                deadline=aws_calls.Deadline.after(30),
            )
        return None

    gate.fault_policy = decline_meanwhile
    assert run(handler, n.analytics_ready()) == {"batchItemFailures": []}
    assert gate.stopped_tasks == ["task-000001"]


def test_a_retaken_claim_gets_a_whole_create_budget_from_the_retake(
    enrollment: Stubs, handler: ModuleType, state_aws: StateAws, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Found by bench/soak.py: the budget was counted from the request's start, so a slow search
    for the lost profile left too little for the retake and the create, and every redelivery
    failed the same way until the request landed in the dead-letter queue."""
    from tests.runtime.helpers import FakeContext

    table, domain = state_aws.table_name, "vpd-0123456789"
    clock = [0.0]
    monkeypatch.setattr(aws_calls, "_clock", lambda: clock[0])
    monkeypatch.setattr(state, "_now", lambda: 1_000.0)
    enrollment_state.begin_enroll(table, TASK, "req-0", aws_calls.Deadline.after(30))
    monkeypatch.setattr(state, "_now", lambda: 5_000.0)  # the lost create's window has passed

    def slow_listing(**_: Any) -> None:
        clock[0] += 15.0

    enrollment.chime.client.meta.events.register(
        "before-parameter-build.chime-sdk-voice.ListVoiceProfiles", slow_listing
    )
    listing(enrollment)
    enrollment.chime.add_client_error(
        "create_voice_profile", service_error_code="ServiceFailureException", http_status_code=500
    )
    result = handler.handler(n.sqs_event(enroll()), FakeContext(60_000))
    assert result == {"batchItemFailures": [{"itemIdentifier": "m-0"}]}  # unanswered again: checked later
    claim = state_item(table, f"enroll#{TASK}")
    assert (claim["requestId"], claim["attemptedAt"]) == ({"S": "req-1"}, {"N": "5000"})
    assert float(claim["endsBy"]["N"]) == 5_000 + 20  # CREATE_BUDGET_S from the retake
    [attempt] = enrollment_state.create_attempts(table, domain, _deadline())
    assert (attempt.task_id, attempt.started_at, attempt.ends_by) == (TASK, 5_000, 5_020)


def test_a_create_answered_without_a_profile_is_checked_like_a_lost_answer(
    enrollment: Stubs, handler: ModuleType, state_aws: StateAws, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An answer without ``VoiceProfile`` used to publish Enrolled with a null ID."""
    table = state_aws.table_name
    attempted = PROFILE["CreatedTimestamp"].timestamp()
    monkeypatch.setattr(state, "_now", lambda: attempted)
    enrollment.chime.add_response("create_voice_profile", {})
    assert run(handler, enroll()) == {"batchItemFailures": [{"itemIdentifier": "m-0"}]}
    assert events_of(enrollment) == []
    assert state_item(table, f"enroll#{TASK}")["s"] == {"S": "creating"}
    # The redelivery, once the window has passed, finds and adopts the profile the create made.
    monkeypatch.setattr(state, "_now", lambda: attempted + 600)
    listing(enrollment, _summary(PROFILE))
    put_ok(enrollment)
    assert run(handler, enroll()) == {"batchItemFailures": []}
    [(detail_type, detail)] = events_of(enrollment)
    assert (detail_type, detail["voiceProfileId"]) == ("Voice Profile Enrolled", "vp-1")


def test_a_search_for_a_lost_profile_drops_creates_older_than_any_enrollable_task(
    enrollment: Stubs, handler: ModuleType, state_aws: StateAws, monkeypatch: pytest.MonkeyPatch
) -> None:
    table, domain = state_aws.table_name, "vpd-0123456789"
    now = PROFILE["CreatedTimestamp"].timestamp() + 600
    for task, started in (("t-old", now - 26 * 3600), ("t-recent", now - 24 * 3600)):
        monkeypatch.setattr(state, "_now", lambda started=started: started)
        enrollment_state.note_create_attempt(table, domain, task, _deadline())
    monkeypatch.setattr(state, "_now", lambda: now - 600)
    enrollment_state.begin_enroll(table, TASK, "req-0", _deadline())
    monkeypatch.setattr(state, "_now", lambda: now)
    listing(enrollment)
    enrollment.chime.add_response("create_voice_profile", {"VoiceProfile": PROFILE})
    put_ok(enrollment)
    run(handler, enroll())
    # 26 h old: gone; 24 h old (its task may still be enrolled for a while): kept.
    assert [a.task_id for a in enrollment_state.create_attempts(table, domain, _deadline())] == ["t-recent"]
