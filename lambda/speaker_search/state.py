"""Durable state in the construct's DynamoDB table: task starts, consent per call, enrollments.

Why durable state: a Lambda container's memory does not survive a redelivery, a second
concurrent poller or a response lost to a timeout, and the three questions the handler must
answer span all of those:

* has this call's task already been started? (``start#<token>``; the token is the start's
  sha256 idempotency token) -> tells a ``ResourceLimitExceededException`` caused by our own
  earlier start apart from the Region's active-task limit;
* has the caller consented, and has ``AnalyticsReady`` arrived? (``call#<sha256(connector|transaction)>``)
  -> either order of consent and notification works;
* has this speaker search task already been enrolled, and how did each request for it end?
  (``enroll#<taskId>`` and the reverse ``profile#<voiceProfileId>``) -> ``CreateVoiceProfile``
  has no idempotency token, and a redelivered request must get the answer it got before;
* which creates in a voice profile domain may have made a profile nobody has claimed yet?
  (``creates#<domainId>``, a string set of ``<taskId>|<attempt time>|<last send time>``) -> a lost create's
  redelivery adopts a profile only when no other create could have made it.

Items hold IDs, statuses and timestamps only (no phone numbers, names or SIP headers) and carry
``expiresAt`` (TTL): a day for call items, 25 hours for enrollment items (a task can be enrolled
for 24 hours). Every write is a single-item ``UpdateItem``/``PutItem`` (linearizable per item),
so two concurrent deliveries always see each other's write on one side.

Cost per call (on-demand, us-east-1 list price of $0.625 per million write request units and
$0.125 per million read request units; items are well under 1 KB): one write before and one after
each task start, one per status notification that names the task (about 4 writes for a call with
speaker search); a redelivery of a started call costs 1 write and no API call. The consent gate adds
1 write for the decision and 1 for AnalyticsReady (plus 1 consistent read after a start, and 1 per
task kind when a declined call's AnalyticsReady looks for tasks to stop). That is roughly
$2.50-4 per million calls.

Every DynamoDB call goes through :func:`aws_calls.call` (throttling and 5xx are retried within the
invocation's deadline). When ``STATE_TABLE_NAME`` is unset every function here is a no-op that
reports "nothing known"; the consent gate and enrollment then refuse to run (settings check).
"""

from __future__ import annotations

import contextlib
import hashlib
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar

import aws_calls
import clients

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.type_defs import AttributeValueTypeDef

T = TypeVar("T")

CALL_TTL_S = 24 * 3600
ENROLL_TTL_S = 25 * 3600  # a task can be enrolled up to 24 hours after it ran
ATTEMPTED = "attempted"
STARTED = "started"
CREATING = "creating"
ENROLLED = "enrolled"
#: A create that definitely failed: no profile, no create in flight; another request may claim the task.
RELEASED = "released"
#: A lost create whose profile could not be told apart from another create's: final, for an operator.
AMBIGUOUS = "ambiguous"
GRANTED = "granted"
DECLINED = "declined"

#: Indirection for tests: wall-clock seconds (stored timestamps and TTLs).
_now: Callable[[], float] = time.time


class StateError(Exception):
    """The state table could not be read or written within the deadline."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(f"{code}: {reason}")
        self.code = code


class StartRecord(NamedTuple):
    status: str  # ATTEMPTED (outcome unknown yet) or STARTED
    task_id: str | None


class CallRecord(NamedTuple):
    consent: str | None  # GRANTED, DECLINED or None (no decision yet)
    consent_reference: str | None
    decided_at: str | None
    ready: bool  # AnalyticsReady has arrived


class EnrollRecord(NamedTuple):
    status: str  # CREATING, ENROLLED, AMBIGUOUS or RELEASED
    attempted_at: float
    #: When the claim's creates stop: no CreateVoiceProfile of this claim is sent later.
    ends_by: float
    profile: dict[str, str | None]  # voiceProfileId, voiceProfileArn, expirationTimestamp (when enrolled)
    #: How the asking request definitely failed before (its reason), or None.
    failure: str | None = None


def call_key(voice_connector_id: str, transaction_id: str) -> str:
    digest = hashlib.sha256(f"{voice_connector_id}|{transaction_id}".encode()).hexdigest()
    return f"call#{digest}"


# -- task starts -------------------------------------------------------------------------------


def begin_start(table: str | None, token: str, deadline: aws_calls.Deadline) -> StartRecord | None:
    """Record that a start is about to be attempted; return what was recorded before (or None)."""
    if table is None:
        return None
    response = _update(
        table,
        f"start#{token}",
        "SET #s = if_not_exists(#s, :attempted), attemptedAt = :now,"
        " expiresAt = if_not_exists(expiresAt, :exp)",
        {":attempted": _s(ATTEMPTED), ":now": _n(_now()), ":exp": _n(_now() + CALL_TTL_S)},
        deadline,
        return_values="ALL_OLD",
    )
    return _start_record(response.get("Attributes"))


def get_start(table: str | None, token: str, deadline: aws_calls.Deadline) -> StartRecord | None:
    if table is None:
        return None
    return _start_record(_get(table, f"start#{token}", deadline))


def mark_started(table: str | None, token: str, task_id: str | None, deadline: aws_calls.Deadline) -> bool:
    """The task exists (a start answered, or a status notification named it).

    Returns True when this write made ``task_id`` known (no task ID was recorded before).
    """
    if table is None:
        return False
    values: dict[str, AttributeValueTypeDef] = {":started": _s(STARTED), ":exp": _n(_now() + CALL_TTL_S)}
    expression = "SET #s = :started, expiresAt = if_not_exists(expiresAt, :exp)"
    if task_id is not None:
        expression += ", taskId = :task"
        values[":task"] = _s(task_id)
    # ALL_OLD, not UPDATED_OLD: whether UPDATED_OLD names an attribute set to the value it already
    # had is not documented (moto leaves it out), and ALL_OLD answers the question either way.
    response = _update(table, f"start#{token}", expression, values, deadline, return_values="ALL_OLD")
    return task_id is not None and "taskId" not in response.get("Attributes", {})


def _start_record(item: dict[str, Any] | None) -> StartRecord | None:
    if not item or "s" not in item:
        return None
    return StartRecord(status=item["s"]["S"], task_id=_str(item, "taskId"))


# -- consent -----------------------------------------------------------------------------------


def note_analytics_ready(
    table: str, voice_connector_id: str, transaction_id: str, deadline: aws_calls.Deadline
) -> CallRecord:
    """Record that the call is ready to be searched; return the call's state after the write."""
    response = _update(
        table,
        call_key(voice_connector_id, transaction_id),
        "SET ready = :true, expiresAt = if_not_exists(expiresAt, :exp)",
        {":true": {"BOOL": True}, ":exp": _n(_now() + CALL_TTL_S)},
        deadline,
        return_values="ALL_NEW",
        names=False,
    )
    return _call_record(response.get("Attributes"))


def record_consent(
    table: str,
    voice_connector_id: str,
    transaction_id: str,
    *,
    consent: str,
    consent_reference: str | None,
    decided_at: str,
    deadline: aws_calls.Deadline,
) -> tuple[CallRecord, bool]:
    """Store a decision unless a later one is stored; return (the call's state, applied?).

    The latest decision wins, by the request event's ``time`` (ISO 8601 UTC, compared as text).
    On a tie ``declined`` wins: when in doubt, do not search.
    """
    key = call_key(voice_connector_id, transaction_id)
    values: dict[str, AttributeValueTypeDef] = {
        ":c": _s(consent),
        ":t": _s(decided_at),
        ":declined": _s(DECLINED),
        ":exp": _n(_now() + CALL_TTL_S),
    }
    expression = "SET consent = :c, decidedAt = :t, expiresAt = if_not_exists(expiresAt, :exp)"
    if consent_reference is not None:
        expression += ", consentReference = :r"
        values[":r"] = _s(consent_reference)
    else:
        expression += " REMOVE consentReference"
    # A redelivered decision (same time, same value) applies again, so its follow-up work is redone.
    condition = (
        "attribute_not_exists(decidedAt) OR decidedAt < :t"
        " OR (decidedAt = :t AND (:c = :declined OR consent = :c))"
    )
    try:
        response = _update(
            table,
            key,
            expression,
            values,
            deadline,
            return_values="ALL_NEW",
            names=False,
            condition=condition,
        )
    except _ConditionFailedError:
        return _call_record(_get(table, key, deadline)), False
    return _call_record(response.get("Attributes")), True


def get_call(
    table: str, voice_connector_id: str, transaction_id: str, deadline: aws_calls.Deadline
) -> CallRecord:
    return _call_record(_get(table, call_key(voice_connector_id, transaction_id), deadline))


def _call_record(item: dict[str, Any] | None) -> CallRecord:
    item = item or {}
    return CallRecord(
        consent=_str(item, "consent"),
        consent_reference=_str(item, "consentReference"),
        decided_at=_str(item, "decidedAt"),
        ready=bool(item.get("ready", {}).get("BOOL", False)),
    )


# -- enrollment --------------------------------------------------------------------------------


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
        _update(
            table,
            key,
            "SET #s = :creating, requestId = :r, attemptedAt = :now, endsBy = :ends, expiresAt = :exp",
            {
                ":creating": _s(CREATING),
                ":released": _s(RELEASED),
                ":r": _s(request_id),
                ":now": _n(_now()),
                ":ends": _n(_now() + (creates_until or deadline).remaining()),
                ":exp": _n(_now() + ENROLL_TTL_S),
            },
            deadline,
            condition="(attribute_not_exists(#s) OR #s = :released) AND attribute_not_exists(#v)",
            extra_names={"#v": _verdict(request_id)},
        )
    except _ConditionFailedError:
        return _enroll_record(_get(table, key, deadline), request_id), False
    return None, True


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
        _update(
            table,
            f"enroll#{task_id}",
            "SET requestId = :r, attemptedAt = :now, endsBy = :ends",
            {
                ":r": _s(request_id),
                ":now": _n(_now()),
                ":ends": _n(_now() + (creates_until or deadline).remaining()),
                ":prev": _n(previous_attempt),
                ":creating": _s(CREATING),
            },
            deadline,
            condition="#s = :creating AND attemptedAt = :prev",
        )
    except _ConditionFailedError:
        return False
    return True


def finish_enroll(
    table: str, task_id: str, profile: dict[str, str | None], deadline: aws_calls.Deadline
) -> None:
    """The task's profile exists: remember it, and which task a profile belongs to."""
    values: dict[str, AttributeValueTypeDef] = {":enrolled": _s(ENROLLED)}
    expression = "SET #s = :enrolled"
    for name, value in profile.items():
        if value is not None:
            values[f":{name}"] = _s(value)
            expression += f", {name} = :{name}"
    _update(table, f"enroll#{task_id}", expression, values, deadline)
    profile_id = profile.get("voiceProfileId")
    if profile_id:
        claim_profile(table, profile_id, task_id, deadline)


def claim_profile(table: str, profile_id: str, task_id: str, deadline: aws_calls.Deadline) -> bool:
    """Record that ``profile_id`` was created for ``task_id``; False if another task has it."""
    try:
        _update(
            table,
            f"profile#{profile_id}",
            "SET taskId = :task, expiresAt = :exp",
            {":task": _s(task_id), ":exp": _n(_now() + ENROLL_TTL_S)},
            deadline,
            names=False,
            condition="attribute_not_exists(taskId) OR taskId = :task",
        )
    except _ConditionFailedError:
        return False
    return True


def profile_claimed(table: str, profile_id: str, deadline: aws_calls.Deadline) -> bool:
    return _get(table, f"profile#{profile_id}", deadline) is not None


def abandon_enroll(table: str, task_id: str, deadline: aws_calls.Deadline) -> None:
    """Settle a ``creating`` claim as AMBIGUOUS: every later request for the task fails the same way."""
    with contextlib.suppress(_ConditionFailedError):  # enrolled meanwhile: that outcome stands
        _update(
            table,
            f"enroll#{task_id}",
            "SET #s = :ambiguous",
            {":ambiguous": _s(AMBIGUOUS), ":creating": _s(CREATING)},
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
    values = {":released": _s(RELEASED), ":r": _s(request_id)}
    names = {}
    if verdict is not None:
        expression = "SET #s = :released, #v = :verdict REMOVE requestId, attemptedAt, endsBy"
        values[":verdict"] = _s(verdict)
        names["#v"] = _verdict(request_id)
    with contextlib.suppress(_ConditionFailedError):  # another request took it over: theirs now
        _update(
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
    _update(
        table,
        f"enroll#{task_id}",
        "SET #v = :verdict",
        {":verdict": _s(verdict)},
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
    entry = f"{task_id}|{_now():.3f}|{_now() + (creates_until or deadline).remaining():.3f}"
    _update(
        table,
        f"creates#{domain_id}",
        "ADD attempts :e SET expiresAt = :exp",
        {":e": {"SS": [entry]}, ":exp": _n(_now() + ENROLL_TTL_S)},
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
    item = _get(table, f"creates#{domain_id}", deadline) or {}
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
        _update(
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
            name: _str(item, name) for name in ("voiceProfileId", "voiceProfileArn", "expirationTimestamp")
        },
        failure=_str(item, _verdict(request_id)),
    )


# -- DynamoDB plumbing -------------------------------------------------------------------------


class _ConditionFailedError(Exception):
    pass


def _s(value: str) -> AttributeValueTypeDef:
    return {"S": value}


def _n(value: float) -> AttributeValueTypeDef:
    return {"N": str(int(value)) if value == int(value) else f"{value:.3f}"}


def _str(item: dict[str, Any], name: str) -> str | None:
    value = item.get(name)
    return value.get("S") if isinstance(value, dict) else None


def _run(operation: str, fn: Callable[[], T], deadline: aws_calls.Deadline) -> T:
    try:
        result, _ = aws_calls.call(fn, deadline=deadline, policy=clients.retry_policy(), operation=operation)
    except aws_calls.AwsCallError as exc:
        if exc.code == "ConditionalCheckFailedException":
            raise _ConditionFailedError from None
        raise StateError(exc.code, exc.reason) from None
    return result


def _update(
    table: str,
    key: str,
    expression: str,
    values: dict[str, AttributeValueTypeDef],
    deadline: aws_calls.Deadline,
    *,
    return_values: str = "NONE",
    names: bool = True,
    condition: str | None = None,
    extra_names: dict[str, str] | None = None,
) -> dict[str, Any]:
    request: dict[str, Any] = {
        "TableName": table,
        "Key": {"pk": _s(key)},
        "UpdateExpression": expression,
        "ExpressionAttributeValues": values,
        "ReturnValues": return_values,
    }
    # "s" (status) is short; the alias keeps every expression free of reserved words.
    aliases = {**({"#s": "s"} if names else {}), **(extra_names or {})}
    if aliases:
        request["ExpressionAttributeNames"] = aliases
    if condition is not None:
        request["ConditionExpression"] = condition
    response = _run("UpdateItem", lambda: clients.dynamodb().update_item(**request), deadline)
    return dict(response)


def _get(table: str, key: str, deadline: aws_calls.Deadline) -> dict[str, Any] | None:
    response = _run(
        "GetItem",
        lambda: clients.dynamodb().get_item(TableName=table, Key={"pk": _s(key)}, ConsistentRead=True),
        deadline,
    )
    item: dict[str, Any] | None = response.get("Item")
    return item
