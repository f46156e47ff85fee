"""Durable state in the construct's DynamoDB table: the shared plumbing, and task starts.

Why durable state: a Lambda container's memory does not survive a redelivery, a second
concurrent poller or a response lost to a timeout, and the questions the handler must answer
span all of those. Each question has its own module and item kind:

* has this call's task already been started? (``start#<token>``, here; the token is the start's
  sha256 idempotency token) -> tells a ``ResourceLimitExceededException`` caused by our own
  earlier start apart from the Region's active-task limit;
* has the caller consented, and has ``AnalyticsReady`` arrived? (``call#<sha256(connector|transaction)>``,
  ``consent_state``) -> either order of consent and notification works;
* has this speaker search task already been enrolled, and how did each request for it end?
  (``enroll#<taskId>``, ``profile#<voiceProfileId>`` and ``creates#<domainId>``, ``enrollment_state``)
  -> ``CreateVoiceProfile`` has no idempotency token, and a redelivered request must get the
  answer it got before.

Items hold IDs, statuses and timestamps only (no phone numbers, names or SIP headers) and carry
``expiresAt`` (TTL). Every write is a single-item ``UpdateItem``/``PutItem`` (linearizable per
item), so two concurrent deliveries always see each other's write on one side.

Cost per call (on-demand, us-east-1 list price of $0.625 per million write request units and
$0.125 per million read request units; items are well under 1 KB): one write before and one after
each task start, one per status notification that names the task (about 4 writes for a call with
speaker search); a redelivery of a started call costs 1 write and no API call. The consent gate adds
1 write for the decision and 1 for AnalyticsReady (plus 1 consistent read after a start, and 1 per
task kind when a declined call's AnalyticsReady looks for tasks to stop). That is roughly
$2.50-4 per million calls.

Every DynamoDB call goes through :func:`aws_calls.call` (throttling and 5xx are retried within the
invocation's deadline). When ``STATE_TABLE_NAME`` is unset the start functions here are no-ops that
report "nothing known"; the consent gate and enrollment then refuse to run (settings check).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from decimal import Decimal
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
#: The task's profile was deleted (Delete Voice Profile): the task is never enrolled again.
DELETED = "deleted"
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
    #: The last delivery's attempt (a random ID), and the attempt that was released: one whose
    #: starts were all answered without a task (throttled, 409, refused), so nothing is in flight.
    attempt_id: str | None = None
    released_id: str | None = None

    @property
    def outstanding(self) -> bool:
        """A start of ours may hold the call's task: started, or an attempt not released (an item of
        the previous version, without attempt IDs, counts as outstanding)."""
        if self.status == STARTED:
            return True
        return self.attempt_id is None or self.attempt_id != self.released_id


# -- task starts -------------------------------------------------------------------------------


def begin_start(
    table: str | None, token: str, deadline: aws_calls.Deadline, *, attempt_id: str = ""
) -> StartRecord | None:
    """Record that attempt ``attempt_id`` of a start begins; return what was recorded before (or None)."""
    if table is None:
        return None
    response = update(
        table,
        f"start#{token}",
        "SET #s = if_not_exists(#s, :attempted), attemptedAt = :now, attemptId = :attempt,"
        " expiresAt = if_not_exists(expiresAt, :exp)",
        {
            ":attempted": string(ATTEMPTED),
            ":now": number(_now()),
            ":attempt": string(attempt_id),
            ":exp": number(_now() + CALL_TTL_S),
        },
        deadline,
        return_values="ALL_OLD",
    )
    return _start_record(response.get("Attributes"))


def release_start(table: str | None, token: str, attempt_id: str, deadline: aws_calls.Deadline) -> bool:
    """Attempt ``attempt_id`` ended without a task and nothing unanswered: no start of ours is in flight.

    Only if it is still the last attempt (a concurrent delivery's later one stays outstanding);
    returns whether it was released.
    """
    if table is None:
        return False
    try:
        update(
            table,
            f"start#{token}",
            "SET releasedId = :attempt",
            {":attempt": string(attempt_id), ":attempted": string(ATTEMPTED)},
            deadline,
            condition="attemptId = :attempt AND #s = :attempted",
        )
    except ConditionFailedError:
        return False
    return True


def get_start(table: str | None, token: str, deadline: aws_calls.Deadline) -> StartRecord | None:
    if table is None:
        return None
    return _start_record(get(table, f"start#{token}", deadline))


def mark_started(table: str | None, token: str, task_id: str | None, deadline: aws_calls.Deadline) -> bool:
    """The task exists (a start answered, or a status notification named it).

    Returns True when this write made ``task_id`` known (no task ID was recorded before).
    """
    if table is None:
        return False
    values: dict[str, AttributeValueTypeDef] = {
        ":started": string(STARTED),
        ":exp": number(_now() + CALL_TTL_S),
    }
    expression = "SET #s = :started, expiresAt = if_not_exists(expiresAt, :exp)"
    if task_id is not None:
        expression += ", taskId = :task"
        values[":task"] = string(task_id)
    # ALL_OLD, not UPDATED_OLD: whether UPDATED_OLD names an attribute set to the value it already
    # had is not documented (moto leaves it out), and ALL_OLD answers the question either way.
    response = update(table, f"start#{token}", expression, values, deadline, return_values="ALL_OLD")
    return task_id is not None and "taskId" not in response.get("Attributes", {})


def _start_record(item: dict[str, Any] | None) -> StartRecord | None:
    if not item or "s" not in item:
        return None
    return StartRecord(
        status=item["s"]["S"],
        task_id=string_of(item, "taskId"),
        attempt_id=string_of(item, "attemptId"),
        released_id=string_of(item, "releasedId"),
    )


# -- DynamoDB plumbing -------------------------------------------------------------------------


class ConditionFailedError(Exception):
    """A write's ``ConditionExpression`` did not hold."""


def string(value: str) -> AttributeValueTypeDef:
    return {"S": value}


def number(value: float) -> AttributeValueTypeDef:
    return {"N": str(int(value)) if value == int(value) else f"{value:.3f}"}


def exact_number(value: Decimal) -> AttributeValueTypeDef:
    """A decimal as DynamoDB stores it, every digit kept (no exponent, no rounding)."""
    return {"N": format(value, "f")}


def string_of(item: dict[str, Any], name: str) -> str | None:
    value = item.get(name)
    return value.get("S") if isinstance(value, dict) else None


def _run(operation: str, fn: Callable[[], T], deadline: aws_calls.Deadline) -> T:
    try:
        result, _ = aws_calls.call(fn, deadline=deadline, policy=clients.retry_policy(), operation=operation)
    except aws_calls.AwsCallError as exc:
        if exc.code == "ConditionalCheckFailedException":
            raise ConditionFailedError from None
        raise StateError(exc.code, exc.reason) from None
    return result


def update(
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
        "Key": {"pk": string(key)},
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


def get(table: str, key: str, deadline: aws_calls.Deadline) -> dict[str, Any] | None:
    response = _run(
        "GetItem",
        lambda: clients.dynamodb().get_item(TableName=table, Key={"pk": string(key)}, ConsistentRead=True),
        deadline,
    )
    item: dict[str, Any] | None = response.get("Item")
    return item
