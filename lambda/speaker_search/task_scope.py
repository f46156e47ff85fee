"""Which speaker search tasks an Enroll or Update Voice Profile request may use, and when.

Before a profile is made or changed from a task, in this order (each failure ends the request
with ``Voice Profile Request Failed`` and that ``reason``, and calls nothing after it):

1. **This construct's task.** The task is in the task index (``task_index``) as a speaker search
   task: another construct's or team's task, or a made-up ID, is refused with
   ``UnknownSpeakerSearchTask`` before any AWS call.
2. **Consent** (``REQUIRE_CONSENT=true``): the indexed call's latest decision is ``granted``;
   otherwise ``ConsentDeclined`` or ``NoConsentDecision`` (``consent_gate``).
3. **A ready voiceprint** (:func:`readiness`, only right before a create or an update):
   ``GetSpeakerSearchTask`` (VoiceConnectorId from the index; its ``CallDetails`` must name the
   indexed call, else ``UnknownSpeakerSearchTask``). AWS documents two values of
   ``SpeakerSearchDetails.VoiceprintGenerationStatus`` and its notifications spell success two ways,
   so each answer has a bounded outcome:

   ==========================================================  =====================================
   ``VoiceprintGenerationStatus`` (else the task's own status)  outcome
   ==========================================================  =====================================
   ``VoiceprintGenerationSuccess`` or ``...Successful``         ready: the profile is made or updated
   ``VoiceprintGenerationFailure``                              failed: ``VoiceprintGenerationFailure``
   absent or another value, but the task's voiceprint           as the notification said (ready, or
   notification was seen (``task_index.voiceprint``)            ``VoiceprintGenerationFailure``)
   absent or another value; task ``SUCCEEDED``,                 failed: ``VoiceprintNotGenerated``
   ``PARTIAL_SUCCESS``, ``FAILED`` or ``STOPPED`` (ended)
   absent or another value; task queued, in progress or         not ready: the record fails without a
   any other status                                             failure event and is redelivered in
                                                                ``max(VOICEPRINT_RETRY_MIN_S, time
                                                                waited)`` (its visibility shortened),
                                                                until ``VOICEPRINT_WAIT_S`` after the
                                                                request's ingestion; then failed:
                                                                ``VoiceprintNotReady``
   ==========================================================  =====================================

   A ``GetSpeakerSearchTask`` error that can pass (throttling, 5xx, ``ConflictException``: one
   concurrent call per task) is redelivered; any other fails the request with its code.

The schedule (20 s, 20 s, 40 s, 80 s after the first receive) puts the fifth receive 160 s after the
first, past ``VOICEPRINT_WAIT_S``, so with the construct's ``max_receive_count`` of 5 a request
that never becomes ready ends with a failure event rather than in the dead-letter queue. Without
``NOTIFICATION_QUEUE_URL`` the queue's own visibility timeout applies, and the bound is reached
sooner in receives.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NamedTuple

import aws_calls
import clients
import consent_gate
import state
import task_index
import voice_profiles

if TYPE_CHECKING:
    from notifications import Instant

UNKNOWN_TASK = "UnknownSpeakerSearchTask"
CONSENT_DECLINED = "ConsentDeclined"
NO_CONSENT_DECISION = "NoConsentDecision"
VOICEPRINT_FAILURE = "VoiceprintGenerationFailure"
VOICEPRINT_NOT_GENERATED = "VoiceprintNotGenerated"
VOICEPRINT_NOT_READY = "VoiceprintNotReady"
#: The task's profile was deleted: never enrolled (or used for an update) again.
VOICE_PROFILE_DELETED = "VoiceProfileDeleted"
#: The speaker search task kind (``task_kinds.SPEAKER_SEARCH.name``) as the index records it.
SPEAKER_SEARCH_KIND = "speaker_search"
#: A request whose voiceprint is not ready is failed with ``VoiceprintNotReady`` this long after its
#: ingestion (the voiceprint takes 20 s of the caller's speech after the start).
VOICEPRINT_WAIT_S = 150.0
#: Shortest wait before a not-ready request comes back; later waits double (the time waited so far).
VOICEPRINT_RETRY_MIN_S = 20.0
VOICEPRINT_SUCCESS = frozenset({"VoiceprintGenerationSuccess", "VoiceprintGenerationSuccessful"})
#: ``SpeakerSearchTaskStatus`` values after which no voiceprint will come.
TASK_ENDED = frozenset({"SUCCEEDED", "PARTIAL_SUCCESS", "FAILED", "STOPPED"})
_REFUSALS = {consent_gate.DECLINED: CONSENT_DECLINED, consent_gate.NO_DECISION: NO_CONSENT_DECISION}


class Ready(NamedTuple):
    """The voiceprint is ready."""


class Refused(NamedTuple):
    """The request fails with ``reason`` (published)."""

    reason: str


class Wait(NamedTuple):
    """Not ready yet: the record comes back in ``delay_s``."""

    delay_s: float


Readiness = Ready | Refused | Wait


def admissible_task(
    task_id: str, *, table: str, require_consent: bool, deadline: aws_calls.Deadline
) -> task_index.TaskEntry | Refused:
    """Steps 1 and 2: the task's index entry, or why the request may not use it.

    Raises :class:`state.StateError` when the table cannot be read.
    """
    entry = task_index.lookup(table, task_id, deadline)
    if entry is None or entry.kind != SPEAKER_SEARCH_KIND:
        return Refused(UNKNOWN_TASK)
    if require_consent:
        call = consent_gate.Call(entry.voice_connector_id, entry.transaction_id)
        refusal = consent_gate.refusal(call, table, deadline)
        if refusal is not None:
            return Refused(_REFUSALS[refusal])
    return entry


def readiness(
    task_id: str, entry: task_index.TaskEntry, *, ingested_at: Instant, deadline: aws_calls.Deadline
) -> Readiness:
    """Step 3 (module docstring). Raises :class:`aws_calls.AwsCallError` when it cannot be told."""
    response, _ = aws_calls.call(
        lambda: clients.chime().get_speaker_search_task(
            VoiceConnectorId=entry.voice_connector_id, SpeakerSearchTaskId=task_id
        ),
        deadline=deadline,
        policy=clients.retry_policy(retry_on=voice_profiles.RETRY_ON),
        operation="GetSpeakerSearchTask",
    )
    task: dict[str, Any] = dict(response.get("SpeakerSearchTask") or {})
    call = task.get("CallDetails") or {}
    if call.get("VoiceConnectorId") not in (None, entry.voice_connector_id) or call.get(
        "TransactionId"
    ) not in (None, entry.transaction_id):
        return Refused(UNKNOWN_TASK)
    voiceprint = (task.get("SpeakerSearchDetails") or {}).get("VoiceprintGenerationStatus")
    if voiceprint in VOICEPRINT_SUCCESS:
        return Ready()
    if voiceprint == VOICEPRINT_FAILURE:
        return Refused(VOICEPRINT_FAILURE)
    if entry.voiceprint == task_index.VOICEPRINT_READY:
        return Ready()
    if entry.voiceprint == task_index.VOICEPRINT_FAILED:
        return Refused(VOICEPRINT_FAILURE)
    if task.get("SpeakerSearchTaskStatus") in TASK_ENDED:
        return Refused(VOICEPRINT_NOT_GENERATED)
    waited = state._now() - float(ingested_at.epoch_ms) / 1000.0
    if waited >= VOICEPRINT_WAIT_S:
        return Refused(VOICEPRINT_NOT_READY)
    return Wait(max(VOICEPRINT_RETRY_MIN_S, waited))
