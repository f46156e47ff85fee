"""index.on_event: routing on ResourceType, deadlines from the Lambda context, and the upgrade Update.

Upgrade: a stack deployed with one Provider per type, moved to the one shared Provider, would see
each custom resource's ServiceToken change; a stack that keeps its tokens (the context key
``chime-speaker-search:keepThreeProviderServiceTokens``) still gains the ServiceTimeout property.
Either way CloudFormation's Update carries the same properties otherwise, and must change nothing.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import pytest

from tests.custom_resources.conftest import FakeClock, FakeContext, Invoke
from tests.custom_resources.fakes import (
    FakeChimeSdkMediaPipelines,
    FakeChimeSdkVoice,
    FakeService,
    cfn_event,
)

OLD_TOKEN = (
    "arn:aws:lambda:us-east-1:111122223333:function:TestStack-ChimeSpeakerSearchVoiceProf-AAAAAAAAAAAA"
)
NEW_TOKEN = (
    "arn:aws:lambda:us-east-1:111122223333:function:TestStack-ChimeSpeakerSearchCustomRes-BBBBBBBBBBBB"
)
VC = "abcdef1ghij2klmno3pqr4"
CONFIGURATION_ARN = (
    "arn:aws:chime:us-east-1:111122223333:media-insights-pipeline-configuration/TestStack-SpeakerSearch"
)
KEY = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
STACK_TAG = [{"Key": "chime-speaker-search:stack", "Value": "arn:aws:cloudformation:us-east-1:1:stack/x/y"}]
PROPERTIES: dict[str, dict[str, Any]] = {
    "voice_profile_domain": {"Name": "TestStack-SpeakerSearch-Domain", "KmsKeyArn": KEY, "Tags": STACK_TAG},
    "media_insights_configuration": {
        "Name": "TestStack-SpeakerSearch",
        "ResourceAccessRoleArn": "arn:aws:iam::111122223333:role/TestStack-ResourceAccessRole",
        "SpeakerSearch": "Enabled",
        "VoiceToneAnalysis": "Disabled",
        "KinesisDataStreamArn": "arn:aws:kinesis:us-east-1:111122223333:stream/TestStack-InsightsStream",
        "SqsQueueArn": "arn:aws:sqs:us-east-1:111122223333:TestStack-NotificationQueue",
    },
    "streaming_association": {
        "VoiceConnectorId": VC,
        "ConfigurationArn": CONFIGURATION_ARN,
        "DataRetentionInHours": "24",
    },
}
#: What changes between the deployed template and the upgraded one, as CloudFormation sends it.
UPGRADES = {
    "new-service-token": ({"ServiceToken": NEW_TOKEN}, {"ServiceToken": OLD_TOKEN}),
    "service-timeout-added": (
        {"ServiceToken": OLD_TOKEN, "ServiceTimeout": "240"},
        {"ServiceToken": OLD_TOKEN},
    ),
    "both": ({"ServiceToken": NEW_TOKEN, "ServiceTimeout": "780"}, {"ServiceToken": OLD_TOKEN}),
}


def _service(
    module_name: str, voice: FakeChimeSdkVoice, pipelines: FakeChimeSdkMediaPipelines
) -> FakeService:
    return pipelines if module_name == "media_insights_configuration" else voice


@pytest.mark.parametrize("module_name", list(PROPERTIES))
@pytest.mark.parametrize("upgrade", list(UPGRADES))
def test_the_upgrade_update_changes_nothing_in_the_account(
    module_name: str,
    upgrade: str,
    request: pytest.FixtureRequest,
    voice: FakeChimeSdkVoice,
    pipelines: FakeChimeSdkMediaPipelines,
    invoke: Invoke,
) -> None:
    module: ModuleType = request.getfixturevalue(
        {
            "voice_profile_domain": "domain_handler",
            "media_insights_configuration": "configuration_handler",
            "streaming_association": "association_handler",
        }[module_name]
    )
    voice.connectors.add(VC)
    service = _service(module_name, voice, pipelines)
    properties = PROPERTIES[module_name]
    new_extra, old_extra = UPGRADES[upgrade]
    created = invoke(
        module, service, {**cfn_event("Create", {}), "ResourceProperties": {**properties, **old_extra}}
    )
    service.reset_calls()

    event = {
        **cfn_event("Update", {}, physical_id=created["PhysicalResourceId"]),
        "ResourceProperties": {**properties, **new_extra},
        "OldResourceProperties": {**properties, **old_extra},
    }
    result = invoke(module, service, event)

    assert result["PhysicalResourceId"] == created["PhysicalResourceId"]
    assert result["Data"] == created["Data"]
    assert service.mutating_calls == []
    assert service.calls, "the handler read the resource it compares against"


def test_requests_are_routed_on_their_resource_type(index: ModuleType) -> None:
    assert set(index.HANDLERS) == {
        "Custom::ChimeVoiceProfileDomain",
        "Custom::ChimeMediaInsightsPipelineConfiguration",
        "Custom::ChimeVoiceConnectorStreamingAssociation",
    }
    for resource_type, module in index.HANDLERS.items():
        assert resource_type == module.RESOURCE_TYPE

    event = {**cfn_event("Create", {}), "ResourceType": "Custom::Test"}
    with pytest.raises(ValueError, match=r"Unsupported ResourceType 'Custom::Test': expected one of \["):
        index.on_event(event, None)
    with pytest.raises(ValueError, match="Unsupported ResourceType None"):
        index.on_event({k: v for k, v in event.items() if k != "ResourceType"}, None)


def test_no_attempt_starts_without_time_to_finish_it(
    domain_handler: ModuleType,
    voice: FakeChimeSdkVoice,
    invoke: Invoke,
    shared: ModuleType,
    index: ModuleType,
) -> None:
    """With less than one attempt's worst case (connect + read timeout) left before the Lambda
    deadline minus the margin, the request fails at once with a clear reason and calls nothing."""
    remaining_s = index.SAFETY_MARGIN_S + shared.ATTEMPT_COST_S - 1

    with pytest.raises(
        RuntimeError, match=r"CreateVoiceProfileDomain failed .*DeadlineExceeded: not enough time left"
    ):
        invoke(
            domain_handler,
            voice,
            cfn_event("Create", PROPERTIES["voice_profile_domain"]),
            remaining_s=remaining_s,
        )

    assert voice.calls == []


def test_a_conflict_wait_ends_at_the_lambda_deadline_not_at_its_own_budget(
    configuration_handler: ModuleType,
    pipelines: FakeChimeSdkMediaPipelines,
    invoke: Invoke,
    sleeps: list[float],
    clock: FakeClock,
    shared: ModuleType,
    index: ModuleType,
) -> None:
    """The delete's 600 s conflict budget is cut short by the function's remaining time (from the
    context, on the clock), so the failure is reported before the function would time out."""
    properties = PROPERTIES["media_insights_configuration"]
    invoke(configuration_handler, pipelines, cfn_event("Create", properties))
    pipelines.in_use.add(properties["Name"])
    remaining_s = 200.0
    started = clock.now

    with pytest.raises(RuntimeError, match="still in use"):
        invoke(
            configuration_handler,
            pipelines,
            cfn_event("Delete", properties, physical_id=properties["Name"]),
            remaining_s=remaining_s,
        )

    elapsed = clock.now - started
    assert elapsed == pytest.approx(sum(sleeps))
    # Every attempt started with time to finish before the deadline (context time minus the margin).
    assert elapsed <= remaining_s - index.SAFETY_MARGIN_S - shared.ATTEMPT_COST_S
    assert elapsed < configuration_handler.DELETE_CONFLICT_BUDGET_S
    assert pipelines.count("DeleteMediaInsightsPipelineConfiguration") == len(sleeps) + 1


def test_without_a_context_the_types_budget_applies(
    configuration_handler: ModuleType,
    pipelines: FakeChimeSdkMediaPipelines,
    invoke: Invoke,
    sleeps: list[float],
    shared: ModuleType,
) -> None:
    properties = PROPERTIES["media_insights_configuration"]
    invoke(configuration_handler, pipelines, cfn_event("Create", properties))
    pipelines.in_use.add(properties["Name"])

    with pytest.raises(RuntimeError, match="still in use"):
        invoke(
            configuration_handler,
            pipelines,
            cfn_event("Delete", properties, physical_id=properties["Name"]),
            remaining_s=None,
        )

    budget = configuration_handler.DELETE_CONFLICT_BUDGET_S
    assert budget - shared.BACKOFF_CAP_S < sum(sleeps) <= budget


def test_the_fake_context_counts_down_on_the_fake_clock(clock: FakeClock) -> None:
    context = FakeContext(clock, 30.0)
    clock.now += 12.5
    assert context.get_remaining_time_in_millis() == 17_500
