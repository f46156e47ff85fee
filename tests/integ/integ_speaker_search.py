"""Account verification kit: deploy SpeakerSearch into a sandbox account, assert, destroy.

Run by the CDK's integ-runner (never by pytest, which collects only ``test_*.py``):

- ``make test`` compares this app's synthesized templates with the committed snapshot in
  ``integ_speaker_search.py.snapshot/`` without credentials (``make integ-verify``);
- ``make integ-snapshot`` rewrites that snapshot, also without credentials;
- ``make integ`` deploys both stacks into the account of your credentials (us-east-1), runs the
  assertions below, destroys the stacks, checks what the deletion left behind
  (``account_check.py after-destroy``, a post-destroy hook) and prints the verdict.

Each assertion settles one assumption about AWS that the fakes under ``tests/`` cannot; the table
in docs/verifying-in-an-account.md maps assertion IDs (``AssertionResults<ID>`` in the
integ-runner output) to those assumptions.
"""

from __future__ import annotations

import json
import pathlib

import aws_cdk as cdk
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_sqs as sqs
from aws_cdk import cloud_assembly_schema as schema
from aws_cdk import custom_resources as cr
from aws_cdk.integ_tests_alpha import AwsApiCall, ExpectedResult, IntegTest, LambdaInvokeFunction, Match

from chime_speaker_search import (
    CONFIGURATION_DETACHED_DETAIL_TYPE,
    RESULT_EVENT_DETAIL_TYPE,
    RESULT_EVENT_SOURCE,
    CallLeg,
    SpeakerSearch,
    VoiceConnector,
    VoiceProfileDomain,
)
from chime_speaker_search.attachment_guard import AttachmentGuard

#: The tag the library's custom-resource function puts on every domain and configuration it creates
#: (the stack's ID as value) and requires before it changes one.
OWNER_TAG = "chime-speaker-search:stack"
#: The handler's log message for a start that failed (lambda/speaker_search/tasks.py: the
#: speaker search kind's ``<name>_start_failed``); the metric filter that shared it is gone.
_START_FAILED_MESSAGE = "speaker_search_start_failed"

#: Newest cloud assembly schema that the pinned integ-runner (2.197.10, the newest on npm here)
#: reads; aws-cdk-lib 2.275 labels its output 55. See label_for_runner(). Remove the shim when an
#: integ-runner that reads the library's schema is pinned.
RUNNER_SCHEMA_MAJOR = 53

#: Stack names (also read by account_check.py).
STACK_NAME = "ChimeSpeakerSearchInteg"
ASSERTION_STACK_NAME = "ChimeSpeakerSearchIntegAssertions"

#: Retention set on the connector before the library touches it: longer than the library's 24 h
#: default, so the association must keep it ("kept its other settings").
PRESET_RETENTION_HOURS = 48
#: Made-up call transactions: no such call exists, so a start must fail with a not-found or
#: bad-request error (anything else, AccessDenied above all, is a finding).
MADE_UP_TRANSACTION = "00000000-0000-4000-8000-00000000a001"
SYNTHETIC_RESULT_TRANSACTION = "00000000-0000-4000-8000-00000000a002"
SYNTHETIC_TASK_ID = "00000000-0000-4000-8000-00000000b001"
SYNTHETIC_PROFILE_ID = "vp-00000000-0000-4000-8000-00000000c001"
#: Start errors that prove the IAM path: the service looked for the call and did not find it.
EXPECTED_START_ERRORS = ("NotFoundException", "BadRequestException")


def _wait(call: AwsApiCall) -> None:
    """Poll the call until its expectation holds, for up to 5 minutes."""
    call.wait_for_assertions(
        total_timeout=cdk.Duration.minutes(5), interval=cdk.Duration.seconds(15), backoff_rate=1
    )


def _allow(call: AwsApiCall, actions: list[str], resources: list[str]) -> None:
    """Grant the assertion's Lambda (and its waiter's, if any) exactly what the call needs."""
    statement = {"Effect": "Allow", "Action": actions, "Resource": resources}
    call.provider.add_to_role_policy(statement)
    if call.waiter_provider is not None:
        call.waiter_provider.add_to_role_policy(statement)


class SpeakerSearchUnderTest(cdk.Stack):
    """What a user deploys, plus a connector with pre-existing streaming settings and a test target."""

    def __init__(self, scope: cdk.App, id: str) -> None:
        super().__init__(scope, id, description="chime-speaker-search integration test (safe to delete)")
        self.voice_connector = VoiceConnector(self, "Pbx")

        # Streaming settings that exist before the library attaches voice analytics: the
        # association must keep the longer retention and the EventBridge target it finds.
        preset = cr.AwsCustomResource(
            self,
            "PresetStreaming",
            on_create=cr.AwsSdkCall(
                service="ChimeSDKVoice",
                action="putVoiceConnectorStreamingConfiguration",
                parameters={
                    "VoiceConnectorId": self.voice_connector.voice_connector_id,
                    "StreamingConfiguration": {
                        "DataRetentionInHours": PRESET_RETENTION_HOURS,
                        "Disabled": False,
                        "StreamingNotificationTargets": [{"NotificationTarget": "EventBridge"}],
                    },
                },
                physical_resource_id=cr.PhysicalResourceId.of("preset-streaming"),
            ),
            policy=cr.AwsCustomResourcePolicy.from_statements(
                [
                    iam.PolicyStatement(
                        actions=["chime:PutVoiceConnectorStreamingConfiguration"],
                        resources=[self.voice_connector.voice_connector_arn],
                    )
                ]
            ),
            install_latest_aws_sdk=False,
        )

        # Retained by default (the library's default): after destroy it and its key must remain.
        self.retained_domain = VoiceProfileDomain(self, "RetainedDomain")
        # Deleted with the stack: proves DeleteVoiceProfileDomain is allowed by the stack-tag
        # condition (aws:ResourceTag), or the stack's deletion fails.
        VoiceProfileDomain(self, "DisposableDomain", removal_policy=cdk.RemovalPolicy.DESTROY)

        self.search = SpeakerSearch(
            self,
            "SpeakerSearch",
            voice_connectors=[self.voice_connector],
            call_leg=CallLeg.CALLEE,
            voice_profile_domain=self.retained_domain,
        )
        # The preset must be in place before the library reads the connector's settings.
        self.search.node.add_dependency(preset)

        self.results_queue = sqs.Queue(
            self, "ResultsQueue", encryption=sqs.QueueEncryption.SQS_MANAGED, enforce_ssl=True
        )
        self.search.on_speaker_search_result("ToResultsQueue", target=targets.SqsQueue(self.results_queue))
        # The attachment guard's reports, for the detach-and-repair assertions.
        self.detached_queue = sqs.Queue(
            self, "DetachedQueue", encryption=sqs.QueueEncryption.SQS_MANAGED, enforce_ssl=True
        )
        self.search.on_configuration_detached("ToDetachedQueue", target=targets.SqsQueue(self.detached_queue))
        guard = self.node.find_child(AttachmentGuard.CONSTRUCT_ID)
        assert isinstance(guard, AttachmentGuard)
        self.attachment_guard = guard


def _notification(detail_type: str, detail: dict[str, object], notification_id: str) -> dict[str, object]:
    """A voice analytics notification in the EventBridge-like envelope the sinks receive."""
    return {
        "version": "0",
        "id": notification_id,
        "detail-type": detail_type,
        "source": "aws.chime",
        "time": "2026-01-01T00:00:00Z",
        "resources": [],
        "detail": detail,
    }


def add_assertions(assertions: cdk.Stack, under_test: SpeakerSearchUnderTest) -> None:
    search = under_test.search
    domain = under_test.retained_domain
    configuration = search.configuration
    vc_id = under_test.voice_connector.voice_connector_id

    # 1. The domain exists and is encrypted with its own key.
    call = AwsApiCall(
        assertions,
        "DomainEncryptedWithItsKey",
        service="ChimeSDKVoice",
        api="getVoiceProfileDomain",
        parameters={"VoiceProfileDomainId": domain.voice_profile_domain_id},
    )
    call.expect(
        ExpectedResult.object_like(
            {
                "VoiceProfileDomain": {
                    "VoiceProfileDomainId": domain.voice_profile_domain_id,
                    "ServerSideEncryptionConfiguration": {"KmsKeyArn": domain.encryption_key.key_arn},
                }
            }
        )
    )
    _allow(call, ["chime:GetVoiceProfileDomain"], [domain.voice_profile_domain_arn])

    # 2. The configuration has the VoiceAnalyticsProcessor and both sinks (one call per element,
    #    so the assertion does not depend on the order in which the service returns them).
    assert configuration.kinesis_stream is not None
    elements = {
        "ConfigurationHasVoiceAnalyticsProcessor": {
            "Type": "VoiceAnalyticsProcessor",
            "VoiceAnalyticsProcessorConfiguration": {"SpeakerSearchStatus": "Enabled"},
        },
        "ConfigurationHasKinesisSink": {
            "Type": "KinesisDataStreamSink",
            "KinesisDataStreamSinkConfiguration": {"InsightsTarget": configuration.kinesis_stream.stream_arn},
        },
        "ConfigurationHasQueueSink": {
            "Type": "SqsQueueSink",
            "SqsQueueSinkConfiguration": {"InsightsTarget": search.queue.queue_arn},
        },
    }
    for assertion_id, element in elements.items():
        call = AwsApiCall(
            assertions,
            assertion_id,
            service="ChimeSDKMediaPipelines",
            api="getMediaInsightsPipelineConfiguration",
            parameters={"Identifier": configuration.configuration_name},
        )
        call.expect(
            ExpectedResult.object_like(
                {
                    "MediaInsightsPipelineConfiguration": {
                        "MediaInsightsPipelineConfigurationName": configuration.configuration_name,
                        "ResourceAccessRoleArn": configuration.resource_access_role.role_arn,
                        "Elements": Match.array_with([Match.object_like(element)]),
                    }
                }
            )
        )
        _allow(call, ["chime:GetMediaInsightsPipelineConfiguration"], [configuration.configuration_arn])

    # 3. The connector streams into the configuration and kept the settings it had.
    call = AwsApiCall(
        assertions,
        "ConnectorStreamsIntoConfiguration",
        service="ChimeSDKVoice",
        api="getVoiceConnectorStreamingConfiguration",
        parameters={"VoiceConnectorId": vc_id},
    )
    call.expect(
        ExpectedResult.object_like(
            {
                "StreamingConfiguration": {
                    "Disabled": False,
                    "DataRetentionInHours": PRESET_RETENTION_HOURS,
                    "StreamingNotificationTargets": Match.array_with([{"NotificationTarget": "EventBridge"}]),
                    "MediaInsightsConfiguration": {
                        "Disabled": False,
                        "ConfigurationArn": configuration.configuration_arn,
                    },
                }
            }
        )
    )
    _allow(
        call,
        ["chime:GetVoiceConnectorStreamingConfiguration"],
        [under_test.voice_connector.voice_connector_arn],
    )
    _guard_assertions(assertions, under_test, after=call)

    # 3b. The domain and the configuration carry this stack's owner tag, read as the handler reads
    #     it (ListTagsForResource on their ARNs): tag-on-create and the tag reads are authorised.
    owner_tag = {"Key": OWNER_TAG, "Value": cdk.Stack.of(under_test).stack_id}
    for assertion_id, service, arn in (
        ("DomainCarriesOwnerTag", "ChimeSDKVoice", domain.voice_profile_domain_arn),
        ("ConfigurationCarriesOwnerTag", "ChimeSDKMediaPipelines", configuration.configuration_arn),
    ):
        call = AwsApiCall(
            assertions,
            assertion_id,
            service=service,
            api="listTagsForResource",
            parameters={"ResourceARN": arn},
        )
        call.expect(ExpectedResult.object_like({"Tags": Match.array_with([owner_tag])}))
        _allow(call, ["chime:ListTagsForResource"], [arn])

    # 4. An AnalyticsReady for a call that does not exist reaches StartSpeakerSearchTask, which
    #    answers not-found/bad-request: the handler's role, the key and the queue all work.
    key_arns = [search.queue.encryption_master_key.key_arn] if search.queue.encryption_master_key else []
    ready = _notification(
        "VoiceAnalyticsStatus",
        {"detailStatus": "AnalyticsReady", "voiceConnectorId": vc_id, "transactionId": MADE_UP_TRANSACTION},
        "integ-analytics-ready",
    )
    send_ready = AwsApiCall(
        assertions,
        "SendMadeUpAnalyticsReady",
        service="SQS",
        api="sendMessage",
        parameters={
            "QueueUrl": search.queue.queue_url,
            "MessageBody": cdk.Stack.of(assertions).to_json_string(ready),
        },
    )
    _allow(send_ready, ["sqs:SendMessage"], [search.queue.queue_arn])
    _allow(send_ready, ["kms:GenerateDataKey", "kms:Decrypt"], key_arns)
    start_error = AwsApiCall(
        assertions,
        "StartRefusedAsNotFoundNotAccessDenied",
        service="CloudWatchLogs",
        api="filterLogEvents",
        parameters={
            "logGroupName": search.handler.log_group.log_group_name,
            "filterPattern": f'{{ $.message = "{_START_FAILED_MESSAGE}" && '
            f'$.transactionId = "{MADE_UP_TRANSACTION}" }}',
        },
    )
    start_error.expect(
        ExpectedResult.object_like(
            {
                "events": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "message": Match.string_like_regexp(
                                    '"errorCode":\\s*"(' + "|".join(EXPECTED_START_ERRORS) + ')"'
                                )
                            }
                        )
                    ]
                )
            }
        )
    )
    _wait(start_error)
    _allow(start_error, ["logs:FilterLogEvents"], [search.handler.log_group.log_group_arn])
    send_ready.next(start_error)

    # 5. A SpeakerSearchStatus reaches the test target as a Speaker Search Result event.
    status = _notification(
        "SpeakerSearchStatus",
        {
            "detailStatus": "IdentificationSuccessful",
            "taskId": SYNTHETIC_TASK_ID,
            "voiceConnectorId": vc_id,
            "transactionId": SYNTHETIC_RESULT_TRANSACTION,
            "isCaller": False,
            "speakerSearchDetails": {
                "results": [{"voiceProfileId": SYNTHETIC_PROFILE_ID, "confidenceScore": "0.91"}]
            },
        },
        "integ-speaker-search-status",
    )
    send_status = AwsApiCall(
        assertions,
        "SendSyntheticSpeakerSearchStatus",
        service="SQS",
        api="sendMessage",
        parameters={
            "QueueUrl": search.queue.queue_url,
            "MessageBody": cdk.Stack.of(assertions).to_json_string(status),
        },
    )
    _allow(send_status, ["sqs:SendMessage"], [search.queue.queue_arn])
    _allow(send_status, ["kms:GenerateDataKey", "kms:Decrypt"], key_arns)
    received = AwsApiCall(
        assertions,
        "ResultReachedTarget",
        service="SQS",
        api="receiveMessage",
        parameters={
            "QueueUrl": under_test.results_queue.queue_url,
            "MaxNumberOfMessages": 10,
            "WaitTimeSeconds": 10,
            # Leave the message visible, so that a later poll of the waiter sees it too.
            "VisibilityTimeout": 0,
        },
    )
    received.expect(
        ExpectedResult.object_like(
            {
                "Messages": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Body": Match.serialized_json(
                                    Match.object_like(
                                        {
                                            "source": RESULT_EVENT_SOURCE,
                                            "detail-type": RESULT_EVENT_DETAIL_TYPE,
                                            "detail": Match.object_like(
                                                {
                                                    "searchId": search.search_id,
                                                    "voiceConnectorId": vc_id,
                                                    "transactionId": SYNTHETIC_RESULT_TRANSACTION,
                                                    "callLeg": "Callee",
                                                    "taskId": SYNTHETIC_TASK_ID,
                                                    "status": "IdentificationSuccessful",
                                                    "bestMatch": {
                                                        "voiceProfileId": SYNTHETIC_PROFILE_ID,
                                                        "confidenceScore": 0.91,
                                                    },
                                                }
                                            ),
                                        }
                                    )
                                )
                            }
                        )
                    ]
                )
            }
        )
    )
    _wait(received)
    _allow(received, ["sqs:ReceiveMessage"], [under_test.results_queue.queue_arn])
    send_status.next(received)


def _guard_assertions(
    assertions: cdk.Stack, under_test: SpeakerSearchUnderTest, *, after: AwsApiCall
) -> None:
    """The attachment guard and the pipeline health rule, in this account.

    6. The guard finds the configuration attached: what it compares with is what AWS reports attached,
       and its role may read the connector. Then a rewrite as cdklabs' ``ChimeVoiceConnector`` makes it
       (streaming without ``MediaInsightsConfiguration``, no notification targets): the guard re-attaches
       it (its Put is authorised), keeps the 48 h retention, and its ``Analytics Configuration Detached``
       reaches a rule's target (PutEvents with its source and detail-type conditions). Chained after the
       connector assertion (3), which must see the configuration attached; the scheduled check may repair
       first, so the invoke only expects no failed check.
    7. EventBridge matches the health rule's ``$or`` pattern with a field inside an array of objects:
       the guide's element failure matches, the same pipeline with every element in progress does not.
    """
    search = under_test.search
    vc_id = under_test.voice_connector.voice_connector_id
    vc_arn = under_test.voice_connector.voice_connector_arn
    guard = under_test.attachment_guard.function
    payload = json.dumps({"searchId": search.search_id})

    attached = LambdaInvokeFunction(
        assertions, "GuardFindsConfigurationAttached", function_name=guard.function_name, payload=payload
    )
    attached.expect(
        ExpectedResult.object_like(
            {"Payload": Match.serialized_json(Match.object_like({"checked": 1, "detached": 0, "failed": 0}))}
        )
    )
    detach = AwsApiCall(
        assertions,
        "DetachLikeChimeVoiceConnector",
        service="ChimeSDKVoice",
        api="putVoiceConnectorStreamingConfiguration",
        parameters={
            "VoiceConnectorId": vc_id,
            "StreamingConfiguration": {"DataRetentionInHours": PRESET_RETENTION_HOURS, "Disabled": False},
        },
    )
    _allow(detach, ["chime:PutVoiceConnectorStreamingConfiguration"], [vc_arn])
    repair = LambdaInvokeFunction(
        assertions, "GuardRepairsDetachedConfiguration", function_name=guard.function_name, payload=payload
    )
    repair.expect(
        ExpectedResult.object_like({"Payload": Match.serialized_json(Match.object_like({"failed": 0}))})
    )
    reattached = AwsApiCall(
        assertions,
        "ConnectorReattachedByGuard",
        service="ChimeSDKVoice",
        api="getVoiceConnectorStreamingConfiguration",
        parameters={"VoiceConnectorId": vc_id},
    )
    reattached.expect(
        ExpectedResult.object_like(
            {
                "StreamingConfiguration": {
                    "Disabled": False,
                    "DataRetentionInHours": PRESET_RETENTION_HOURS,
                    "StreamingNotificationTargets": Match.array_with([{"NotificationTarget": "EventBridge"}]),
                    "MediaInsightsConfiguration": {
                        "Disabled": False,
                        "ConfigurationArn": search.configuration.configuration_arn,
                    },
                }
            }
        )
    )
    _wait(reattached)
    _allow(reattached, ["chime:GetVoiceConnectorStreamingConfiguration"], [vc_arn])
    reported = AwsApiCall(
        assertions,
        "DetachedEventReachedTarget",
        service="SQS",
        api="receiveMessage",
        parameters={
            "QueueUrl": under_test.detached_queue.queue_url,
            "MaxNumberOfMessages": 10,
            "WaitTimeSeconds": 10,
            "VisibilityTimeout": 0,
        },
    )
    event = {
        "source": RESULT_EVENT_SOURCE,
        "detail-type": CONFIGURATION_DETACHED_DETAIL_TYPE,
        "detail": Match.object_like(
            {
                "searchId": search.search_id,
                "voiceConnectorId": vc_id,
                "problem": "configuration_not_attached",
                "repaired": True,
            }
        ),
    }
    reported.expect(
        ExpectedResult.object_like(
            {
                "Messages": Match.array_with(
                    [Match.object_like({"Body": Match.serialized_json(Match.object_like(event))})]
                )
            }
        )
    )
    _wait(reported)
    _allow(reported, ["sqs:ReceiveMessage"], [under_test.detached_queue.queue_arn])
    after.next(attached).next(detach).next(repair).next(reattached).next(reported)

    rule = search.pipeline_health_rule.node.default_child
    assert isinstance(rule, cdk.aws_events.CfnRule)
    stack = cdk.Stack.of(assertions)
    pipeline_arn = f"arn:aws:chime:{cdk.Aws.REGION}:{cdk.Aws.ACCOUNT_ID}:media-pipeline/x"
    for assertion_id, statuses, matched in (
        ("PipelineRuleMatchesElementFailure", ("Failed", "InProgress"), True),
        ("PipelineRuleIgnoresElementsInProgress", ("InProgress", "InProgress"), False),
    ):
        element_event = {
            "version": "0",
            "id": f"integ-{assertion_id}",
            "detail-type": "Media Insights State Change",
            "source": "aws.chime",
            "account": cdk.Aws.ACCOUNT_ID,
            "time": "2026-01-01T00:00:00Z",
            "region": cdk.Aws.REGION,
            "resources": [],
            "detail": {
                "version": "0",
                "mediaInsightsPipelineArn": pipeline_arn,
                "eventType": "chime:MediaInsightsInProgress",
                "mediaInsightsPipelineElementStatuses": [
                    {"type": "VoiceAnalyticsProcessor", "status": statuses[0], "updatedOn": 1686184070655},
                    {"type": "SqsQueueSink", "status": statuses[1], "updatedOn": 1686184070655},
                ],
                "transactionId": MADE_UP_TRANSACTION,
                "voiceConnectorId": vc_id,
            },
        }
        call = AwsApiCall(
            assertions,
            assertion_id,
            service="EventBridge",
            api="testEventPattern",
            parameters={
                "EventPattern": stack.to_json_string(rule.event_pattern),
                "Event": stack.to_json_string(element_event),
            },
        )
        call.expect(ExpectedResult.object_like({"Result": matched}))
        # TestEventPattern has no resource type in IAM.
        _allow(call, ["events:TestEventPattern"], ["*"])


def label_for_runner(assembly_dir: str) -> None:
    """Label the cloud assembly with the newest schema version the pinned integ-runner reads.

    integ-runner refuses an assembly whose schema major is newer than the one it bundles, even
    when nothing in it is new to that schema. ``make integ-verify`` runs the runner with
    ``TESTING_CDK=1``, which makes it validate every relabelled manifest against its own schema
    with unknown attributes disallowed: an assembly that uses anything the older schema lacks
    fails there instead of being deployed with an instruction silently ignored.
    """
    for path in pathlib.Path(assembly_dir).glob("*.json"):
        document = json.loads(path.read_text())
        version = document.get("version") if isinstance(document, dict) else None
        if not isinstance(version, str) or not version[:1].isdigit():
            continue
        if int(version.split(".")[0]) > RUNNER_SCHEMA_MAJOR:
            document["version"] = f"{RUNNER_SCHEMA_MAJOR}.0.0"
            path.write_text(json.dumps(document, indent=2))


def main() -> None:
    app = cdk.App()
    under_test = SpeakerSearchUnderTest(app, STACK_NAME)
    assertions = cdk.Stack(
        app, ASSERTION_STACK_NAME, description="chime-speaker-search integration assertions"
    )
    IntegTest(
        app,
        "SpeakerSearchInteg",
        test_cases=[under_test],
        assertion_stack=assertions,
        # Voice analytics runs only in us-east-1 and us-west-2; the kit is written for us-east-1.
        regions=["us-east-1"],
        # A fresh sandbox has nothing to update; without the update workflow the snapshot also
        # keeps no copies of the handler code (asset hashes are masked in the comparison anyway).
        stack_update_workflow=False,
        hooks=schema.Hooks(
            # integ-runner runs hooks in this folder, with the caller's environment and credentials.
            post_destroy=["python account_check.py after-destroy"],
        ),
    )
    add_assertions(assertions, under_test)
    label_for_runner(app.synth().directory)


if __name__ == "__main__":
    main()
