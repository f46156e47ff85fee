"""Consent requests (``Speaker Search Consent``), served when ``REQUIRE_CONSENT=true``.

The latest decision per connector and transaction is stored (``consent_state.record_consent``).
``granted`` for a call whose AnalyticsReady has arrived starts it now; ``granted`` before
AnalyticsReady is remembered and the notification starts the call; ``declined`` stops tasks already
running. Each applied decision is published as ``Speaker Search Consent Recorded`` (the audit
trail), whose ``decidedAt`` is the request's EventBridge ingestion time in UTC (the order of
decisions; the event's own ``time`` is set by its producer and is not used). A malformed consent is
skipped with its reason logged.
"""

from __future__ import annotations

import logging
from typing import Any

import aws_calls
import calls
import consent_state
import metrics
import state
from notifications import Instant, MalformedError, json_type, loggable, optional_id, require_id
from outcomes import Outcome, logger, skip
from results import publish
from settings import Settings

CONSENT = "Speaker Search Consent"
CONSENT_RECORDED = "Speaker Search Consent Recorded"
CONSENT_VALUES = (state.GRANTED, state.DECLINED)
#: Why a decision was not applied: the stored one outranks it (consent_state's ranking).
OUTRANKED = "a later consent decision, or a decline with the same time, is already recorded"


def on_consent(
    notification: dict[str, Any],
    detail: dict[str, Any],
    settings: Settings,
    deadline: aws_calls.Deadline,
    fields: dict[str, Any],
    *,
    ingested_at: Instant,
) -> Outcome:
    """Record the decision (ordered by ``ingested_at``, the request's EventBridge ingestion time)."""
    try:
        voice_connector_id = require_id(detail, "voiceConnectorId")
        transaction_id = require_id(detail, "transactionId")
        consent = detail.get("consent")
        if consent not in CONSENT_VALUES:
            shown = repr(consent)[:40] if isinstance(consent, str) else json_type(consent)
            raise MalformedError(f"detail.consent must be 'granted' or 'declined', got {shown}")
        reference = optional_id(detail, "consentReference")
    except MalformedError as exc:
        return skip(fields, f"malformed consent: {exc}", logging.WARNING)
    if not settings.serves(voice_connector_id):
        return skip(fields, calls.NOT_SERVED, logging.INFO)
    if settings.state_table_name is None:
        return calls.configuration_failure(fields, "REQUIRE_CONSENT needs STATE_TABLE_NAME")
    decided_at = ingested_at.text
    fields = {**fields, "consent": consent, "consentReference": loggable(reference)}
    try:
        call, applied = consent_state.record_consent(
            settings.state_table_name,
            voice_connector_id,
            transaction_id,
            consent=consent,
            consent_reference=reference,
            decided_at=ingested_at,
            deadline=deadline,
        )
    except state.StateError as exc:
        logger.error("consent_state_failed", extra={**fields, "errorCode": exc.code})
        return Outcome("failed", f"state table: {exc.code}")
    if not applied:
        return skip(fields, OUTRANKED, logging.INFO)
    logger.info("consent_recorded", extra={**fields, "decidedAt": decided_at, "callReady": call.ready})
    metrics.count(metrics.CONSENT_GRANTED if consent == state.GRANTED else metrics.CONSENT_DECLINED)
    audit = {
        "searchId": settings.search_id,
        "requestId": request_id(notification),
        "voiceConnectorId": voice_connector_id,
        "transactionId": transaction_id,
        "consent": consent,
        "consentReference": reference,
        "decidedAt": decided_at,
    }
    published = publish(CONSENT_RECORDED, audit, settings, deadline, fields, log_prefix="consent_recorded")
    if published.failed:
        return published  # redelivered: recording the same decision again is a no-op
    if not call.ready:
        return Outcome("skipped", "consent recorded; the call starts when AnalyticsReady arrives")
    if consent == state.GRANTED:
        return calls.start_call(
            voice_connector_id,
            transaction_id,
            notification_time=None,
            settings=settings,
            deadline=deadline,
            fields=fields,
            after_consent=True,
        )
    metrics.count(metrics.CALLS_NOT_SEARCHED, status="declined")
    return calls.stop_call(
        voice_connector_id, transaction_id, settings=settings, deadline=deadline, fields=fields
    )


def request_id(notification: dict[str, Any]) -> str | None:
    value = notification.get("id")
    return value if isinstance(value, str) else None


# -- enrollment --------------------------------------------------------------------------------
