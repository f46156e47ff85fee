"""What the guard reports: the ``Analytics Configuration Detached`` event and its metrics.

The event goes to the search's bus with the library's result source (``chime-speaker-search``; the
bus perimeter lets the guard's role publish it). Its ``detail``:

``searchId``, ``voiceConnectorId``
``configurationArn``    the search's configuration, the one that should be attached
``problem``             what the check found wrong (guard_check.py lists the values)
``found``               the connector's streaming settings as read: ``streaming`` (``none``, ``off`` or
                        ``on``), ``configurationArn`` (the attached one, or null), ``configurationDisabled``,
                        ``notificationTargets``, ``dataRetentionInHours``
``repaired``            whether the guard re-attached the configuration (and saw it hold)
``notRepairedBecause``  null when repaired; else ``alert_only``, ``other_configuration_attached``,
                        ``changed_by_another_writer``, ``reattached_by_another_writer`` or an AWS error code
``checkedAt``           when the check ran, ISO 8601 UTC

Metrics (Embedded Metric Format, namespace ``ChimeSpeakerSearch``, dimension ``SearchId``), written once
per invocation: ``ConfigurationDetached`` (connectors found detached), ``ConfigurationRepaired``
(of those, re-attached) and ``AttachmentCheckFailures`` (connectors the guard could not read, or not
reach before its deadline).
"""

from __future__ import annotations

import json
import sys
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TextIO

import aws_calls
from aws_calls import Deadline, FailedEntryError
from guard_check import POLICY, Finding
from guard_searches import Search

if TYPE_CHECKING:
    from mypy_boto3_events import EventBridgeClient

SOURCE = "chime-speaker-search"
DETAIL_TYPE = "Analytics Configuration Detached"

NAMESPACE = "ChimeSpeakerSearch"
CONFIGURATION_DETACHED = "ConfigurationDetached"
CONFIGURATION_REPAIRED = "ConfigurationRepaired"
ATTACHMENT_CHECK_FAILURES = "AttachmentCheckFailures"
#: Where EMF lines go (None: the current sys.stdout); tests may replace it.
out: TextIO | None = None


def detail(search: Search, finding: Finding, checked_at: datetime) -> dict[str, Any]:
    return {
        "searchId": search.search_id,
        "voiceConnectorId": finding.voice_connector_id,
        "configurationArn": search.configuration_arn,
        "problem": finding.problem,
        "found": finding.found.as_detail(),
        "repaired": finding.repaired,
        "notRepairedBecause": finding.not_repaired_because,
        "checkedAt": checked_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def publish(
    client: EventBridgeClient, search: Search, event_detail: dict[str, Any], deadline: Deadline
) -> None:
    """Put one ``Analytics Configuration Detached`` event on the search's bus (raises ``AwsCallError``)."""
    entry = {
        "Source": SOURCE,
        "DetailType": DETAIL_TYPE,
        "Detail": json.dumps(event_detail, separators=(",", ":")),
        "EventBusName": search.event_bus,
    }

    def put() -> None:
        response = client.put_events(Entries=[entry])  # type: ignore[list-item]
        if response.get("FailedEntryCount"):
            (failed,) = response["Entries"]
            raise FailedEntryError(str(failed.get("ErrorCode") or "Unknown"))

    aws_calls.call(put, deadline=deadline, policy=POLICY, operation="PutEvents")


def write_metrics(search_id: str, counts: dict[str, int]) -> None:
    """One EMF line with ``counts`` (zeros included: a check that found nothing is a data point too)."""
    line: dict[str, Any] = {
        "_aws": {
            "Timestamp": int(time.time() * 1000),
            "CloudWatchMetrics": [
                {
                    "Namespace": NAMESPACE,
                    "Dimensions": [["SearchId"]],
                    "Metrics": [{"Name": name, "Unit": "Count"} for name in counts],
                }
            ],
        },
        "SearchId": search_id,
        **counts,
    }
    stream = out or sys.stdout
    stream.write(json.dumps(line, separators=(",", ":")) + "\n")
    stream.flush()
