"""index.on_event: routing on ResourceType, the stack check, deadlines, isComplete calls, the upgrade Update.

Upgrade: a stack deployed with one Provider per type, moved to the one shared Provider, would see
each custom resource's ServiceToken change; a stack that keeps its tokens (the context key
``chime-speaker-search:keepThreeProviderServiceTokens``) still gains the ServiceTimeout property.
Either way CloudFormation's Update carries the same properties otherwise, and must change nothing.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import pytest

from tests.custom_resources.conftest import COMPLETION_KEY, FakeClock, FakeContext, Invoke, load
from tests.custom_resources.fakes import (
    OTHER_STACK_ID,
    OWNED,
    OWNER_TAG,
    STACK_ID,
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
STACK_TAG = [{"Key": OWNER_TAG, "Value": STACK_ID}]
PROPERTIES: dict[str, dict[str, Any]] = {
    "voice_profile_domain": {"Name": "TestStack-SpeakerSearch-Domain", "KmsKeyArn": KEY, "Tags": STACK_TAG},
    "media_insights_configuration": {
        "Name": "TestStack-SpeakerSearch",
        "ResourceAccessRoleArn": "arn:aws:iam::111122223333:role/TestStack-ResourceAccessRole",
        "SpeakerSearch": "Enabled",
        "VoiceToneAnalysis": "Disabled",
        "KinesisDataStreamArn": "arn:aws:kinesis:us-east-1:111122223333:stream/TestStack-InsightsStream",
        "SqsQueueArn": "arn:aws:sqs:us-east-1:111122223333:TestStack-NotificationQueue",
        "Tags": STACK_TAG,
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
    module = load(module_name)
    voice.connectors.add(VC)
    if module_name == "streaming_association":
        pipelines.seed("TestStack-SpeakerSearch", tags=OWNED)
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


# --- who may ask ---------------------------------------------------------------------------------


def _requests(module_name: str) -> list[dict[str, Any]]:
    """A Create, an Update and a Delete of the type, each a request this stack would send."""
    properties = PROPERTIES[module_name]
    physical_id = {
        "voice_profile_domain": "2b6b1d0c-4c4f-4f40-8d2a-0c6f6a7c1e11",
        "media_insights_configuration": properties.get("Name", ""),
        "streaming_association": f"{VC}|streaming=none|eventbridge=added|retention=none",
    }[module_name]
    return [
        cfn_event("Create", properties),
        cfn_event("Update", properties, physical_id=physical_id, old_properties=properties),
        cfn_event("Delete", properties, physical_id=physical_id),
    ]


@pytest.mark.parametrize("module_name", list(PROPERTIES))
@pytest.mark.parametrize("stack_id", [OTHER_STACK_ID, STACK_ID.replace("telephony", "telephonyX"), None, ""])
def test_a_request_of_another_stack_is_refused_before_any_call(
    module_name: str,
    stack_id: str | None,
    voice: FakeChimeSdkVoice,
    pipelines: FakeChimeSdkMediaPipelines,
    invoke: Invoke,
) -> None:
    """Anyone who may invoke the function (or another stack using its ServiceToken) can send a request;
    only the function's own stack's are served, whatever they ask."""
    module = load(module_name)
    for event in _requests(module_name):
        foreign = {**event, "StackId": stack_id}
        with pytest.raises(
            RuntimeError, match=r"Refusing a request of stack .*serves only .*stack/telephony/"
        ):
            invoke(module, _service(module_name, voice, pipelines), foreign)
        # Nor can an isComplete call be forged to get past the check.
        completion = {**foreign, COMPLETION_KEY: {"Awaiting": "ConfigurationDeleted", "Since": 0}}
        with pytest.raises(RuntimeError, match="Refusing a request of stack"):
            invoke(module, _service(module_name, voice, pipelines), completion)
    assert voice.calls == []
    assert pipelines.calls == []


@pytest.mark.parametrize("value", [None, "", "111122223333"])
def test_a_function_that_does_not_know_its_stack_refuses_everything(
    value: str | None,
    voice: FakeChimeSdkVoice,
    invoke: Invoke,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if value is None:
        monkeypatch.delenv("STACK_ID")
    else:
        monkeypatch.setenv("STACK_ID", value)

    with pytest.raises(RuntimeError, match="has no STACK_ID"):
        invoke(load("voice_profile_domain"), voice, _requests("voice_profile_domain")[0])

    assert voice.calls == []


# --- isComplete calls ------------------------------------------------------------------------------


@pytest.mark.parametrize("module_name", list(PROPERTIES))
def test_every_on_event_answer_says_it_awaits_nothing_when_done(
    module_name: str,
    voice: FakeChimeSdkVoice,
    pipelines: FakeChimeSdkMediaPipelines,
    invoke: Invoke,
) -> None:
    voice.connectors.add(VC)
    if module_name == "streaming_association":
        pipelines.seed("TestStack-SpeakerSearch", tags=OWNED)
    service = _service(module_name, voice, pipelines)

    answer = invoke(load(module_name), service, _requests(module_name)[0], raw=True)

    assert answer[COMPLETION_KEY] == {}


@pytest.mark.parametrize("module_name", list(PROPERTIES))
@pytest.mark.parametrize("request_type", ["Create", "Update", "Delete"])
def test_is_complete_of_a_request_that_awaits_nothing_answers_at_once_without_a_call(
    module_name: str,
    request_type: str,
    voice: FakeChimeSdkVoice,
    pipelines: FakeChimeSdkMediaPipelines,
    invoke: Invoke,
) -> None:
    (event,) = [e for e in _requests(module_name) if e["RequestType"] == request_type]
    event = {
        **event,
        "PhysicalResourceId": event.get("PhysicalResourceId", "x"),
        "Data": {},
        COMPLETION_KEY: {},
    }

    assert invoke(load(module_name), _service(module_name, voice, pipelines), event) == {"IsComplete": True}

    assert voice.calls == []
    assert pipelines.calls == []


@pytest.mark.parametrize("module_name", ["voice_profile_domain", "streaming_association"])
def test_a_type_that_never_awaits_refuses_an_is_complete_that_claims_it_does(
    module_name: str, voice: FakeChimeSdkVoice, invoke: Invoke
) -> None:
    event = {**_requests(module_name)[2], COMPLETION_KEY: {"Awaiting": "ConfigurationDeleted", "Since": 0}}

    with pytest.raises(ValueError, match="complete when on_event answers"):
        invoke(load(module_name), voice, event)

    assert voice.calls == []


def test_no_attempt_starts_without_time_to_finish_it(
    voice: FakeChimeSdkVoice, invoke: Invoke, shared: ModuleType, index: ModuleType
) -> None:
    """With less than one attempt's worst case (connect + read timeout) left before the Lambda
    deadline minus the margin, the request fails at once with a clear reason and calls nothing."""
    remaining_s = index.SAFETY_MARGIN_S + shared.ATTEMPT_COST_S - 1

    with pytest.raises(
        RuntimeError, match=r"CreateVoiceProfileDomain failed .*DeadlineExceeded: not enough time left"
    ):
        invoke(
            load("voice_profile_domain"),
            voice,
            cfn_event("Create", PROPERTIES["voice_profile_domain"]),
            remaining_s=remaining_s,
        )

    assert voice.calls == []


@pytest.mark.parametrize(("remaining_s", "budget_name"), [(None, "CHECK_BUDGET_S"), (60.0, "context")])
def test_an_is_complete_call_gets_the_check_budget_or_less(
    remaining_s: float | None,
    budget_name: str,
    pipelines: FakeChimeSdkMediaPipelines,
    invoke: Invoke,
    clock: FakeClock,
    sleeps: list[float],
    index: ModuleType,
) -> None:
    """Throttled without end, an isComplete call gives up within its own budget (CHECK_BUDGET_S), or
    within the Lambda time left when that is shorter, so its failure still reaches the framework."""
    properties = PROPERTIES["media_insights_configuration"]
    pipelines.seed(properties["Name"], tags=OWNED)
    pipelines.fail_always("GetMediaInsightsPipelineConfiguration", "ThrottledClientException")
    event = {
        **cfn_event("Delete", properties, physical_id=properties["Name"]),
        COMPLETION_KEY: {"Awaiting": "ConfigurationDeleted", "Since": clock.now},
    }
    started = clock.now

    with pytest.raises(RuntimeError, match="ThrottledClientException"):
        invoke(load("media_insights_configuration"), pipelines, event, remaining_s=remaining_s)

    limit = index.CHECK_BUDGET_S if remaining_s is None else remaining_s - index.SAFETY_MARGIN_S
    assert clock.now - started <= limit
    assert sleeps


def test_the_fake_context_counts_down_on_the_fake_clock(clock: FakeClock) -> None:
    context = FakeContext(clock, 30.0)
    clock.now += 12.5
    assert context.get_remaining_time_in_millis() == 17_500


# --- a stack deployed with the version before owner tags on configurations, upgraded ----------------

LEGACY_CONFIGURATION = {k: v for k, v in PROPERTIES["media_insights_configuration"].items() if k != "Tags"}
CONFIGURATION_NAME = "TestStack-SpeakerSearch"


def test_an_upgraded_stack_tags_its_configuration_and_can_then_be_deleted(
    voice: FakeChimeSdkVoice, pipelines: FakeChimeSdkMediaPipelines, invoke: Invoke
) -> None:
    # The state the earlier version left (its handler did not read tags), built directly.
    voice.connectors.add(VC)
    domain_id = invoke(
        load("voice_profile_domain"), voice, cfn_event("Create", PROPERTIES["voice_profile_domain"])
    )["PhysicalResourceId"]
    pipelines.seed(CONFIGURATION_NAME, role=LEGACY_CONFIGURATION["ResourceAccessRoleArn"])
    association_id = f"{VC}|streaming=none|eventbridge=added|retention=none"
    voice.streaming[VC] = {
        "DataRetentionInHours": 24,
        "Disabled": False,
        "StreamingNotificationTargets": [{"NotificationTarget": "EventBridge"}],
        "MediaInsightsConfiguration": {"Disabled": False, "ConfigurationArn": CONFIGURATION_ARN},
    }

    # The upgrade: the configuration's Tags (and ServiceTimeout) changed, nothing else.
    upgraded = {**PROPERTIES["media_insights_configuration"], "ServiceTimeout": "3600"}
    invoke(
        load("media_insights_configuration"),
        pipelines,
        cfn_event("Update", upgraded, physical_id=CONFIGURATION_NAME, old_properties=LEGACY_CONFIGURATION),
    )
    assert pipelines.tags[CONFIGURATION_ARN] == OWNED

    # Then the stack is deleted: association, configuration, domain (DESTROY), in that order.
    invoke(
        load("streaming_association"),
        voice,
        cfn_event("Delete", PROPERTIES["streaming_association"], physical_id=association_id),
    )
    invoke(
        load("media_insights_configuration"),
        pipelines,
        cfn_event("Delete", upgraded, physical_id=CONFIGURATION_NAME),
    )
    invoke(
        load("voice_profile_domain"),
        voice,
        cfn_event("Delete", PROPERTIES["voice_profile_domain"], physical_id=domain_id),
    )
    assert VC not in voice.streaming
    assert pipelines.configurations == {}
    assert voice.domains == {}


def test_the_upgrade_edge_removing_an_untagged_configuration_in_the_upgrade_itself_is_refused(
    voice: FakeChimeSdkVoice, pipelines: FakeChimeSdkMediaPipelines, invoke: Invoke
) -> None:
    """Removed in the deployment that upgrades, the configuration gets no Update, so no tag: the
    association's and the configuration's clean-up Deletes are refused and change nothing (the
    README's upgrade note: deploy the upgrade first, then remove)."""
    voice.connectors.add(VC)
    pipelines.seed(CONFIGURATION_NAME, role=LEGACY_CONFIGURATION["ResourceAccessRoleArn"])
    attached = {
        "DataRetentionInHours": 24,
        "Disabled": False,
        "StreamingNotificationTargets": [{"NotificationTarget": "EventBridge"}],
        "MediaInsightsConfiguration": {"Disabled": False, "ConfigurationArn": CONFIGURATION_ARN},
    }
    voice.streaming[VC] = dict(attached)
    association_id = f"{VC}|streaming=none|eventbridge=added|retention=none"

    with pytest.raises(RuntimeError, match="carries no chime-speaker-search:stack tag"):
        invoke(
            load("streaming_association"),
            voice,
            cfn_event("Delete", PROPERTIES["streaming_association"], physical_id=association_id),
        )
    with pytest.raises(RuntimeError, match="carries no chime-speaker-search:stack tag"):
        invoke(
            load("media_insights_configuration"),
            pipelines,
            cfn_event("Delete", LEGACY_CONFIGURATION, physical_id=CONFIGURATION_NAME),
        )

    assert voice.streaming[VC] == attached
    assert CONFIGURATION_NAME in pipelines.configurations
    assert voice.mutating_calls == []
    assert pipelines.mutating_calls == []
