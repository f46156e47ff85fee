"""The tests an attacker would write against the handler (issue 21): forged requests, future-dated
grants, results after a decline, foreign tasks, other domains' profiles, enroll after delete, early
enroll, and every symmetric consent rule in both halves.

chime-sdk-voice and EventBridge are botocore Stubbers: a call the test did not queue an answer for
fails the request, so "calls nothing" is checked by queueing nothing. The state table is moto's.
"""

from __future__ import annotations

import io
import json
import logging
from types import ModuleType
from typing import Any

import aws_calls
import consent_state
import metrics
import pytest
import state
import task_index
from notifications import parse_instant

from tests.runtime import notifications as n
from tests.runtime.conftest import StateAws
from tests.runtime.helpers import (
    INDEXED_CONNECTOR,
    INDEXED_TRANSACTION,
    Stubs,
    events_of,
    in_domain,
    index_tasks,
    logged,
    put_ok,
    reconfigure,
)

SOURCE = "chime-speaker-search.requests"
TASK = "ssk-task-1"
DOMAIN = "vpd-0123456789"
PROFILE = {
    "VoiceProfileId": "vp-1",
    "VoiceProfileArn": "arn:aws:chime:us-east-1:111122223333:voice-profile/vp-1",
    "VoiceProfileDomainId": DOMAIN,
}


@pytest.fixture
def emf(monkeypatch: pytest.MonkeyPatch) -> io.StringIO:
    buffer = io.StringIO()
    monkeypatch.setattr(metrics, "_out", buffer)
    return buffer


def counted(out: io.StringIO, name: str) -> dict[str | None, float]:
    """``name`` per Status over every EMF line written."""
    found: dict[str | None, float] = {}
    for line in out.getvalue().splitlines():
        data = json.loads(line)
        if name in data:
            value = data[name]
            total = sum(value) if isinstance(value, list) else value
            found[data.get("Status")] = found.get(data.get("Status"), 0) + total
    return found


def request(
    detail_type: str,
    detail: dict[str, Any],
    *,
    rid: str = "req-1",
    at: str = "2029-11-25T10:01:00Z",
    time: str = "2029-11-25T10:01:00Z",
) -> dict[str, Any]:
    """A request as its rule delivers it: ingested by EventBridge ``at``; ``time`` is the producer's."""
    event = n.envelope(detail_type, detail, rid)
    event.update(source=SOURCE, time=time)
    return n.request_envelope(event, at)


def consent(
    value: str, *, at: str, rid: str = "req-1", time: str = "2029-11-25T10:01:00Z", tx: str = "tx-1"
) -> dict[str, Any]:
    detail = {
        "voiceConnectorId": n.SERVED_CONNECTOR,
        "transactionId": tx,
        "consent": value,
        "consentReference": "ivr-1",
    }
    return request("Speaker Search Consent", detail, rid=rid, at=at, time=time)


def enroll(task: str = TASK, **detail: Any) -> dict[str, Any]:
    body = {"searchId": "search-abc", "speakerSearchTaskId": task, "consentReference": "ivr-42", **detail}
    return request("Enroll Voice Profile", {k: v for k, v in body.items() if v is not None})


def update(profile: str = "vp-1", task: str = TASK, **detail: Any) -> dict[str, Any]:
    body = {
        "searchId": "search-abc",
        "voiceProfileId": profile,
        "speakerSearchTaskId": task,
        "consentReference": "ivr-43",
        **detail,
    }
    return request("Update Voice Profile", {k: v for k, v in body.items() if v is not None})


def delete(profile: str = "vp-1") -> dict[str, Any]:
    return request("Delete Voice Profile", {"searchId": "search-abc", "voiceProfileId": profile})


def run(handler: ModuleType, *bodies: Any) -> dict[str, Any]:
    result: dict[str, Any] = handler.handler(n.sqs_event(*bodies), None)
    return result


def failures(stubs: Stubs) -> list[str]:
    return [d["reason"] for t, d in events_of(stubs) if t == "Voice Profile Request Failed"]


def ready(stubs: Stubs, task: str = TASK, status: str = "VoiceprintGenerationSuccess") -> None:
    """Queue GetSpeakerSearchTask's answer: the task's voiceprint is ``status``."""
    stubs.chime.add_response(
        "get_speaker_search_task",
        {
            "SpeakerSearchTask": {
                "SpeakerSearchTaskId": task,
                "SpeakerSearchTaskStatus": "IN_PROGRESS",
                "CallDetails": {"VoiceConnectorId": INDEXED_CONNECTOR, "TransactionId": INDEXED_TRANSACTION},
                "SpeakerSearchDetails": {"Results": [], "VoiceprintGenerationStatus": status},
            }
        },
        {"VoiceConnectorId": INDEXED_CONNECTOR, "SpeakerSearchTaskId": task},
    )


def decide(table: str, value: str, tx: str = INDEXED_TRANSACTION, vc: str = INDEXED_CONNECTOR) -> None:
    consent_state.record_consent(
        table,
        vc,
        tx,
        consent=value,
        consent_reference=None,
        decided_at=parse_instant("2029-11-25T10:00:00Z"),  # type: ignore[arg-type]
        deadline=aws_calls.Deadline.after(30),
    )


@pytest.fixture
def gate(handler: ModuleType, stubs: Stubs, state_aws: StateAws, monkeypatch: pytest.MonkeyPatch) -> Stubs:
    reconfigure(handler, monkeypatch, REQUIRE_CONSENT="true")
    return stubs


@pytest.fixture
def profiles(
    handler: ModuleType, stubs: Stubs, state_aws: StateAws, monkeypatch: pytest.MonkeyPatch
) -> Stubs:
    """Enrollment on, consent gate on; TASK is this construct's, of a granted call."""
    reconfigure(handler, monkeypatch, REQUIRE_CONSENT="true", ENABLE_ENROLLMENT="true")
    index_tasks(state_aws.table_name, TASK)
    decide(state_aws.table_name, "granted")
    return stubs


# -- forged requests ----------------------------------------------------------------------------


@pytest.mark.parametrize("shape", ["sqs", "raw"])
@pytest.mark.parametrize("kind", ["consent", "enroll"])
def test_a_request_without_the_envelope_is_refused_and_serves_nothing(
    profiles: Stubs,
    handler: ModuleType,
    state_aws: StateAws,
    caplog: pytest.LogCaptureFixture,
    emf: io.StringIO,
    shape: str,
    kind: str,
) -> None:
    body = (consent("granted", at="2029-11-25T10:05:00Z") if kind == "consent" else enroll())["event"]
    items_before = state_aws.items()
    if shape == "sqs":
        assert run(handler, body) == {"batchItemFailures": []}
    else:
        reason = "request without the construct's envelope (not sent by its rules)"
        assert handler.handler(body, None) == {"outcome": "skipped", "reason": reason}
    assert events_of(profiles) == []  # nothing published, nothing called (no answers queued)
    assert state_aws.items() == items_before  # nothing recorded
    [line] = logged(caplog, "notification_skipped")
    assert line.levelno == logging.WARNING
    assert counted(emf, "InputsRefused") == {None: 1, "no-envelope": 1}  # in total and by why


def test_a_forged_envelope_around_a_request_of_another_source_is_still_refused(
    gate: Stubs, handler: ModuleType, state_aws: StateAws
) -> None:
    body = consent("granted", at="2029-11-25T10:05:00Z")
    body["event"]["source"] = "someone.else"
    assert run(handler, body, n.analytics_ready()) == {"batchItemFailures": []}
    assert events_of(gate) == []


# -- consent ordering ----------------------------------------------------------------------------


def test_a_future_dated_grant_does_not_outrank_a_later_real_decline(gate: Stubs, handler: ModuleType) -> None:
    """The producer sets ``time`` (here 2099); EventBridge sets the ingestion time, which orders."""
    put_ok(gate, 2)
    run(handler, consent("granted", at="2029-11-25T10:00:00Z", time="2099-01-01T00:00:00Z"))
    run(handler, consent("declined", rid="req-2", at="2029-11-25T10:00:05Z", time="2029-11-25T10:00:05Z"))
    # AnalyticsReady now: the call is declined, nothing is started (no start answer queued)
    assert run(handler, n.analytics_ready()) == {"batchItemFailures": []}
    assert [d["consent"] for _, d in events_of(gate)] == ["granted", "declined"]
    assert [d["decidedAt"] for _, d in events_of(gate)] == ["2029-11-25T10:00:00Z", "2029-11-25T10:00:05Z"]


@pytest.mark.parametrize("order", ["grant-first", "decline-first"])
def test_a_tie_goes_to_declined_in_either_arrival_order(gate: Stubs, handler: ModuleType, order: str) -> None:
    at = "2029-11-25T10:00:00.250Z"
    decisions = [consent("granted", at=at), consent("declined", rid="req-2", at=at)]
    if order == "decline-first":
        decisions.reverse()
    put_ok(gate, 2 if order == "grant-first" else 1)  # a grant after the tied decline is not recorded
    for body in decisions:
        assert run(handler, body) == {"batchItemFailures": []}
    assert run(handler, n.analytics_ready()) == {"batchItemFailures": []}  # no start answer queued
    assert [d["consent"] for _, d in events_of(gate)][-1] == "declined"


def start_answer(stubs: Stubs, task: str = "t-1") -> None:
    stubs.chime.add_response(
        "start_speaker_search_task", {"SpeakerSearchTask": {"SpeakerSearchTaskId": task}}
    )


def test_a_redelivered_grant_is_applied_again_and_redoes_the_start(gate: Stubs, handler: ModuleType) -> None:
    """First delivery: the start fails for now (503s), so the record fails. The redelivery of the same
    decision applies again, publishes its audit event again and starts the call."""
    run(handler, n.analytics_ready())
    put_ok(gate)
    for _ in range(8):
        gate.chime.add_client_error(
            "start_speaker_search_task", "ServiceUnavailableException", http_status_code=503
        )
    grant = consent("granted", at="2029-11-25T10:00:00Z")
    assert run(handler, grant) == {"batchItemFailures": [{"itemIdentifier": "m-0"}]}
    put_ok(gate)
    start_answer(gate)
    assert run(handler, grant) == {"batchItemFailures": []}
    assert [d["consent"] for _, d in events_of(gate)] == ["granted", "granted"]


def test_a_redelivered_decline_is_applied_again_and_redoes_the_stop(
    gate: Stubs, handler: ModuleType, state_aws: StateAws
) -> None:
    put_ok(gate)
    start_answer(gate, "t-7")
    run(handler, consent("granted", at="2029-11-25T10:00:00Z"), n.analytics_ready())
    decline = consent("declined", rid="req-2", at="2029-11-25T10:00:30Z")
    put_ok(gate)
    gate.chime.add_client_error("stop_speaker_search_task", "AccessDeniedException", http_status_code=403)
    assert run(handler, decline) == {"batchItemFailures": [{"itemIdentifier": "m-0"}]}
    put_ok(gate)
    gate.chime.add_response(
        "stop_speaker_search_task", {}, {"VoiceConnectorId": n.SERVED_CONNECTOR, "SpeakerSearchTaskId": "t-7"}
    )
    assert run(handler, decline) == {"batchItemFailures": []}
    assert [d["consent"] for _, d in events_of(gate)] == ["granted", "declined", "declined"]


# -- results bound to consent --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("decision", "withheld"),
    [("declined", "declined"), (None, "no-decision")],
    ids=["after-decline", "undecided"],
)
@pytest.mark.parametrize("kind", ["speaker-search", "voice-tone"])
def test_a_result_of_a_call_not_granted_is_withheld(
    gate: Stubs,
    handler: ModuleType,
    state_aws: StateAws,
    caplog: pytest.LogCaptureFixture,
    emf: io.StringIO,
    monkeypatch: pytest.MonkeyPatch,
    decision: str | None,
    withheld: str,
    kind: str,
) -> None:
    reconfigure(handler, monkeypatch, VOICE_TONE_ANALYSIS="true")
    if decision is not None:
        decide(state_aws.table_name, decision, tx="tx-1", vc=n.SERVED_CONNECTOR)
    result = n.search_status(notification_id="n-1") if kind == "speaker-search" else n.voice_tone("n-1")
    assert run(handler, result) == {"batchItemFailures": []}
    assert events_of(gate) == []  # nothing published (no PutEvents answer queued)
    [line] = logged(caplog, "result_withheld")
    assert (line.levelno, line.withheld, line.transactionId) == (logging.INFO, withheld, "tx-1")
    assert counted(emf, "ResultsWithheld") == {None: 1, withheld: 1}


@pytest.mark.parametrize("kind", ["speaker-search", "voice-tone"])
def test_a_result_of_a_granted_call_is_published(
    gate: Stubs,
    handler: ModuleType,
    state_aws: StateAws,
    emf: io.StringIO,
    monkeypatch: pytest.MonkeyPatch,
    kind: str,
) -> None:
    reconfigure(handler, monkeypatch, VOICE_TONE_ANALYSIS="true")
    decide(state_aws.table_name, "granted", tx="tx-1", vc=n.SERVED_CONNECTOR)
    put_ok(gate)
    result = n.search_status(notification_id="n-1") if kind == "speaker-search" else n.voice_tone("n-1")
    assert run(handler, result) == {"batchItemFailures": []}
    assert [d["notificationId"] for _, d in events_of(gate)] == ["n-1"]
    assert counted(emf, "ResultsWithheld") == {}


@pytest.mark.parametrize(
    ("indexed", "decision", "outcome"),
    [(True, "granted", "published"), (True, "declined", "declined"), (False, None, "call-unknown")],
)
def test_a_result_that_does_not_name_its_call_is_bound_through_the_task_index(
    gate: Stubs,
    handler: ModuleType,
    state_aws: StateAws,
    caplog: pytest.LogCaptureFixture,
    emf: io.StringIO,
    indexed: bool,
    decision: str | None,
    outcome: str,
) -> None:
    table = state_aws.table_name
    if indexed:
        index_tasks(table, "t-9")
    if decision is not None:
        decide(table, decision)
    if outcome == "published":
        put_ok(gate)
    result = n.search_status(
        task_id="t-9", notification_id="n-1", voice_connector_id=None, transaction_id=None
    )
    assert run(handler, result) == {"batchItemFailures": []}
    if outcome == "published":
        assert [d["notificationId"] for _, d in events_of(gate)] == ["n-1"]
    else:
        assert events_of(gate) == []
        [line] = logged(caplog, "result_withheld")
        assert (line.withheld, line.levelno) == (
            outcome,
            logging.WARNING if outcome == "call-unknown" else logging.INFO,
        )
        assert counted(emf, "ResultsWithheld") == {None: 1, outcome: 1}


def test_without_the_gate_a_result_is_published_whatever_was_decided(
    handler: ModuleType, stubs: Stubs, state_aws: StateAws
) -> None:
    decide(state_aws.table_name, "declined", tx="tx-1", vc=n.SERVED_CONNECTOR)
    put_ok(stubs)
    assert run(handler, n.search_status(notification_id="n-1")) == {"batchItemFailures": []}
    assert len(events_of(stubs)) == 1


def test_a_result_whose_consent_cannot_be_read_is_redelivered(
    gate: Stubs, handler: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    def unreadable(*_: Any) -> Any:
        raise state.StateError("ProvisionedThroughputExceededException", "still failing")

    monkeypatch.setattr(consent_state, "get_call", unreadable)
    assert run(handler, n.search_status()) == {"batchItemFailures": [{"itemIdentifier": "m-0"}]}
    assert events_of(gate) == []


# -- enroll and update: this construct's tasks only ----------------------------------------------


@pytest.mark.parametrize("request_kind", ["enroll", "update"])
@pytest.mark.parametrize("task", ["another-teams-task", "made-up"])
def test_a_task_this_construct_did_not_start_is_refused_and_calls_nothing(
    profiles: Stubs, handler: ModuleType, request_kind: str, task: str
) -> None:
    put_ok(profiles)
    if request_kind == "update":
        in_domain(profiles)  # the profile is ours; the task is not
    body = enroll(task) if request_kind == "enroll" else update(task=task)
    assert run(handler, body) == {"batchItemFailures": []}
    assert failures(profiles) == ["UnknownSpeakerSearchTask"]  # and no GetSpeakerSearchTask, no create


@pytest.mark.parametrize("request_kind", ["enroll", "update"])
@pytest.mark.parametrize(
    ("decision", "reason"), [("declined", "ConsentDeclined"), (None, "NoConsentDecision")]
)
def test_a_task_of_a_call_not_granted_is_refused(
    handler: ModuleType,
    stubs: Stubs,
    state_aws: StateAws,
    monkeypatch: pytest.MonkeyPatch,
    request_kind: str,
    decision: str | None,
    reason: str,
) -> None:
    reconfigure(handler, monkeypatch, REQUIRE_CONSENT="true", ENABLE_ENROLLMENT="true")
    index_tasks(state_aws.table_name, TASK)
    if decision is not None:
        decide(state_aws.table_name, decision)
    put_ok(stubs)
    if request_kind == "update":
        in_domain(stubs)
    assert run(handler, enroll() if request_kind == "enroll" else update()) == {"batchItemFailures": []}
    assert failures(stubs) == [reason]


@pytest.mark.parametrize("request_kind", ["enroll", "update"])
def test_a_granted_calls_task_with_a_ready_voiceprint_is_served(
    profiles: Stubs, handler: ModuleType, request_kind: str
) -> None:
    if request_kind == "update":
        in_domain(profiles)
    ready(profiles)
    operation = "create_voice_profile" if request_kind == "enroll" else "update_voice_profile"
    expected = (
        {"SpeakerSearchTaskId": TASK}
        if request_kind == "enroll"
        else {"VoiceProfileId": "vp-1", "SpeakerSearchTaskId": TASK}
    )
    profiles.chime.add_response(operation, {"VoiceProfile": PROFILE}, expected)
    put_ok(profiles)
    assert run(handler, enroll() if request_kind == "enroll" else update()) == {"batchItemFailures": []}
    assert [t for t, _ in events_of(profiles)] == [
        "Voice Profile Enrolled" if request_kind == "enroll" else "Voice Profile Updated"
    ]


@pytest.mark.parametrize("request_kind", ["enroll", "update"])
def test_without_a_consent_reference_nothing_is_called(
    profiles: Stubs, handler: ModuleType, request_kind: str
) -> None:
    put_ok(profiles)
    body = enroll(consentReference=None) if request_kind == "enroll" else update(consentReference=None)
    assert run(handler, body) == {"batchItemFailures": []}
    assert failures(profiles) == ["detail.consentReference is required"]


# -- the voiceprint must be ready ----------------------------------------------------------------


@pytest.mark.parametrize("request_kind", ["enroll", "update"])
def test_an_early_request_waits_for_the_voiceprint_then_is_served(
    profiles: Stubs,
    handler: ModuleType,
    state_aws: StateAws,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    request_kind: str,
) -> None:
    """Sent at IdentificationNoMatchesFound (10 s of speech), before the voiceprint (20 s): the record
    fails without a failure event, comes back, and is served once the voiceprint is ready."""
    monkeypatch.setattr(state, "_now", lambda: float(parse_instant("2029-11-25T10:01:05Z").epoch_ms) / 1000)  # type: ignore[union-attr]
    body = enroll() if request_kind == "enroll" else update()
    if request_kind == "update":
        in_domain(profiles)
    ready(profiles, status="VoiceprintGenerationInProgress")  # not one AWS documents: not ready
    assert run(handler, body) == {"batchItemFailures": [{"itemIdentifier": "m-0"}]}
    assert events_of(profiles) == []
    [waiting] = logged(caplog, "voice_profile_waiting_for_voiceprint")
    assert waiting.retryAfter == 20.0
    # the redelivery
    if request_kind == "update":
        in_domain(profiles)
    ready(profiles)
    operation = "create_voice_profile" if request_kind == "enroll" else "update_voice_profile"
    profiles.chime.add_response(operation, {"VoiceProfile": PROFILE})
    put_ok(profiles)
    assert run(handler, body) == {"batchItemFailures": []}
    assert len(events_of(profiles)) == 1


def test_a_waiting_record_comes_back_sooner_than_the_queues_visibility_timeout(
    profiles: Stubs, handler: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    from botocore.stub import Stubber

    reconfigure(
        handler,
        monkeypatch,
        NOTIFICATION_QUEUE_URL="https://sqs.example/q",
        NOTIFICATION_VISIBILITY_TIMEOUT_S="180",
    )
    monkeypatch.setattr(state, "_now", lambda: float(parse_instant("2029-11-25T10:01:35Z").epoch_ms) / 1000)  # type: ignore[union-attr]
    import clients

    ready(profiles, status="VoiceprintGenerationInProgress")
    record = n.sqs_record(json.dumps(enroll()), "m-0")
    with Stubber(clients.sqs()) as sqs:
        sqs.add_response(
            "change_message_visibility_batch",
            {"Successful": [{"Id": "0"}], "Failed": []},
            {
                "QueueUrl": "https://sqs.example/q",
                "Entries": [{"Id": "0", "ReceiptHandle": record["receiptHandle"], "VisibilityTimeout": 35}],
            },
        )
        assert handler.handler({"Records": [record]}, None) == {
            "batchItemFailures": [{"itemIdentifier": "m-0"}]
        }
        sqs.assert_no_pending_responses()


def test_a_voiceprint_that_failed_fails_the_enroll_without_a_create(
    profiles: Stubs, handler: ModuleType
) -> None:
    ready(profiles, status="VoiceprintGenerationFailure")
    put_ok(profiles)
    assert run(handler, enroll()) == {"batchItemFailures": []}
    assert failures(profiles) == ["VoiceprintGenerationFailure"]


def test_the_tasks_voiceprint_notification_is_kept_for_the_readiness_check(
    profiles: Stubs, handler: ModuleType, state_aws: StateAws
) -> None:
    put_ok(profiles)
    status = n.search_status(
        "VoiceprintGenerationSuccess",
        task_id=TASK,
        notification_id="n-vp",
        voice_connector_id=None,
        transaction_id=None,
    )
    assert run(handler, status) == {"batchItemFailures": []}
    entry = task_index.lookup(state_aws.table_name, TASK, aws_calls.Deadline.after(30))
    assert entry is not None and entry.voiceprint == "ready"


# -- profiles stay inside this construct's domain ------------------------------------------------


@pytest.mark.parametrize("request_kind", ["update", "delete"])
@pytest.mark.parametrize("domain", ["vpd-another-team", None], ids=["other-domain", "no-domain"])
def test_another_domains_profile_is_never_touched(
    profiles: Stubs, handler: ModuleType, request_kind: str, domain: str | None
) -> None:
    answer = {"VoiceProfileId": "vp-9"}
    if domain is not None:
        answer["VoiceProfileDomainId"] = domain
    profiles.chime.add_response("get_voice_profile", {"VoiceProfile": answer}, {"VoiceProfileId": "vp-9"})
    put_ok(profiles)
    body = update("vp-9") if request_kind == "update" else delete("vp-9")
    assert run(handler, body) == {"batchItemFailures": []}  # no Update/DeleteVoiceProfile answer queued
    assert failures(profiles) == ["VoiceProfileInAnotherDomain"]


@pytest.mark.parametrize("request_kind", ["update", "delete"])
def test_a_conflict_on_update_or_delete_is_contention_and_retried(
    profiles: Stubs, handler: ModuleType, sleeps: Any, request_kind: str
) -> None:
    in_domain(profiles)
    operation = "update_voice_profile" if request_kind == "update" else "delete_voice_profile"
    if request_kind == "update":
        ready(profiles)
    profiles.chime.add_client_error(operation, "ConflictException", http_status_code=409)
    profiles.chime.add_response(operation, {"VoiceProfile": PROFILE} if request_kind == "update" else {})
    put_ok(profiles)
    assert run(handler, update() if request_kind == "update" else delete()) == {"batchItemFailures": []}
    assert [t for t, _ in events_of(profiles)] == [
        "Voice Profile Updated" if request_kind == "update" else "Voice Profile Deleted"
    ]
    assert len(sleeps.delays) == 1


# -- a deleted profile is never reported enrolled again ------------------------------------------


def enroll_then_delete(stubs: Stubs, handler: ModuleType) -> None:
    ready(stubs)
    stubs.chime.add_response("create_voice_profile", {"VoiceProfile": PROFILE})
    put_ok(stubs, 2)
    run(handler, enroll())
    in_domain(stubs)
    stubs.chime.add_response("delete_voice_profile", {}, {"VoiceProfileId": "vp-1"})
    run(handler, delete())
    assert [t for t, _ in events_of(stubs)] == ["Voice Profile Enrolled", "Voice Profile Deleted"]


@pytest.mark.parametrize("again", ["another-request", "same-request"])
def test_an_enroll_after_the_delete_fails_naming_the_deletion_and_creates_nothing(
    profiles: Stubs, handler: ModuleType, again: str
) -> None:
    enroll_then_delete(profiles, handler)
    put_ok(profiles)
    body = enroll()
    if again == "another-request":
        body["event"]["id"] = "req-9"
    assert run(handler, body) == {"batchItemFailures": []}  # no create answer queued
    assert failures(profiles) == ["VoiceProfileDeleted"]


def test_an_update_from_a_task_whose_profile_was_deleted_fails_too(
    profiles: Stubs, handler: ModuleType
) -> None:
    enroll_then_delete(profiles, handler)
    in_domain(profiles, "vp-2")
    put_ok(profiles)
    assert run(handler, update("vp-2")) == {"batchItemFailures": []}
    assert failures(profiles) == ["VoiceProfileDeleted"]


def test_a_delete_of_a_profile_already_gone_still_closes_its_task(
    profiles: Stubs, handler: ModuleType
) -> None:
    """The delete's answer was lost: the redelivery finds the profile gone and must still close the task."""
    ready(profiles)
    profiles.chime.add_response("create_voice_profile", {"VoiceProfile": PROFILE})
    put_ok(profiles, 3)
    run(handler, enroll())
    profiles.chime.add_client_error("get_voice_profile", "NotFoundException", http_status_code=404)
    run(handler, delete())
    run(handler, enroll())
    assert failures(profiles) == ["VoiceProfileDeleted"]
