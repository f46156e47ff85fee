"""AnalyticsReady -> start the call's analytics tasks: speaker search, and voice tone analysis
when ``VOICE_TONE_ANALYSIS=true``.

Each task kind is started with a deterministic ``ClientRequestToken`` (see
:func:`client_request_token`), so redeliveries and retries never start a second task. The kinds
are started one after the other, each with its own share of the time left (see
:func:`start_call`), and each with its own outcome, state record, log lines and metrics: a
failure of one never stops the other from being started, and on a redelivery the one that did
start ends as a duplicate (by its state record, or by its own token's answer).

Duplicate, contention and limit rules (issue 9 item 1, issue 23 item 1)
-----------------------------------------------------------------------
AWS allows one active task per kind per call, and does not document what a second start for a
call that already has one returns: the same task, ``ConflictException`` (409) or
``ResourceLimitExceededException`` (RLE). RLE is also the answer to the Region's active-task
limit (25 by default), where the right reaction is the opposite: wait and retry. And 409 is also
the answer to contention: AWS allows one concurrent API call per voice profile domain (and per
task), so a 409 on a *first* start is most likely another call on the domain, not our task. The
state table (``state.py``) tells them apart: ``attempted`` is written before a start, with the
delivery's random attempt ID; ``started`` (with the task ID) after a successful answer and
whenever a status notification names the task; an attempt whose every start was answered without
a task (throttled, 409, refused) and with nothing unanswered is *released* (``releasedId``), so it
is no evidence of a task. "An earlier attempt of ours" below is ``started``, an ``attempted`` not
released (another delivery's, maybe concurrent, or one whose answer was lost), or a start earlier
in this invocation whose answer was lost (5xx, timeout, reset).

==================================  ===================================  ============================
state before / during               answer                               outcome
==================================  ===================================  ============================
``started``                         (no call made)                       duplicate
none, released or ``attempted``     a task (new or the same one)         started; ``started`` saved
an earlier attempt of ours          ``ConflictException``                duplicate; ``started`` saved
no earlier attempt of ours          ``ConflictException``                retried with backoff, same
                                                                         token, like throttling
no earlier attempt of ours          409 until the budget is spent        failed (not the DLQ),
                                                                         attempt released,
                                                                         redelivered by SQS
any                                 RLE                                  retried with backoff like
                                                                         throttling; before each
                                                                         retry the state is read
                                                                         again: ``started`` (by a
                                                                         concurrent delivery or a
                                                                         status notification) ->
                                                                         duplicate
any                                 RLE until the budget is spent        failed, redelivered by SQS
any                                 Gone, UnprocessableEntity, BadRequest, failed, straight to the
                                    Forbidden, AccessDenied, Unauthorized  dead-letter queue
after a late consent                NotFound, Gone, BadRequest,          skipped ("consent arrived
                                    UnprocessableEntity                  after the call ended"),
                                                                         ``CallsNotSearched{ended}``
any                                 throttling, 5xx, timeouts            retried; then redelivered
any                                 NotFound                             failed, redelivered
==================================  ===================================  ============================

The conservative choice is in the RLE row: an RLE after our own earlier attempt whose answer was
lost (``attempted``, or a timeout earlier in this invocation) is *not* taken as proof that the
task exists, because the same answer means "Region full". It is retried, and the record is
redelivered, until the state shows ``started`` (the task's first status notification records it)
or a start succeeds. The cost of this choice is that a call whose start response was lost and
which never produces a status notification may reach the dead-letter queue although its task
ran (visible and alarmed); the opposite choice would report a call as searched that never was
(silent). The 409 rows make the same choice. Without a state table (``STATE_TABLE_NAME`` unset,
or unreachable when the start began) the same rules hold with no state: RLE and 409 are retried
and then redelivered, unless a start earlier in this invocation went unanswered; a redelivery of a
started call may then reach the dead-letter queue (visible), never a call reported started that
was not (found by bench/burst.py: a table timeout plus contention ended a call unsearched).
"""

from __future__ import annotations

import logging
import secrets
from datetime import datetime
from typing import Any

import aws_calls
import clients
import metrics
import state
import task_index
from outcomes import Outcome, logger, skip
from settings import Settings
from task_kinds import NO_CALL_LEG, StartRequest, TaskKind, client_request_token

#: Errors of a start that can never succeed on retry: the record goes to the dead-letter queue.
#: (aws_calls classifies everything it does not know as PERMANENT, UnauthorizedClient included.)
#: Codes that mean "this call is over" when a start follows a late consent: a documented skip.
CALL_ENDED_CODES = frozenset(
    {"NotFoundException", "GoneException", "BadRequestException", "UnprocessableEntityException"}
)
#: What a start retries in-process: throttling, 5xx/timeouts, RLE (the Region's task limit) and
#: 409 without an earlier attempt of ours (contention: one concurrent call per domain and task).
START_RETRY_ON = frozenset(
    {
        aws_calls.ErrorKind.THROTTLED,
        aws_calls.ErrorKind.TRANSIENT,
        aws_calls.ErrorKind.LIMIT_EXCEEDED,
        aws_calls.ErrorKind.CONFLICT,
    }
)


class _ConflictIsDuplicateError(Exception):
    """Raised inside a start attempt: 409 while an earlier start of ours is unanswered or outstanding."""


class _AlreadyStartedError(Exception):
    """Raised inside a start attempt when the state table shows the task was started meanwhile.

    Never logged or shown: ``_start_failed`` turns it into a duplicate, so it carries only the ID.
    """

    @property
    def task_id(self) -> str | None:
        task_id: str | None = self.args[0]
        return task_id


def start_task(
    kind: TaskKind,
    *,
    voice_connector_id: str,
    transaction_id: str,
    notification_time: Any,
    settings: Settings,
    deadline: aws_calls.Deadline,
    fields: dict[str, Any],
    after_consent: bool,
) -> Outcome:
    """Start one task under the duplicate and limit rules of the module docstring.

    ``after_consent``: the start follows a consent that may have come after the call ended;
    then NotFound/Gone/BadRequest mean "call over", a documented skip rather than a failure.
    """
    request = _start_request(kind, voice_connector_id, transaction_id, settings)
    if request is None:  # exactly when settings.start_error says why
        reason = f"invalid configuration: {settings.start_error}"
        logger.error(f"{kind.name}_start_failed", extra={**fields, "reason": reason, "attempts": 0})
        metrics.count(kind.failed_metric)
        return Outcome("failed", reason)
    if kind.uses_call_leg:
        fields = {**fields, "callLeg": request.call_leg}
    table, token = settings.state_table_name, request.client_request_token
    state_usable = table is not None
    attempt_id = secrets.token_hex(8)
    try:
        prior = state.begin_start(table, token, deadline, attempt_id=attempt_id)
    except state.StateError as exc:
        # Without state the rules still hold (RLE and 409 are retried); only the shortcut is lost.
        logger.warning("start_state_unavailable", extra={**fields, "errorCode": exc.code})
        prior, state_usable = None, False
    if prior is not None and prior.status == state.STARTED:
        return _duplicate(kind, fields, prior.task_id, 0, "already started (state table)")

    attempts_made = 0
    # Did an earlier start of ours for this call maybe succeed without us seeing the answer: an
    # attempt of an earlier (or concurrent) delivery not released, or one earlier in this invocation?
    earlier_attempt = prior is not None and prior.outstanding
    unconfirmed = earlier_attempt

    def attempt() -> str | None:
        nonlocal attempts_made, unconfirmed
        attempts_made += 1
        if attempts_made > 1 and state_usable:
            # Between retries (after RLE above all): a concurrent delivery or a status
            # notification may have recorded the task meanwhile.
            try:
                seen = state.get_start(table, token, deadline)
            except state.StateError:
                seen = None  # the start call itself still decides
            if seen is not None and seen.status == state.STARTED:
                raise _AlreadyStartedError(seen.task_id)
        try:
            return kind.start(clients.chime(), request)
        except Exception as exc:
            error_kind = aws_calls.classify(exc)[1]
            if error_kind is aws_calls.ErrorKind.CONFLICT and unconfirmed:
                raise _ConflictIsDuplicateError from exc  # our earlier start is the other instance
            if error_kind is aws_calls.ErrorKind.TRANSIENT:  # 5xx, timeout, reset
                unconfirmed = True
            raise

    policy = clients.retry_policy(retry_on=START_RETRY_ON)
    # The starts leave time for one write after them (the release, or the task's record): a
    # release lost to the deadline would make the redelivery take contention for our own task
    # (found by bench/burst.py with the per-domain limit: a call ended unsearched).
    starts_until = deadline.sooner(deadline.remaining() - policy.attempt_cost_s) if state_usable else deadline
    try:
        task_id, attempts = aws_calls.call(
            attempt,
            deadline=starts_until,
            policy=policy,
            operation=kind.operation,
        )
    except aws_calls.AwsCallError as exc:
        if not unconfirmed and state_usable:
            # Every attempt was answered without a task (throttled, 409, refused) and no earlier one
            # is outstanding: release this attempt, so a redelivery's 409 is not taken for our task.
            _release(table, token, attempt_id, deadline, fields)
        return _start_failed(
            kind,
            exc,
            fields,
            unconfirmed=unconfirmed,
            after_consent=after_consent,
            table=table,
            token=token,
            deadline=deadline,
        )
    _record_started(kind, request, task_id, settings=settings, deadline=deadline, fields=fields)
    return _started(kind, task_id, attempts, notification_time, fields)


def _started(
    kind: TaskKind, task_id: str | None, attempts: int, notification_time: Any, fields: dict[str, Any]
) -> Outcome:
    logger.info(
        f"{kind.name}_started", extra={**fields, "taskId": task_id, "duplicate": False, "attempts": attempts}
    )
    metrics.count(kind.started_metric)
    latency_ms = _milliseconds_since(notification_time)
    if latency_ms is not None:
        metrics.count(kind.latency_metric, latency_ms, unit=metrics.MILLISECONDS)
    return Outcome("started", f"{kind.name}: task started")


def _start_request(
    kind: TaskKind, voice_connector_id: str, transaction_id: str, settings: Settings
) -> StartRequest | None:
    """The start's request, or None when the configuration cannot make one (no leg or domain)."""
    call_leg: str | None = settings.call_leg
    domain_id = settings.voice_profile_domain_id
    if not kind.uses_call_leg:
        call_leg, domain_id = NO_CALL_LEG, ""  # not sent: a bad CALL_LEG must not stop voice tone
    elif call_leg is None or not domain_id:
        return None
    return StartRequest(
        voice_connector_id=voice_connector_id,
        transaction_id=transaction_id,
        call_leg=call_leg,
        voice_profile_domain_id=domain_id,
        client_request_token=client_request_token(voice_connector_id, transaction_id, call_leg, kind),
    )


def _start_failed(
    kind: TaskKind,
    exc: aws_calls.AwsCallError,
    fields: dict[str, Any],
    *,
    unconfirmed: bool,
    after_consent: bool,
    table: str | None,
    token: str,
    deadline: aws_calls.Deadline,
) -> Outcome:
    """The outcome of a start that raised, by the rules of the module docstring."""
    if isinstance(exc.__cause__, _AlreadyStartedError):
        return _duplicate(kind, fields, exc.__cause__.task_id, exc.attempts, "started meanwhile")
    if isinstance(exc.__cause__, _ConflictIsDuplicateError):  # one task per call: ours already runs
        _mark_started(table, token, None, deadline, fields)
        return _duplicate(kind, fields, None, exc.attempts, "task already running (ConflictException)")
    if after_consent and exc.code in CALL_ENDED_CODES:
        metrics.count(metrics.CALLS_NOT_SEARCHED, status="ended")
        return skip({**fields, "errorCode": exc.code}, "consent arrived after the call ended", logging.INFO)
    if exc.kind is aws_calls.ErrorKind.LIMIT_EXCEEDED and unconfirmed:
        # Our own earlier start may hold the call's one task: not a failed start yet. SQS
        # redelivers; the task's status notification or a later answer settles it.
        logger.warning(
            f"{kind.name}_start_unconfirmed",
            extra={**fields, "errorCode": exc.code, "reason": exc.reason, "attempts": exc.attempts},
        )
        return Outcome("failed", f"{kind.name}: {exc.code} after an unanswered start: {exc.reason}")
    permanent = exc.kind is aws_calls.ErrorKind.PERMANENT
    logger.error(
        f"{kind.name}_start_failed",
        extra={
            **fields,
            "errorCode": exc.code,
            "reason": exc.reason,
            "attempts": exc.attempts,
            "permanent": permanent,
        },
    )
    metrics.count(kind.failed_metric)
    return Outcome("failed", f"{kind.name}: {exc.code}: {exc.reason}", dead_letter=permanent)


def _duplicate(
    kind: TaskKind, fields: dict[str, Any], task_id: str | None, attempts: int, why: str
) -> Outcome:
    logger.info(
        f"{kind.name}_started",
        extra={**fields, "taskId": task_id, "duplicate": True, "attempts": attempts, "reason": why},
    )
    metrics.count(kind.duplicate_metric)
    return Outcome("duplicate", f"{kind.name}: {why}")


def _record_started(
    kind: TaskKind,
    request: StartRequest,
    task_id: str | None,
    *,
    settings: Settings,
    deadline: aws_calls.Deadline,
    fields: dict[str, Any],
) -> None:
    """The start was answered with ``task_id``: index the task, then record the start.

    A task ID is recorded only once its index entry is written, so a status notification that finds
    the ID recorded can skip the index. If the index cannot be written, the start is recorded
    without its ID, and the task's first status notification indexes it.
    """
    table = settings.state_table_name
    if table is None:
        return
    if task_id is not None and task_index.wanted(settings):
        try:
            task_index.record(
                table,
                task_id,
                kind=kind.name,
                voice_connector_id=request.voice_connector_id,
                transaction_id=request.transaction_id,
                call_leg=request.call_leg if kind.uses_call_leg else None,
                deadline=deadline,
            )
        except state.StateError as exc:
            logger.warning(
                "task_index_unavailable", extra={**fields, "taskId": task_id, "errorCode": exc.code}
            )
            task_id = None
    _mark_started(table, request.client_request_token, task_id, deadline, fields)


def _release(
    table: str | None, token: str, attempt_id: str, deadline: aws_calls.Deadline, fields: dict[str, Any]
) -> None:
    try:
        state.release_start(table, token, attempt_id, deadline)
    except state.StateError as exc:
        # Unreleased, a redelivery takes a 409 for our own task (a duplicate): the conservative
        # side for a call that then goes unsearched is to try releasing, and log that it failed.
        logger.warning("start_state_unavailable", extra={**fields, "errorCode": exc.code})


def _mark_started(
    table: str | None, token: str, task_id: str | None, deadline: aws_calls.Deadline, fields: dict[str, Any]
) -> None:
    try:
        state.mark_started(table, token, task_id, deadline)
    except state.StateError as exc:
        # The task runs; a redelivery will get a duplicate answer, or RLE and then the status
        # notification's evidence. Failing the record here would only cause that redelivery.
        logger.warning("start_state_unavailable", extra={**fields, "errorCode": exc.code})


def _milliseconds_since(timestamp: Any) -> float | None:
    """Milliseconds from an ISO 8601 notification ``time`` to now; None if it is not one."""
    if not isinstance(timestamp, str):
        return None
    try:
        then = datetime.fromisoformat(timestamp)  # takes a "Z" suffix since Python 3.11
    except ValueError:
        return None
    if then.tzinfo is None:
        return None
    return max(0.0, (datetime.now(then.tzinfo) - then).total_seconds() * 1000.0)
