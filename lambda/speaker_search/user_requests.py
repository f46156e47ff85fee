"""Requests (issue 10), delivered by the construct's rules into its queue: the router.

(Not called ``requests.py``: this folder is first on ``sys.path``, and that name would shadow the
well-known HTTP library for everything imported beside the handler.)

Requests are EventBridge events with ``source`` = ``REQUEST_SOURCE``; their ``detail`` names only
opaque IDs. Each must arrive in the request envelope that only the construct's rules add
(``notifications.REQUEST_ENVELOPE``, with EventBridge's ingestion time); a request without it is
refused (a logged skip, counted in ``InputsRefused`` with ``Status`` ``no-envelope``), whoever
put it on the queue or invoked the function. Each request ends as exactly one of: an outcome
event on the bus (and its log line), a documented skip with a logged reason, or a failure that
SQS redelivers (throttling, 5xx, a state table that cannot be reached). Malformed requests never
crash the batch.

* ``Speaker Search Consent`` (``REQUIRE_CONSENT=true``): ``consent.py``;
* ``Enroll`` / ``Update`` / ``Delete Voice Profile`` (``ENABLE_ENROLLMENT=true``, ``detail.searchId``
  = this construct's): ``profile_requests.py`` and ``enrollment.py``.
"""

from __future__ import annotations

import logging
from typing import Any

import aws_calls
import calls
import consent
import metrics
from notifications import Instant
from outcomes import Outcome, skip
from profile_requests import DELETE, ENROLL, UPDATE, VoiceProfileRequest
from settings import Settings

CONSENT = consent.CONSENT
REQUEST_DETAIL_TYPES = frozenset({CONSENT, ENROLL, UPDATE, DELETE})
#: ``Status`` of ``InputsRefused`` for a request that came without the request envelope.
NO_ENVELOPE = "no-envelope"


def on_request(
    notification: dict[str, Any],
    detail: dict[str, Any],
    settings: Settings,
    deadline: aws_calls.Deadline,
    fields: dict[str, Any],
    *,
    ingested_at: Instant | None,
) -> Outcome:
    """Serve one request; ``ingested_at`` is its envelope's time (None: it came without one)."""
    if ingested_at is None:
        # Only the construct's rules wrap requests in the envelope; anything else put it on the
        # queue (or invoked the function) itself, and is not trusted.
        metrics.count(metrics.INPUTS_REFUSED)
        metrics.count(metrics.INPUTS_REFUSED, status=NO_ENVELOPE)
        return skip(
            fields, "request without the construct's envelope (not sent by its rules)", logging.WARNING
        )
    if notification.get("source") != settings.request_source:
        return skip(fields, "request from an unexpected source", logging.WARNING)
    detail_type = notification["detail-type"]
    if detail_type == CONSENT:
        if not settings.require_consent:
            return skip(fields, "consent gate is off (REQUIRE_CONSENT is not true)", logging.WARNING)
        return consent.on_consent(notification, detail, settings, deadline, fields, ingested_at=ingested_at)
    if not settings.enable_enrollment:
        return skip(fields, "enrollment is off (ENABLE_ENROLLMENT is not true)", logging.WARNING)
    if detail.get("searchId") != settings.search_id:
        return skip(fields, "request for another SpeakerSearch (searchId)", logging.WARNING)
    if settings.state_table_name is None or settings.voice_profile_domain_id is None:
        return calls.configuration_failure(
            fields, "enrollment needs STATE_TABLE_NAME and VOICE_PROFILE_DOMAIN_ID"
        )
    return VoiceProfileRequest(
        notification, detail, settings, deadline, fields, ingested_at=ingested_at
    ).serve()
