"""The task index in the state table: ``task#<taskId>`` -> the call this construct started it for.

Written whenever a task's ID becomes known to this construct: its start was answered
(``tasks.start_task``), or a status notification named it (``tasks.note_task_seen``). It answers
two questions nothing in a notification or a request can be trusted to answer:

* which call a result belongs to when the result does not say (the consent gate,
  ``consent_gate.py``); a result whose task is not indexed belongs to no known call;
* whether a voice profile request names a task of this construct (``task_scope.py``): another
  construct's or team's task, or a made-up ID, is not in the index.

Each field is written only if it is not there yet, so the first writer (normally the start's
answer) binds the task to its call, and a later notification cannot rebind it. A speaker search
task's voiceprint notification (``VoiceprintGenerationSuccess(ful)`` / ``Failure``) is kept too
(``voiceprint``), the second source of truth for readiness beside ``GetSpeakerSearchTask``.

Items hold IDs and timestamps only and live ``TASK_TTL_S`` from the first write: the 24 hours in
which a task's voiceprint can be enrolled, after a call of up to a day.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NamedTuple

import aws_calls
import state

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.type_defs import AttributeValueTypeDef
    from settings import Settings

TASK_TTL_S = 48 * 3600
#: ``voiceprint`` values, from the task's status notifications.
VOICEPRINT_READY = "ready"
VOICEPRINT_FAILED = "failed"


class TaskEntry(NamedTuple):
    voice_connector_id: str
    transaction_id: str
    call_leg: str | None
    #: ``tasks.TaskKind.name`` of the task: ``speaker_search`` or ``voice_tone``.
    kind: str | None
    #: ``VOICEPRINT_READY`` / ``VOICEPRINT_FAILED`` from a status notification, or None.
    voiceprint: str | None = None


def wanted(settings: Settings) -> bool:
    """Tasks are indexed when something reads the index: the consent gate or voice profile requests."""
    return settings.require_consent or settings.enable_enrollment


def key(task_id: str) -> str:
    return f"task#{task_id}"


def record(
    table: str,
    task_id: str,
    *,
    kind: str,
    voice_connector_id: str,
    transaction_id: str,
    call_leg: str | None,
    deadline: aws_calls.Deadline,
) -> None:
    """Bind ``task_id`` to its call; fields already bound stay as they are."""
    values: dict[str, AttributeValueTypeDef] = {
        ":vc": state.string(voice_connector_id),
        ":tx": state.string(transaction_id),
        ":kind": state.string(kind),
        ":now": state.number(state._now()),
        ":exp": state.number(state._now() + TASK_TTL_S),
    }
    expression = (
        "SET voiceConnectorId = if_not_exists(voiceConnectorId, :vc),"
        " transactionId = if_not_exists(transactionId, :tx),"
        " taskKind = if_not_exists(taskKind, :kind),"
        " firstSeenAt = if_not_exists(firstSeenAt, :now),"
        " expiresAt = if_not_exists(expiresAt, :exp)"
    )
    if call_leg is not None:
        expression += ", callLeg = if_not_exists(callLeg, :leg)"
        values[":leg"] = state.string(call_leg)
    state.update(table, key(task_id), expression, values, deadline, names=False)


def note_voiceprint(table: str, task_id: str, voiceprint: str, deadline: aws_calls.Deadline) -> bool:
    """Keep what the task's voiceprint notification said; False if the task is not indexed."""
    try:
        state.update(
            table,
            key(task_id),
            "SET voiceprint = :v",
            {":v": state.string(voiceprint)},
            deadline,
            names=False,
            condition="attribute_exists(voiceConnectorId)",
        )
    except state.ConditionFailedError:
        return False
    return True


def lookup(table: str, task_id: str, deadline: aws_calls.Deadline) -> TaskEntry | None:
    """The call ``task_id`` was indexed for, or None."""
    return _entry(state.get(table, key(task_id), deadline))


def _entry(item: dict[str, Any] | None) -> TaskEntry | None:
    item = item or {}
    voice_connector_id = state.string_of(item, "voiceConnectorId")
    transaction_id = state.string_of(item, "transactionId")
    if voice_connector_id is None or transaction_id is None:
        return None
    return TaskEntry(
        voice_connector_id=voice_connector_id,
        transaction_id=transaction_id,
        call_leg=state.string_of(item, "callLeg"),
        kind=state.string_of(item, "taskKind"),
        voiceprint=state.string_of(item, "voiceprint"),
    )
