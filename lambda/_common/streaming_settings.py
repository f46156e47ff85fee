"""The merge rules for a Voice Connector's streaming configuration: what this library sets, what it restores.

``PutVoiceConnectorStreamingConfiguration`` replaces a connector's whole ``StreamingConfiguration``, and
other tools (the console, other stacks, cdklabs' ``ChimeVoiceConnector``) write it too. So every writer
of this library reads it, merges with the rules below and writes the result back: the streaming
association custom resource (lambda/custom_resources/streaming_association.py) and anything else that
re-attaches a configuration must import these rules rather than repeat them.

Attach (``attach``): keep every setting the library does not own; turn streaming on
(``Disabled=False``); a retention (``desired_retention``) never below what an already enabled stream had,
nor below a value someone else set since; the ``EventBridge`` notification target added if absent (other
targets are kept); ``MediaInsightsConfiguration = {Disabled: False, ConfigurationArn}``.

Detach (``detach``): only when the connector still has this configuration attached. The
``MediaInsightsConfiguration`` is removed, and each other field the library set is restored only while
it still holds the value the library set:
- an ``EventBridge`` target the library added is removed;
- a retention the library raised goes back to the recorded value, while it is still the one it set;
- streaming that was off (or never configured) before the attachment is turned off again (or its
  configuration deleted, when nothing but the library's settings remain), unless another tool has
  started relying on it since: a notification target that was not there before the attachment, or
  another retention. Then streaming stays on, with everything else as found.

``Prior`` is the connector's state before the first attachment, kept in the custom resource's physical
ID (CloudFormation's Delete carries no Data).

Pure: standard library only, no AWS call; the writers read, call these, write and re-read.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

EVENTBRIDGE = "EventBridge"
#: The state before the first attachment, as the custom resource's physical ID. ``targets`` (the
#: notification targets other than EventBridge) is recorded for streaming that was configured (off or
#: on); it is absent for streaming that never was, and from IDs written before it was recorded.
PHYSICAL_ID_PATTERN = re.compile(
    r"(?P<vc>[a-zA-Z0-9_-]{1,128})\|streaming=(?P<streaming>none|off|on)"
    r"\|eventbridge=(?P<eventbridge>present|added)\|retention=(?P<retention>\d{1,9}|none)"
    r"(?:\|targets=(?P<targets>none|[A-Za-z]{1,32}(?:\+[A-Za-z]{1,32}){0,2}))?"
)


@dataclass(frozen=True)
class Prior:
    """A connector's streaming state before this library attached its configuration."""

    voice_connector_id: str
    streaming: str  # "none" (never configured) | "off" | "on"
    eventbridge_added: bool
    retention: int | None
    #: The notification targets other than EventBridge it had; None: not recorded (an older ID).
    targets: tuple[str, ...] | None = None

    @classmethod
    def observe(cls, voice_connector_id: str, current: Mapping[str, Any] | None) -> Prior:
        if current is None:  # no targets to record: a configuration that never existed had none
            return cls(voice_connector_id, "none", True, None)
        return cls(
            voice_connector_id,
            "off" if current.get("Disabled") else "on",
            not has_eventbridge(current),
            current.get("DataRetentionInHours"),
            tuple(sorted(_other_targets(current))),
        )

    @classmethod
    def parse(cls, physical_id: str) -> Prior | None:
        match = PHYSICAL_ID_PATTERN.fullmatch(physical_id)
        if match is None:
            return None
        retention, targets = match["retention"], match["targets"]
        recorded: tuple[str, ...] | None = None
        if targets is not None:
            recorded = () if targets == "none" else tuple(targets.split("+"))
        return cls(
            match["vc"],
            match["streaming"],
            match["eventbridge"] == "added",
            None if retention == "none" else int(retention),
            recorded,
        )

    def physical_id(self) -> str:
        eventbridge = "added" if self.eventbridge_added else "present"
        retention = "none" if self.retention is None else str(self.retention)
        state = f"streaming={self.streaming}|eventbridge={eventbridge}|retention={retention}"
        if self.targets is not None:
            state += f"|targets={'+'.join(self.targets) or 'none'}"
        return f"{self.voice_connector_id}|{state}"


@dataclass(frozen=True)
class Write:
    """What to write: ``put`` the configuration, or ``delete`` the connector's streaming configuration."""

    action: Literal["put", "delete"]
    configuration: dict[str, Any] | None = None


def _targets(configuration: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [dict(target) for target in configuration.get("StreamingNotificationTargets") or []]


def _other_targets(configuration: Mapping[str, Any]) -> set[str]:
    names = {target.get("NotificationTarget") for target in _targets(configuration)}
    return {name for name in names if isinstance(name, str) and name != EVENTBRIDGE}


def has_eventbridge(configuration: Mapping[str, Any]) -> bool:
    return any(target.get("NotificationTarget") == EVENTBRIDGE for target in _targets(configuration))


def attached_arn(configuration: Mapping[str, Any] | None) -> str | None:
    """The ARN of the media insights pipeline configuration attached (enabled or not), if any."""
    attached = (configuration or {}).get("MediaInsightsConfiguration") or {}
    arn: str | None = attached.get("ConfigurationArn")  # the API's Arn shape: a string of 1-1024 chars
    return arn


def comparable(configuration: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The configuration with omitted booleans read as False, so a Get that leaves out defaults compares
    equal; None (streaming never configured) stays None."""
    if configuration is None:
        return None
    result = copy.deepcopy(dict(configuration))
    result.setdefault("Disabled", False)
    if result.get("MediaInsightsConfiguration") is not None:
        result["MediaInsightsConfiguration"] = {"Disabled": False, **result["MediaInsightsConfiguration"]}
    return result


def is_attached(configuration: Mapping[str, Any] | None, configuration_arn: str) -> bool:
    """Whether calls on the connector reach ``configuration_arn``: streaming on, the configuration
    attached and enabled, and the EventBridge target present."""
    if configuration is None or configuration.get("Disabled"):
        return False
    attached = configuration.get("MediaInsightsConfiguration") or {}
    return (
        attached.get("ConfigurationArn") == configuration_arn
        and not attached.get("Disabled")
        and has_eventbridge(configuration)
    )


def our_retention(prior: Prior | None, configured: int) -> int:
    """The retention this library sets: the configured one, never below what an enabled stream had."""
    if prior is not None and prior.streaming == "on" and prior.retention is not None:
        return max(prior.retention, configured)
    return configured


def desired_retention(
    current: Mapping[str, Any] | None,
    prior: Prior | None,
    configured: int,
    previously_configured: int | None = None,
) -> int:
    """The retention to write on attach.

    While the connector still has the value this library set (for ``previously_configured``), it follows
    the new setting, even downwards; a value someone else set is never lowered.
    """
    target = our_retention(prior, configured)
    if current is None or current.get("Disabled"):
        return target
    now = int(current["DataRetentionInHours"])
    if previously_configured is not None and now == our_retention(prior, previously_configured):
        return target
    return max(now, target)


def attach(current: Mapping[str, Any] | None, configuration_arn: str, retention_hours: int) -> dict[str, Any]:
    """The configuration to write so that ``configuration_arn`` is attached, keeping what others set."""
    desired: dict[str, Any] = copy.deepcopy(dict(current or {}))
    targets = _targets(desired)
    if not has_eventbridge(desired):
        targets.append({"NotificationTarget": EVENTBRIDGE})
    desired.update(
        Disabled=False,
        DataRetentionInHours=retention_hours,
        StreamingNotificationTargets=targets,
        MediaInsightsConfiguration={"Disabled": False, "ConfigurationArn": configuration_arn},
    )
    return desired


def others_rely_on_streaming(current: Mapping[str, Any], prior: Prior, retention_set: int | None) -> bool:
    """Whether another tool has started relying on the connector's streaming since the attachment.

    Signs: a notification target other than EventBridge that was not there before (any, when the
    targets before were not recorded), or a retention other than the one this library set (or an
    unknown one).
    """
    if retention_set is None or current.get("DataRetentionInHours") != retention_set:
        return True
    before: set[str] | None = set(prior.targets) if prior.targets is not None else None
    if before is None and prior.streaming == "none":
        before = set()  # streaming was never configured: it had no targets
    now = _other_targets(current)
    return bool(now) if before is None else bool(now - before)


def detach(
    current: Mapping[str, Any] | None, *, prior: Prior, configuration_arn: str, retention_set: int | None
) -> Write | None:
    """What to write to detach ``configuration_arn`` and restore what the library set; None if nothing.

    ``retention_set`` is the retention the library set (``our_retention``), or None if it is unknown.
    """
    if current is None or attached_arn(current) != configuration_arn:
        return None  # gone, or not (or no longer) attached: not ours to restore
    relied_on = others_rely_on_streaming(current, prior, retention_set)
    restored = {k: copy.deepcopy(v) for k, v in current.items() if k != "MediaInsightsConfiguration"}
    targets = _targets(current)
    if prior.eventbridge_added:
        targets = [target for target in targets if target.get("NotificationTarget") != EVENTBRIDGE]
    if targets:
        restored["StreamingNotificationTargets"] = targets
    else:
        restored.pop("StreamingNotificationTargets", None)
    if (
        prior.retention is not None
        and retention_set is not None
        and current.get("DataRetentionInHours") == retention_set
    ):
        restored["DataRetentionInHours"] = prior.retention
    if prior.streaming in ("none", "off") and not current.get("Disabled") and not relied_on:
        if prior.streaming == "none" and not targets:
            return Write("delete")  # nothing but what the library set: back to "never configured"
        restored["Disabled"] = True
    return Write("put", restored)
