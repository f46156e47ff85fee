"""Speaker-search runtime: start a speaker search per call, publish each result to EventBridge.

The Voice Connector sends voice analytics notifications only to the media insights configuration's
sinks (here: an SQS queue with a DLQ, or a Lambda sink), never to EventBridge. This handler turns
them into work:

* ``VoiceAnalyticsStatus`` / ``AnalyticsReady`` -> ``chime-sdk-voice`` ``StartSpeakerSearchTask``
  with the configured call leg and a deterministic ``ClientRequestToken`` (see
  :func:`client_request_token`), so redeliveries and retries never start a second task.
* ``SpeakerSearchStatus`` -> one normalised ``Speaker Search Result`` event on EventBridge.

Environment variables
---------------------
``VOICE_PROFILE_DOMAIN_ID`` (required)
    Passed to StartSpeakerSearchTask and copied into every result event.
``CALL_LEG`` (required, ``Caller`` or ``Callee``)
    May come from a CloudFormation parameter, so it is validated at run time. When it is invalid,
    every AnalyticsReady record fails (logged with the allowed values) while result notifications
    are still published (their ``callLeg`` then comes only from ``detail.isCaller``).
``VOICE_CONNECTOR_IDS`` (comma-separated)
    The connectors this deployment serves. A notification for another connector is skipped (DEBUG).
    A result notification without ``voiceConnectorId`` is not filtered. When the variable is empty
    or unset, nothing is filtered: dropping every notification because of a missing setting would
    lose work silently.
``EVENT_BUS_NAME`` (default ``default``)
    Name or ARN of the bus that receives the result events.
``SEARCH_ID``
    Opaque ID of the construct instance, copied into every result as ``searchId`` (null if unset).
``LOG_LEVEL`` (default ``INFO``)
``AWS_ENDPOINT_URL_CHIME_SDK_VOICE`` / ``AWS_ENDPOINT_URL_EVENTBRIDGE``
    Standard boto3 endpoint overrides; used by the tests, never needed in production.

Input shapes
------------
1. SQS batch (``{"Records": [{"messageId", "body", ...}]}``): returns
   ``{"batchItemFailures": [{"itemIdentifier": messageId}]}`` listing only the failed records
   (ReportBatchItemFailures). A per-record problem never raises.
2. One raw notification (Lambda sink): returns ``{"outcome": ..., "reason": ...}``; a failed
   notification raises :class:`NotificationFailedError`, so Lambda's async retries and its
   DLQ / on-failure destination take it.
3. Inside a body (or as the raw event) these wrappers are removed, in any combination, for at
   most ``MAX_UNWRAP_STEPS`` steps (each JSON decode or wrapper removal is one step): a JSON
   string (also double-encoded JSON), an SNS envelope (``{"Type": "Notification", "Message":
   "<json>"}``) and the ``{"Records": [...]}`` wrapper that the AWS docs show for SNS/SQS sinks.
   That wrapper must hold exactly one notification: a body is one SQS record and can only
   succeed or fail as a whole, so a multi-notification wrapper is rejected (-> DLQ) rather than
   half-processed and retried. A top-level ``Records`` list is an SQS batch only if every entry
   has a string ``messageId``; otherwise the event is treated as one raw (wrapped) notification.

Failure policy ("nothing lost")
-------------------------------
Every notification ends as exactly one of: a started (or already running) task, a published
result, a documented skip, or a failure that is logged with its reason and, after the queue's
maxReceiveCount, sits in the DLQ.

* Malformed (not JSON, not an object, missing/empty/whitespace/non-string/oversized
  (> ``MAX_ID_LENGTH``) IDs, missing ``detail-type``/``detail``/``detailStatus``/``taskId``, wrong
  types): logged as ``notification_rejected`` (WARNING) and reported as failed. It can never
  succeed, but it is not dropped silently: it reaches the DLQ where someone can look at it.
* Not ours to handle: other connectors (DEBUG), ``VoiceAnalyticsStatus`` other than AnalyticsReady
  (DEBUG), ``VoiceToneAnalysisStatus`` (DEBUG), unknown ``detail-type`` or unknown
  ``SpeakerSearchStatus`` status (WARNING): logged as ``notification_skipped`` and counted as done.
* AWS errors: 429, 5xx, connection errors and timeouts are retried in-process (exponential backoff
  with full jitter, same token, bounded by ``MAX_ATTEMPTS`` and by the Lambda deadline); when the
  budget runs out the record fails and SQS redelivers it. ``ConflictException`` on start means the
  task already runs (duplicate delivery) and counts as started. Every other error fails the
  record at once (SQS still redelivers it up to maxReceiveCount, which also covers a transient
  NotFound). In the raw shape every failure, malformed input included, raises instead.
* PutEvents is not idempotent: a retry after a timeout can publish a result twice. Consumers
  dedupe on ``notificationId``.

Time budget: one deadline per invocation, shared by the batch: the Lambda deadline minus
``SAFETY_MARGIN_S`` (no context: ``NO_CONTEXT_BUDGET_S``). An attempt starts only if a whole
attempt (connect + read timeout) still fits, and no backoff is slept that no attempt could
follow, so the function does not time out mid-retry; records that find the budget spent fail
fast and are redelivered. Give the function a timeout of at least ~30 s.

Published event (Source ``RESULT_SOURCE``, DetailType ``RESULT_DETAIL_TYPE``), Detail keys:
``searchId, voiceConnectorId, transactionId, callLeg, taskId, status, matches[{voiceProfileId,
confidenceScore}], bestMatch, voiceProfileDomainId, notificationId, notificationTime``.
``matches`` is ranked by score, highest first; ``bestMatch`` is the first match or null;
``status`` spells ``VoiceprintGenerationSuccess`` as ``VoiceprintGenerationSuccessful``.

Logging: stdlib logging, a short stable message plus ``extra`` fields (Lambda's JSON log format
turns them into top-level keys). Only ID-shaped values (notification id, detail-type,
detailStatus, voiceConnectorId, transactionId, taskId, SQS messageId), error codes, reasons and
counts are logged; never callId, phone numbers, SIP headers, names or raw bodies. Messages
(stable; metric filters match ``$.message``): ``speaker_search_started`` (INFO, ``duplicate``
true on Conflict), ``speaker_search_start_failed`` (ERROR), ``speaker_search_result_published``
(INFO), ``speaker_search_result_publish_failed`` (ERROR), ``notification_rejected`` (WARNING),
``notification_skipped`` (DEBUG or WARNING), ``notification_failed`` (ERROR, a handler bug),
``matches_dropped`` (WARNING), ``batch_processed`` (INFO), ``aws_call_retrying`` (DEBUG).

Tests reset the cached settings and clients with :func:`_reset_for_tests`, and replace ``_sleep``,
``_rng`` and ``_clock`` to make backoff instant and deterministic.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import random
import re
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import boto3
import botocore.exceptions
from botocore.config import Config

if TYPE_CHECKING:
    from mypy_boto3_chime_sdk_voice import ChimeSDKVoiceClient
    from mypy_boto3_events import EventBridgeClient
    from mypy_boto3_events.type_defs import PutEventsRequestEntryTypeDef

RESULT_SOURCE = "chime-speaker-search"
RESULT_DETAIL_TYPE = "Speaker Search Result"
USER_AGENT_EXTRA = "chime-speaker-search/0.1.0"
LOGGER_NAME = "chime_speaker_search"

CallLeg = Literal["Caller", "Callee"]
CALL_LEGS: tuple[CallLeg, ...] = ("Caller", "Callee")
MAX_ID_LENGTH = 1024
MAX_UNWRAP_STEPS = 8  # JSON decodes plus wrapper removals; enough for SNS + double encoding

# Retry budget. Module constants so tests (and only tests) can shrink them.
MAX_ATTEMPTS = 8
BACKOFF_BASE_S = 0.2
BACKOFF_CAP_S = 5.0
CONNECT_TIMEOUT_S = 2.0
READ_TIMEOUT_S = 5.0
SAFETY_MARGIN_S = 3.0  # kept free before the Lambda deadline, on top of one attempt's timeouts
NO_CONTEXT_BUDGET_S = 20.0  # total budget when invoked without a Lambda context

# Indirection for tests: backoff sleeps, jitter source and the clock.
_sleep: Callable[[float], None] = time.sleep
_rng: random.Random = random.Random()  # noqa: S311 (jitter, not cryptography)
_clock: Callable[[], float] = time.monotonic

RETRYABLE_CODES = frozenset(
    {"ThrottledClientException", "ServiceFailureException", "ServiceUnavailableException"}
)
RETRYABLE_NETWORK_ERRORS = (
    botocore.exceptions.ConnectionError,  # includes EndpointConnectionError, ConnectTimeoutError
    botocore.exceptions.ReadTimeoutError,
    botocore.exceptions.ConnectionClosedError,
)
ANALYTICS_READY = "AnalyticsReady"
# What a value must look like to be logged (IDs, statuses, detail-types); see _loggable_ids.
LOGGABLE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,255}")
NOT_SERVED = "voice connector not served by this deployment"
# SpeakerSearchStatus statuses we publish, mapped to the spelling we publish them with.
RESULT_STATUSES = {
    "IdentificationSuccessful": "IdentificationSuccessful",
    "IdentificationNoMatchesFound": "IdentificationNoMatchesFound",
    "IdentificationFailure": "IdentificationFailure",
    "VoiceprintGenerationSuccessful": "VoiceprintGenerationSuccessful",
    "VoiceprintGenerationSuccess": "VoiceprintGenerationSuccessful",
    "VoiceprintGenerationFailure": "VoiceprintGenerationFailure",
}

OutcomeKind = Literal["started", "published", "skipped", "failed"]
T = TypeVar("T")

logger = logging.getLogger(LOGGER_NAME)


class NotificationFailedError(Exception):
    """Raised for a failed raw (non-SQS) notification so Lambda's async retry / DLQ takes it."""


class MalformedError(Exception):
    """A notification that can never succeed; the message is the reason (no payload values)."""


class CallFailedError(Exception):
    """An AWS call that did not succeed within the retry budget, or failed permanently."""

    def __init__(self, code: str, reason: str, attempts: int) -> None:
        super().__init__(f"{code}: {reason}")
        self.code = code
        self.reason = reason
        self.attempts = attempts


class _FailedEntryError(Exception):
    """PutEvents accepted the request but rejected the entry; retried like a 5xx."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


@dataclass(frozen=True)
class Outcome:
    kind: OutcomeKind
    reason: str


@dataclass(frozen=True)
class Settings:
    voice_profile_domain_id: str | None
    call_leg: CallLeg | None  # None when CALL_LEG is invalid
    start_error: str | None  # why AnalyticsReady cannot be handled with this configuration
    voice_connector_ids: frozenset[str]
    event_bus_name: str
    search_id: str | None

    @classmethod
    def from_env(cls) -> Settings:
        domain = os.environ.get("VOICE_PROFILE_DOMAIN_ID", "").strip() or None
        raw_leg = os.environ.get("CALL_LEG", "")
        call_leg = next((leg for leg in CALL_LEGS if leg == raw_leg), None)
        errors = []
        if call_leg is None:
            errors.append(f"CALL_LEG={raw_leg[:64]!r} is invalid; allowed values: {', '.join(CALL_LEGS)}")
        if domain is None:
            errors.append("VOICE_PROFILE_DOMAIN_ID is not set")
        ids = frozenset(i.strip() for i in os.environ.get("VOICE_CONNECTOR_IDS", "").split(",") if i.strip())
        return cls(
            voice_profile_domain_id=domain,
            call_leg=call_leg,
            start_error="; ".join(errors) or None,
            voice_connector_ids=ids,
            event_bus_name=os.environ.get("EVENT_BUS_NAME", "").strip() or "default",
            search_id=os.environ.get("SEARCH_ID") or None,
        )

    def serves(self, voice_connector_id: str) -> bool:
        return not self.voice_connector_ids or voice_connector_id in self.voice_connector_ids


@dataclass(frozen=True)
class Deadline:
    """Clock value by which every AWS attempt must have finished (Lambda deadline minus margin)."""

    at: float

    @classmethod
    def from_context(cls, context: Any) -> Deadline:
        remaining_ms = getattr(context, "get_remaining_time_in_millis", None)
        if callable(remaining_ms):
            return cls(_clock() + float(remaining_ms()) / 1000.0 - SAFETY_MARGIN_S)
        return cls(_clock() + NO_CONTEXT_BUDGET_S)

    def remaining(self) -> float:
        return self.at - _clock()


# ---------------------------------------------------------------------------------------------
# Cached per container: settings and clients. Lazy, so importing the module never touches AWS.

_settings: Settings | None = None
_chime_client: ChimeSDKVoiceClient | None = None
_events_client: EventBridgeClient | None = None


def _apply_log_level() -> None:
    level = os.environ.get("LOG_LEVEL", "INFO").upper()
    logger.setLevel(level if level in logging.getLevelNamesMapping() else logging.INFO)


def _reset_for_tests() -> None:
    """Forget cached settings and clients so the next call rereads the environment."""
    global _settings, _chime_client, _events_client  # noqa: PLW0603
    _settings = None
    _chime_client = None
    _events_client = None
    _apply_log_level()


def _get_settings() -> Settings:
    global _settings  # noqa: PLW0603
    if _settings is None:
        _settings = Settings.from_env()
    return _settings


def _client_config() -> Config:
    # total_max_attempts=1: botocore must not retry, because its standard/adaptive modes skip 429
    # and would multiply our own retries. Endpoints come from the AWS_ENDPOINT_URL_* variables.
    return Config(
        retries={"total_max_attempts": 1},
        connect_timeout=CONNECT_TIMEOUT_S,
        read_timeout=READ_TIMEOUT_S,
        user_agent_extra=USER_AGENT_EXTRA,
    )


def _chime() -> ChimeSDKVoiceClient:
    global _chime_client  # noqa: PLW0603
    if _chime_client is None:
        _chime_client = boto3.client("chime-sdk-voice", config=_client_config())
    return _chime_client


def _events() -> EventBridgeClient:
    global _events_client  # noqa: PLW0603
    if _events_client is None:
        _events_client = boto3.client("events", config=_client_config())
    return _events_client


_apply_log_level()

# ---------------------------------------------------------------------------------------------
# Entry point


def handler(event: Any, context: Any) -> dict[str, Any]:
    """Lambda entry point; see the module docstring for shapes and the failure policy."""
    settings = _get_settings()
    deadline = Deadline.from_context(context)
    if _is_sqs_batch(event):
        failures = []
        counts: dict[str, int] = {}
        for record in event["Records"]:
            message_id = record["messageId"]
            fields = {"messageId": message_id, "searchId": settings.search_id}
            outcome = _process(record.get("body"), settings, deadline, fields)
            counts[outcome.kind] = counts.get(outcome.kind, 0) + 1
            if outcome.kind == "failed":
                failures.append({"itemIdentifier": message_id})
        logger.info("batch_processed", extra={"records": len(event["Records"]), **counts})
        return {"batchItemFailures": failures}
    outcome = _process(event, settings, deadline, {"searchId": settings.search_id})
    if outcome.kind == "failed":
        raise NotificationFailedError(outcome.reason)
    return {"outcome": outcome.kind, "reason": outcome.reason}


def _is_sqs_batch(event: Any) -> bool:
    records = event.get("Records") if isinstance(event, dict) else None
    return (
        isinstance(records, list)
        and "detail-type" not in event
        and all(isinstance(r, dict) and isinstance(r.get("messageId"), str) for r in records)
    )


def _process(body: Any, settings: Settings, deadline: Deadline, fields: dict[str, Any]) -> Outcome:
    """Handle one notification (an SQS body or a raw event); never raises."""
    try:
        notification = unwrap(body)
        return _dispatch(notification, settings, deadline, fields)
    except MalformedError as exc:
        logger.warning("notification_rejected", extra={**fields, "reason": str(exc)})
        return Outcome("failed", str(exc))
    except Exception as exc:  # a bug must fail one record, not the batch
        # Frames only: an exception message may quote payload values (phone numbers, SIP headers).
        reason = f"unexpected error: {type(exc).__name__}"
        stack = "".join(traceback.format_tb(exc.__traceback__))
        logger.error("notification_failed", extra={**fields, "reason": reason, "stack": stack})
        return Outcome("failed", reason)


# ---------------------------------------------------------------------------------------------
# Parsing


def unwrap(value: Any) -> dict[str, Any]:
    """Return the notification inside JSON strings, SNS envelopes and one-entry Records wrappers."""
    for _ in range(MAX_UNWRAP_STEPS):
        if isinstance(value, str | bytes):
            try:
                value = json.loads(value)
            except ValueError:
                raise MalformedError("body is not valid JSON") from None
        elif not isinstance(value, dict):
            raise MalformedError(f"JSON {_json_type(value)} is not a notification object")
        elif "detail-type" in value:
            return value
        elif value.get("Type") == "Notification" and "Message" in value:
            value = value["Message"]
        elif isinstance(value.get("Records"), list):
            if len(value["Records"]) != 1:
                raise MalformedError(
                    f"Records wrapper holds {len(value['Records'])} entries; exactly 1 is supported"
                )
            value = value["Records"][0]
        else:
            raise MalformedError("object has no detail-type and is not a known wrapper")
    raise MalformedError(f"still wrapped after {MAX_UNWRAP_STEPS} unwrapping steps")


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, list):
        return "array"
    return type(value).__name__


def _valid_id(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip()) and len(value) <= MAX_ID_LENGTH


def _require_id(detail: dict[str, Any], key: str) -> str:
    value = detail.get(key)
    if value is None:
        raise MalformedError(f"detail.{key} is missing")
    if not isinstance(value, str):
        raise MalformedError(f"detail.{key} must be a string, got {_json_type(value)}")
    if not value.strip():
        raise MalformedError(f"detail.{key} is empty")
    if len(value) > MAX_ID_LENGTH:
        raise MalformedError(f"detail.{key} is longer than {MAX_ID_LENGTH} characters ({len(value)})")
    return value


def _optional_id(detail: dict[str, Any], key: str) -> str | None:
    return None if detail.get(key) is None else _require_id(detail, key)


def _loggable_ids(notification: dict[str, Any], detail: Any) -> dict[str, Any]:
    """The IDs worth logging (never callId or other PII).

    A value is logged only if it looks like an ID: a malformed notification could carry a phone
    number or SIP URI ('+', '@', '<') in an ID field, and that must not reach the logs.
    """
    candidates = {"notificationId": notification.get("id"), "detailType": notification.get("detail-type")}
    if isinstance(detail, dict):
        for key in ("detailStatus", "voiceConnectorId", "transactionId", "taskId"):
            candidates[key] = detail.get(key)
    return {k: v for k, v in candidates.items() if isinstance(v, str) and LOGGABLE_ID.fullmatch(v)}


# ---------------------------------------------------------------------------------------------
# Dispatch


def _dispatch(
    notification: dict[str, Any], settings: Settings, deadline: Deadline, fields: dict[str, Any]
) -> Outcome:
    detail = notification.get("detail")
    fields = {**fields, **_loggable_ids(notification, detail)}
    detail_type = notification.get("detail-type")
    if not isinstance(detail_type, str):
        raise MalformedError(f"detail-type must be a string, got {_json_type(detail_type)}")
    if not isinstance(detail, dict):
        raise MalformedError(f"detail must be an object, got {_json_type(detail)}")
    status = detail.get("detailStatus")

    if detail_type == "VoiceToneAnalysisStatus":
        return _skip(fields, "voice tone analysis notifications are not handled", logging.DEBUG)
    if detail_type not in ("VoiceAnalyticsStatus", "SpeakerSearchStatus"):
        return _skip(fields, "unknown detail-type", logging.WARNING)
    if not isinstance(status, str) or not status:
        raise MalformedError(f"detail.detailStatus must be a non-empty string, got {_json_type(status)}")

    if detail_type == "VoiceAnalyticsStatus":
        if status != ANALYTICS_READY:
            return _skip(
                fields, "VoiceAnalyticsStatus other than AnalyticsReady needs no action", logging.DEBUG
            )
        voice_connector_id = _require_id(detail, "voiceConnectorId")
        if not settings.serves(voice_connector_id):
            return _skip(fields, NOT_SERVED, logging.DEBUG)
        transaction_id = _require_id(detail, "transactionId")
        return _start_search(voice_connector_id, transaction_id, settings, deadline, fields)

    if status not in RESULT_STATUSES:
        return _skip(fields, "unknown SpeakerSearchStatus detailStatus", logging.WARNING)
    result_connector_id = _optional_id(detail, "voiceConnectorId")
    if result_connector_id is not None and not settings.serves(result_connector_id):
        return _skip(fields, NOT_SERVED, logging.DEBUG)
    return _publish_result(build_result(notification, detail, settings), settings, deadline, fields)


def _skip(fields: dict[str, Any], reason: str, level: int) -> Outcome:
    logger.log(level, "notification_skipped", extra={**fields, "reason": reason})
    return Outcome("skipped", reason)


# ---------------------------------------------------------------------------------------------
# AnalyticsReady -> StartSpeakerSearchTask


def client_request_token(voice_connector_id: str, transaction_id: str, call_leg: str) -> str:
    """Deterministic idempotency token: 64 hex chars, within the API's 2-64 ``[-_a-zA-Z0-9]``.

    boto3 does not fill this token in for chime-sdk-voice, and a SIP Call-ID is not a valid
    token. The same call and leg always give the same token, so a redelivery or retry cannot
    start a second task.
    """
    material = f"{voice_connector_id}|{transaction_id}|{call_leg}|speaker-search"
    return hashlib.sha256(material.encode("utf-8")).hexdigest()[:64]


def _start_search(
    voice_connector_id: str,
    transaction_id: str,
    settings: Settings,
    deadline: Deadline,
    fields: dict[str, Any],
) -> Outcome:
    if settings.start_error is not None or settings.call_leg is None or not settings.voice_profile_domain_id:
        reason = f"invalid configuration: {settings.start_error}"
        logger.error("speaker_search_start_failed", extra={**fields, "reason": reason, "attempts": 0})
        return Outcome("failed", reason)
    call_leg, domain_id = settings.call_leg, settings.voice_profile_domain_id
    fields = {**fields, "callLeg": call_leg}
    token = client_request_token(voice_connector_id, transaction_id, call_leg)
    try:
        response, attempts = call_with_retries(
            lambda: _chime().start_speaker_search_task(
                VoiceConnectorId=voice_connector_id,
                TransactionId=transaction_id,
                VoiceProfileDomainId=domain_id,
                CallLeg=call_leg,
                ClientRequestToken=token,
            ),
            deadline,
        )
    except CallFailedError as exc:
        if exc.code == "ConflictException":  # same token already running: a duplicate delivery
            logger.info(
                "speaker_search_started", extra={**fields, "duplicate": True, "attempts": exc.attempts}
            )
            return Outcome("started", "task already running")
        logger.error(
            "speaker_search_start_failed",
            extra={**fields, "errorCode": exc.code, "reason": exc.reason, "attempts": exc.attempts},
        )
        return Outcome("failed", f"{exc.code}: {exc.reason}")
    task_id = response.get("SpeakerSearchTask", {}).get("SpeakerSearchTaskId")
    logger.info(
        "speaker_search_started",
        extra={**fields, "taskId": task_id, "duplicate": False, "attempts": attempts},
    )
    return Outcome("started", "task started")


# ---------------------------------------------------------------------------------------------
# SpeakerSearchStatus -> "Speaker Search Result" event


def build_result(notification: dict[str, Any], detail: dict[str, Any], settings: Settings) -> dict[str, Any]:
    """The normalised result event detail (schema in the module docstring). Raises MalformedError."""
    task_id = _require_id(detail, "taskId")
    matches, dropped = _parse_matches(detail)
    if dropped:
        logger.warning(
            "matches_dropped",
            extra={**_loggable_ids(notification, detail), "dropped": dropped, "kept": len(matches)},
        )
    is_caller = detail.get("isCaller")
    call_leg: CallLeg | None = settings.call_leg
    if isinstance(is_caller, bool):
        call_leg = "Caller" if is_caller else "Callee"
    notification_id, notification_time = notification.get("id"), notification.get("time")
    return {
        "searchId": settings.search_id,
        "voiceConnectorId": _optional_id(detail, "voiceConnectorId"),
        "transactionId": _optional_id(detail, "transactionId"),
        "callLeg": call_leg,
        "taskId": task_id,
        "status": RESULT_STATUSES[detail["detailStatus"]],
        "matches": matches,
        "bestMatch": matches[0] if matches else None,
        "voiceProfileDomainId": settings.voice_profile_domain_id,
        "notificationId": notification_id if isinstance(notification_id, str) else None,
        "notificationTime": notification_time if isinstance(notification_time, str) else None,
    }


def _parse_matches(detail: dict[str, Any]) -> tuple[list[dict[str, Any]], int]:
    """Matches ranked by score (highest first) and the number of unusable entries dropped."""
    details = detail.get("speakerSearchDetails")
    if details is None:
        return [], 0
    if not isinstance(details, dict):
        raise MalformedError(f"detail.speakerSearchDetails must be an object, got {_json_type(details)}")
    results = details.get("results")
    if results is None:
        return [], 0
    if not isinstance(results, list):
        raise MalformedError(
            f"detail.speakerSearchDetails.results must be an array, got {_json_type(results)}"
        )
    scored: list[tuple[float, str]] = []
    for entry in results:
        if not isinstance(entry, dict):
            continue
        profile_id, score = entry.get("voiceProfileId"), _parse_score(entry.get("confidenceScore"))
        if isinstance(profile_id, str) and _valid_id(profile_id) and score is not None:
            scored.append((score, profile_id))
    scored.sort(key=lambda pair: -pair[0])  # stable: ties keep AWS's order
    matches = [{"voiceProfileId": profile_id, "confidenceScore": score} for score, profile_id in scored]
    return matches, len(results) - len(matches)


def _parse_score(value: Any) -> float | None:
    """A finite float from a number or numeric string (the docs show strings, the API floats)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        score = float(value)
    elif isinstance(value, str):
        try:
            score = float(value.strip())
        except ValueError:
            return None
    else:
        return None
    return score if math.isfinite(score) else None


def _publish_result(
    result: dict[str, Any], settings: Settings, deadline: Deadline, fields: dict[str, Any]
) -> Outcome:
    fields = {**fields, "status": result["status"], "matchCount": len(result["matches"])}
    entry: PutEventsRequestEntryTypeDef = {
        "Source": RESULT_SOURCE,
        "DetailType": RESULT_DETAIL_TYPE,
        "Detail": json.dumps(result, separators=(",", ":")),
        "EventBusName": settings.event_bus_name,
    }

    def put() -> None:
        response = _events().put_events(Entries=[entry])
        if response.get("FailedEntryCount", 0):
            entries = response.get("Entries") or [{}]
            raise _FailedEntryError(str(entries[0].get("ErrorCode") or "FailedEntry"))

    try:
        _, attempts = call_with_retries(put, deadline)
    except CallFailedError as exc:
        logger.error(
            "speaker_search_result_publish_failed",
            extra={**fields, "errorCode": exc.code, "reason": exc.reason, "attempts": exc.attempts},
        )
        return Outcome("failed", f"{exc.code}: {exc.reason}")
    logger.info("speaker_search_result_published", extra={**fields, "attempts": attempts})
    return Outcome("published", "result published")


# ---------------------------------------------------------------------------------------------
# Retries


def _classify(exc: Exception) -> tuple[str, bool]:
    """(error code, retryable?) for an exception raised by one AWS attempt."""
    if isinstance(exc, botocore.exceptions.ClientError):
        code = str(exc.response.get("Error", {}).get("Code") or "Unknown")
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
        return code, code in RETRYABLE_CODES or status == 429 or status >= 500
    if isinstance(exc, _FailedEntryError):
        return exc.code, True
    return type(exc).__name__, isinstance(exc, RETRYABLE_NETWORK_ERRORS)


def call_with_retries(call: Callable[[], T], deadline: Deadline) -> tuple[T, int]:
    """Run ``call`` until it succeeds; return (result, attempts) or raise CallFailedError.

    Retries throttling, 5xx and network errors with exponential backoff and full jitter, at most
    ``MAX_ATTEMPTS`` times, and never starts an attempt that could run past ``deadline`` (each
    attempt may take up to the connect plus read timeout). The caller's closure reuses the same
    request (and so the same ClientRequestToken) on every attempt.
    """
    attempt_cost = CONNECT_TIMEOUT_S + READ_TIMEOUT_S
    attempts = 0
    while True:
        if deadline.remaining() < attempt_cost:
            raise CallFailedError(
                "DeadlineExceeded", "not enough time left before the Lambda deadline", attempts
            )
        attempts += 1
        try:
            return call(), attempts
        except Exception as exc:
            code, retryable = _classify(exc)
            if not retryable:
                raise CallFailedError(code, "not retryable", attempts) from None
            if attempts >= MAX_ATTEMPTS:
                raise CallFailedError(code, f"still failing after {attempts} attempts", attempts) from None
            delay = _rng.uniform(0.0, min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2 ** (attempts - 1)))
            if deadline.remaining() - delay < attempt_cost:
                raise CallFailedError(
                    code, f"retry budget exhausted (Lambda deadline) after {attempts} attempts", attempts
                ) from None
            logger.debug("aws_call_retrying", extra={"errorCode": code, "attempts": attempts, "delay": delay})
            _sleep(delay)
