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

import functools
import hashlib
import logging
import secrets
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

import aws_calls
import clients
import consent_state
import metrics
import state
import task_index
from notifications import require_id
from outcomes import Outcome, logger, skip
from settings import Settings

if TYPE_CHECKING:
    from mypy_boto3_chime_sdk_voice import ChimeSDKVoiceClient

ANALYTICS_READY = "AnalyticsReady"
NOT_SERVED = "voice connector not served by this deployment"


class StartRequest(NamedTuple):
    voice_connector_id: str
    transaction_id: str
    call_leg: str
    voice_profile_domain_id: str
    client_request_token: str


class TaskKind(NamedTuple):
    """One kind of analytics task that AnalyticsReady starts."""

    #: Log message prefix (``<name>_started``, ``<name>_start_failed``).
    name: str
    #: Last part of the token material, so two kinds never share a token.
    material_suffix: str
    operation: str
    #: Calls the API and returns the new task's ID (or None if the response has none).
    start: Callable[[ChimeSDKVoiceClient, StartRequest], str | None]
    started_metric: str
    duplicate_metric: str
    failed_metric: str
    latency_metric: str
    #: Stops a running task (connector ID, task ID); used when consent is declined after a start.
    stop: Callable[[ChimeSDKVoiceClient, str, str], None] | None = None
    stop_operation: str = ""
    #: The start takes the configured ``CallLeg`` and voice profile domain (and cannot run
    #: without them); voice tone takes neither.
    uses_call_leg: bool = True


def _start_speaker_search(client: ChimeSDKVoiceClient, request: StartRequest) -> str | None:
    response = client.start_speaker_search_task(
        VoiceConnectorId=request.voice_connector_id,
        TransactionId=request.transaction_id,
        VoiceProfileDomainId=request.voice_profile_domain_id,
        CallLeg=request.call_leg,  # type: ignore[arg-type]
        ClientRequestToken=request.client_request_token,
    )
    return response.get("SpeakerSearchTask", {}).get("SpeakerSearchTaskId")


def _stop_speaker_search(client: ChimeSDKVoiceClient, voice_connector_id: str, task_id: str) -> None:
    client.stop_speaker_search_task(VoiceConnectorId=voice_connector_id, SpeakerSearchTaskId=task_id)


SPEAKER_SEARCH = TaskKind(
    name="speaker_search",
    material_suffix="speaker-search",
    operation="StartSpeakerSearchTask",
    start=_start_speaker_search,
    started_metric=metrics.SPEAKER_SEARCH_STARTED,
    duplicate_metric=metrics.SPEAKER_SEARCH_DUPLICATE_STARTS,
    failed_metric=metrics.SPEAKER_SEARCH_FAILED_STARTS,
    latency_metric=metrics.SPEAKER_SEARCH_START_LATENCY,
    stop=_stop_speaker_search,
    stop_operation="StopSpeakerSearchTask",
)

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


#: StartVoiceToneAnalysisTask's required LanguageCode: the API's enum has only this value.
VOICE_TONE_LANGUAGE_CODE: Literal["en-US"] = "en-US"


def _start_voice_tone(client: ChimeSDKVoiceClient, request: StartRequest) -> str | None:
    response = client.start_voice_tone_analysis_task(
        VoiceConnectorId=request.voice_connector_id,
        TransactionId=request.transaction_id,
        LanguageCode=VOICE_TONE_LANGUAGE_CODE,
        ClientRequestToken=request.client_request_token,
    )
    return response.get("VoiceToneAnalysisTask", {}).get("VoiceToneAnalysisTaskId")


def _stop_voice_tone(client: ChimeSDKVoiceClient, voice_connector_id: str, task_id: str) -> None:
    client.stop_voice_tone_analysis_task(VoiceConnectorId=voice_connector_id, VoiceToneAnalysisTaskId=task_id)


VOICE_TONE = TaskKind(
    name="voice_tone",
    material_suffix="voice-tone",
    operation="StartVoiceToneAnalysisTask",
    start=_start_voice_tone,
    started_metric=metrics.VOICE_TONE_STARTED,
    duplicate_metric=metrics.VOICE_TONE_DUPLICATE_STARTS,
    failed_metric=metrics.VOICE_TONE_FAILED_STARTS,
    latency_metric=metrics.VOICE_TONE_START_LATENCY,
    stop=_stop_voice_tone,
    stop_operation="StopVoiceToneAnalysisTask",
    uses_call_leg=False,
)
#: Token material in place of the call leg for kinds that take none (one task per call).
NO_CALL_LEG = "-"


def task_kinds(settings: Settings) -> tuple[TaskKind, ...]:
    """The kinds of task each call gets with these settings."""
    if settings.voice_tone_analysis:
        return (SPEAKER_SEARCH, VOICE_TONE)
    return (SPEAKER_SEARCH,)


def kind_token(
    kind: TaskKind, voice_connector_id: str, transaction_id: str, call_leg: str | None
) -> str | None:
    """The token of ``kind``'s task for this call (None if the kind needs a leg and has none)."""
    leg = call_leg if kind.uses_call_leg else NO_CALL_LEG
    return None if leg is None else client_request_token(voice_connector_id, transaction_id, leg, kind)


def client_request_token(
    voice_connector_id: str, transaction_id: str, call_leg: str, kind: TaskKind = SPEAKER_SEARCH
) -> str:
    """Deterministic idempotency token: 64 hex chars, within the API's 2-64 ``[-_a-zA-Z0-9]``.

    boto3 does not fill this token in for chime-sdk-voice, and a SIP Call-ID is not a valid
    token. The same call, leg and kind always give the same token, so a redelivery or retry
    cannot start a second task.
    """
    material = f"{voice_connector_id}|{transaction_id}|{call_leg}|{kind.material_suffix}"
    return hashlib.sha256(material.encode()).hexdigest()  # UTF-8; a SHA-256 is 64 hex digits


def on_analytics_ready(
    notification: dict[str, Any],
    detail: dict[str, Any],
    settings: Settings,
    deadline: aws_calls.Deadline,
    fields: dict[str, Any],
) -> Outcome:
    """Start every task kind for the call (behind the consent gate when it is on)."""
    voice_connector_id = require_id(detail, "voiceConnectorId")
    if not settings.serves(voice_connector_id):
        return skip(fields, NOT_SERVED, logging.DEBUG)
    transaction_id = require_id(detail, "transactionId")
    if settings.require_consent:
        if settings.state_table_name is None:
            return configuration_failure(fields, "REQUIRE_CONSENT needs STATE_TABLE_NAME")
        try:
            call = consent_state.note_analytics_ready(
                settings.state_table_name, voice_connector_id, transaction_id, deadline
            )
        except state.StateError as exc:
            logger.error("consent_state_failed", extra={**fields, "errorCode": exc.code})
            return Outcome("failed", f"state table: {exc.code}")
        if call.consent is None:
            return skip(fields, "waiting for consent (the call starts when it is granted)", logging.INFO)
        if call.consent != state.GRANTED:
            # A start that raced the decline may have left a task whose stop failed (start_call
            # failed that delivery for this): this redelivery stops it.
            stopped = stop_call(
                voice_connector_id, transaction_id, settings=settings, deadline=deadline, fields=fields
            )
            if stopped.failed:
                return stopped
            metrics.count(metrics.CALLS_NOT_SEARCHED, status="declined")
            return skip(
                {**fields, "consentReference": call.consent_reference}, "consent declined", logging.INFO
            )
    return start_call(
        voice_connector_id,
        transaction_id,
        notification_time=notification.get("time"),
        settings=settings,
        deadline=deadline,
        fields=fields,
    )


def start_call(
    voice_connector_id: str,
    transaction_id: str,
    *,
    notification_time: Any,
    settings: Settings,
    deadline: aws_calls.Deadline,
    fields: dict[str, Any],
    after_consent: bool = False,
) -> Outcome:
    """Start every task kind for one call; the record fails if any start must be retried.

    Each kind may use at most an equal share of the time still left when its turn comes (the
    last one gets all of it), so a start that is throttled until its budget runs out cannot
    leave the next kind without time. Each start is independent: a failure of one is logged and
    counted for that kind only, and the others are still attempted.

    With the consent gate on, the consent is read again after the starts: a ``declined`` that
    arrived while they were in flight stops what was just started (the decline handler may have
    found nothing to stop yet). If that stop fails, so does the record, and its redelivery, now
    behind a declined gate, stops the task again.
    """
    kinds = task_kinds(settings)
    outcomes = [
        start_task(
            kind,
            voice_connector_id=voice_connector_id,
            transaction_id=transaction_id,
            notification_time=notification_time,
            settings=settings,
            deadline=deadline.sooner(deadline.remaining() / (len(kinds) - position)),
            fields=fields,
            after_consent=after_consent,
        )
        for position, kind in enumerate(kinds)
    ]
    if settings.require_consent and settings.state_table_name and any(o.kind == "started" for o in outcomes):
        try:
            call = consent_state.get_call(
                settings.state_table_name, voice_connector_id, transaction_id, deadline
            )
        except state.StateError:
            call = None  # the decline handler reads the started tasks and stops them itself
        if call is not None and call.consent == state.DECLINED:
            stopped = stop_call(
                voice_connector_id, transaction_id, settings=settings, deadline=deadline, fields=fields
            )
            if stopped.failed:  # redelivered: the declined call's AnalyticsReady stops it again
                return Outcome("failed", f"consent declined during the start; {stopped.reason}")
    failed = [outcome for outcome in outcomes if outcome.failed]
    if failed:
        # Only when every failure is permanent may the record skip redelivery.
        dead_letter = all(outcome.dead_letter for outcome in failed)
        return Outcome("failed", "; ".join(outcome.reason for outcome in failed), dead_letter=dead_letter)
    if all(outcome.kind == "skipped" for outcome in outcomes):
        return Outcome("skipped", "; ".join(outcome.reason for outcome in outcomes))
    if all(outcome.kind in ("duplicate", "skipped") for outcome in outcomes):
        return Outcome("duplicate", "; ".join(outcome.reason for outcome in outcomes))
    return Outcome("started", "; ".join(outcome.reason for outcome in outcomes))


def stop_call(
    voice_connector_id: str,
    transaction_id: str,
    *,
    settings: Settings,
    deadline: aws_calls.Deadline,
    fields: dict[str, Any],
) -> Outcome:
    """Stop every task of the call that the state table knows was started (consent declined).

    A task that has already ended (NotFound, BadRequest, Gone, Conflict) counts as stopped. A
    task started without a known ID (the start answered ``ConflictException``) cannot be
    stopped by ID; that is logged (``task_not_stoppable``) and the task runs out with the call.
    """
    if settings.state_table_name is None:
        return Outcome("skipped", "nothing to stop")
    failed = []
    for kind in task_kinds(settings):
        token = kind_token(kind, voice_connector_id, transaction_id, settings.call_leg)
        if token is None:  # no valid CALL_LEG: this kind was never started
            continue
        try:
            record = state.get_start(settings.state_table_name, token, deadline)
        except state.StateError as exc:
            failed.append(f"{kind.name}: state table: {exc.code}")
            continue
        if record is None or kind.stop is None:
            continue
        if record.task_id is None:
            logger.warning(f"{kind.name}_task_not_stoppable", extra={**fields, "reason": "task ID unknown"})
            continue
        try:
            aws_calls.call(
                functools.partial(kind.stop, clients.chime(), voice_connector_id, record.task_id),
                deadline=deadline,
                policy=clients.retry_policy(),
                operation=kind.stop_operation,
            )
        except aws_calls.AwsCallError as exc:
            if exc.kind in (aws_calls.ErrorKind.NOT_FOUND, aws_calls.ErrorKind.CONFLICT) or exc.code in (
                "BadRequestException",
                "GoneException",
            ):
                logger.info(
                    f"{kind.name}_stopped", extra={**fields, "taskId": record.task_id, "alreadyEnded": True}
                )
                continue
            logger.error(
                f"{kind.name}_stop_failed", extra={**fields, "taskId": record.task_id, "errorCode": exc.code}
            )
            failed.append(f"{kind.name}: {exc.code}: {exc.reason}")
            continue
        logger.info(f"{kind.name}_stopped", extra={**fields, "taskId": record.task_id, "alreadyEnded": False})
    if failed:
        return Outcome("failed", "; ".join(failed))
    return Outcome("skipped", "tasks stopped")


def note_task_seen(
    kind: TaskKind,
    voice_connector_id: str | None,
    transaction_id: str | None,
    call_leg: str | None,
    task_id: str | None,
    *,
    settings: Settings,
    deadline: aws_calls.Deadline,
) -> None:
    """A status notification named this call's task: index it and record it as started.

    This is the evidence that resolves a ``ResourceLimitExceededException`` after a lost start
    response: the redelivered AnalyticsReady then ends as a duplicate. A task whose ID is already
    recorded for the call costs one read and nothing more (it was indexed when it became known).
    Otherwise it is indexed (``task_index``, when consent or enrollment is on) before it is recorded,
    so a recorded task ID always has its index entry. With the consent gate on, a task whose ID only
    becomes known now (its start was answered ``ConflictException`` or lost) is stopped if the call
    was declined meanwhile: the decline could not stop it by ID (found by bench/soak.py).

    Raises :class:`state.StateError` when the table cannot be reached.
    """
    table = settings.state_table_name
    if not (voice_connector_id and transaction_id and task_id and table):
        return
    token = kind_token(kind, voice_connector_id, transaction_id, call_leg)
    if token is None:
        return
    known = state.get_start(table, token, deadline)
    if known is not None and known.task_id == task_id:
        return
    if indexes_tasks(settings):
        task_index.record(
            table,
            task_id,
            kind=kind.name,
            voice_connector_id=voice_connector_id,
            transaction_id=transaction_id,
            call_leg=call_leg if kind.uses_call_leg else None,
            deadline=deadline,
        )
    first_seen = state.mark_started(table, token, task_id, deadline)
    if not (first_seen and settings.require_consent):
        return
    call = consent_state.get_call(table, voice_connector_id, transaction_id, deadline)
    if call.consent == state.DECLINED:
        stop_call(voice_connector_id, transaction_id, settings=settings, deadline=deadline, fields={})


def indexes_tasks(settings: Settings) -> bool:
    """Tasks are indexed when something reads the index: the consent gate or voice profile requests."""
    return settings.require_consent or settings.enable_enrollment


def configuration_failure(fields: dict[str, Any], reason: str) -> Outcome:
    logger.error("invalid_configuration", extra={**fields, "reason": reason})
    return Outcome("failed", f"invalid configuration: {reason}")


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
    if task_id is not None and indexes_tasks(settings):
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
