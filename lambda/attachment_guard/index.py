"""Attachment guard: check that each search's configuration is still attached to its Voice Connectors.

``PutVoiceConnectorStreamingConfiguration`` replaces a connector's whole streaming configuration, and
other tools write it without a ``MediaInsightsConfiguration`` (cdklabs' ``ChimeVoiceConnector`` with
its ``streaming`` prop on every create and update of its connector, the console, other stacks, AWS
samples). The configuration is then detached for good, silently: no pipeline starts, so there is no
notification, no dead letter, no pipeline event and no alarm. This function finds that out.

One function per stack, however many searches: each ``SpeakerSearch`` has an EventBridge rule that
invokes it on a schedule with ``{"searchId": "<searchId>"}``. The input only selects one search of
``GUARD_SEARCHES`` (``guard_searches.py``), the list the construct wrote into the environment; anything
else (not an object, no or an unknown searchId) is refused without an AWS call. Anyone who may invoke
the function can at worst make a check run early.

For each connector of the selected search (``guard_check.py``): read the streaming configuration; when the
configuration is no longer attached or streaming is off, re-attach it with the streaming
association's merge rules (``streaming_settings``), unless the search is alert-only or another
configuration is attached (never replaced), and publish ``Analytics Configuration Detached`` on the
search's bus (``guard_report.py``). A connector with nothing wrong costs one read: no write, no event.

Environment variables: ``GUARD_SEARCHES`` (required, see ``guard_searches.py``), ``LOG_LEVEL`` (default
``INFO``), ``CHIME_SPEAKER_SEARCH_VERSION`` (the library's version, in the AWS user agent).

Time: one deadline per invocation (the Lambda deadline minus ``SAFETY_MARGIN_S``); each connector's
check gets at most ``CONNECTOR_BUDGET_S`` of it, and ends ``REPORT_RESERVE_S`` before it, so that what it
found can still be published. A connector the deadline leaves unchecked counts as an
``AttachmentCheckFailures`` data point and is checked at the next run.

Returns a summary ``{"searchId", "checked", "detached", "repaired", "failed"}`` (or ``{"refused":
reason}``). Raises only when ``GUARD_SEARCHES`` is malformed (a deployment bug); the construct turns
Lambda's own retries of a failed invocation off: the next scheduled check is the retry.

Logging: stable messages with IDs only (searchId, voiceConnectorId, configuration ARNs, error codes):
``configuration_detached`` (WARNING), ``attachment_check_failed`` (ERROR),
``detached_event_publish_failed`` (ERROR), ``guard_out_of_time`` (ERROR), ``guard_input_refused``
(WARNING), ``guard_misconfigured`` (ERROR), ``attachment_checked`` (INFO, the summary).

Modules (imported top-level: the construct ships them beside this file, with ``aws_calls`` and
``streaming_settings`` from lambda/_common/): ``guard_searches``, ``guard_check``, ``guard_report``.
"""

from __future__ import annotations

import logging
import os
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, cast

import aws_calls
import guard_check
import guard_report
import guard_searches
from aws_calls import AwsCallError, Deadline
from guard_searches import MisconfiguredError, Search

if TYPE_CHECKING:
    from mypy_boto3_chime_sdk_voice import ChimeSDKVoiceClient
    from mypy_boto3_events import EventBridgeClient

logger = guard_check.logger
_LEVEL = os.environ.get("LOG_LEVEL", "INFO").strip().upper()
logger.setLevel(_LEVEL if _LEVEL in logging.getLevelNamesMapping() else logging.INFO)

SAFETY_MARGIN_S = 3.0
NO_CONTEXT_BUDGET_S = 60.0
#: The most one connector's check (its reads and a repair's rounds) may take of the deadline.
CONNECTOR_BUDGET_S = 30.0
#: Kept free after each check for publishing what it found: one attempt of PutEvents.
REPORT_RESERVE_S = guard_check.POLICY.attempt_cost_s


def _config() -> Any:
    return aws_calls.client_config(
        connect_timeout_s=guard_check.CONNECT_TIMEOUT_S, read_timeout_s=guard_check.READ_TIMEOUT_S
    )


_voice = aws_calls.lazy_client("chime-sdk-voice", _config)
_events = aws_calls.lazy_client("events", _config)


def reset_for_tests() -> None:
    """Forget the cached searches and clients so the next call rereads the environment."""
    guard_searches.reset()
    _voice.cache_clear()
    _events.cache_clear()


def handler(event: Any, context: Any) -> dict[str, Any]:
    """Lambda entry point; see the module docstring."""
    deadline = Deadline.from_context(
        context, safety_margin_s=SAFETY_MARGIN_S, no_context_budget_s=NO_CONTEXT_BUDGET_S
    )
    try:
        watched = guard_searches.get()
    except MisconfiguredError as exc:
        logger.error("guard_misconfigured", extra={"reason": str(exc)})
        raise
    search = _select(event, watched)
    if search is None:
        return {"refused": "the input names no search of this stack"}
    return run(search, deadline)


def _select(event: Any, watched: dict[str, Search]) -> Search | None:
    """The search the input names, if it is one of ``watched``; its input is trusted no further."""
    search_id = event.get("searchId") if isinstance(event, dict) else None
    search = watched.get(search_id) if isinstance(search_id, str) else None
    if search is None:
        # Never the input itself: whoever invoked the function chose it.
        known = (
            isinstance(search_id, str) and guard_searches.SEARCH_ID_PATTERN.fullmatch(search_id) is not None
        )
        logger.warning(
            "guard_input_refused",
            extra={"inputType": type(event).__name__, "searchId": search_id if known else None},
        )
    return search


def run(search: Search, deadline: Deadline) -> dict[str, Any]:
    """Check every connector of ``search`` before ``deadline``; publish and count what was found."""
    voice = cast("ChimeSDKVoiceClient", _voice())
    events = cast("EventBridgeClient", _events())
    counts = {guard_report.CONFIGURATION_DETACHED: 0, guard_report.CONFIGURATION_REPAIRED: 0}
    failed: list[str] = []
    for index, vc_id in enumerate(search.voice_connector_ids):
        fields = {"searchId": search.search_id, "voiceConnectorId": vc_id}
        # A check starts only with time for one read and for the event of what it finds.
        if deadline.remaining() < 2 * REPORT_RESERVE_S:
            unchecked = list(search.voice_connector_ids[index:])
            logger.error("guard_out_of_time", extra={"searchId": search.search_id, "unchecked": unchecked})
            failed += unchecked
            break
        budget = Deadline(deadline.at - REPORT_RESERVE_S).sooner(CONNECTOR_BUDGET_S)
        try:
            finding = guard_check.check(voice, search, vc_id, budget)
        except AwsCallError as exc:
            logger.error(
                "attachment_check_failed",
                extra={**fields, "operation": exc.operation, "errorCode": exc.code, "attempts": exc.attempts},
            )
            failed.append(vc_id)
            continue
        if finding is None:
            continue
        counts[guard_report.CONFIGURATION_DETACHED] += 1
        counts[guard_report.CONFIGURATION_REPAIRED] += finding.repaired
        _report(events, search, finding, deadline, fields)
    counts[guard_report.ATTACHMENT_CHECK_FAILURES] = len(failed)
    guard_report.write_metrics(search.search_id, counts)
    summary = {
        "searchId": search.search_id,
        "checked": len(search.voice_connector_ids) - len(failed),
        "detached": counts[guard_report.CONFIGURATION_DETACHED],
        "repaired": counts[guard_report.CONFIGURATION_REPAIRED],
        "failed": len(failed),
    }
    logger.info("attachment_checked", extra=summary)
    return summary


def _report(
    events: EventBridgeClient,
    search: Search,
    finding: guard_check.Finding,
    deadline: Deadline,
    fields: dict[str, Any],
) -> None:
    detail = guard_report.detail(search, finding, datetime.now(UTC))
    logger.warning(
        "configuration_detached",
        extra={
            **fields,
            "problem": finding.problem,
            "found": detail["found"],
            "repaired": finding.repaired,
            "notRepairedBecause": finding.not_repaired_because,
        },
    )
    try:
        guard_report.publish(events, search, detail, deadline)
    except AwsCallError as exc:
        logger.error("detached_event_publish_failed", extra={**fields, "errorCode": exc.code})
