"""Media insights pipeline failures, as the construct's health rule delivers them to the queue.

The pipeline publishes ``Media Insights State Change`` events on the account's default bus only.
The construct's rule matches, for its own connectors, the failure event types and the element
failures of a pipeline of several elements (``chime:MediaInsightsInProgress`` with an element whose
``status`` is ``Failed``; Chime SDK developer guide, "Using Amazon EventBridge notifications"), and
puts a reduced copy on the notification queue (an input transformer keeps only the fields in
``PIPELINE_EVENT_FIELDS``; phone numbers and call IDs never reach the queue). Here each one becomes
one ``pipeline_failure`` WARNING log line with its kind, the failure reason and the failed elements
(each element's ``type`` and ``status`` only), so the operator who sees the pipeline-failures alarm
finds what failed and why.

Kinds (the ``Status`` dimension of the ``PipelineFailures`` metric): ``CreateFailed``,
``PermanentFailure``, ``ElementFailure`` and ``TemporaryFailure``. The first three also count in
``PipelineFailuresNeedingAction``, which the construct's alarm watches; a temporary failure is one
AWS retries by itself ("no action is required"), so it is logged and counted, never alarmed on.
Nothing is retried: the call is already past helping, and the record is done once logged.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any

import metrics
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
#: The kind of failure each failure event type is (the ``Status`` of ``PIPELINE_FAILURES``).
FAILURE_KINDS = {
    "chime:MediaInsightsCreateFailed": "CreateFailed",
    "chime:MediaInsightsPermanentFailure": "PermanentFailure",
    "chime:MediaInsightsTemporaryFailure": "TemporaryFailure",
}
#: An element of a multi-element pipeline failed while the pipeline goes on.
ELEMENT_FAILURE_EVENT_TYPE = "chime:MediaInsightsInProgress"
ELEMENT_FAILURE_KIND = "ElementFailure"
FAILED_ELEMENT_STATUS = "Failed"
#: Kinds that need action from the operator: they count in ``PIPELINE_FAILURES_NEEDING_ACTION`` too.
KINDS_NEEDING_ACTION = frozenset({"CreateFailed", "PermanentFailure", ELEMENT_FAILURE_KIND})
# EMF metric names (the construct's monitoring.py spells them the same; a test checks that it does).
PIPELINE_FAILURES = "PipelineFailures"
PIPELINE_FAILURES_NEEDING_ACTION = "PipelineFailuresNeedingAction"
#: At most this many failed elements are logged (a pipeline has one element per type, nine types).
MAX_FAILED_ELEMENTS = 9
_ELEMENT_WORD = re.compile(r"[A-Za-z]{1,64}")
MAX_REASON_LENGTH = 256
# A failure reason is free text from AWS: every spelling of a phone number is masked before it is
# logged (masking.py says which, and what is kept).
_SHORT_TEXT = re.compile(r"[A-Za-z0-9 _.:-]{1,64}")


def on_pipeline_state_change(detail: dict[str, Any], settings: Settings, fields: dict[str, Any]) -> Outcome:
    event_type = detail.get("eventType")
    elements = failed_elements(detail.get("mediaInsightsPipelineElementStatuses"))
    kind = failure_kind(event_type, elements)
    if kind is None:
        return skip(fields, "pipeline state change is not a failure", logging.DEBUG)
    voice_connector_id = detail.get("voiceConnectorId")
    if isinstance(voice_connector_id, str) and voice_connector_id and not settings.serves(voice_connector_id):
        return skip(fields, NOT_SERVED, logging.DEBUG)
    logger.warning(
        "pipeline_failure",
        extra={
            **fields,
            "eventType": event_type,
            "kind": kind,
            "failureReason": safe_reason(detail.get("failureReason")),
            "failureOrigin": _short(detail.get("failureOrigin")),
            "httpStatusCode": _short(detail.get("httpStatusCode")),
            "failedElements": elements,
        },
    )
    metrics.count(PIPELINE_FAILURES, status=kind)
    if kind in KINDS_NEEDING_ACTION:
        metrics.count(PIPELINE_FAILURES_NEEDING_ACTION)
    return Outcome("skipped", f"pipeline failure logged: {event_type}")


def failure_kind(event_type: Any, elements: list[dict[str, str]]) -> str | None:
    """The kind of failure an event is, or None when it is none: a failure event type, or an element
    failure (an ``InProgress`` event that lists an element whose status is ``Failed``)."""
    if isinstance(event_type, str) and event_type in FAILURE_KINDS:
        return FAILURE_KINDS[event_type]
    if event_type == ELEMENT_FAILURE_EVENT_TYPE and any(
        element["status"] == FAILED_ELEMENT_STATUS for element in elements
    ):
        return ELEMENT_FAILURE_KIND
    return None


def failed_elements(statuses: Any) -> list[dict[str, str]]:
    """The elements whose status says they failed (``Failed``, ``TemporarilyFailed``), as ``{"type",
    "status"}`` only; entries that are not an element's status (or the whole field missing, as the
    input transformer renders it: null or an empty string) are left out. The list may also arrive
    as a JSON string (an input transformer that quoted it), which is read the same."""
    if isinstance(statuses, str) and statuses.startswith("["):
        try:
            statuses = json.loads(statuses)
        except ValueError:
            return []
    if not isinstance(statuses, list):
        return []
    found = []
    for entry in statuses:
        if not isinstance(entry, dict):
            continue
        element_type, status = entry.get("type"), entry.get("status")
        if not isinstance(element_type, str) or not _ELEMENT_WORD.fullmatch(element_type):
            continue
        if isinstance(status, str) and _ELEMENT_WORD.fullmatch(status) and status.endswith("Failed"):
            found.append({"type": element_type, "status": status})
    return found[:MAX_FAILED_ELEMENTS]


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
