"""Custom resource ``Custom::ChimeVoiceConnectorStreamingAssociation``: attach ONE media insights
pipeline configuration to ONE Voice Connector (service ``chime-sdk-voice``).

``index.on_event`` (the one on_event handler of the library's Provider) routes requests of this type
to ``handle``. CloudFormation delivers every property value as a string.

PutVoiceConnectorStreamingConfiguration replaces the connector's whole StreamingConfiguration, so this
handler reads, merges and writes it back, changing only what it owns, with the merge rules of
``streaming_settings`` (lambda/_common/, shared with every other writer of the library). AWS: association
changes take about 5 minutes to reach calls on the connector (the same after Delete).

Properties (``ServiceToken`` and ``ServiceTimeout`` are ignored; any other key is rejected):
    VoiceConnectorId       required; a Voice Connector ID, 22 lowercase letters and digits (``VC_ID_PATTERN``,
                           the construct's ``VOICE_CONNECTOR_ID_PATTERN``: a test keeps them equal).
    ConfigurationArn       required;
                           ``arn:<partition>:chime:<region>:<account>:media-insights-pipeline-configuration/<name>``.
    DataRetentionInHours   required; an integer >= 1 (a string such as "24"): KVS retention of the call audio.

Returned Data: ``VoiceConnectorId``.

Who may ask (before any change): the request's StackId is this function's stack (index.py); the physical
ID's connector is the ``VoiceConnectorId`` of ResourceProperties (on an Update that moves to another
connector, of OldResourceProperties); and a configuration is attached, replaced or detached only when it
carries this stack's owner tag (``ListTagsForResource`` through the media pipelines client). A
configuration that no longer exists may be detached (a dangling reference harms nobody), never attached.

Writes (every Create, Update and Delete): read, merge, re-read just before writing (a change since the
first read, e.g. while the owner tags were read, starts the round again), write, and re-read: when the
configuration is not what the write intended (another writer's write landed after ours), merge again
from what is there now, up to ``MAX_ROUNDS`` rounds. The API has no conditional write, so a write of
another tool that lands between our last read and our write is overwritten; a writer that re-reads
after writing, as this one does, repairs that.

Create / Update (same connector):
    ``streaming_settings.attach``: streaming on; retention the configured hours, never lower than what an
    already enabled stream had nor a value someone else set; the EventBridge notification target added if
    absent (SNS/SQS targets are kept); MediaInsightsConfiguration = {Disabled: False, ConfigurationArn}.
    If that is what the connector already has, nothing is written (and nothing checked). If another
    configuration ARN is attached (not ours, and on Update not the previous ConfigurationArn), the request
    fails: it is never taken over.

Physical ID: ``<VoiceConnectorId>|streaming=<none|off|on>|eventbridge=<present|added>|retention=<hours|none>``
    followed, when streaming was configured, by ``|targets=<none|SNS+SQS...>``. It records the connector's
    state before the FIRST Create (Delete events carry no Data): whether streaming was unconfigured (none),
    disabled (off) or enabled (on), whether the EventBridge target was already there, the retention it had
    (none if unconfigured) and its other notification targets. At most ~300 characters.
    Update with the same VoiceConnectorId returns the SAME ID (never re-encoded: a new ID would make
    CloudFormation delete the old one and detach the configuration). Retention on Update follows the new
    setting while the connector still has the value this association set, and is never lowered below a
    value someone else set. A new VoiceConnectorId gives a new ID for the new connector; CloudFormation then
    deletes the old association, which restores the old connector.

Delete (``streaming_settings.detach``):
    A physical ID that does not parse (a failed Create's placeholder) succeeds without any call. A connector
    or streaming configuration that is gone succeeds. If no configuration is attached, or one that is not this
    resource's ConfigurationArn, nothing is changed. Otherwise the MediaInsightsConfiguration is removed, an
    EventBridge target this association added is removed, a retention it raised is set back while it is still
    the value it set, and streaming that was off or unconfigured before is turned off again (or its
    configuration deleted when nothing else remains), unless another tool started relying on it since (a new
    notification target, another retention): then it stays on. Everything else is written back as found.

Known limit: if a Create is retried after its first attempt already attached the configuration, the state
observed is the already-modified one, so Delete then only detaches the configuration.

IAM actions the handler's role needs:
    chime:GetVoiceConnectorStreamingConfiguration, chime:PutVoiceConnectorStreamingConfiguration,
    chime:DeleteVoiceConnectorStreamingConfiguration
        arn:<partition>:chime:<region>:<account>:vc/<VoiceConnectorId>
    chime:GetMediaInsightsPipelineConfiguration  the ConfigurationArn (checked by the Put)
    chime:ListTagsForResource
        arn:<partition>:chime:<region>:<account>:media-insights-pipeline-configuration/*
    iam:CreateServiceLinkedRole
        arn:<partition>:iam::<account>:role/aws-service-role/voiceconnector.chime.amazonaws.com/AWSServiceRoleForAmazonChimeVoiceConnector
        with iam:AWSServiceName = voiceconnector.chime.amazonaws.com (the role is created on first enable)

Clients for tests: ``handle(event, client, deadline)`` does the work with any object that has the boto3
``chime-sdk-voice`` methods; ``index.on_event`` passes ``_client()``, a lazily created real client that tests
can monkeypatch. The configurations' tags are read with ``_configuration_client()``
(chime-sdk-media-pipelines), replaceable the same way.

Shared code: ``call_api`` (every call through ``aws_calls.call``, the library's one retry loop and
error classification), ``ApiError``, ``Deadline`` and the request helpers come from
``cfn_custom_resource`` (lambda/_common/), which the construct ships beside index.py with
``aws_calls.py``, ``cfn_ownership.py`` and ``streaming_settings.py``; tests make backoff instant by
monkeypatching ``aws_calls._sleep`` and ``_clock``.
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
from cfn_ownership import ForeignRequestError, Owner, check_served_connector, ownership, refuse_unless_ours
from streaming_settings import (
    Prior,
    Write,
    attach,
    attached_arn,
    comparable,
    desired_retention,
    detach,
    is_attached,
    our_retention,
)

if TYPE_CHECKING:
    from mypy_boto3_chime_sdk_media_pipelines import ChimeSDKMediaPipelinesClient
    from mypy_boto3_chime_sdk_voice import ChimeSDKVoiceClient

logger = logging.getLogger(__name__)
logger.setLevel(os.environ.get("AWS_LAMBDA_LOG_LEVEL", "INFO"))

#: A Voice Connector ID as every AWS example shows it (the API documents only 1-128 non-blank characters).
VC_ID_PATTERN = re.compile(r"[a-z0-9]{22}")
CONFIGURATION_ARN_PATTERN = re.compile(
    r"arn:aws[a-z-]*:chime:[a-z0-9-]+:\d{12}:media-insights-pipeline-configuration/[0-9a-zA-Z._-]{2,64}"
)
RETENTION_PATTERN = re.compile(r"[0-9]{1,9}")
KNOWN_PROPERTIES = {"VoiceConnectorId", "ConfigurationArn", "DataRetentionInHours"}
RESOURCE_TYPE = "Custom::ChimeVoiceConnectorStreamingAssociation"
#: Rounds of read, write and re-read before giving up on a configuration another writer keeps changing.
MAX_ROUNDS = 4
#: The longest a request of this type may take: up to MAX_ROUNDS rounds of three reads and a write,
#: and the tag reads, each with its throttling retries. The construct's service_timeout is derived from it.
BUDGET_S = 120.0

_client = cast("Callable[[], ChimeSDKVoiceClient]", lazy_client("chime-sdk-voice"))
_configuration_client = cast(
    "Callable[[], ChimeSDKMediaPipelinesClient]", lazy_client("chime-sdk-media-pipelines")
)


@dataclass(frozen=True)
class AssociationProps:
    voice_connector_id: str
    configuration_arn: str
    retention_hours: int


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


def _resource(voice_connector_id: str) -> str:
    return f"the streaming configuration of Voice Connector {voice_connector_id!r}"


def _configuration(arn: str) -> str:
    return f"media insights pipeline configuration {arn.rsplit('/', 1)[-1]!r}"


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


def _write(client: ChimeSDKVoiceClient, voice_connector_id: str, write: Write, deadline: Deadline) -> None:
    if write.action == "delete":
        call_api(
            "DeleteVoiceConnectorStreamingConfiguration",
            _resource(voice_connector_id),
            client.delete_voice_connector_streaming_configuration,
            deadline=deadline,
            VoiceConnectorId=voice_connector_id,
        )
        return
    call_api(
        "PutVoiceConnectorStreamingConfiguration",
        _resource(voice_connector_id),
        client.put_voice_connector_streaming_configuration,
        deadline=deadline,
        VoiceConnectorId=voice_connector_id,
        StreamingConfiguration=write.configuration,
    )


class _Owners:
    """The owner of each configuration this request looked at, read once per request."""

    def __init__(self, deadline: Deadline) -> None:
        self._deadline = deadline
        self._seen: dict[str, Owner] = {}

    def __call__(self, arn: str) -> Owner:
        if arn not in self._seen:
            client = _configuration_client()
            self._seen[arn] = ownership(client, arn, _configuration(arn), deadline=self._deadline)
        return self._seen[arn]


Plan = Callable[[dict[str, Any] | None], Write | None]


def _settle(
    client: ChimeSDKVoiceClient,
    voice_connector_id: str,
    plan: Plan,
    settled: Callable[[dict[str, Any] | None], bool],
    deadline: Deadline,
) -> Write | None:
    """Read, plan, re-read, write, re-read, until the write holds; return the last write (None: none needed).

    ``plan`` gives what to write for a configuration as read (None: nothing), raising to refuse;
    ``settled`` says whether a configuration read after the write has what the write intended.
    """
    current = _get_current(client, voice_connector_id, deadline)
    for attempt in range(1, MAX_ROUNDS + 1):
        write = plan(current)
        if write is None:
            return None
        latest = _get_current(client, voice_connector_id, deadline)
        if comparable(latest) != comparable(current):
            logger.info(
                "streaming_changed_before_write",
                extra={"voice_connector_id": voice_connector_id, "round": attempt},
            )
            current = latest
            continue
        _write(client, voice_connector_id, write, deadline)
        current = _get_current(client, voice_connector_id, deadline)
        if settled(current):
            return write
        logger.info(
            "streaming_write_lost", extra={"voice_connector_id": voice_connector_id, "round": attempt}
        )
    raise RuntimeError(
        f"Another writer changed {_resource(voice_connector_id)} in each of {MAX_ROUNDS} rounds of read, "
        "write and re-read; nothing of this request is known to hold. Find the other tool that writes the "
        "connector's streaming settings (see the README's composing section), then retry the deployment."
    )


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
    check_served_connector(vc_id)  # before any call: a crafted Create names any connector
    owners = _Owners(deadline)
    observed: list[Prior] = []

    def plan(current: dict[str, Any] | None) -> Write | None:
        attached = attached_arn(current)
        if attached is not None and attached not in allowed_arns:
            raise RuntimeError(
                f"Voice Connector {vc_id!r} already has the media insights pipeline configuration "
                f"{attached!r} attached, not {props.configuration_arn!r}; refusing to replace a "
                "configuration this resource does not own. Detach it from the connector first."
            )
        before = prior if prior is not None else Prior.observe(vc_id, current)
        observed[:] = [before]
        retention = desired_retention(current, before, props.retention_hours, previously_configured)
        desired = attach(current, props.configuration_arn, retention)
        if comparable(desired) == comparable(current):
            return None
        # About to write: what is attached must be this stack's, and what is replaced too (or gone).
        owner = owners(props.configuration_arn)
        if owner is Owner.GONE:
            raise RuntimeError(
                f"Refusing to attach {_configuration(props.configuration_arn)} to Voice Connector {vc_id!r}: "
                "it does not exist"
            )
        refuse_unless_ours(
            owner, f"attach to Voice Connector {vc_id!r}", _configuration(props.configuration_arn)
        )
        if attached is not None and attached != props.configuration_arn:
            refuse_unless_ours(
                owners(attached), f"detach from Voice Connector {vc_id!r}", _configuration(attached)
            )
        return Write("put", desired)

    def settled(after: dict[str, Any] | None) -> bool:
        return is_attached(after, props.configuration_arn)

    written = _settle(client, vc_id, plan, settled, deadline)
    (before,) = observed
    if written is not None:
        logger.info(
            "configuration_attached", extra={"voice_connector_id": vc_id, "prior": before.physical_id()}
        )
    else:
        logger.info("already_attached", extra={"voice_connector_id": vc_id})
    return {"PhysicalResourceId": before.physical_id(), "Data": {"VoiceConnectorId": vc_id}}


def _create(
    event: Mapping[str, Any], props: AssociationProps, client: ChimeSDKVoiceClient, deadline: Deadline
) -> dict[str, Any]:
    return _associate(props, client, None, {props.configuration_arn}, None, deadline=deadline)


def _check_connector(prior: Prior, properties: Mapping[str, Any], which: str) -> None:
    """The physical ID's connector must be the one the request's own properties name."""
    if properties.get("VoiceConnectorId") != prior.voice_connector_id:
        raise ForeignRequestError(
            f"Refusing a request for {_resource(prior.voice_connector_id)}: its {which} name Voice "
            f"Connector {properties.get('VoiceConnectorId')!r}; a request acts only on the connector its own "
            "properties name"
        )


def _update(
    event: Mapping[str, Any], props: AssociationProps, client: ChimeSDKVoiceClient, deadline: Deadline
) -> dict[str, Any]:
    prior = Prior.parse(event["PhysicalResourceId"])
    old = event.get("OldResourceProperties", {})
    if prior is None:
        # Not an association's ID: nothing it names is touched; attach as a new association does.
        return _create(event, props, client, deadline)
    if prior.voice_connector_id != props.voice_connector_id:
        # Another connector: a new association (new physical ID); CloudFormation deletes the old one.
        _check_connector(prior, old, "OldResourceProperties")
        return _create(event, props, client, deadline)
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
    props = event.get("ResourceProperties", {})  # read leniently: Delete must not fail on their values
    _check_connector(prior, props, "ResourceProperties")
    arn = props.get("ConfigurationArn")
    configured = _retention(props.get("DataRetentionInHours"))
    retention_set = our_retention(prior, configured) if configured is not None else None
    owners = _Owners(deadline)
    seen: list[dict[str, Any] | None] = []

    def plan(current: dict[str, Any] | None) -> Write | None:
        seen[:] = [current]
        if not isinstance(arn, str):
            return None  # the properties name no configuration: none of this connector's is provably ours
        write = detach(current, prior=prior, configuration_arn=arn, retention_set=retention_set)
        if write is not None:
            # A configuration that no longer exists is a dangling reference: detaching it harms nobody.
            refuse_unless_ours(owners(arn), f"detach from Voice Connector {vc_id!r}", _configuration(arn))
        return write

    def settled(after: dict[str, Any] | None) -> bool:
        return bool(attached_arn(after) != arn)

    written = _settle(client, vc_id, plan, settled, deadline)
    if written is None:
        (current,) = seen
        if current is None:
            logger.info("streaming_already_gone", extra={"voice_connector_id": vc_id})
        else:
            # Only a connector that still has this resource's configuration attached is ours to restore.
            logger.info("delete_left_unchanged_not_ours", extra={"voice_connector_id": vc_id})
    elif written.action == "delete":
        logger.info("streaming_configuration_deleted", extra={"voice_connector_id": vc_id})
    else:
        logger.info("configuration_detached", extra={"voice_connector_id": vc_id, "prior": physical_id})
    return done


def handle(event: Mapping[str, Any], client: ChimeSDKVoiceClient, deadline: Deadline) -> dict[str, Any]:
    """Run one CloudFormation custom resource request against ``client``, finishing before ``deadline``."""
    return dispatch(
        event, client, deadline, parse=parse_properties, create=_create, update=_update, delete=_delete
    )
