"""Custom resource ``Custom::ChimeVoiceConnectorStreamingAssociation``: attach ONE media insights
pipeline configuration to ONE Voice Connector (service ``chime-sdk-voice``).

``index.on_event`` (the one on_event handler of the library's Provider) routes requests of this type
to ``handle``. CloudFormation delivers every property value as a string.

PutVoiceConnectorStreamingConfiguration replaces the connector's whole StreamingConfiguration, so this
handler reads, modifies and writes it back, changing only what it owns. AWS: association changes take
about 5 minutes to reach calls on the connector (the same after Delete).

Properties (``ServiceToken`` and ``ServiceTimeout`` are ignored; any other key is rejected):
    VoiceConnectorId       required; a Voice Connector ID, 22 lowercase letters and digits (``VC_ID_PATTERN``,
                           the construct's ``VOICE_CONNECTOR_ID_PATTERN``: a test keeps them equal).
    ConfigurationArn       required;
                           ``arn:<partition>:chime:<region>:<account>:media-insights-pipeline-configuration/<name>``.
    DataRetentionInHours   required; an integer >= 1 (a string such as "24"): KVS retention of the call audio.

Returned Data: ``VoiceConnectorId``.

Create / Update (same connector):
    Get the StreamingConfiguration (NotFoundException or an empty one = streaming never configured), then
    write back the same configuration with: Disabled=False; DataRetentionInHours = the configured hours, but
    never lower than what an already enabled stream had; the EventBridge notification target added if
    absent (SNS/SQS targets are kept); MediaInsightsConfiguration = {Disabled: False, ConfigurationArn}.
    If that is what the connector already has, nothing is written. If another configuration ARN is
    attached (not ours, and on Update not the previous ConfigurationArn), the request fails: it is never
    taken over.

Physical ID: ``<VoiceConnectorId>|streaming=<none|off|on>|eventbridge=<present|added>|retention=<hours|none>``
    It records the connector's state before the FIRST Create (Delete events carry no Data): whether streaming
    was unconfigured (none), disabled (off) or enabled (on), whether the EventBridge target was already there,
    and the retention it had (none if unconfigured). At most ~200 characters.
    Update with the same VoiceConnectorId returns the SAME ID (never re-encoded: a new ID would make
    CloudFormation delete the old one and detach the configuration). Retention on Update follows the new
    setting while the connector still has the value this association set, and is never lowered below a
    value someone else set. A new VoiceConnectorId gives a new ID for the new connector; CloudFormation then
    deletes the old association, which restores the old connector.

Delete:
    A physical ID that does not parse (a failed Create's placeholder) succeeds without any call. A connector
    or streaming configuration that is gone succeeds. If no configuration is attached, or one that is not this
    resource's ConfigurationArn, nothing is changed. Otherwise the MediaInsightsConfiguration is removed and:
    - streaming was ``none`` and no other notification target was added since (only our EventBridge target
      remains): DeleteVoiceConnectorStreamingConfiguration, i.e. back to unconfigured;
    - streaming was ``none`` (with other targets now present) or ``off``: Disabled=True;
    - streaming was ``on``: it stays as it is now;
    - an EventBridge target we added is removed (the list is omitted when nothing remains);
    - a retention we raised is set back to the recorded value (only while it still is the value we set).
    Everything else is written back exactly as found.

Known limit: if a Create is retried after its first attempt already attached the configuration, the state
observed is the already-modified one, so Delete then only detaches the configuration.

IAM actions the handler's role needs:
    chime:GetVoiceConnectorStreamingConfiguration, chime:PutVoiceConnectorStreamingConfiguration,
    chime:DeleteVoiceConnectorStreamingConfiguration
        arn:<partition>:chime:<region>:<account>:vc/<VoiceConnectorId>
    chime:GetMediaInsightsPipelineConfiguration  the ConfigurationArn (checked by the Put)
    iam:CreateServiceLinkedRole
        arn:<partition>:iam::<account>:role/aws-service-role/voiceconnector.chime.amazonaws.com/AWSServiceRoleForAmazonChimeVoiceConnector
        with iam:AWSServiceName = voiceconnector.chime.amazonaws.com (the role is created on first enable)

Clients for tests: ``handle(event, client, deadline)`` does the work with any object that has the boto3
``chime-sdk-voice`` methods; ``index.on_event`` passes ``_client()``, a lazily created real client that tests
can monkeypatch.

Shared code: ``call_api`` (every call through ``aws_calls.call``, the library's one retry loop and
error classification), ``ApiError``, ``Deadline`` and the request helpers come from
``cfn_custom_resource`` (lambda/_common/), which the construct ships beside index.py with
``aws_calls.py``; tests make backoff instant by monkeypatching ``aws_calls._sleep`` and ``_clock``.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from aws_calls import Deadline
from cfn_custom_resource import ApiError, call_api, dispatch, lazy_client, reject_unknown

if TYPE_CHECKING:
    from mypy_boto3_chime_sdk_voice import ChimeSDKVoiceClient

logger = logging.getLogger(__name__)
logger.setLevel(os.environ.get("AWS_LAMBDA_LOG_LEVEL", "INFO"))

#: A Voice Connector ID as every AWS example shows it (the API documents only 1-128 non-blank characters).
VC_ID_PATTERN = re.compile(r"[a-z0-9]{22}")
CONFIGURATION_ARN_PATTERN = re.compile(
    r"arn:aws[a-z-]*:chime:[a-z0-9-]+:\d{12}:media-insights-pipeline-configuration/[0-9a-zA-Z._-]{2,64}"
)
PHYSICAL_ID_PATTERN = re.compile(
    r"(?P<vc>[a-zA-Z0-9_-]{1,128})\|streaming=(?P<streaming>none|off|on)"
    r"\|eventbridge=(?P<eventbridge>present|added)\|retention=(?P<retention>\d{1,9}|none)"
)
RETENTION_PATTERN = re.compile(r"[0-9]{1,9}")
EVENTBRIDGE = "EventBridge"
KNOWN_PROPERTIES = {"VoiceConnectorId", "ConfigurationArn", "DataRetentionInHours"}
RESOURCE_TYPE = "Custom::ChimeVoiceConnectorStreamingAssociation"
#: The longest a request of this type may take: a Get and a Put (or Delete), each with its
#: throttling retries. The construct's service_timeout for the type is derived from it.
BUDGET_S = 120.0

_client = cast("Callable[[], ChimeSDKVoiceClient]", lazy_client("chime-sdk-voice"))


@dataclass(frozen=True)
class AssociationProps:
    voice_connector_id: str
    configuration_arn: str
    retention_hours: int


@dataclass(frozen=True)
class Prior:
    """The connector's streaming state before this association's first Create (kept in the physical ID)."""

    voice_connector_id: str
    streaming: str  # "none" | "off" | "on"
    eventbridge_added: bool
    retention: int | None

    @classmethod
    def observe(cls, voice_connector_id: str, current: Mapping[str, Any] | None) -> Prior:
        if current is None:
            return cls(voice_connector_id, "none", True, None)
        return cls(
            voice_connector_id,
            "off" if current.get("Disabled") else "on",
            not _has_eventbridge(current),
            current.get("DataRetentionInHours"),
        )

    @classmethod
    def parse(cls, physical_id: str) -> Prior | None:
        match = PHYSICAL_ID_PATTERN.fullmatch(physical_id)
        if match is None:
            return None
        retention = match["retention"]
        return cls(
            match["vc"],
            match["streaming"],
            match["eventbridge"] == "added",
            None if retention == "none" else int(retention),
        )

    def physical_id(self) -> str:
        eventbridge = "added" if self.eventbridge_added else "present"
        retention = "none" if self.retention is None else str(self.retention)
        state = f"streaming={self.streaming}|eventbridge={eventbridge}|retention={retention}"
        return f"{self.voice_connector_id}|{state}"


def _retention(value: Any) -> int | None:
    """DataRetentionInHours as an int >= 1 (CloudFormation sends "24"), or None if it is not one."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value if value >= 1 else None
    if isinstance(value, str) and RETENTION_PATTERN.fullmatch(value) and int(value) >= 1:
        return int(value)
    return None


def parse_properties(props: Mapping[str, Any]) -> AssociationProps:
    """Validate ResourceProperties; a bad value raises ValueError naming the property and what is allowed."""
    reject_unknown(props, KNOWN_PROPERTIES)
    vc_id = props.get("VoiceConnectorId")
    if not isinstance(vc_id, str) or not VC_ID_PATTERN.fullmatch(vc_id):
        raise ValueError(
            f"Invalid property VoiceConnectorId={vc_id!r}: expected a Voice Connector ID of 22 lowercase "
            "letters and digits, e.g. 'abcdef1ghij2klmno3pqr4'"
        )
    arn = props.get("ConfigurationArn")
    if not isinstance(arn, str) or not CONFIGURATION_ARN_PATTERN.fullmatch(arn):
        raise ValueError(
            f"Invalid property ConfigurationArn={arn!r}: expected "
            "arn:<partition>:chime:<region>:<account>:media-insights-pipeline-configuration/<name>"
        )
    hours = _retention(props.get("DataRetentionInHours"))
    if hours is None:
        raise ValueError(
            f"Invalid property DataRetentionInHours={props.get('DataRetentionInHours')!r}: "
            'expected an integer >= 1, e.g. "24"'
        )
    return AssociationProps(vc_id, arn, hours)


def _comparable(configuration: Mapping[str, Any] | None) -> dict[str, Any]:
    """Omitted booleans read as False, so a Get that leaves out defaults still matches."""
    comparable = dict(configuration or {})
    comparable.setdefault("Disabled", False)
    if comparable.get("MediaInsightsConfiguration") is not None:
        comparable["MediaInsightsConfiguration"] = {
            "Disabled": False,
            **comparable["MediaInsightsConfiguration"],
        }
    return comparable


def _has_eventbridge(configuration: Mapping[str, Any]) -> bool:
    targets = configuration.get("StreamingNotificationTargets") or []
    return any(target.get("NotificationTarget") == EVENTBRIDGE for target in targets)


def _attached_arn(configuration: Mapping[str, Any] | None) -> str | None:
    attached = (configuration or {}).get("MediaInsightsConfiguration") or {}
    arn: str | None = attached.get("ConfigurationArn")  # the API's Arn shape: a string of 1-1024 chars
    return arn


def _resource(voice_connector_id: str) -> str:
    return f"the streaming configuration of Voice Connector {voice_connector_id!r}"


def _get_current(
    client: ChimeSDKVoiceClient, voice_connector_id: str, deadline: Deadline
) -> dict[str, Any] | None:
    """The connector's StreamingConfiguration, or None when streaming was never configured."""
    try:
        response = call_api(
            "GetVoiceConnectorStreamingConfiguration",
            _resource(voice_connector_id),
            client.get_voice_connector_streaming_configuration,
            deadline=deadline,
            VoiceConnectorId=voice_connector_id,
        )
    except ApiError as exc:
        if exc.code == "NotFoundException":
            return None
        raise
    configuration = response.get("StreamingConfiguration")
    return dict(configuration) if configuration else None


def _put(
    client: ChimeSDKVoiceClient,
    voice_connector_id: str,
    configuration: Mapping[str, Any],
    deadline: Deadline,
) -> None:
    call_api(
        "PutVoiceConnectorStreamingConfiguration",
        _resource(voice_connector_id),
        client.put_voice_connector_streaming_configuration,
        deadline=deadline,
        VoiceConnectorId=voice_connector_id,
        StreamingConfiguration=configuration,
    )


def _our_retention(prior: Prior, configured: int) -> int:
    """The retention this association asks for: never below what an already enabled stream had."""
    if prior.streaming == "on" and prior.retention is not None:
        return max(prior.retention, configured)
    return configured


def _desired_retention(
    current: Mapping[str, Any] | None, prior: Prior, configured: int, previously_configured: int | None
) -> int:
    target = _our_retention(prior, configured)
    if current is None or current.get("Disabled"):
        return target
    now = int(current["DataRetentionInHours"])
    if previously_configured is not None and now == _our_retention(prior, previously_configured):
        return target  # the value is the one we set: follow the new setting, even downwards
    return max(now, target)  # someone else's value: never lower it


def _associate(
    props: AssociationProps,
    client: ChimeSDKVoiceClient,
    prior: Prior | None,
    allowed_arns: set[str],
    previously_configured: int | None,
    *,
    deadline: Deadline,
) -> dict[str, Any]:
    vc_id = props.voice_connector_id
    current = _get_current(client, vc_id, deadline)
    attached = _attached_arn(current)
    if attached is not None and attached not in allowed_arns:
        raise RuntimeError(
            f"Voice Connector {vc_id!r} already has the media insights pipeline configuration {attached!r} "
            f"attached, not {props.configuration_arn!r}; refusing to replace a configuration this resource "
            "does not own. Detach it from the connector first."
        )
    if prior is None:
        prior = Prior.observe(vc_id, current)

    desired: dict[str, Any] = dict(current or {})  # keeps every setting we do not own
    targets = [dict(target) for target in (current or {}).get("StreamingNotificationTargets") or []]
    if not _has_eventbridge(desired):
        targets.append({"NotificationTarget": EVENTBRIDGE})
    desired.update(
        Disabled=False,
        DataRetentionInHours=_desired_retention(current, prior, props.retention_hours, previously_configured),
        StreamingNotificationTargets=targets,
        MediaInsightsConfiguration={"Disabled": False, "ConfigurationArn": props.configuration_arn},
    )
    if _comparable(desired) != _comparable(current):
        _put(client, vc_id, desired, deadline)
        logger.info(
            "configuration_attached", extra={"voice_connector_id": vc_id, "prior": prior.physical_id()}
        )
    else:
        logger.info("already_attached", extra={"voice_connector_id": vc_id})
    return {"PhysicalResourceId": prior.physical_id(), "Data": {"VoiceConnectorId": vc_id}}


def _create(
    event: Mapping[str, Any], props: AssociationProps, client: ChimeSDKVoiceClient, deadline: Deadline
) -> dict[str, Any]:
    return _associate(props, client, None, {props.configuration_arn}, None, deadline=deadline)


def _update(
    event: Mapping[str, Any], props: AssociationProps, client: ChimeSDKVoiceClient, deadline: Deadline
) -> dict[str, Any]:
    prior = Prior.parse(event["PhysicalResourceId"])
    if prior is None or prior.voice_connector_id != props.voice_connector_id:
        # Another connector: a new association (new physical ID); CloudFormation deletes the old one.
        return _create(event, props, client, deadline)
    old = event.get("OldResourceProperties", {})
    allowed = {props.configuration_arn}
    if isinstance(old.get("ConfigurationArn"), str):
        allowed.add(old["ConfigurationArn"])  # switching from our previous configuration is not stealing
    return _associate(
        props, client, prior, allowed, _retention(old.get("DataRetentionInHours")), deadline=deadline
    )


def _delete(event: Mapping[str, Any], client: ChimeSDKVoiceClient, deadline: Deadline) -> dict[str, Any]:
    physical_id = event["PhysicalResourceId"]
    done = {"PhysicalResourceId": physical_id, "Data": {}}
    prior = Prior.parse(physical_id)
    if prior is None:
        logger.info("delete_skipped_unknown_physical_id")
        return done
    vc_id = prior.voice_connector_id
    props = event.get("ResourceProperties", {})  # read leniently: Delete must not fail on properties
    current = _get_current(client, vc_id, deadline)
    if current is None:
        logger.info("streaming_already_gone", extra={"voice_connector_id": vc_id})
        return done
    attached = _attached_arn(current)
    if attached is None or attached != props.get("ConfigurationArn"):
        # Only a connector that still has this resource's configuration attached is ours to restore.
        logger.info("delete_left_unchanged_not_ours", extra={"voice_connector_id": vc_id})
        return done

    targets = [dict(target) for target in current.get("StreamingNotificationTargets") or []]
    if prior.eventbridge_added:
        targets = [target for target in targets if target.get("NotificationTarget") != EVENTBRIDGE]
    if prior.streaming == "none" and not targets:
        # Nothing but what we added: back to "never configured".
        call_api(
            "DeleteVoiceConnectorStreamingConfiguration",
            _resource(vc_id),
            client.delete_voice_connector_streaming_configuration,
            deadline=deadline,
            VoiceConnectorId=vc_id,
        )
        logger.info("streaming_configuration_deleted", extra={"voice_connector_id": vc_id})
        return done

    restored = dict(current)
    del restored["MediaInsightsConfiguration"]  # present: ours is attached (checked above)
    if targets:
        restored["StreamingNotificationTargets"] = targets
    else:
        restored.pop("StreamingNotificationTargets", None)
    if prior.streaming in ("none", "off"):
        restored["Disabled"] = True
    configured = _retention(props.get("DataRetentionInHours"))
    if (
        prior.retention is not None
        and configured is not None
        and current.get("DataRetentionInHours") == _our_retention(prior, configured)
    ):
        restored["DataRetentionInHours"] = prior.retention
    _put(client, vc_id, restored, deadline)
    logger.info("configuration_detached", extra={"voice_connector_id": vc_id, "prior": physical_id})
    return done


def handle(event: Mapping[str, Any], client: ChimeSDKVoiceClient, deadline: Deadline) -> dict[str, Any]:
    """Run one CloudFormation custom resource request against ``client``, finishing before ``deadline``."""
    return dispatch(
        event, client, deadline, parse=parse_properties, create=_create, update=_update, delete=_delete
    )
