"""Enrollment progress in the state table: one profile per speaker search task.

* ``enroll#<taskId>``: the claim of the request creating the task's profile, and how it ended
  (``creating``, ``enrolled``, ``ambiguous`` or ``released``, with each failed request's reason);
* ``profile#<voiceProfileId>``: which task a profile was made for;
* ``creates#<domainId>``: a string set of ``<taskId>|<attempt time>|<last send time>``, the creates
  in a voice profile domain that may have made a profile nobody has claimed yet, so a lost create's
  redelivery adopts a profile only when no other create could have made it.

``CreateVoiceProfile`` has no idempotency token, and a redelivered request must get the answer it
got before (``enrollment.py``). Items live 25 hours (a task can be enrolled for 24 hours).
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any, NamedTuple

import aws_calls
import state

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.type_defs import AttributeValueTypeDef


class EnrollRecord(NamedTuple):
    status: str  # CREATING, ENROLLED, AMBIGUOUS, RELEASED or DELETED
    attempted_at: float
    #: When the claim's creates stop: no CreateVoiceProfile of this claim is sent later.
    ends_by: float
    profile: dict[str, str | None]  # voiceProfileId, voiceProfileArn, expirationTimestamp (when enrolled)
    #: How the asking request definitely failed before (its reason), or None.
    failure: str | None = None


def begin_enroll(
    table: str,
    task_id: str,
    request_id: str,
    deadline: aws_calls.Deadline,
    *,
    creates_until: aws_calls.Deadline | None = None,
) -> tuple[EnrollRecord | None, bool]:
    """Claim the task for the creates of one request; return (the record before, claimed?).

    No create of this claim is sent after ``creates_until`` (default: ``deadline``), recorded as
    ``endsBy``, so a redelivery knows by when a lost create's profile must have appeared
    (``EnrollRecord.ends_by``). A request that definitely failed before (``release_enroll`` with
    a verdict) cannot claim again.
    """
    key = f"enroll#{task_id}"
    try:
        state.update(
            table,
            key,
            "SET #s = :creating, requestId = :r, attemptedAt = :now, endsBy = :ends, expiresAt = :exp",
            {
                ":creating": state.string(state.CREATING),
                ":released": state.string(state.RELEASED),
                ":r": state.string(request_id),
                ":now": state.number(state._now()),
                ":ends": state.number(state._now() + (creates_until or deadline).remaining()),
                ":exp": state.number(state._now() + state.ENROLL_TTL_S),
            },
            deadline,
            condition="(attribute_not_exists(#s) OR #s = :released) AND attribute_not_exists(#v)",
            extra_names={"#v": _verdict(request_id)},
        )
    except state.ConditionFailedError:
        return _enroll_record(state.get(table, key, deadline), request_id), False
    return None, True


def get_enroll(
    table: str, task_id: str, request_id: str, deadline: aws_calls.Deadline
) -> EnrollRecord | None:
    """The task's enrollment as it stands (``failure``: this request's kept reason), or None."""
    return _enroll_record(state.get(table, f"enroll#{task_id}", deadline), request_id)


def mark_deleted(table: str, profile_id: str, deadline: aws_calls.Deadline) -> str | None:
    """A profile was deleted: its task (if this construct enrolled it) is never enrolled again.

    Returns the task's ID, or None when no enrollment of this construct names the profile (made
    elsewhere, or its items have expired, and with them the task's 24 hours).
    """
    claim = state.get(table, f"profile#{profile_id}", deadline)
    task_id = state.string_of(claim or {}, "taskId")
    if task_id is None:
        return None
    try:
        state.update(
            table,
            f"enroll#{task_id}",
            "SET #s = :deleted, deletedAt = :now",
            {
                ":deleted": state.string(state.DELETED),
                ":now": state.number(state._now()),
                ":id": state.string(profile_id),
            },
            deadline,
            condition="voiceProfileId = :id",
        )
    except state.ConditionFailedError:
        return None
    return task_id


def retake_enroll(
    table: str,
    task_id: str,
    request_id: str,
    previous_attempt: float,
    deadline: aws_calls.Deadline,
    *,
    creates_until: aws_calls.Deadline | None = None,
) -> bool:
    """Take over a ``creating`` claim whose creates ended without an answer; False if someone else did."""
    try:
        state.update(
            table,
            f"enroll#{task_id}",
            "SET requestId = :r, attemptedAt = :now, endsBy = :ends",
            {
                ":r": state.string(request_id),
                ":now": state.number(state._now()),
                ":ends": state.number(state._now() + (creates_until or deadline).remaining()),
                ":prev": state.number(previous_attempt),
                ":creating": state.string(state.CREATING),
            },
            deadline,
            condition="#s = :creating AND attemptedAt = :prev",
        )
    except state.ConditionFailedError:
        return False
    return True


def finish_enroll(
    table: str, task_id: str, profile: dict[str, str | None], deadline: aws_calls.Deadline
) -> None:
    """The task's profile exists: remember it, and which task a profile belongs to."""
    values: dict[str, AttributeValueTypeDef] = {":enrolled": state.string(state.ENROLLED)}
    expression = "SET #s = :enrolled"
    for name, value in profile.items():
        if value is not None:
            values[f":{name}"] = state.string(value)
            expression += f", {name} = :{name}"
    state.update(table, f"enroll#{task_id}", expression, values, deadline)
    profile_id = profile.get("voiceProfileId")
    if profile_id:
        claim_profile(table, profile_id, task_id, deadline)


def claim_profile(table: str, profile_id: str, task_id: str, deadline: aws_calls.Deadline) -> bool:
    """Record that ``profile_id`` was created for ``task_id``; False if another task has it."""
    try:
        state.update(
            table,
            f"profile#{profile_id}",
            "SET taskId = :task, expiresAt = :exp",
            {":task": state.string(task_id), ":exp": state.number(state._now() + state.ENROLL_TTL_S)},
            deadline,
            names=False,
            condition="attribute_not_exists(taskId) OR taskId = :task",
        )
    except state.ConditionFailedError:
        return False
    return True


def profile_claimed(table: str, profile_id: str, deadline: aws_calls.Deadline) -> bool:
    return state.get(table, f"profile#{profile_id}", deadline) is not None


def abandon_enroll(table: str, task_id: str, deadline: aws_calls.Deadline) -> None:
    """Settle a ``creating`` claim as state.AMBIGUOUS: every later request for the task fails the same way."""
    with contextlib.suppress(state.ConditionFailedError):  # enrolled meanwhile: that outcome stands
        state.update(
            table,
            f"enroll#{task_id}",
            "SET #s = :ambiguous",
            {":ambiguous": state.string(state.AMBIGUOUS), ":creating": state.string(state.CREATING)},
            deadline,
            condition="#s = :creating",
        )


def release_enroll(
    table: str, task_id: str, request_id: str, deadline: aws_calls.Deadline, *, verdict: str | None = None
) -> None:
    """Free a claim whose CreateVoiceProfile definitely made no profile, so a later request may try.

    ``verdict`` (the reason the request failed) is kept for the request: a redelivery of it is
    answered the same way instead of trying again (None: throttled, the redelivery tries again).
    """
    expression = "SET #s = :released REMOVE requestId, attemptedAt, endsBy"
    values = {":released": state.string(state.RELEASED), ":r": state.string(request_id)}
    names = {}
    if verdict is not None:
        expression = "SET #s = :released, #v = :verdict REMOVE requestId, attemptedAt, endsBy"
        values[":verdict"] = state.string(verdict)
        names["#v"] = _verdict(request_id)
    with contextlib.suppress(state.ConditionFailedError):  # another request took it over: theirs now
        state.update(
            table,
            f"enroll#{task_id}",
            expression,
            values,
            deadline,
            condition="requestId = :r",
            extra_names=names,
        )


def keep_verdict(
    table: str, task_id: str, request_id: str, verdict: str, deadline: aws_calls.Deadline
) -> None:
    """Keep ``verdict`` as the request's outcome, leaving the claim as it is (its create may have made
    a profile that a later request can still adopt)."""
    state.update(
        table,
        f"enroll#{task_id}",
        "SET #v = :verdict",
        {":verdict": state.string(verdict)},
        deadline,
        names=False,
        extra_names={"#v": _verdict(request_id)},
    )


def _verdict(request_id: str) -> str:
    return f"failed:{request_id}"


def note_create_attempt(
    table: str,
    domain_id: str,
    task_id: str,
    deadline: aws_calls.Deadline,
    *,
    creates_until: aws_calls.Deadline | None = None,
) -> str:
    """Record, before a CreateVoiceProfile, that a create for ``task_id`` is in flight; return the entry.

    The entry stays until the create's outcome is known (answered, adopted or definitely
    failed): while it stays, a profile made in its window (from now until ``creates_until``,
    default ``deadline``: the last moment an attempt of it can be sent) may be this create's.
    """
    entry = f"{task_id}|{state._now():.3f}|{state._now() + (creates_until or deadline).remaining():.3f}"
    state.update(
        table,
        f"creates#{domain_id}",
        "ADD attempts :e SET expiresAt = :exp",
        {":e": {"SS": [entry]}, ":exp": state.number(state._now() + state.ENROLL_TTL_S)},
        deadline,
        names=False,
    )
    return entry


class CreateAttempt(NamedTuple):
    entry: str  # as stored, to clear it
    task_id: str
    started_at: float
    ends_by: float


def create_attempts(table: str, domain_id: str, deadline: aws_calls.Deadline) -> list[CreateAttempt]:
    """The domain's unsettled creates."""
    item = state.get(table, f"creates#{domain_id}", deadline) or {}
    attempts = []
    for entry in item.get("attempts", {}).get("SS", []):
        task_id, started_at, ends_by = entry.rsplit("|", 2)
        attempts.append(CreateAttempt(entry, task_id, float(started_at), float(ends_by)))
    return attempts


def clear_create_attempts(
    table: str, domain_id: str, entries: list[str], deadline: aws_calls.Deadline
) -> None:
    """Forget creates whose outcome is known now."""
    if entries:
        state.update(
            table,
            f"creates#{domain_id}",
            "DELETE attempts :e",
            {":e": {"SS": entries}},
            deadline,
            names=False,
        )


def _enroll_record(item: dict[str, Any] | None, request_id: str) -> EnrollRecord | None:
    if not item or "s" not in item:
        return None
    attempted_at = float(item.get("attemptedAt", {}).get("N", "0"))
    return EnrollRecord(
        status=item["s"]["S"],
        attempted_at=attempted_at,
        ends_by=float(item.get("endsBy", {}).get("N", attempted_at)),
        profile={
            name: state.string_of(item, name)
            for name in ("voiceProfileId", "voiceProfileArn", "expirationTimestamp")
        },
        failure=state.string_of(item, _verdict(request_id)),
    )
