"""What a call's notifications and consent do to its tasks (the call level above ``tasks.py``).

* ``AnalyticsReady`` starts every task kind of the call (:func:`on_analytics_ready`), behind the
  consent gate when ``REQUIRE_CONSENT=true``: no decision waits, ``declined`` stops what runs;
* :func:`start_call` starts each kind (``tasks.start_task``) with its share of the time left, and
  stops what it just started if a decline landed meanwhile;
* :func:`stop_call` stops every task the state table knows was started (consent declined);
* :func:`note_task_seen` records a status notification's task (the evidence and the task index).
"""

from __future__ import annotations

import functools
import logging
from typing import Any

import aws_calls
import clients
import consent_state
import metrics
import state
import task_index
import tasks
from notifications import require_id
from outcomes import Outcome, logger, skip
from settings import Settings
from task_kinds import TaskKind, kind_token, task_kinds

ANALYTICS_READY = "AnalyticsReady"
NOT_SERVED = "voice connector not served by this deployment"


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
        tasks.start_task(
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
    if task_index.wanted(settings):
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


def configuration_failure(fields: dict[str, Any], reason: str) -> Outcome:
    logger.error("invalid_configuration", extra={**fields, "reason": reason})
    return Outcome("failed", f"invalid configuration: {reason}")
