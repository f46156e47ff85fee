"""Speaker-search runtime: start a speaker search per call, publish each result to EventBridge.

The Voice Connector sends voice analytics notifications only to the media insights configuration's
sinks (here: an SQS queue with a DLQ, or a Lambda sink), never to EventBridge. This handler turns
them into work:

* ``VoiceAnalyticsStatus`` / ``AnalyticsReady`` -> ``chime-sdk-voice`` ``StartSpeakerSearchTask``
  with the configured call leg and a deterministic ``ClientRequestToken`` (see
  :func:`client_request_token`), so redeliveries and retries never start a second task.
* ``SpeakerSearchStatus`` -> one normalised ``Speaker Search Result`` event on EventBridge.
* With ``VOICE_TONE_ANALYSIS=true``, AnalyticsReady also starts ``StartVoiceToneAnalysisTask``
  (its own token, outcome and metrics), and each ``VoiceToneAnalysisStatus`` becomes one
  ``Voice Tone Analysis Result`` event (``results.build_voice_tone_result``).
* ``Media Insights State Change`` failures of the served connectors (delivered by the
  construct's health rule, without phone numbers) -> one ``pipeline_failure`` WARNING log line.

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
``VOICE_TONE_ANALYSIS`` (``true`` or anything else)
    Also start a voice tone analysis task for every call. Voice tone needs neither ``CALL_LEG``
    nor ``VOICE_PROFILE_DOMAIN_ID``, so a bad value of either fails only the speaker search start.
``STATE_TABLE_NAME``
    The DynamoDB state table (``state.py``): start records, consent and enrollment progress. Unset:
    starts work on their tokens alone, and consent and enrollment cannot run (with
    ``REQUIRE_CONSENT=true`` every AnalyticsReady then fails as a configuration error).
``DEAD_LETTER_QUEUE_URL``
    Where a permanently failed record is sent at once (``dead_letters.py``). Unset: it is
    redelivered like any failure until SQS moves it after ``maxReceiveCount``.
``REQUIRE_CONSENT`` / ``ENABLE_ENROLLMENT`` (``true`` or anything else)
    The consent gate and voice profile requests (``user_requests.py``); only ``true`` turns one on.
``REQUEST_SOURCE`` (default ``chime-speaker-search.requests``)
    The ``source`` a request event must carry.
``NOTIFICATION_QUEUE_ARN``, ``NOTIFICATION_QUEUE_URL``, ``NOTIFICATION_VISIBILITY_TIMEOUT_S``
    The queue that feeds the handler, and its visibility timeout in whole seconds. With the ARN
    set, only that queue's messages are processed (``perimeter.py``): a raw invocation is refused,
    a record of another ``eventSourceARN`` is refused, and the batch's receipt handles are checked
    with ``ChangeMessageVisibilityBatch`` (a forged one is dropped). Without the URL or a valid
    timeout the check cannot be made and every record fails unprocessed. The URL also lets a
    voice profile request that waits for its voiceprint come back sooner (``redelivery.py``).
    Unset: raw notifications are served (the Lambda-sink contract).
``LOG_LEVEL`` (default ``INFO``)
``CHIME_SPEAKER_SEARCH_VERSION``
    The library's version, set by the construct; ``aws_calls`` adds it to the AWS user agent.
``AWS_ENDPOINT_URL_<SERVICE>`` (for example ``AWS_ENDPOINT_URL_CHIME_SDK_VOICE``)
    Standard boto3 endpoint overrides; used by the tests, never needed in production.

Input shapes
------------
1. SQS batch (``{"Records": [{"messageId", "body", ...}]}``): returns
   ``{"batchItemFailures": [{"itemIdentifier": messageId}]}`` listing only the failed records
   (ReportBatchItemFailures). A per-record problem never raises. With ``NOTIFICATION_QUEUE_ARN``
   set, the records first pass the perimeter (``perimeter.py``).
2. One raw notification (Lambda sink): returns ``{"outcome": ..., "reason": ...}``; a failed
   notification raises :class:`NotificationFailedError`, so Lambda's async retries and its
   DLQ / on-failure destination take it. With ``NOTIFICATION_QUEUE_ARN`` set it is refused,
   unprocessed: ``{"outcome": "refused", "reason": ...}``.
3. Inside a body (or as the raw event) these wrappers are removed, in any combination, for at
   most ``MAX_UNWRAP_STEPS`` steps (each JSON decode or wrapper removal is one step): a JSON
   string (also double-encoded JSON), an SNS envelope (``{"Type": "Notification", "Message":
   "<json>"}``) and the ``{"Records": [...]}`` wrapper that the AWS docs show for SNS/SQS sinks.
   That wrapper must hold exactly one notification: a body is one SQS record and can only
   succeed or fail as a whole, so a multi-notification wrapper is rejected (-> DLQ) rather than
   half-processed and retried. A top-level ``Records`` list is an SQS batch only if every entry
   has a string ``messageId``; otherwise the event is treated as one raw (wrapped) notification.
4. Requests arrive in the request envelope the construct's rules add
   (``{"envelope": "chime-speaker-search/request", "ingestionTime", "event"}``, one more step);
   the envelope's EventBridge ingestion time orders consent decisions and bounds a voiceprint
   wait. A request detail-type without it is refused (a WARNING skip, ``InputsRefused``).

Failure policy ("nothing lost")
-------------------------------
Every notification ends as exactly one of: a started (or already running) task, a published
result, a documented skip, or a failure that is logged with its reason and, after the queue's
maxReceiveCount, sits in the DLQ.

* Malformed (not JSON, not an object, missing/empty/whitespace/non-string/oversized
  (> ``MAX_ID_LENGTH``) IDs, missing ``detail-type``/``detail``/``detailStatus``/``taskId``, wrong
  types): logged as ``notification_rejected`` (WARNING). It can never succeed, so it goes
  straight to the DLQ (see below), where someone can look at it.
* Not ours to handle: other connectors (DEBUG), ``VoiceAnalyticsStatus`` other than AnalyticsReady
  (DEBUG), a pipeline state change that is not a failure (DEBUG), unknown ``detail-type`` or
  unknown ``SpeakerSearchStatus``/``VoiceToneAnalysisStatus`` status (WARNING): logged as
  ``notification_skipped`` and counted as done. So is ``VoiceToneAnalysisStatus`` without
  ``VOICE_TONE_ANALYSIS=true`` (DEBUG; e.g. late results after voice tone was turned off).
* AWS errors: 429, 5xx, connection errors and timeouts are retried in-process (exponential backoff
  with full jitter, same token, bounded by ``clients.MAX_ATTEMPTS`` and by the Lambda deadline;
  the loop and the error classification are ``aws_calls``, shared with every handler); when the
  budget runs out the record fails and SQS redelivers it. Duplicate starts and
  ``ResourceLimitExceededException`` follow the decision table in ``tasks.py`` (durable state in
  ``state.py``). Permanent errors (Gone, UnprocessableEntity, BadRequest, Forbidden/AccessDenied on
  a start; PutEvents entries failing with anything but ``InternalFailure``/``ThrottlingException``)
  and malformed bodies are not retried: the record goes straight to the dead-letter queue
  (``dead_letters.py``, reason as a message attribute) and counts as done; if that send fails, SQS
  redelivers it as before. NotFound fails the record for redelivery. In the raw shape every
  failure, malformed input included, raises instead.
* Requests (``Speaker Search Consent``, ``Enroll/Update/Delete Voice Profile``, with the
  construct's ``REQUEST_SOURCE``, in the request envelope) are served by ``user_requests.py``.
* Under ``REQUIRE_CONSENT`` a result of a call that is not granted is withheld (a documented
  skip, ``consent_gate.py``).
* PutEvents is not idempotent: a retry after a timeout can publish a result twice. Consumers
  dedupe on ``notificationId``.

Time budget: one deadline per invocation, shared by the batch: the Lambda deadline minus
``clients.SAFETY_MARGIN_S`` (no context: ``clients.NO_CONTEXT_BUDGET_S``). An attempt starts only if a whole
attempt (connect + read timeout) still fits, and no backoff is slept that no attempt could
follow, so the function does not time out mid-retry; records that find the budget spent fail
fast and are redelivered. Give the function a timeout of at least ~30 s.

Cold start: the modules are compiled from source on every cold start (the asset ships no
``.pyc``), and boto3 clients are made on first use. Value records are ``NamedTuple`` s rather
than frozen dataclasses, which cost about 0.5 ms each to define (bench/handler.py).

Published event (Source ``results.RESULT_SOURCE``, DetailType ``results.RESULT_DETAIL_TYPE``), Detail keys:
``searchId, voiceConnectorId, transactionId, callLeg, taskId, status, matches[{voiceProfileId,
confidenceScore}], bestMatch, voiceProfileDomainId, notificationId, notificationTime``.
``matches`` is ranked by score, highest first; ``bestMatch`` is the first match or null;
``status`` spells ``VoiceprintGenerationSuccess`` as ``VoiceprintGenerationSuccessful``.

Logging: stdlib logging, a short stable message plus ``extra`` fields (Lambda's JSON log format
turns them into top-level keys). Only ID-shaped values (notification id, detail-type,
detailStatus, voiceConnectorId, transactionId, taskId, SQS messageId), error codes, reasons and
counts are logged; never callId, phone numbers, SIP headers, names or raw bodies. Messages
(stable): ``speaker_search_started`` (INFO, ``duplicate`` true for a task already running (``tasks.py``)),
``speaker_search_start_failed`` (ERROR), ``speaker_search_result_published`` (INFO),
``speaker_search_result_publish_failed`` (ERROR), ``voice_tone_started`` (INFO),
``voice_tone_start_failed`` (ERROR), ``voice_tone_result_published`` (INFO),
``voice_tone_result_publish_failed`` (ERROR), ``pipeline_failure`` (WARNING, with ``eventType``,
``failureReason`` (phone numbers masked, ``masking.py``), ``failureOrigin``, ``httpStatusCode``),
``notification_rejected`` (WARNING),
``notification_skipped`` (DEBUG or WARNING), ``notification_failed`` (ERROR, a handler bug),
``matches_dropped`` (WARNING), ``batch_processed`` (INFO), ``aws_call_retrying`` (DEBUG),
``input_refused`` (WARNING, ``refusal``: ``raw-invocation``, ``foreign-queue`` or
``invalid-receipt-handle``), ``receipt_check_failed`` (ERROR), ``result_withheld`` (INFO, or
WARNING when the call is unknown; ``withheld``), ``result_state_failed`` (ERROR),
``task_index_unavailable`` (WARNING), ``voice_profile_waiting_for_voiceprint`` (INFO,
``retryAfter``), ``redelivery_not_shortened`` (WARNING).

Metrics: CloudWatch Embedded Metric Format lines written once per invocation (``metrics``).

Modules (imported top-level: the construct ships them beside this file, with ``aws_calls``):
``settings`` (environment), ``clients`` (clients, timeouts, retry budget), ``perimeter`` (only
the queue's own messages), ``notifications`` (unwrapping, the request envelope and validation,
pure), ``calls`` (a call's AnalyticsReady, consent and stops), ``tasks`` (one start and its
decision table), ``task_kinds`` (speaker search and voice tone, tokens), ``results``
(SpeakerSearchStatus / VoiceToneAnalysisStatus -> events), ``consent_gate`` (results bound to
consent), ``health`` (pipeline failures), ``masking`` (phone numbers out of logged text),
``user_requests`` (the request router), ``consent`` (consent requests), ``profile_requests``,
``enrollment``, ``task_scope`` and ``voice_profiles`` (voice profile requests and their scope),
``state`` (the state table's plumbing and task starts), ``consent_state``, ``enrollment_state``
and ``task_index`` (its other items), ``dead_letters`` (direct dead-lettering), ``redelivery``
(sooner redelivery), ``outcomes``, ``metrics``.

Tests reset the cached settings and clients with :func:`reset_for_tests`, and replace
``aws_calls._sleep``, ``_rng`` and ``_clock`` to make backoff instant and deterministic.
"""

from __future__ import annotations

import logging
import traceback
from typing import Any

import aws_calls
import clients
import dead_letters
import metrics
import perimeter
import redelivery
import settings as settings_module
from calls import ANALYTICS_READY, on_analytics_ready
from health import PIPELINE_DETAIL_TYPE, on_pipeline_state_change
from notifications import Instant, MalformedError, is_sqs_batch, json_type, loggable_ids, receive
from outcomes import Outcome, apply_log_level, logger, skip
from results import on_speaker_search_status, on_voice_tone_status
from settings import Settings
from user_requests import REQUEST_DETAIL_TYPES, on_request


class NotificationFailedError(Exception):
    """Raised for a failed raw (non-SQS) notification so Lambda's async retry / DLQ takes it."""


def reset_for_tests() -> None:
    """Forget cached settings and clients so the next call rereads the environment."""
    settings_module.reset()
    clients.reset()
    metrics.discard()
    apply_log_level()


apply_log_level()


def handler(event: Any, context: Any) -> dict[str, Any]:
    """Lambda entry point; see the module docstring for shapes and the failure policy."""
    settings = settings_module.get()
    deadline = clients.deadline(context)
    try:
        if settings.notification_queue_arn is not None:  # the perimeter (perimeter.py)
            if not is_sqs_batch(event):
                return perimeter.refuse_invocation(settings)
            admission = perimeter.admit(event["Records"], settings, deadline)
            return _handle_batch(admission.admitted, settings, deadline, unchecked=admission.failed)
        if is_sqs_batch(event):
            return _handle_batch(event["Records"], settings, deadline)
        outcome = _process(event, settings, deadline, {"searchId": settings.search_id})
    finally:
        metrics.flush(settings.search_id)
    if outcome.failed:
        raise NotificationFailedError(outcome.reason)
    return {"outcome": outcome.kind, "reason": outcome.reason}


def _handle_batch(
    records: list[dict[str, Any]],
    settings: Settings,
    deadline: aws_calls.Deadline,
    *,
    unchecked: tuple[str, ...] | list[str] = (),
) -> dict[str, Any]:
    """Process ``records``; ``unchecked`` (message IDs the perimeter could not check) fail unprocessed."""
    failures = [{"itemIdentifier": message_id} for message_id in unchecked]
    counts: dict[str, int] = {"unchecked": len(unchecked)} if unchecked else {}
    sooner: list[tuple[dict[str, Any], float]] = []  # failed records to bring back early
    for record in records:
        message_id = record["messageId"]
        fields = {"messageId": message_id, "searchId": settings.search_id}
        outcome = _process(record.get("body"), settings, deadline, fields)
        counts[outcome.kind] = counts.get(outcome.kind, 0) + 1
        if outcome.failed:
            if outcome.dead_letter and dead_letters.send(record, outcome.reason, settings, deadline, fields):
                counts["deadLettered"] = counts.get("deadLettered", 0) + 1
                continue  # done: SQS deletes it from the queue, the copy waits in the DLQ
            failures.append({"itemIdentifier": message_id})
            if outcome.retry_after_s is not None:
                sooner.append((record, outcome.retry_after_s))
    redelivery.shorten(sooner, settings, deadline)
    logger.info("batch_processed", extra={"records": len(records), **counts})
    return {"batchItemFailures": failures}


def _process(body: Any, settings: Settings, deadline: aws_calls.Deadline, fields: dict[str, Any]) -> Outcome:
    """Handle one notification (an SQS body or a raw event); never raises."""
    try:
        received = receive(body)
        return _dispatch(received.notification, settings, deadline, fields, received.ingested_at)
    except MalformedError as exc:
        logger.warning("notification_rejected", extra={**fields, "reason": str(exc)})
        return Outcome("failed", str(exc), dead_letter=True)  # can never succeed
    except Exception as exc:  # a bug must fail one record, not the batch
        # Frames only: an exception message may quote payload values (phone numbers, SIP headers).
        reason = f"unexpected error: {type(exc).__name__}"
        stack = "".join(traceback.format_tb(exc.__traceback__))
        logger.error("notification_failed", extra={**fields, "reason": reason, "stack": stack})
        return Outcome("failed", reason)


def _dispatch(
    notification: dict[str, Any],
    settings: Settings,
    deadline: aws_calls.Deadline,
    fields: dict[str, Any],
    ingested_at: Instant | None,
) -> Outcome:
    detail = notification.get("detail")
    fields = {**fields, **loggable_ids(notification, detail)}
    detail_type = notification.get("detail-type")
    if not isinstance(detail_type, str):
        raise MalformedError(f"detail-type must be a string, got {json_type(detail_type)}")
    if not isinstance(detail, dict):
        raise MalformedError(f"detail must be an object, got {json_type(detail)}")
    status = detail.get("detailStatus")

    if detail_type == PIPELINE_DETAIL_TYPE:
        return on_pipeline_state_change(detail, settings, fields)
    if detail_type in REQUEST_DETAIL_TYPES:  # consent and voice profile requests (their own rules)
        return on_request(notification, detail, settings, deadline, fields, ingested_at=ingested_at)
    if detail_type not in ("VoiceAnalyticsStatus", "SpeakerSearchStatus", "VoiceToneAnalysisStatus"):
        return skip(fields, "unknown detail-type", logging.WARNING)
    if not isinstance(status, str) or not status:
        raise MalformedError(f"detail.detailStatus must be a non-empty string, got {json_type(status)}")

    if detail_type == "VoiceAnalyticsStatus":
        if status != ANALYTICS_READY:
            return skip(
                fields, "VoiceAnalyticsStatus other than AnalyticsReady needs no action", logging.DEBUG
            )
        return on_analytics_ready(notification, detail, settings, deadline, fields)
    if detail_type == "VoiceToneAnalysisStatus":
        return on_voice_tone_status(notification, detail, settings, deadline, fields)
    return on_speaker_search_status(notification, detail, settings, deadline, fields)
