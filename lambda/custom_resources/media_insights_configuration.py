"""Custom resource ``Custom::ChimeMediaInsightsPipelineConfiguration``: a media insights pipeline
configuration for voice analytics (service ``chime-sdk-media-pipelines``).

``index.on_event`` (the one on_event handler of the library's Provider) routes requests of this type
to ``handle``. CloudFormation delivers every property value as a string. The CloudFormation type
``AWS::Chime::MediaInsightsPipelineConfiguration`` cannot express a ``VoiceAnalyticsProcessor`` element or an
SQS sink, hence this custom resource.

Properties (``ServiceToken`` and ``ServiceTimeout`` are ignored; any other key is rejected):
    Name                   required; 2-64 chars of ``[0-9a-zA-Z._-]`` (chosen by the construct).
    ResourceAccessRoleArn  required; ``arn:<partition>:iam::<account>:role/<name>`` (assumed by
                           mediapipelines.chime.amazonaws.com).
    SpeakerSearch          "Enabled" | "Disabled"; default "Enabled".
    VoiceToneAnalysis      "Enabled" | "Disabled"; default "Disabled".
    KinesisDataStreamArn   optional; ``arn:<partition>:kinesis:<region>:<account>:stream/<name>``. AWS
                           documents a Kinesis data stream as required for voice analytics.
    SqsQueueArn            optional; a standard (not FIFO) queue
                           ``arn:<partition>:sqs:<region>:<account>:<name>``.
    Tags                   optional; list of ``{"Key": str, "Value": str}`` (at most 200, unique keys).
    At least one of KinesisDataStreamArn / SqsQueueArn is required.

Elements sent, in this order: VoiceAnalyticsProcessor {SpeakerSearchStatus, VoiceToneAnalysisStatus}, then
KinesisDataStreamSink (if given), then SqsQueueSink (if given).

Returned Data: ``ConfigurationArn``, ``ConfigurationName``, ``ConfigurationId``.

Physical ID: the configuration Name.

Who may ask (before any change): the request's StackId is this function's stack (index.py); the physical
ID is ``ResourceProperties.Name`` (on an Update that renames, ``OldResourceProperties.Name``); and the
configuration carries this stack's owner tag ``chime-speaker-search:stack`` (``ListTagsForResource``),
which Create sets whatever the properties say (a ``Tags`` entry naming another stack is refused).
    Create               CreateMediaInsightsPipelineConfiguration with a deterministic ClientRequestToken
                         (sha256 of StackId|LogicalResourceId|RequestId; an idempotency token here) and the
                         owner tag.
    Update, Name new     a NEW configuration is created and its name returned; CloudFormation then deletes
                         the old one. (Compared with the physical ID, not OldResourceProperties.) The old
                         one is not touched, so only the physical ID check applies.
    Update, same Name    GetMediaInsightsPipelineConfiguration and its tags first. Another stack's tag,
                         or no owner tag, refuses the Update, with one exception (the upgrade from a
                         version that did not tag configurations): a configuration with no owner tag at
                         all is adopted when the request's ResourceProperties or OldResourceProperties
                         carry no owner tag and its ResourceAccessRoleArn is the request's; the handler
                         then writes role and elements (UpdateMediaInsightsPipelineConfiguration passes
                         the role, and the function may pass only this stack's resource access roles)
                         and tags it.
    Update, role or elements changed
                         UpdateMediaInsightsPipelineConfiguration (full replace of role and elements).
    Update, Tags         UntagResource / TagResource with only the difference, on the configuration ARN;
                         the owner tag is never removed.
    Update, nothing changed
                         the Get and ListTagsForResource only (fills Data); no mutating call.
    Delete               the Get (NotFound: already gone, success) and the owner tag check, then ONE
                         DeleteMediaInsightsPipelineConfiguration (throttling retried). NotFound is success.
                         ConflictException or BadRequestException means the configuration is still in use
                         (attached to a Voice Connector, whose detach takes about 5 minutes to propagate, or
                         used by calls in progress, which can last an hour); AWS does not document which of
                         the two it answers, so both wait. The answer then says what it awaits
                         (``COMPLETION_KEY``), and the Provider framework's isComplete calls ``is_complete``
                         every query interval: it checks and tries the delete again, is complete once the
                         configuration is deleted or gone, and fails with a clear message once
                         ``IN_USE_WAIT_S`` (45 minutes) have passed since the first attempt, before the
                         framework's total timeout and CloudFormation's ServiceTimeout (see _shared.py).
                         A physical ID that is not a configuration name (a failed Create's placeholder) is
                         skipped without any call.

IAM actions the handler's role needs:
    chime:CreateMediaInsightsPipelineConfiguration   Resource "*" (no resource type)
    chime:GetMediaInsightsPipelineConfiguration, chime:DeleteMediaInsightsPipelineConfiguration,
    chime:ListTagsForResource
        arn:<partition>:chime:<region>:<account>:media-insights-pipeline-configuration/*
        (after a Name change CloudFormation's clean-up deletes the OLD configuration with the NEW policy)
    chime:UpdateMediaInsightsPipelineConfiguration, chime:TagResource
        arn:<partition>:chime:<region>:<account>:media-insights-pipeline-configuration/<Name>
        (TagResource is also what tag-on-create is authorised with)
    iam:PassRole                                      the ResourceAccessRoleArn role
    kinesis:DescribeStream                            the KinesisDataStreamArn stream (checked by the API)

Clients for tests: ``handle(event, client, deadline)`` does the work with any object that has the boto3
``chime-sdk-media-pipelines`` methods; ``index.on_event`` passes ``_client()``, a lazily created real client
that tests can monkeypatch.

Shared code: ``call_api`` (every call through ``aws_calls.call``, the library's one retry loop and
error classification), ``ApiError``, ``Deadline`` and the request helpers come from
``cfn_custom_resource`` (lambda/_common/), which the construct ships beside index.py with
``aws_calls.py``; tests make backoff instant by monkeypatching ``aws_calls._sleep`` and ``_clock``.
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any, cast

from aws_calls import Deadline
from cfn_custom_resource import (
    COMPLETION_KEY,
    ApiError,
    call_api,
    client_request_token,
    dispatch,
    lazy_client,
    parse_tags,
    reject_unknown,
    sync_tags,
)
from cfn_ownership import (
    OWNER_TAG,
    ForeignRequestError,
    Owner,
    owner_in,
    read_tags,
    refuse_unless_ours,
    with_owner_tag,
)

if TYPE_CHECKING:
    from mypy_boto3_chime_sdk_media_pipelines import ChimeSDKMediaPipelinesClient

logger = logging.getLogger(__name__)
logger.setLevel(os.environ.get("AWS_LAMBDA_LOG_LEVEL", "INFO"))

NAME_PATTERN = re.compile(r"[0-9a-zA-Z._-]{2,64}")
# The API's ARN pattern is ^arn[/:\-_.a-zA-Z0-9]+$, so IAM names with +=,@ are rejected here already.
ROLE_ARN_PATTERN = re.compile(r"arn:aws[a-z-]*:iam::\d{12}:role/[a-zA-Z0-9_./-]{1,512}")
STREAM_ARN_PATTERN = re.compile(r"arn:aws[a-z-]*:kinesis:[a-z0-9-]+:\d{12}:stream/[a-zA-Z0-9_.-]{1,128}")
QUEUE_ARN_PATTERN = re.compile(r"arn:aws[a-z-]*:sqs:[a-z0-9-]+:\d{12}:[a-zA-Z0-9_-]{1,80}")
STATUSES = ("Enabled", "Disabled")
MAX_TAGS = 200
#: ConflictException on Update ("multiple instances of the same request"): wait a little.
UPDATE_CONFLICT_BUDGET_S = 30.0
#: The answers of a Delete that mean "still in use": AWS documents neither for this case, and either
#: is plausible (409 for the state of the resource, 400 for a request the service refuses as is).
IN_USE_CODES = frozenset({"ConflictException", "BadRequestException"})
#: How long a Delete waits for a configuration to stop being in use (its detach to propagate, about
#: 5 minutes; calls in progress to end), counted from its first attempt. Below the Provider
#: framework's total timeout, which is below CloudFormation's ServiceTimeout (see _shared.py).
IN_USE_WAIT_S = 45 * 60.0
#: What a Delete's answer says it awaits while the configuration is in use (``COMPLETION_KEY``).
AWAITING_DELETION = "ConfigurationDeleted"
RESOURCE_TYPE = "Custom::ChimeMediaInsightsPipelineConfiguration"
#: The longest one on_event request of this type may take: a few calls, each with its throttling
#: retries, and up to 30 s of conflict on Update. A Delete in use waits in isComplete calls instead.
BUDGET_S = 120.0
KNOWN_PROPERTIES = {
    "Name",
    "ResourceAccessRoleArn",
    "SpeakerSearch",
    "VoiceToneAnalysis",
    "KinesisDataStreamArn",
    "SqsQueueArn",
    "Tags",
}

_client = cast("Callable[[], ChimeSDKMediaPipelinesClient]", lazy_client("chime-sdk-media-pipelines"))
# Wall-clock time (seconds since the epoch): a Delete's wait spans several invocations. Tests replace it.
_wall_clock: Callable[[], float] = time.time


@dataclass(frozen=True)
class ConfigurationProps:
    name: str
    role_arn: str
    elements: list[dict[str, Any]]
    tags: dict[str, str]


class Deletion(StrEnum):
    DELETED = "deleted"
    GONE = "gone"
    IN_USE = "in_use"


def _arn(props: Mapping[str, Any], key: str, pattern: re.Pattern[str], expected: str) -> str | None:
    value = props.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise ValueError(f"Invalid property {key}={value!r}: expected {expected}")
    return value


def _status(props: Mapping[str, Any], key: str, default: str) -> str:
    value = props.get(key, default)
    if value not in STATUSES:
        raise ValueError(f"Invalid property {key}={value!r}: allowed values are {list(STATUSES)}")
    return str(value)


def parse_properties(props: Mapping[str, Any]) -> ConfigurationProps:
    """Validate ResourceProperties; a bad value raises ValueError naming the property and what is allowed."""
    reject_unknown(props, KNOWN_PROPERTIES)
    name = props.get("Name")
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
        raise ValueError(f"Invalid property Name={name!r}: expected 2-64 characters of [0-9a-zA-Z._-]")
    role_arn = _arn(
        props,
        "ResourceAccessRoleArn",
        ROLE_ARN_PATTERN,
        "an IAM role ARN arn:<partition>:iam::<account>:role/<name>",
    )
    if role_arn is None:
        raise ValueError(
            "Missing property ResourceAccessRoleArn: the media pipelines resource access role ARN"
        )
    queue_arn = props.get("SqsQueueArn")
    if isinstance(queue_arn, str) and queue_arn.endswith(".fifo"):
        raise ValueError(
            f"Invalid property SqsQueueArn={queue_arn!r}: FIFO queues are not supported as sinks"
        )
    queue_arn = _arn(
        props,
        "SqsQueueArn",
        QUEUE_ARN_PATTERN,
        "a standard SQS queue ARN arn:<partition>:sqs:<region>:<account>:<name>",
    )
    stream_arn = _arn(
        props,
        "KinesisDataStreamArn",
        STREAM_ARN_PATTERN,
        "a Kinesis data stream ARN arn:<partition>:kinesis:<region>:<account>:stream/<name>",
    )
    if queue_arn is None and stream_arn is None:
        raise ValueError(
            "Missing sink: at least one of the properties SqsQueueArn / KinesisDataStreamArn is required"
        )

    elements: list[dict[str, Any]] = [
        {
            "Type": "VoiceAnalyticsProcessor",
            "VoiceAnalyticsProcessorConfiguration": {
                "SpeakerSearchStatus": _status(props, "SpeakerSearch", "Enabled"),
                "VoiceToneAnalysisStatus": _status(props, "VoiceToneAnalysis", "Disabled"),
            },
        }
    ]
    if stream_arn is not None:
        elements.append(
            {
                "Type": "KinesisDataStreamSink",
                "KinesisDataStreamSinkConfiguration": {"InsightsTarget": stream_arn},
            }
        )
    if queue_arn is not None:
        elements.append({"Type": "SqsQueueSink", "SqsQueueSinkConfiguration": {"InsightsTarget": queue_arn}})
    return ConfigurationProps(name, role_arn, elements, parse_tags(props.get("Tags"), MAX_TAGS))


def _previous(old: Mapping[str, Any]) -> ConfigurationProps | None:
    """OldResourceProperties, or None when they are invalid (a rollback after a failed Update)."""
    try:
        return parse_properties(old)
    except ValueError:
        return None


def _data(configuration: Mapping[str, Any]) -> dict[str, Any]:
    name = configuration["MediaInsightsPipelineConfigurationName"]
    return {
        "PhysicalResourceId": name,
        "Data": {
            "ConfigurationArn": configuration["MediaInsightsPipelineConfigurationArn"],
            "ConfigurationName": name,
            "ConfigurationId": configuration["MediaInsightsPipelineConfigurationId"],
        },
    }


def _resource(name: str) -> str:
    return f"media insights pipeline configuration {name!r}"


def _names_owner_tag(properties: Mapping[str, Any]) -> bool:
    """Whether raw properties carry an owner tag entry (templates before this version carry none)."""
    tags = properties.get("Tags")
    return isinstance(tags, list) and any(isinstance(t, dict) and t.get("Key") == OWNER_TAG for t in tags)


def _check_physical_id(name: str, properties: Mapping[str, Any], which: str) -> None:
    """The physical ID must name the configuration of the request's own properties."""
    if properties.get("Name") != name:
        raise ForeignRequestError(
            f"Refusing a request for {_resource(name)}: its {which} name {properties.get('Name')!r}; a "
            "request acts only on the configuration its own properties name"
        )


def _create(
    event: Mapping[str, Any],
    props: ConfigurationProps,
    client: ChimeSDKMediaPipelinesClient,
    deadline: Deadline,
) -> dict[str, Any]:
    tags = with_owner_tag(props.tags)
    kwargs: dict[str, Any] = {
        "MediaInsightsPipelineConfigurationName": props.name,
        "ResourceAccessRoleArn": props.role_arn,
        "Elements": props.elements,
        # boto3 would fill in a random token; a deterministic one makes a retried Create idempotent.
        "ClientRequestToken": client_request_token(event),
        "Tags": [{"Key": k, "Value": v} for k, v in tags.items()],
    }
    configuration = call_api(
        "CreateMediaInsightsPipelineConfiguration",
        _resource(props.name),
        client.create_media_insights_pipeline_configuration,
        deadline=deadline,
        **kwargs,
    )["MediaInsightsPipelineConfiguration"]
    logger.info("configuration_created", extra={"configuration_name": props.name})
    return _data(configuration)


def _get(name: str, client: ChimeSDKMediaPipelinesClient, deadline: Deadline) -> Mapping[str, Any]:
    configuration: Mapping[str, Any] = call_api(
        "GetMediaInsightsPipelineConfiguration",
        _resource(name),
        client.get_media_insights_pipeline_configuration,
        deadline=deadline,
        Identifier=name,
    )["MediaInsightsPipelineConfiguration"]
    return configuration


def _update(
    event: Mapping[str, Any],
    props: ConfigurationProps,
    client: ChimeSDKMediaPipelinesClient,
    deadline: Deadline,
) -> dict[str, Any]:
    name = event["PhysicalResourceId"]
    old_properties = event.get("OldResourceProperties", {})
    if props.name != name:
        # Names cannot change in place: replace. CloudFormation deletes the old configuration afterwards.
        _check_physical_id(name, old_properties, "OldResourceProperties")
        logger.info("configuration_replaced_for_new_name", extra={"old_configuration_name": name})
        return _create(event, props, client, deadline)

    configuration: Mapping[str, Any] = _get(name, client, deadline)
    arn = configuration["MediaInsightsPipelineConfigurationArn"]
    tags = read_tags(client, arn, _resource(name), deadline=deadline)
    if tags is None:
        raise RuntimeError(f"{_resource(name)} was deleted while it was being updated; retry the deployment")
    owner = owner_in(tags)
    adopt = owner is Owner.UNTAGGED and _adoptable(event, props, configuration)
    if not adopt:
        refuse_unless_ours(owner, "update", _resource(name))
    old = _previous(old_properties)
    if adopt or old is None or (old.role_arn, old.elements) != (props.role_arn, props.elements):
        # An adoption writes role and elements too: passing the role proves it is this stack's.
        configuration = call_api(
            "UpdateMediaInsightsPipelineConfiguration",
            _resource(name),
            client.update_media_insights_pipeline_configuration,
            deadline=deadline,
            conflict_budget_s=UPDATE_CONFLICT_BUDGET_S,
            Identifier=name,
            ResourceAccessRoleArn=props.role_arn,
            Elements=props.elements,
        )["MediaInsightsPipelineConfiguration"]
    # Diffed against OldResourceProperties (tags added outside CloudFormation stay), except the owner
    # tag, which is diffed against what the configuration carries.
    old_tags = {k: v for k, v in (old.tags if old is not None else {}).items() if k != OWNER_TAG}
    if OWNER_TAG in tags:
        old_tags[OWNER_TAG] = tags[OWNER_TAG]
    sync_tags(client, arn, _resource(name), old_tags, with_owner_tag(props.tags), deadline=deadline)
    if adopt:
        logger.info("configuration_adopted", extra={"configuration_name": name})
    return _data(configuration)


def _adoptable(event: Mapping[str, Any], props: ConfigurationProps, configuration: Mapping[str, Any]) -> bool:
    """Whether an untagged configuration is this resource's, deployed before configurations were tagged.

    Only an Update whose ResourceProperties or OldResourceProperties come from such a template (they
    carry no owner tag), for a configuration with the request's resource access role; the Update that
    follows passes that role, which the function may do only for this stack's roles.
    """
    legacy = not _names_owner_tag(event.get("ResourceProperties", {})) or not _names_owner_tag(
        event.get("OldResourceProperties", {})
    )
    return legacy and configuration.get("ResourceAccessRoleArn") == props.role_arn


def _delete_if_ours(
    name: str, client: ChimeSDKMediaPipelinesClient, deadline: Deadline
) -> tuple[Deletion, str | None]:
    """One delete attempt of this stack's configuration ``name``, never waiting for it to be unused:
    the outcome, and the error code that said it is in use."""
    try:
        arn = _get(name, client, deadline)["MediaInsightsPipelineConfigurationArn"]
    except ApiError as exc:
        if exc.code != "NotFoundException":
            raise
        return Deletion.GONE, None
    tags = read_tags(client, arn, _resource(name), deadline=deadline)
    if tags is None:
        return Deletion.GONE, None
    refuse_unless_ours(owner_in(tags), "delete", _resource(name))
    try:
        call_api(
            "DeleteMediaInsightsPipelineConfiguration",
            _resource(name),
            client.delete_media_insights_pipeline_configuration,
            deadline=deadline,
            Identifier=name,
        )
    except ApiError as exc:
        if exc.code == "NotFoundException":
            return Deletion.GONE, None
        if exc.code in IN_USE_CODES:
            logger.info("configuration_in_use", extra={"configuration_name": name, "errorCode": exc.code})
            return Deletion.IN_USE, exc.code
        raise
    return Deletion.DELETED, None


def _deleted(name: str, outcome: Deletion) -> None:
    if outcome is Deletion.DELETED:
        logger.info("configuration_deleted", extra={"configuration_name": name})
    else:
        logger.info("configuration_already_gone", extra={"configuration_name": name})


def _delete(
    event: Mapping[str, Any], client: ChimeSDKMediaPipelinesClient, deadline: Deadline
) -> dict[str, Any]:
    name = event["PhysicalResourceId"]
    done: dict[str, Any] = {"PhysicalResourceId": name, "Data": {}}
    if not NAME_PATTERN.fullmatch(name):
        logger.info("delete_skipped_not_a_configuration_name")
        return done
    _check_physical_id(name, event.get("ResourceProperties", {}), "ResourceProperties")
    outcome, _ = _delete_if_ours(name, client, deadline)
    if outcome is Deletion.IN_USE:
        # The Provider framework's isComplete calls is_complete until it is deleted (or gives up).
        return {**done, COMPLETION_KEY: {"Awaiting": AWAITING_DELETION, "Since": _wall_clock()}}
    _deleted(name, outcome)
    return done


def is_complete(
    event: Mapping[str, Any], client: ChimeSDKMediaPipelinesClient, deadline: Deadline
) -> dict[str, Any]:
    """The framework's isComplete for a Delete that found the configuration in use: try it again.

    Complete once the configuration is deleted or gone; not complete while it is still in use, until
    ``IN_USE_WAIT_S`` have passed since the first attempt, which fails with what to do.
    """
    awaited = event[COMPLETION_KEY]
    if not isinstance(awaited, dict):
        awaited = {}
    since = awaited.get("Since")
    if (
        event.get("RequestType") != "Delete"
        or awaited.get("Awaiting") != AWAITING_DELETION
        or not isinstance(since, int | float)
        or isinstance(since, bool)
    ):
        raise ValueError(f"Unsupported completion check {awaited!r} for a {event.get('RequestType')} request")
    name = event["PhysicalResourceId"]
    if not NAME_PATTERN.fullmatch(name):
        raise ValueError(f"Invalid physical ID {name!r}: expected a configuration name")
    _check_physical_id(name, event.get("ResourceProperties", {}), "ResourceProperties")
    outcome, code = _delete_if_ours(name, client, deadline)
    if outcome is not Deletion.IN_USE:
        _deleted(name, outcome)
        return {"IsComplete": True}
    waited_s = _wall_clock() - float(since)
    if waited_s >= IN_USE_WAIT_S:
        raise RuntimeError(
            f"DeleteMediaInsightsPipelineConfiguration failed for {_resource(name)}: {code}: still in use "
            f"after {waited_s / 60:.0f} minutes of retries; detach it from every Voice Connector streaming "
            "configuration (changes take about 5 minutes to propagate), let the calls in progress end, and "
            "retry the delete"
        )
    return {"IsComplete": False}


def handle(
    event: Mapping[str, Any], client: ChimeSDKMediaPipelinesClient, deadline: Deadline
) -> dict[str, Any]:
    """Run one CloudFormation custom resource request against ``client``, finishing before ``deadline``."""
    return dispatch(
        event, client, deadline, parse=parse_properties, create=_create, update=_update, delete=_delete
    )
