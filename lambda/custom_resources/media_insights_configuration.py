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
    Create               CreateMediaInsightsPipelineConfiguration with a deterministic ClientRequestToken
                         (sha256 of StackId|LogicalResourceId|RequestId; an idempotency token here).
    Update, Name new     a NEW configuration is created and its name returned; CloudFormation then deletes
                         the old one. (Compared with the physical ID, not OldResourceProperties.)
    Update, role or elements changed
                         UpdateMediaInsightsPipelineConfiguration (full replace of role and elements).
    Update, Tags         UntagResource / TagResource with only the difference, on the configuration ARN.
    Update, nothing changed
                         GetMediaInsightsPipelineConfiguration only (fills Data); no mutating call.
    Delete               DeleteMediaInsightsPipelineConfiguration. NotFound is success. ConflictException
                         (still associated with a Voice Connector, e.g. while a detach propagates, which takes
                         about 5 minutes) is retried for up to 10 minutes (``DELETE_CONFLICT_BUDGET_S``,
                         inside this type's ``BUDGET_S`` and the function's deadline), then reported as a
                         clear failure.
                         A physical ID that is not a configuration name (a failed Create's placeholder) is
                         skipped without any call.

IAM actions the handler's role needs:
    chime:CreateMediaInsightsPipelineConfiguration   Resource "*" (no resource type)
    chime:GetMediaInsightsPipelineConfiguration, chime:UpdateMediaInsightsPipelineConfiguration,
    chime:DeleteMediaInsightsPipelineConfiguration, chime:TagResource, chime:UntagResource
        arn:<partition>:chime:<region>:<account>:media-insights-pipeline-configuration/<Name>
        (the ARN uses the name; grant the old name too, or a prefix wildcard: after a Name change
        CloudFormation's clean-up deletes the OLD configuration with the NEW policy)
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
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from aws_calls import Deadline
from cfn_custom_resource import (
    ApiError,
    call_api,
    client_request_token,
    dispatch,
    lazy_client,
    parse_tags,
    reject_unknown,
    sync_tags,
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
# A detach takes about 5 minutes to propagate; a stack delete detaches and then deletes at once.
DELETE_CONFLICT_BUDGET_S = 600.0
#: ConflictException on Update ("multiple instances of the same request"): wait a little.
UPDATE_CONFLICT_BUDGET_S = 30.0
RESOURCE_TYPE = "Custom::ChimeMediaInsightsPipelineConfiguration"
#: The longest a request of this type may take: the delete's conflict wait plus a minute for the
#: other calls and their throttling retries. The construct's service_timeout is derived from it.
BUDGET_S = DELETE_CONFLICT_BUDGET_S + 60.0
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


@dataclass(frozen=True)
class ConfigurationProps:
    name: str
    role_arn: str
    elements: list[dict[str, Any]]
    tags: dict[str, str]


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


def _create(
    event: Mapping[str, Any],
    props: ConfigurationProps,
    client: ChimeSDKMediaPipelinesClient,
    deadline: Deadline,
) -> dict[str, Any]:
    kwargs: dict[str, Any] = {
        "MediaInsightsPipelineConfigurationName": props.name,
        "ResourceAccessRoleArn": props.role_arn,
        "Elements": props.elements,
        # boto3 would fill in a random token; a deterministic one makes a retried Create idempotent.
        "ClientRequestToken": client_request_token(event),
    }
    if props.tags:
        kwargs["Tags"] = [{"Key": k, "Value": v} for k, v in props.tags.items()]
    configuration = call_api(
        "CreateMediaInsightsPipelineConfiguration",
        _resource(props.name),
        client.create_media_insights_pipeline_configuration,
        deadline=deadline,
        **kwargs,
    )["MediaInsightsPipelineConfiguration"]
    logger.info("configuration_created", extra={"configuration_name": props.name})
    return _data(configuration)


def _update(
    event: Mapping[str, Any],
    props: ConfigurationProps,
    client: ChimeSDKMediaPipelinesClient,
    deadline: Deadline,
) -> dict[str, Any]:
    name = event["PhysicalResourceId"]
    if props.name != name:
        # Names cannot change in place: replace. CloudFormation deletes the old configuration afterwards.
        logger.info("configuration_replaced_for_new_name", extra={"old_configuration_name": name})
        return _create(event, props, client, deadline)

    old = _previous(event.get("OldResourceProperties", {}))
    configuration: Mapping[str, Any]
    if old is None or (old.role_arn, old.elements) != (props.role_arn, props.elements):
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
    else:
        configuration = call_api(
            "GetMediaInsightsPipelineConfiguration",
            _resource(name),
            client.get_media_insights_pipeline_configuration,
            deadline=deadline,
            Identifier=name,
        )["MediaInsightsPipelineConfiguration"]
    old_tags = old.tags if old is not None else {}
    sync_tags(
        client,
        configuration["MediaInsightsPipelineConfigurationArn"],
        _resource(name),
        old_tags,
        props.tags,
        deadline=deadline,
    )
    return _data(configuration)


def _delete(
    event: Mapping[str, Any], client: ChimeSDKMediaPipelinesClient, deadline: Deadline
) -> dict[str, Any]:
    name = event["PhysicalResourceId"]
    if not NAME_PATTERN.fullmatch(name):
        logger.info("delete_skipped_not_a_configuration_name")
        return {"PhysicalResourceId": name, "Data": {}}
    try:
        call_api(
            "DeleteMediaInsightsPipelineConfiguration",
            _resource(name),
            client.delete_media_insights_pipeline_configuration,
            deadline=deadline,
            conflict_budget_s=DELETE_CONFLICT_BUDGET_S,
            Identifier=name,
        )
        logger.info("configuration_deleted", extra={"configuration_name": name})
    except ApiError as exc:
        if exc.code == "NotFoundException":
            logger.info("configuration_already_gone", extra={"configuration_name": name})
        elif exc.code == "ConflictException":
            raise RuntimeError(
                f"{exc} -- still in use after up to {DELETE_CONFLICT_BUDGET_S:.0f} s of retries; "
                "detach it from every Voice Connector streaming configuration (changes take about 5 minutes "
                "to propagate) and retry the delete"
            ) from exc
        else:
            raise
    return {"PhysicalResourceId": name, "Data": {}}


def handle(
    event: Mapping[str, Any], client: ChimeSDKMediaPipelinesClient, deadline: Deadline
) -> dict[str, Any]:
    """Run one CloudFormation custom resource request against ``client``, finishing before ``deadline``."""
    return dispatch(
        event, client, deadline, parse=parse_properties, create=_create, update=_update, delete=_delete
    )
