"""SpeakerSearchStatus -> one normalised ``Speaker Search Result`` event on EventBridge, and
VoiceToneAnalysisStatus -> one ``Voice Tone Analysis Result`` event.

Every published result is counted twice: once per ``SearchId`` (all results) and once per
``SearchId, Status`` (the dashboard's results by status). Under ``REQUIRE_CONSENT`` a result of a
call that is not granted is withheld instead (``consent_gate``, metric ``ResultsWithheld``).
"""

from __future__ import annotations

import json
import logging
import math
from typing import TYPE_CHECKING, Any

import aws_calls
import calls
import clients
import consent_gate
import metrics
import state
import task_index
import task_kinds
from calls import NOT_SERVED
from notifications import MalformedError, json_type, loggable_ids, optional_id, require_id, valid_id
from outcomes import Outcome, logger, skip
from settings import CallLeg, Settings

if TYPE_CHECKING:
    from mypy_boto3_events.type_defs import PutEventsRequestEntryTypeDef

RESULT_SOURCE = "chime-speaker-search"
RESULT_DETAIL_TYPE = "Speaker Search Result"
VOICE_TONE_DETAIL_TYPE = "Voice Tone Analysis Result"
#: VoiceToneAnalysisStatus statuses we publish: a result every ~5 s, a failure, and the final one.
VOICE_TONE_STATUSES = frozenset(
    {"VoiceToneAnalysisSuccessful", "VoiceToneAnalysisFailure", "VoiceToneAnalysisCompleted"}
)
#: The three scores of a voice tone, as published (the notification spells them the same).
VOICE_TONE_SCORES = ("positive", "negative", "neutral")
# SpeakerSearchStatus statuses we publish, mapped to the spelling we publish them with.
RESULT_STATUSES = {
    "IdentificationSuccessful": "IdentificationSuccessful",
    "IdentificationNoMatchesFound": "IdentificationNoMatchesFound",
    "IdentificationFailure": "IdentificationFailure",
    "VoiceprintGenerationSuccessful": "VoiceprintGenerationSuccessful",
    "VoiceprintGenerationSuccess": "VoiceprintGenerationSuccessful",
    "VoiceprintGenerationFailure": "VoiceprintGenerationFailure",
}
#: Published voiceprint statuses -> what the task index keeps (readiness for enrollment).
VOICEPRINT_STATUSES = {
    "VoiceprintGenerationSuccessful": task_index.VOICEPRINT_READY,
    "VoiceprintGenerationFailure": task_index.VOICEPRINT_FAILED,
}


def on_speaker_search_status(
    notification: dict[str, Any],
    detail: dict[str, Any],
    settings: Settings,
    deadline: aws_calls.Deadline,
    fields: dict[str, Any],
) -> Outcome:
    status = detail["detailStatus"]
    if status not in RESULT_STATUSES:
        return skip(fields, "unknown SpeakerSearchStatus detailStatus", logging.WARNING)
    result_connector_id = optional_id(detail, "voiceConnectorId")
    if result_connector_id is not None and not settings.serves(result_connector_id):
        return skip(fields, NOT_SERVED, logging.DEBUG)
    result = build_result(notification, detail, settings)
    fields = {**fields, "status": result["status"], "matchCount": len(result["matches"])}
    return _record_and_publish(
        task_kinds.SPEAKER_SEARCH,
        result,
        call_leg=result["callLeg"],
        settings=settings,
        deadline=deadline,
        fields=fields,
    )


def on_voice_tone_status(
    notification: dict[str, Any],
    detail: dict[str, Any],
    settings: Settings,
    deadline: aws_calls.Deadline,
    fields: dict[str, Any],
) -> Outcome:
    if not settings.voice_tone_analysis:  # late notifications after voice tone was turned off
        return skip(fields, "voice tone analysis is not enabled", logging.DEBUG)
    if detail["detailStatus"] not in VOICE_TONE_STATUSES:
        return skip(fields, "unknown VoiceToneAnalysisStatus detailStatus", logging.WARNING)
    result_connector_id = optional_id(detail, "voiceConnectorId")
    if result_connector_id is not None and not settings.serves(result_connector_id):
        return skip(fields, NOT_SERVED, logging.DEBUG)
    result = build_voice_tone_result(notification, detail, settings)
    fields = {**fields, "status": result["status"]}
    # The voice tone task has no leg.
    return _record_and_publish(
        task_kinds.VOICE_TONE, result, call_leg=None, settings=settings, deadline=deadline, fields=fields
    )


#: Per task kind: the published detail-type, the results metric and the log message prefix.
_RESULT_KINDS = {
    task_kinds.SPEAKER_SEARCH.name: (
        RESULT_DETAIL_TYPE,
        metrics.SPEAKER_SEARCH_RESULTS,
        "speaker_search_result",
    ),
    task_kinds.VOICE_TONE.name: (VOICE_TONE_DETAIL_TYPE, metrics.VOICE_TONE_RESULTS, "voice_tone_result"),
}


def _record_and_publish(
    kind: task_kinds.TaskKind,
    result: dict[str, Any],
    *,
    call_leg: str | None,
    settings: Settings,
    deadline: aws_calls.Deadline,
    fields: dict[str, Any],
) -> Outcome:
    """Record the status as evidence that the call's task exists (it settles a limit error after a
    lost start response, and indexes the task), then publish the result event, unless the consent
    gate withholds it (``consent_gate``), and count it, in total and by status."""
    detail_type, metric, log_prefix = _RESULT_KINDS[kind.name]
    table = settings.state_table_name
    try:
        calls.note_task_seen(
            kind,
            result["voiceConnectorId"],
            result["transactionId"],
            call_leg,
            result["taskId"],
            settings=settings,
            deadline=deadline,
        )
        voiceprint = VOICEPRINT_STATUSES.get(result["status"]) if kind is task_kinds.SPEAKER_SEARCH else None
        if voiceprint is not None and table is not None and settings.enable_enrollment:
            task_index.note_voiceprint(table, result["taskId"], voiceprint, deadline)
        withheld = None
        if settings.require_consent:
            if table is None:
                return calls.configuration_failure(fields, "REQUIRE_CONSENT needs STATE_TABLE_NAME")
            withheld = consent_gate.withheld(result, table, deadline)
    except state.StateError as exc:
        if settings.require_consent or settings.enable_enrollment:  # the index and the gate need it
            logger.error("result_state_failed", extra={**fields, "errorCode": exc.code})
            return Outcome("failed", f"state table: {exc.code}")
        logger.warning("start_state_unavailable", extra={**fields, "errorCode": exc.code})
        withheld = None
    if withheld is not None:
        level = logging.WARNING if withheld == consent_gate.CALL_UNKNOWN else logging.INFO
        logger.log(level, "result_withheld", extra={**fields, "withheld": withheld})
        metrics.count(metrics.RESULTS_WITHHELD)
        metrics.count(metrics.RESULTS_WITHHELD, status=withheld)
        return Outcome("skipped", f"result withheld: {withheld}")
    outcome = publish(detail_type, result, settings, deadline, fields, log_prefix=log_prefix)
    if outcome.kind == "published":
        metrics.count(metric)
        metrics.count(metric, status=result["status"])
    return outcome


def build_voice_tone_result(
    notification: dict[str, Any], detail: dict[str, Any], settings: Settings
) -> dict[str, Any]:
    """The ``Voice Tone Analysis Result`` detail. Raises MalformedError.

    ``callLeg`` comes only from ``isCaller``: StartVoiceToneAnalysisTask takes no leg, so the
    configured ``CALL_LEG`` says nothing about which voice a tone belongs to. A tone that is
    missing or unusable is null; a score that is missing or not a number is null.
    """
    task_id = require_id(detail, "taskId")
    tones = detail.get("voiceToneAnalysisDetails")
    if tones is not None and not isinstance(tones, dict):
        raise MalformedError(f"detail.voiceToneAnalysisDetails must be an object, got {json_type(tones)}")
    tones = tones or {}
    is_caller = detail.get("isCaller")
    notification_id, notification_time = notification.get("id"), notification.get("time")
    return {
        "searchId": settings.search_id,
        "voiceConnectorId": optional_id(detail, "voiceConnectorId"),
        "transactionId": optional_id(detail, "transactionId"),
        "callLeg": ("Caller" if is_caller else "Callee") if isinstance(is_caller, bool) else None,
        "taskId": task_id,
        "status": detail["detailStatus"],
        "current": _voice_tone(tones.get("currentAverageVoiceTone")),
        "overall": _voice_tone(tones.get("overallAverageVoiceTone")),
        "notificationId": notification_id if isinstance(notification_id, str) else None,
        "notificationTime": notification_time if isinstance(notification_time, str) else None,
    }


def _voice_tone(value: Any) -> dict[str, Any] | None:
    """``{label, scores: {positive, negative, neutral}, startTime, endTime}``, or None if absent.

    AWS's examples quote the scores (``"0.83"``); the numbers are published as numbers.
    """
    if not isinstance(value, dict):
        return None
    raw_scores = value.get("voiceToneScore")
    raw_scores = raw_scores if isinstance(raw_scores, dict) else {}
    return {
        "label": _text(value.get("voiceToneLabel")),
        "scores": {name: parse_score(raw_scores.get(name)) for name in VOICE_TONE_SCORES},
        "startTime": _text(value.get("startTime")),
        "endTime": _text(value.get("endTime")),
    }


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value.strip() else None


def build_result(notification: dict[str, Any], detail: dict[str, Any], settings: Settings) -> dict[str, Any]:
    """The normalised result event detail (schema in index.py's docstring). Raises MalformedError."""
    task_id = require_id(detail, "taskId")
    matches, dropped = _parse_matches(detail)
    if dropped:
        logger.warning(
            "matches_dropped",
            extra={**loggable_ids(notification, detail), "dropped": dropped, "kept": len(matches)},
        )
    notification_id, notification_time = notification.get("id"), notification.get("time")
    return {
        "searchId": settings.search_id,
        "voiceConnectorId": optional_id(detail, "voiceConnectorId"),
        "transactionId": optional_id(detail, "transactionId"),
        "callLeg": call_leg_of(detail, settings),
        "taskId": task_id,
        "status": RESULT_STATUSES[detail["detailStatus"]],
        "matches": matches,
        "bestMatch": matches[0] if matches else None,
        "voiceProfileDomainId": settings.voice_profile_domain_id,
        "notificationId": notification_id if isinstance(notification_id, str) else None,
        "notificationTime": notification_time if isinstance(notification_time, str) else None,
    }


def call_leg_of(detail: dict[str, Any], settings: Settings) -> CallLeg | None:
    """``isCaller`` when the notification has it, else the configured leg."""
    is_caller = detail.get("isCaller")
    if isinstance(is_caller, bool):
        return "Caller" if is_caller else "Callee"
    return settings.call_leg


def _parse_matches(detail: dict[str, Any]) -> tuple[list[dict[str, Any]], int]:
    """Matches ranked by score (highest first) and the number of unusable entries dropped."""
    details = detail.get("speakerSearchDetails")
    if details is None:
        return [], 0
    if not isinstance(details, dict):
        raise MalformedError(f"detail.speakerSearchDetails must be an object, got {json_type(details)}")
    results = details.get("results")
    if results is None:
        return [], 0
    if not isinstance(results, list):
        raise MalformedError(
            f"detail.speakerSearchDetails.results must be an array, got {json_type(results)}"
        )
    scored: list[tuple[float, str]] = []
    for entry in results:
        if not isinstance(entry, dict):
            continue
        profile_id, score = entry.get("voiceProfileId"), parse_score(entry.get("confidenceScore"))
        if isinstance(profile_id, str) and valid_id(profile_id) and score is not None:
            scored.append((score, profile_id))
    scored.sort(key=lambda pair: -pair[0])  # stable: ties keep AWS's order
    matches = [{"voiceProfileId": profile_id, "confidenceScore": score} for score, profile_id in scored]
    return matches, len(results) - len(matches)


def parse_score(value: Any) -> float | None:
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


def publish(
    detail_type: str,
    detail: dict[str, Any],
    settings: Settings,
    deadline: aws_calls.Deadline,
    fields: dict[str, Any],
    *,
    log_prefix: str,
) -> Outcome:
    """Put one event on the configured bus; logs ``<log_prefix>_published`` or ``_publish_failed``."""
    entry: PutEventsRequestEntryTypeDef = {
        "Source": RESULT_SOURCE,
        "DetailType": detail_type,
        "Detail": json.dumps(detail, separators=(",", ":")),
        "EventBusName": settings.event_bus_name,
    }

    def put() -> None:
        response = clients.events().put_events(Entries=[entry])
        if response.get("FailedEntryCount", 0):
            entries = response.get("Entries") or [{}]
            raise aws_calls.FailedEntryError(str(entries[0].get("ErrorCode") or "FailedEntry"))

    try:
        _, attempts = aws_calls.call(
            put, deadline=deadline, policy=clients.retry_policy(), operation="PutEvents"
        )
    except aws_calls.AwsCallError as exc:
        logger.error(
            f"{log_prefix}_publish_failed",
            extra={**fields, "errorCode": exc.code, "reason": exc.reason, "attempts": exc.attempts},
        )
        permanent = exc.kind is aws_calls.ErrorKind.PERMANENT  # e.g. AccessDenied, MalformedDetail
        return Outcome("failed", f"{exc.code}: {exc.reason}", dead_letter=permanent)
    logger.info(f"{log_prefix}_published", extra={**fields, "attempts": attempts})
    return Outcome("published", "result published")
