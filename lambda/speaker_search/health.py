"""Media insights pipeline failures, as the construct's health rule delivers them to the queue.

The pipeline publishes ``Media Insights State Change`` events on the account's default bus only.
The construct's rule matches the failure event types for its own connectors and puts a reduced
copy on the notification queue (an input transformer keeps only the fields in
``PIPELINE_EVENT_FIELDS``; phone numbers and call IDs never reach the queue). Here each one
becomes one ``pipeline_failure`` WARNING log line with the failure reason, so the operator who
sees the pipeline-failures alarm (the rule's ``TriggeredRules``) finds what failed and why.
Nothing is retried: the call is already past helping, and the record is done once logged.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from calls import NOT_SERVED
from masking import mask_phone_numbers
from outcomes import Outcome, logger, skip
from settings import Settings

PIPELINE_DETAIL_TYPE = "Media Insights State Change"
FAILURE_EVENT_TYPES = frozenset(
    {
        "chime:MediaInsightsCreateFailed",
        "chime:MediaInsightsTemporaryFailure",
        "chime:MediaInsightsPermanentFailure",
    }
)
MAX_REASON_LENGTH = 256
# A failure reason is free text from AWS: every spelling of a phone number is masked before it is
# logged (masking.py says which, and what is kept).
_SHORT_TEXT = re.compile(r"[A-Za-z0-9 _.:-]{1,64}")


def on_pipeline_state_change(detail: dict[str, Any], settings: Settings, fields: dict[str, Any]) -> Outcome:
    event_type = detail.get("eventType")
    if event_type not in FAILURE_EVENT_TYPES:
        return skip(fields, "pipeline state change is not a failure", logging.DEBUG)
    voice_connector_id = detail.get("voiceConnectorId")
    if isinstance(voice_connector_id, str) and voice_connector_id and not settings.serves(voice_connector_id):
        return skip(fields, NOT_SERVED, logging.DEBUG)
    logger.warning(
        "pipeline_failure",
        extra={
            **fields,
            "eventType": event_type,
            "failureReason": safe_reason(detail.get("failureReason")),
            "failureOrigin": _short(detail.get("failureOrigin")),
            "httpStatusCode": _short(detail.get("httpStatusCode")),
        },
    )
    return Outcome("skipped", f"pipeline failure logged: {event_type}")


def safe_reason(value: Any) -> str | None:
    """The failure reason, phone numbers masked, then shortened; None if there is none."""
    if not isinstance(value, str) or not value.strip():
        return None
    return mask_phone_numbers(value.strip())[:MAX_REASON_LENGTH]


def _short(value: Any) -> str | None:
    """A short plain value (an HTTP status, "Voice Connector"); anything else is not logged."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    return value if isinstance(value, str) and _SHORT_TEXT.fullmatch(value) else None
