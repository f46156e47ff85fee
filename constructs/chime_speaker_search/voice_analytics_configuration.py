"""Media insights pipeline configuration with voice analytics, its sinks and its Voice Connectors."""

from __future__ import annotations

import weakref
from collections.abc import Callable, Sequence

from aws_cdk import Annotations, ArnFormat, CustomResource, Duration, Names, Stack, Token
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kinesis as kinesis
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sqs as sqs
from constructs import Construct, IConstruct

from ._regions import require_voice_analytics_region
from ._shared import (
    MEDIA_INSIGHTS_CONFIGURATION,
    OWNER_TAG,
    STREAMING_ASSOCIATION,
    SharedProvider,
    acknowledge,
    insights_stream,
    nag_resource_finding,
)
from ._validation import check_not_alias, check_pattern, check_whole_hours
from .voice_connector import (
    IVoiceConnector,
    already_associated_error,
    check_connector_region,
    check_voice_connector,
    identity_key,
    voice_connector_list,
)

#: The service that assumes the resource access role to run media insights pipelines.
MEDIA_PIPELINES_PRINCIPAL = "mediapipelines.chime.amazonaws.com"
#: The service-linked role the Voice Connector uses to stream calls and start pipelines.
VOICE_CONNECTOR_SERVICE = "voiceconnector.chime.amazonaws.com"

# Voice Connectors associated per app, to refuse a second association of the same connector.
_ASSOCIATED: weakref.WeakKeyDictionary[IConstruct, dict[str, str]] = weakref.WeakKeyDictionary()


class VoiceAnalyticsConfiguration(Construct):
    """A media insights pipeline configuration that runs voice analytics on Voice Connector calls.

    It owns the resource access role (assumed by ``mediapipelines.chime.amazonaws.com`` for
    this account and Region only, allowed to write to its own sinks only), the configuration
    (a custom resource, because ``AWS::Chime::MediaInsightsPipelineConfiguration`` cannot
    express a ``VoiceAnalyticsProcessor``), its sinks, and one streaming association per
    Voice Connector. Each association turns on the connector's streaming and attaches this
    configuration without touching settings it does not own; deleted, it detaches only this
    configuration and restores only what it set (streaming another tool started relying on
    stays on). Changes take about 5 minutes to reach new calls. Its Region must be one of
    :data:`~chime_speaker_search.VOICE_ANALYTICS_REGIONS`, as for :class:`SpeakerSearch`.

    The configuration carries the tag ``chime-speaker-search:stack`` (the stack ID): the
    library's custom-resource function updates, deletes, attaches and detaches only
    configurations that carry its own stack's. A configuration still in use when it is deleted
    (calls in progress) is retried for up to 45 minutes before the delete fails.

    :param voice_connectors: Connectors whose calls run voice analytics, each in the stack's Region.
        More can be added with :meth:`add_voice_connector`. A connector can be associated only
        once per app.
    :param notification_queue: Standard SQS queue that receives the voice analytics
        notifications (``AnalyticsReady``, speaker search results). Default: none.
    :param kinesis_stream: Kinesis data stream sink for the same notifications. Default: the
        stack's insights stream (1 provisioned shard, 24 h retention, KMS-encrypted), created once
        and shared by every configuration in the stack that uses the same key, when
        ``enable_kinesis_sink`` is true. AWS documents a Kinesis data stream as required for
        voice analytics; it costs about 11 USD a month per shard in us-east-1.
    :param enable_kinesis_sink: Whether the configuration has a Kinesis data stream sink.
        Default: ``True``. Setting it to ``False`` saves the stream's cost, but a configuration
        without one is undocumented by AWS.
    :param speaker_search: Turn on speaker search. Default: ``True``.
    :param voice_tone_analysis: Turn on voice tone analysis. Default: ``False``.
    :param streaming_data_retention: How long Kinesis Video Streams keeps each call's audio
        (``DataRetentionInHours``), 1 hour to 10 years in whole hours. A longer retention
        already set on a connector whose streaming was on is kept. Default: 24 hours.
    :param configuration_name: 2 to 64 characters of ``[0-9a-zA-Z._-]``, unique in the account
        and Region. Default: derived from the construct path. Changing it replaces the
        configuration (CloudFormation deletes the old one after the connectors move to the new one).
    :param encryption_key: Key of the shared stream this construct uses (one stream per key and
        stack). Default: the stack's chime-speaker-search data key.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        voice_connectors: Sequence[IVoiceConnector] = (),
        notification_queue: sqs.IQueue | None = None,
        kinesis_stream: kinesis.IStream | None = None,
        enable_kinesis_sink: bool = True,
        speaker_search: bool = True,
        voice_tone_analysis: bool = False,
        streaming_data_retention: Duration | None = None,
        configuration_name: str | None = None,
        encryption_key: kms.IKey | None = None,
    ) -> None:
        super().__init__(scope, id)
        voice_connectors = voice_connector_list("voice_connectors", voice_connectors)
        check_not_alias("encryption_key", encryption_key)
        if kinesis_stream is not None and not enable_kinesis_sink:
            raise ValueError(
                "kinesis_stream: a stream was given while enable_kinesis_sink is False; pass one or the other"
            )
        if not enable_kinesis_sink and notification_queue is None:
            raise ValueError(
                "enable_kinesis_sink: False leaves the configuration without any sink; "
                "give a notification_queue or keep the Kinesis data stream sink"
            )
        if not enable_kinesis_sink:
            Annotations.of(self).add_warning_v2(
                "chime-speaker-search:noKinesisSink",
                "enable_kinesis_sink is False: AWS documents a Kinesis data stream sink as required for "
                "voice analytics, and a configuration without one is undocumented.",
            )
        if not speaker_search and not voice_tone_analysis:
            raise ValueError(
                "speaker_search: False with voice_tone_analysis False turns voice analytics off; "
                "enable at least one of them"
            )
        check_pattern(
            "configuration_name",
            configuration_name,
            r"[0-9a-zA-Z._-]{2,64}",
            "2 to 64 characters of letters, digits, '.', '_' and '-'",
        )
        self._retention_hours = check_whole_hours(
            "streaming_data_retention", streaming_data_retention or Duration.hours(24), 1, 87600
        )
        require_voice_analytics_region(self, "VoiceAnalyticsConfiguration")
        stack = Stack.of(self)

        self.configuration_name = configuration_name or Names.unique_resource_name(
            self, max_length=64, separator="-"
        )
        self.configuration_arn = stack.format_arn(
            service="chime",
            resource="media-insights-pipeline-configuration",
            resource_name=self.configuration_name,
            arn_format=ArnFormat.SLASH_RESOURCE_NAME,
        )
        self.notification_queue = notification_queue
        self.kinesis_stream = kinesis_stream
        if enable_kinesis_sink and kinesis_stream is None:
            self.kinesis_stream = insights_stream(self, encryption_key)

        self.resource_access_role = iam.Role(
            self,
            "ResourceAccessRole",
            description="Lets Amazon Chime SDK media insights pipelines read call audio and write "
            "voice analytics notifications to this configuration's sinks",
            assumed_by=iam.ServicePrincipal(MEDIA_PIPELINES_PRINCIPAL).with_conditions(
                {
                    "StringEquals": {"aws:SourceAccount": stack.account},
                    "ArnLike": {
                        "aws:SourceArn": stack.format_arn(
                            service="chime", resource="*", arn_format=ArnFormat.NO_RESOURCE_NAME
                        )
                    },
                }
            ),
        )
        # Added with the first connector: an identity policy statement needs a resource.
        self._call_audio_statement: iam.PolicyStatement | None = None
        # The provider's statements every connector needs alike, granted with the first one.
        self._connector_statements_granted = False
        if self.notification_queue is not None:
            self.notification_queue.grant_send_messages(self.resource_access_role)
        if self.kinesis_stream is not None:
            self.kinesis_stream.grant_write(self.resource_access_role)
        acknowledge(
            self.resource_access_role,
            "CDK's grants to write to an encrypted queue or stream name KMS actions with wildcards "
            "(kms:GenerateDataKey*, kms:ReEncrypt*) on the one key that encrypts the sink.",
            "AwsSolutions-IAM5[Action::kms:GenerateDataKey*]",
            "AwsSolutions-IAM5[Action::kms:ReEncrypt*]",
        )

        self._provider = SharedProvider.of(self)
        self._provider.allow(
            ["chime:CreateMediaInsightsPipelineConfiguration"],
            ["*"],
            wildcard_reason="chime:CreateMediaInsightsPipelineConfiguration has no resource type in IAM.",
        )
        # Removal-safe permissions: CloudFormation deletes a configuration that left the template
        # only after it has updated the handler's policy, so Get/Delete cannot name the
        # configuration; they name this account's and Region's configurations instead (the API
        # refuses to delete one that is still attached to a connector, and the handler one that
        # does not carry this stack's owner tag, read with ListTagsForResource; a streaming
        # association reads the tag of whatever configuration a connector has attached).
        self._provider.allow(
            [
                "chime:GetMediaInsightsPipelineConfiguration",
                "chime:DeleteMediaInsightsPipelineConfiguration",
                "chime:ListTagsForResource",
            ],
            [
                stack.format_arn(
                    service="chime",
                    resource="media-insights-pipeline-configuration",
                    resource_name="*",
                    arn_format=ArnFormat.SLASH_RESOURCE_NAME,
                )
            ],
            wildcard_reason="A configuration removed from the stack is deleted after the handler's policy "
            "has been updated without it, so its name cannot be listed; Delete fails for a configuration "
            "that is still attached, the handler deletes only configurations tagged with this stack's ID, "
            "and Get and ListTagsForResource only read.",
        )
        # Exactly this configuration: the handler updates and tags it (TagResource also authorises
        # the owner tag on create); a streaming association's Put attaches it, and Put checks it (a
        # dependent Get). Whether IAM also authorises Put against the configuration's ARN (the
        # service authorization reference lists it as a resource type) is not documented: allowing
        # Put on exactly this configuration is right either way. A detach names no configuration,
        # so a removed association's Delete does not need this.
        self._provider.allow(
            [
                "chime:GetMediaInsightsPipelineConfiguration",
                "chime:PutVoiceConnectorStreamingConfiguration",
                "chime:TagResource",
                "chime:UpdateMediaInsightsPipelineConfiguration",
            ],
            [self.configuration_arn],
        )
        # Only this role, by exact ARN. No iam:PassedToService condition: the value IAM sees for
        # CreateMediaInsightsPipelineConfiguration is not documented, and a wrong one would fail
        # the first deploy; the exact role ARN already limits what can be passed.
        self._provider.allow(["iam:PassRole"], [self.resource_access_role.role_arn])
        properties: dict[str, object] = {
            "Name": self.configuration_name,
            "ResourceAccessRoleArn": self.resource_access_role.role_arn,
            "SpeakerSearch": "Enabled" if speaker_search else "Disabled",
            "VoiceToneAnalysis": "Enabled" if voice_tone_analysis else "Disabled",
            # The handler updates, deletes, attaches and detaches only configurations tagged with
            # this stack's ID. A property, so a configuration of an earlier version that lacks the
            # tag gets an Update (which tags it) when the stack is upgraded.
            "Tags": [{"Key": OWNER_TAG, "Value": stack.stack_id}],
        }
        if self.kinesis_stream is not None:
            self._provider.allow(["kinesis:DescribeStream"], [self.kinesis_stream.stream_arn])
            properties["KinesisDataStreamArn"] = self.kinesis_stream.stream_arn
        if self.notification_queue is not None:
            properties["SqsQueueArn"] = self.notification_queue.queue_arn
        self._resource = self._provider.custom_resource(
            self, "Resource", MEDIA_INSIGHTS_CONFIGURATION, properties
        )
        # The service checks the role's permissions when the configuration is created, so the
        # policy (not only the role, which the ARN reference already orders) must exist first.
        role_policy = self.resource_access_role.node.try_find_child("DefaultPolicy")
        if role_policy is not None:
            self._resource.node.add_dependency(role_policy)
        self.configuration_id = self._resource.get_att_string("ConfigurationId")

        self.voice_connectors: list[IVoiceConnector] = []
        self._listeners: list[Callable[[IVoiceConnector], None]] = []
        for voice_connector in voice_connectors:
            self.add_voice_connector(voice_connector)

    @property
    def streaming_data_retention_hours(self) -> int | str:
        return self._retention_hours

    def add_voice_connector(self, voice_connector: IVoiceConnector) -> CustomResource:
        """Stream ``voice_connector``'s calls through this configuration.

        Raises ``ValueError`` if the connector is already associated anywhere in this app: a
        connector has one media insights configuration, and two owners would detach each other.
        """
        check_voice_connector("voice_connector", voice_connector)
        check_connector_region(self, voice_connector)
        root = self.node.root
        owners = _ASSOCIATED.setdefault(root, {})
        key = identity_key(voice_connector)
        if key in owners:
            raise already_associated_error(voice_connector, owners[key], self.node.path)
        owners[key] = self.node.path
        self.voice_connectors.append(voice_connector)

        call_streams = Stack.of(self).format_arn(
            service="kinesisvideo",
            resource="stream",
            resource_name=f"ChimeVoiceConnector-{voice_connector.voice_connector_id}-*",
            arn_format=ArnFormat.SLASH_RESOURCE_NAME,
        )
        if self._call_audio_statement is None:
            self._call_audio_statement = iam.PolicyStatement(
                actions=["kinesisvideo:GetDataEndpoint", "kinesisvideo:GetMedia"]
            )
            self.resource_access_role.add_to_principal_policy(self._call_audio_statement)
        self._call_audio_statement.add_resources(call_streams)
        acknowledge(
            self.resource_access_role,
            "The Voice Connector streams each call leg to a new Kinesis video stream named "
            "ChimeVoiceConnector-<connector id>-<per-call id>; "
            "the role is scoped to this connector's prefix.",
            nag_resource_finding(self, call_streams),
        )
        provider = self._provider
        if not self._connector_statements_granted:
            provider.allow(
                ["iam:CreateServiceLinkedRole"],
                [
                    Stack.of(self).format_arn(
                        service="iam",
                        region="",
                        resource="role",
                        resource_name=f"aws-service-role/{VOICE_CONNECTOR_SERVICE}/"
                        "AWSServiceRoleForAmazonChimeVoiceConnector",
                        arn_format=ArnFormat.SLASH_RESOURCE_NAME,
                    )
                ],
                {"StringEquals": {"iam:AWSServiceName": VOICE_CONNECTOR_SERVICE}},
            )
            provider.allow(
                [
                    "chime:GetVoiceConnectorStreamingConfiguration",
                    "chime:PutVoiceConnectorStreamingConfiguration",
                    "chime:DeleteVoiceConnectorStreamingConfiguration",
                ],
                [Stack.of(self).format_arn(service="chime", resource="vc", resource_name="*")],
                wildcard_reason="A connector removed from the stack is detached after the handler's policy "
                "has been updated without it, so connector ARNs cannot be listed (a per-connector policy "
                "would hit IAM's 10,240-character limit per role at about 19 connectors); the handler "
                "changes only the connector named in its request and refuses one attached to another "
                "configuration.",
            )
            self._connector_statements_granted = True
        provider.serve_voice_connector(voice_connector.voice_connector_id)
        association = provider.custom_resource(
            self,
            _association_id(voice_connector),
            STREAMING_ASSOCIATION,
            {
                "VoiceConnectorId": voice_connector.voice_connector_id,
                "ConfigurationArn": self._resource.get_att_string("ConfigurationArn"),
                "DataRetentionInHours": str(self._retention_hours),
            },
        )
        for listener in self._listeners:
            listener(voice_connector)
        return association

    def _when_voice_connector_added(self, listener: Callable[[IVoiceConnector], None]) -> None:
        """Call ``listener`` for every connector added, including those added already."""
        self._listeners.append(listener)
        for voice_connector in self.voice_connectors:
            listener(voice_connector)


def _association_id(voice_connector: IVoiceConnector) -> str:
    """A construct ID that stays the same while the connector does.

    It must not depend on list order: a changed logical ID makes CloudFormation create the
    new association and then delete the old one, which would detach the configuration.
    """
    connector_id = voice_connector.voice_connector_id
    if not Token.is_unresolved(connector_id):
        return f"StreamingAssociation-{connector_id}"
    return f"StreamingAssociation-{Names.node_unique_id(voice_connector.node)}"
