"""``task_scope``: which tasks a voice profile request may use, and the bounded outcome of every
answer ``GetSpeakerSearchTask`` can give about the voiceprint (AWS documents two values and spells
success two ways in its notifications). chime-sdk-voice is a botocore Stubber (requests validated
against the model); the state table is moto's.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import aws_calls
import clients
import consent_state
import pytest
import state
import task_index
import task_scope
from notifications import parse_instant

from tests.runtime.conftest import StateAws
from tests.runtime.helpers import INDEXED_CONNECTOR, INDEXED_TRANSACTION, Stubs, index_tasks

TASK = "ssk-task-1"
NOW = 1_900_000_000.0
#: The request's ingestion time: ``waited`` seconds before NOW.
INGESTED = parse_instant("2030-03-17T17:46:40Z")  # == NOW
ENTRY = task_index.TaskEntry(INDEXED_CONNECTOR, INDEXED_TRANSACTION, "Caller", "speaker_search")


@pytest.fixture
def clock(handler: ModuleType, monkeypatch: pytest.MonkeyPatch) -> list[float]:
    now = [NOW]
    monkeypatch.setattr(state, "_now", lambda: now[0])
    return now


def answer(stubs: Stubs, status: str | None, task_status: str | None = "IN_PROGRESS", **call: Any) -> None:
    task: dict[str, Any] = {
        "SpeakerSearchTaskId": TASK,
        "CallDetails": {"VoiceConnectorId": INDEXED_CONNECTOR, "TransactionId": INDEXED_TRANSACTION, **call},
    }
    if task_status is not None:
        task["SpeakerSearchTaskStatus"] = task_status
    if status is not None:
        task["SpeakerSearchDetails"] = {"Results": [], "VoiceprintGenerationStatus": status}
    stubs.chime.add_response(
        "get_speaker_search_task",
        {"SpeakerSearchTask": task},
        {"VoiceConnectorId": INDEXED_CONNECTOR, "SpeakerSearchTaskId": TASK},
    )


def readiness(entry: task_index.TaskEntry = ENTRY) -> task_scope.Readiness:
    assert INGESTED is not None
    return task_scope.readiness(TASK, entry, ingested_at=INGESTED, deadline=aws_calls.Deadline.after(30))


def test_the_ingestion_time_is_now() -> None:
    assert INGESTED is not None and float(INGESTED.epoch_ms) / 1000 == NOW


# -- GetSpeakerSearchTask's answers ----------------------------------------------------------------


@pytest.mark.parametrize("spelling", ["VoiceprintGenerationSuccess", "VoiceprintGenerationSuccessful"])
def test_either_spelling_of_success_is_ready(stubs: Stubs, clock: list[float], spelling: str) -> None:
    answer(stubs, spelling)
    assert readiness() == task_scope.Ready()


def test_a_failed_voiceprint_fails_the_request(stubs: Stubs, clock: list[float]) -> None:
    answer(stubs, "VoiceprintGenerationFailure")
    assert readiness() == task_scope.Refused("VoiceprintGenerationFailure")


@pytest.mark.parametrize("pending", [None, "VoiceprintGenerationInProgress"], ids=["absent", "unknown-value"])
@pytest.mark.parametrize("task_status", ["IN_QUEUE", "IN_PROGRESS", None, "SOMETHING_NEW"])
def test_no_voiceprint_yet_on_a_running_task_waits(
    stubs: Stubs, clock: list[float], pending: str | None, task_status: str | None
) -> None:
    answer(stubs, pending, task_status)
    assert readiness() == task_scope.Wait(20.0)


@pytest.mark.parametrize("pending", [None, "VoiceprintGenerationInProgress"], ids=["absent", "unknown-value"])
@pytest.mark.parametrize("task_status", ["SUCCEEDED", "PARTIAL_SUCCESS", "FAILED", "STOPPED"])
def test_a_task_that_ended_without_a_voiceprint_fails_the_request(
    stubs: Stubs, clock: list[float], pending: str | None, task_status: str
) -> None:
    answer(stubs, pending, task_status)
    assert readiness() == task_scope.Refused("VoiceprintNotGenerated")


@pytest.mark.parametrize(
    ("seen", "expected"),
    [("ready", task_scope.Ready()), ("failed", task_scope.Refused("VoiceprintGenerationFailure"))],
)
@pytest.mark.parametrize("task_status", ["IN_PROGRESS", "SUCCEEDED"])
def test_when_the_api_says_nothing_the_tasks_voiceprint_notification_decides(
    stubs: Stubs, clock: list[float], seen: str, expected: task_scope.Readiness, task_status: str
) -> None:
    answer(stubs, None, task_status)
    assert readiness(ENTRY._replace(voiceprint=seen)) == expected


def test_the_apis_own_answer_outranks_the_notification(stubs: Stubs, clock: list[float]) -> None:
    answer(stubs, "VoiceprintGenerationFailure")
    assert readiness(ENTRY._replace(voiceprint="ready")) == task_scope.Refused("VoiceprintGenerationFailure")


@pytest.mark.parametrize(
    "call",
    [{"TransactionId": "tx-another-call"}, {"VoiceConnectorId": "vc-two"}],
    ids=["transaction", "connector"],
)
def test_a_task_of_another_call_than_the_index_says_is_refused(
    stubs: Stubs, clock: list[float], call: dict[str, str]
) -> None:
    answer(stubs, "VoiceprintGenerationSuccess", **call)
    assert readiness() == task_scope.Refused("UnknownSpeakerSearchTask")


# -- the wait and its bound ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("waited", "expected"),
    [
        (0.0, task_scope.Wait(20.0)),
        (19.9, task_scope.Wait(20.0)),
        (35.0, task_scope.Wait(35.0)),  # each wait doubles the time waited so far
        (149.9, task_scope.Wait(149.9)),
        (150.0, task_scope.Refused("VoiceprintNotReady")),  # the bound, at its edge
        (3600.0, task_scope.Refused("VoiceprintNotReady")),
        (-5.0, task_scope.Wait(20.0)),  # a clock behind EventBridge's
    ],
)
def test_a_request_waits_for_its_voiceprint_for_a_bounded_time(
    stubs: Stubs, clock: list[float], waited: float, expected: task_scope.Readiness
) -> None:
    clock[0] = NOW + waited
    answer(stubs, None)
    result = readiness()
    assert type(result) is type(expected)
    assert result == pytest.approx(expected) if isinstance(expected, task_scope.Wait) else result == expected


def test_the_schedule_ends_before_the_fifth_receive_would_dead_letter_it(clock: list[float]) -> None:
    """20 s, 20 s, 40 s, 80 s: the fifth receive is 160 s after the first, past the 150 s bound."""
    waited, receives = 0.0, 1
    while waited < task_scope.VOICEPRINT_WAIT_S:
        waited += max(task_scope.VOICEPRINT_RETRY_MIN_S, waited)
        receives += 1
    assert (receives, waited) == (5, 160.0)


# -- errors ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "status"),
    [("ThrottledClientException", 429), ("ConflictException", 409), ("ServiceFailureException", 500)],
)
def test_a_passing_error_is_retried(
    stubs: Stubs, clock: list[float], sleeps: Any, code: str, status: int
) -> None:
    stubs.chime.add_client_error("get_speaker_search_task", service_error_code=code, http_status_code=status)
    answer(stubs, "VoiceprintGenerationSuccess")
    assert readiness() == task_scope.Ready()
    assert len(sleeps.delays) == 1


def test_a_lasting_error_raises_with_its_code(stubs: Stubs, clock: list[float]) -> None:
    stubs.chime.add_client_error(
        "get_speaker_search_task", service_error_code="NotFoundException", http_status_code=404
    )
    with pytest.raises(aws_calls.AwsCallError) as raised:
        readiness()
    assert raised.value.code == "NotFoundException"


# -- admissible tasks ------------------------------------------------------------------------------


def admissible(table: str, *, require_consent: bool) -> task_index.TaskEntry | task_scope.Refused:
    return task_scope.admissible_task(
        TASK, table=table, require_consent=require_consent, deadline=aws_calls.Deadline.after(30)
    )


def decide(table: str, consent: str) -> None:
    consent_state.record_consent(
        table,
        INDEXED_CONNECTOR,
        INDEXED_TRANSACTION,
        consent=consent,
        consent_reference=None,
        decided_at=parse_instant("2029-11-25T10:00:00Z"),  # type: ignore[arg-type]
        deadline=aws_calls.Deadline.after(30),
    )


def test_a_task_not_in_the_index_is_unknown(handler: ModuleType, state_aws: StateAws) -> None:
    assert admissible(state_aws.table_name, require_consent=False) == task_scope.Refused(
        "UnknownSpeakerSearchTask"
    )


def test_a_voice_tone_task_is_not_a_speaker_search_task(handler: ModuleType, state_aws: StateAws) -> None:
    index_tasks(state_aws.table_name, TASK, kind="voice_tone")
    assert admissible(state_aws.table_name, require_consent=False) == task_scope.Refused(
        "UnknownSpeakerSearchTask"
    )


@pytest.mark.parametrize(
    ("consent", "expected"),
    [(None, "NoConsentDecision"), ("declined", "ConsentDeclined"), ("granted", None)],
)
def test_under_the_consent_gate_only_a_granted_calls_task_is_admissible(
    handler: ModuleType, state_aws: StateAws, consent: str | None, expected: str | None
) -> None:
    table = state_aws.table_name
    index_tasks(table, TASK)
    if consent is not None:
        decide(table, consent)
    result = admissible(table, require_consent=True)
    if expected is None:
        assert isinstance(result, task_index.TaskEntry)
        assert (result.voice_connector_id, result.transaction_id) == (INDEXED_CONNECTOR, INDEXED_TRANSACTION)
    else:
        assert result == task_scope.Refused(expected)


def test_without_the_consent_gate_the_calls_consent_is_not_read(
    handler: ModuleType, state_aws: StateAws
) -> None:
    table = state_aws.table_name
    index_tasks(table, TASK)
    decide(table, "declined")
    assert isinstance(admissible(table, require_consent=False), task_index.TaskEntry)


def test_clients_are_the_handlers(handler: ModuleType, stubs: Stubs) -> None:
    """Guards the Stubber tests above: readiness calls the handler's own chime client."""
    assert stubs.chime.client is clients.chime()
