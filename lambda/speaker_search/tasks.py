"""AnalyticsReady -> start the call's analytics tasks: speaker search, and voice tone analysis
when ``VOICE_TONE_ANALYSIS=true``.

Each task kind is started with a deterministic ``ClientRequestToken`` (see
:func:`client_request_token`), so redeliveries and retries never start a second task. The kinds
are started one after the other, each with its own share of the time left (see
:func:`on_analytics_ready`), and each with its own outcome, log lines and metrics: a failure of
one never stops the other from being started.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

import aws_calls
import clients
import metrics
from notifications import require_id
from outcomes import Outcome, logger, skip
from settings import Settings

if TYPE_CHECKING:
    from mypy_boto3_chime_sdk_voice import ChimeSDKVoiceClient

ANALYTICS_READY = "AnalyticsReady"
NOT_SERVED = "voice connector not served by this deployment"


@dataclass(frozen=True)
class StartRequest:
    voice_connector_id: str
    transaction_id: str
    call_leg: str
    voice_profile_domain_id: str
    client_request_token: str


@dataclass(frozen=True)
class TaskKind:
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


SPEAKER_SEARCH = TaskKind(
    name="speaker_search",
    material_suffix="speaker-search",
    operation="StartSpeakerSearchTask",
    start=_start_speaker_search,
    started_metric=metrics.SPEAKER_SEARCH_STARTED,
    duplicate_metric=metrics.SPEAKER_SEARCH_DUPLICATE_STARTS,
    failed_metric=metrics.SPEAKER_SEARCH_FAILED_STARTS,
    latency_metric=metrics.SPEAKER_SEARCH_START_LATENCY,
)


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


VOICE_TONE = TaskKind(
    name="voice_tone",
    material_suffix="voice-tone",
    operation="StartVoiceToneAnalysisTask",
    start=_start_voice_tone,
    started_metric=metrics.VOICE_TONE_STARTED,
    duplicate_metric=metrics.VOICE_TONE_DUPLICATE_STARTS,
    failed_metric=metrics.VOICE_TONE_FAILED_STARTS,
    latency_metric=metrics.VOICE_TONE_START_LATENCY,
    uses_call_leg=False,
)
#: Token material in place of the call leg for kinds that take none (one task per call).
NO_CALL_LEG = "-"


def task_kinds(settings: Settings) -> tuple[TaskKind, ...]:
    """The kinds of task each call gets with these settings."""
    if settings.voice_tone_analysis:
        return (SPEAKER_SEARCH, VOICE_TONE)
    return (SPEAKER_SEARCH,)


def client_request_token(
    voice_connector_id: str, transaction_id: str, call_leg: str, kind: TaskKind = SPEAKER_SEARCH
) -> str:
    """Deterministic idempotency token: 64 hex chars, within the API's 2-64 ``[-_a-zA-Z0-9]``.

    boto3 does not fill this token in for chime-sdk-voice, and a SIP Call-ID is not a valid
    token. The same call, leg and kind always give the same token, so a redelivery or retry
    cannot start a second task.
    """
    material = f"{voice_connector_id}|{transaction_id}|{call_leg}|{kind.material_suffix}"
    return hashlib.sha256(material.encode("utf-8")).hexdigest()[:64]


def on_analytics_ready(
    notification: dict[str, Any],
    detail: dict[str, Any],
    settings: Settings,
    deadline: aws_calls.Deadline,
    fields: dict[str, Any],
) -> Outcome:
    """Start every task kind for the call; the record fails if any start must be retried.

    Each kind may use at most an equal share of the time still left when its turn comes (the
    last one gets all of it), so a start that is throttled until its budget runs out cannot
    leave the next kind without time. Each start is independent: a failure of one is logged and
    counted for that kind only, and the others are still attempted.
    """
    voice_connector_id = require_id(detail, "voiceConnectorId")
    if not settings.serves(voice_connector_id):
        return skip(fields, NOT_SERVED, logging.DEBUG)
    transaction_id = require_id(detail, "transactionId")
    kinds = task_kinds(settings)
    outcomes = [
        start_task(
            kind,
            voice_connector_id=voice_connector_id,
            transaction_id=transaction_id,
            notification_time=notification.get("time"),
            settings=settings,
            deadline=deadline.sooner(deadline.remaining() / (len(kinds) - position)),
            fields=fields,
        )
        for position, kind in enumerate(kinds)
    ]
    failed = [outcome for outcome in outcomes if outcome.failed]
    if failed:
        return Outcome("failed", "; ".join(outcome.reason for outcome in failed))
    if all(outcome.kind == "duplicate" for outcome in outcomes):
        return Outcome("duplicate", "; ".join(outcome.reason for outcome in outcomes))
    return Outcome("started", "; ".join(outcome.reason for outcome in outcomes))


def start_task(
    kind: TaskKind,
    *,
    voice_connector_id: str,
    transaction_id: str,
    notification_time: Any,
    settings: Settings,
    deadline: aws_calls.Deadline,
    fields: dict[str, Any],
) -> Outcome:
    """Start one task; ConflictException means it already runs (a duplicate delivery)."""
    call_leg: str | None = settings.call_leg
    domain_id = settings.voice_profile_domain_id
    if not kind.uses_call_leg:
        call_leg, domain_id = NO_CALL_LEG, ""  # not sent: a bad CALL_LEG must not stop voice tone
    elif settings.start_error is not None or call_leg is None or not domain_id:
        reason = f"invalid configuration: {settings.start_error}"
        logger.error(f"{kind.name}_start_failed", extra={**fields, "reason": reason, "attempts": 0})
        metrics.count(kind.failed_metric)
        return Outcome("failed", reason)
    else:
        fields = {**fields, "callLeg": call_leg}
    request = StartRequest(
        voice_connector_id=voice_connector_id,
        transaction_id=transaction_id,
        call_leg=call_leg,
        voice_profile_domain_id=domain_id,
        client_request_token=client_request_token(voice_connector_id, transaction_id, call_leg, kind),
    )
    try:
        task_id, attempts = aws_calls.call(
            lambda: kind.start(clients.chime(), request),
            deadline=deadline,
            policy=clients.retry_policy(),
            operation=kind.operation,
        )
    except aws_calls.AwsCallError as exc:
        if exc.kind is aws_calls.ErrorKind.CONFLICT:  # same token already running: a duplicate delivery
            logger.info(f"{kind.name}_started", extra={**fields, "duplicate": True, "attempts": exc.attempts})
            metrics.count(kind.duplicate_metric)
            return Outcome("duplicate", f"{kind.name}: task already running")
        logger.error(
            f"{kind.name}_start_failed",
            extra={**fields, "errorCode": exc.code, "reason": exc.reason, "attempts": exc.attempts},
        )
        metrics.count(kind.failed_metric)
        return Outcome("failed", f"{kind.name}: {exc.code}: {exc.reason}")
    logger.info(
        f"{kind.name}_started", extra={**fields, "taskId": task_id, "duplicate": False, "attempts": attempts}
    )
    metrics.count(kind.started_metric)
    latency_ms = _milliseconds_since(notification_time)
    if latency_ms is not None:
        metrics.count(kind.latency_metric, latency_ms, unit=metrics.MILLISECONDS)
    return Outcome("started", f"{kind.name}: task started")


def _milliseconds_since(timestamp: Any) -> float | None:
    """Milliseconds from an ISO 8601 notification ``time`` to now; None if it is not one."""
    if not isinstance(timestamp, str):
        return None
    try:
        then = datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
    except ValueError:
        return None
    if then.tzinfo is None:
        return None
    return max(0.0, (datetime.now(then.tzinfo) - then).total_seconds() * 1000.0)
