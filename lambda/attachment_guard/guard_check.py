"""One check of one Voice Connector: is the search's configuration still attached, and if not, re-attach it.

What counts as attached, and what a repair writes, are the streaming association's own merge rules
(``streaming_settings``, lambda/_common/, shared with the custom resource): streaming on, the
configuration attached and enabled, the EventBridge notification target present
(``is_attached``); a repair writes ``attach(current, arn, desired_retention(current, None, hours))``,
which keeps every setting the library does not own (other notification targets, a longer retention,
streaming on), never removes another tool's targets and never lowers a retention someone else set.

What the check finds (``problem``), in this order:

``streaming_not_configured``      the connector has no streaming configuration (deleted, or never made)
``other_configuration_attached``  another media insights configuration is attached (enabled or not)
``streaming_off``                 streaming is disabled
``configuration_not_attached``    no configuration is attached (cdklabs' ``ChimeVoiceConnector`` and
                                  the console write the configuration without one)
``configuration_disabled``        ours is attached but disabled
``eventbridge_target_missing``    ours is attached and enabled, the EventBridge target is gone

Another configuration is never replaced: that is alert-only (``other_configuration_attached``), with
repair on or off. With repair off every problem is alert-only (``alert_only``).

A repair reads, plans, re-reads just before writing (a change since the first read starts the round
again from what is there now), writes, and re-reads: when the configuration is then not attached
(another writer's write landed after ours), it merges again, up to ``MAX_ROUNDS`` rounds
(``changed_by_another_writer`` after that). The API has no conditional write, so a write of another
tool that lands between our last read and our write is overwritten; re-reading after the write, as the
custom resource does, is what repairs that. If another writer attaches our configuration meanwhile,
nothing is written (``reattached_by_another_writer``); if it attaches its own, nothing is replaced.

Every AWS call goes through ``aws_calls.call`` (throttling, 5xx and network errors are retried with
backoff inside the deadline). A failed read raises ``AwsCallError`` (the check failed); a failed write
or re-read during a repair is reported as not repaired, with the AWS error code.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar

import aws_calls
from aws_calls import AwsCallError, Deadline
from guard_searches import Search
from streaming_settings import attach, attached_arn, comparable, desired_retention, is_attached

if TYPE_CHECKING:
    from mypy_boto3_chime_sdk_voice import ChimeSDKVoiceClient

logger = logging.getLogger("chime_speaker_search.attachment_guard")
T = TypeVar("T")

#: Rounds of read, write and re-read before giving up on a connector another writer keeps changing.
MAX_ROUNDS = 4
CONNECT_TIMEOUT_S = 2.0
READ_TIMEOUT_S = 5.0
POLICY = aws_calls.RetryPolicy(
    max_attempts=6, backoff_base_s=0.25, backoff_cap_s=4.0, attempt_cost_s=CONNECT_TIMEOUT_S + READ_TIMEOUT_S
)

OTHER_CONFIGURATION = "other_configuration_attached"
ALERT_ONLY = "alert_only"
CHANGED_BY_ANOTHER_WRITER = "changed_by_another_writer"
REATTACHED_BY_ANOTHER_WRITER = "reattached_by_another_writer"


class Found(NamedTuple):
    """What the connector's streaming configuration looked like when the check read it."""

    streaming: str  # "none" (no streaming configuration) | "off" | "on"
    configuration_arn: str | None  # the attached configuration, enabled or not; None: none
    configuration_disabled: bool | None  # None: no configuration attached
    notification_targets: tuple[str, ...]
    retention_hours: int | None

    @classmethod
    def of(cls, configuration: Mapping[str, Any] | None) -> Found:
        if configuration is None:
            return cls("none", None, None, (), None)
        attached = configuration.get("MediaInsightsConfiguration") or None
        targets = [
            t.get("NotificationTarget") for t in configuration.get("StreamingNotificationTargets") or []
        ]
        retention = configuration.get("DataRetentionInHours")
        return cls(
            "off" if configuration.get("Disabled") else "on",
            attached_arn(configuration),
            None if attached is None else bool(attached.get("Disabled")),
            tuple(sorted(t for t in targets if isinstance(t, str))),
            retention if isinstance(retention, int) and not isinstance(retention, bool) else None,
        )

    def as_detail(self) -> dict[str, Any]:
        return {
            "streaming": self.streaming,
            "configurationArn": self.configuration_arn,
            "configurationDisabled": self.configuration_disabled,
            "notificationTargets": list(self.notification_targets),
            "dataRetentionInHours": self.retention_hours,
        }


class Finding(NamedTuple):
    """A connector whose configuration was not attached, and what the guard did about it."""

    voice_connector_id: str
    problem: str
    found: Found
    repaired: bool
    #: Why it was not repaired: ``alert_only``, ``other_configuration_attached``,
    #: ``changed_by_another_writer``, ``reattached_by_another_writer`` or the AWS error code.
    not_repaired_because: str | None


def problem_of(current: Mapping[str, Any] | None, configuration_arn: str) -> str | None:
    """What is wrong with ``current`` for ``configuration_arn`` (see the module docstring); None: nothing."""
    if is_attached(current, configuration_arn):
        return None
    if current is None:
        return "streaming_not_configured"
    attached = attached_arn(current)
    if attached is not None and attached != configuration_arn:
        return OTHER_CONFIGURATION
    if current.get("Disabled"):
        return "streaming_off"
    if attached is None:
        return "configuration_not_attached"
    if (current.get("MediaInsightsConfiguration") or {}).get("Disabled"):
        return "configuration_disabled"
    return "eventbridge_target_missing"  # all that is_attached asks for but the EventBridge target


def _call(operation: str, fn: Callable[[], T], deadline: Deadline) -> T:
    result, _ = aws_calls.call(fn, deadline=deadline, policy=POLICY, operation=operation)
    return result


def read(client: ChimeSDKVoiceClient, voice_connector_id: str, deadline: Deadline) -> dict[str, Any] | None:
    """The connector's StreamingConfiguration; None when it has none (NotFound, or an empty answer)."""
    try:
        response = _call(
            "GetVoiceConnectorStreamingConfiguration",
            lambda: client.get_voice_connector_streaming_configuration(VoiceConnectorId=voice_connector_id),
            deadline,
        )
    except AwsCallError as exc:
        if exc.code == "NotFoundException":
            return None
        raise
    configuration = response.get("StreamingConfiguration")
    return dict(configuration) if configuration else None


def _write(
    client: ChimeSDKVoiceClient, voice_connector_id: str, configuration: dict[str, Any], deadline: Deadline
) -> None:
    _call(
        "PutVoiceConnectorStreamingConfiguration",
        lambda: client.put_voice_connector_streaming_configuration(
            VoiceConnectorId=voice_connector_id,
            StreamingConfiguration=configuration,  # type: ignore[arg-type]
        ),
        deadline,
    )


def check(
    client: ChimeSDKVoiceClient, search: Search, voice_connector_id: str, deadline: Deadline
) -> Finding | None:
    """Check one connector (and repair it, with ``search.repair``); None when nothing is wrong.

    Raises ``AwsCallError`` when the first read fails: then nothing is known about the connector.
    """
    current = read(client, voice_connector_id, deadline)
    problem = problem_of(current, search.configuration_arn)
    if problem is None:
        return None
    found = Found.of(current)
    if problem == OTHER_CONFIGURATION:
        return Finding(voice_connector_id, problem, found, False, OTHER_CONFIGURATION)
    if not search.repair:
        return Finding(voice_connector_id, problem, found, False, ALERT_ONLY)
    try:
        because = _reattach(client, search, voice_connector_id, current, deadline)
    except AwsCallError as exc:
        because = exc.code
    return Finding(voice_connector_id, problem, found, because is None, because)


def _reattach(
    client: ChimeSDKVoiceClient,
    search: Search,
    voice_connector_id: str,
    current: dict[str, Any] | None,
    deadline: Deadline,
) -> str | None:
    """Re-attach the configuration; None when it holds, else why it was not repaired."""
    arn = search.configuration_arn
    fields = {"searchId": search.search_id, "voiceConnectorId": voice_connector_id}
    for attempt in range(1, MAX_ROUNDS + 1):
        if is_attached(current, arn):
            return REATTACHED_BY_ANOTHER_WRITER
        attached = attached_arn(current)
        if attached is not None and attached != arn:
            return OTHER_CONFIGURATION  # another tool attached its own meanwhile: never replaced
        retention = desired_retention(current, None, search.retention_hours)
        desired = attach(current, arn, retention)
        latest = read(client, voice_connector_id, deadline)
        if comparable(latest) != comparable(current):
            logger.info("streaming_changed_before_write", extra={**fields, "round": attempt})
            current = latest
            continue
        _write(client, voice_connector_id, desired, deadline)
        current = read(client, voice_connector_id, deadline)
        if is_attached(current, arn):
            return None
        logger.info("streaming_write_lost", extra={**fields, "round": attempt})
    return CHANGED_BY_ANOTHER_WRITER
