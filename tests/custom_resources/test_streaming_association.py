"""Lifecycle tests of custom_resources/streaming_association.py against the in-memory chime-sdk-voice fake."""

from __future__ import annotations

import copy
from types import ModuleType
from typing import Any

import pytest

from tests.custom_resources.conftest import Invoke
from tests.custom_resources.fakes import (
    FAILED_CREATE_PHYSICAL_ID,
    OTHER_STACK_ID,
    OWNED,
    OWNER_TAG,
    FakeChimeSdkMediaPipelines,
    FakeChimeSdkVoice,
    OtherWriter,
    cfn_event,
)

VC = "abcdef1ghij2klmno3pqr4"
VC_2 = "zyxwvu9tsrq8ponml7kji6"
ARN = "arn:aws:chime:us-east-1:111122223333:media-insights-pipeline-configuration/telephony-SpeakerSearch"
ARN_2 = (
    "arn:aws:chime:us-east-1:111122223333:media-insights-pipeline-configuration/telephony-SpeakerSearch-v2"
)
FOREIGN = "arn:aws:chime:us-east-1:111122223333:media-insights-pipeline-configuration/someone-elses"
PROPS: dict[str, Any] = {"VoiceConnectorId": VC, "ConfigurationArn": ARN, "DataRetentionInHours": "24"}
OURS = {"Disabled": False, "ConfigurationArn": ARN}
EVENTBRIDGE = {"NotificationTarget": "EventBridge"}
SNS = {"NotificationTarget": "SNS"}
SQS = {"NotificationTarget": "SQS"}


@pytest.fixture(autouse=True)
def connectors(voice: FakeChimeSdkVoice, pipelines: FakeChimeSdkMediaPipelines) -> None:
    """Two connectors; this stack's two configurations (tagged as its own) and another stack's."""
    voice.connectors.update({VC, VC_2})
    pipelines.seed("telephony-SpeakerSearch", tags=OWNED)
    pipelines.seed("telephony-SpeakerSearch-v2", tags=OWNED)
    pipelines.seed("someone-elses", tags={OWNER_TAG: OTHER_STACK_ID})


def create(
    voice: FakeChimeSdkVoice, handler: ModuleType, invoke: Invoke, props: dict[str, Any] = PROPS
) -> str:
    result = invoke(handler, voice, cfn_event("Create", props))
    voice.reset_calls()
    physical_id: str = result["PhysicalResourceId"]
    return physical_id


def update(physical_id: str, new: dict[str, Any], old: dict[str, Any] = PROPS) -> dict[str, Any]:
    return cfn_event("Update", new, physical_id=physical_id, old_properties=old)


def delete(physical_id: str, props: dict[str, Any] = PROPS) -> dict[str, Any]:
    return cfn_event("Delete", props, physical_id=physical_id)


# -- Create ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("style", ["notfound", "empty"])
def test_create_on_a_connector_without_streaming_enables_it_with_eventbridge_and_the_configuration(
    association_handler: ModuleType, voice: FakeChimeSdkVoice, invoke: Invoke, style: str
) -> None:
    voice.unconfigured_style = style

    result = invoke(association_handler, voice, cfn_event("Create", PROPS))

    assert result == {
        "PhysicalResourceId": f"{VC}|streaming=none|eventbridge=added|retention=none",
        "Data": {"VoiceConnectorId": VC},
    }
    assert voice.streaming[VC] == {
        "DataRetentionInHours": 24,
        "Disabled": False,
        "StreamingNotificationTargets": [EVENTBRIDGE],
        "MediaInsightsConfiguration": OURS,
    }


def test_create_keeps_other_targets_and_a_longer_retention(
    association_handler: ModuleType, voice: FakeChimeSdkVoice, invoke: Invoke
) -> None:
    voice.streaming[VC] = {
        "DataRetentionInHours": 48,
        "Disabled": False,
        "StreamingNotificationTargets": [SNS, SQS],
    }

    result = invoke(association_handler, voice, cfn_event("Create", PROPS))

    assert result["PhysicalResourceId"] == f"{VC}|streaming=on|eventbridge=added|retention=48|targets=SNS+SQS"
    assert voice.streaming[VC] == {
        "DataRetentionInHours": 48,
        "Disabled": False,
        "StreamingNotificationTargets": [SNS, SQS, EVENTBRIDGE],
        "MediaInsightsConfiguration": OURS,
    }


def test_create_adds_eventbridge_only_if_absent_and_raises_a_shorter_retention(
    association_handler: ModuleType, voice: FakeChimeSdkVoice, invoke: Invoke
) -> None:
    voice.streaming[VC] = {
        "DataRetentionInHours": 2,
        "Disabled": False,
        "StreamingNotificationTargets": [EVENTBRIDGE, SNS],
    }

    result = invoke(association_handler, voice, cfn_event("Create", PROPS))

    assert result["PhysicalResourceId"] == f"{VC}|streaming=on|eventbridge=present|retention=2|targets=SNS"
    assert voice.streaming[VC]["StreamingNotificationTargets"] == [EVENTBRIDGE, SNS]
    assert voice.streaming[VC]["DataRetentionInHours"] == 24


def test_create_on_disabled_streaming_enables_it_with_the_configured_retention(
    association_handler: ModuleType, voice: FakeChimeSdkVoice, invoke: Invoke
) -> None:
    voice.streaming[VC] = {"DataRetentionInHours": 72, "Disabled": True}

    result = invoke(association_handler, voice, cfn_event("Create", PROPS))

    assert result["PhysicalResourceId"] == f"{VC}|streaming=off|eventbridge=added|retention=72|targets=none"
    assert voice.streaming[VC]["Disabled"] is False
    assert voice.streaming[VC]["DataRetentionInHours"] == 24


def test_create_when_already_in_the_desired_state_writes_nothing(
    association_handler: ModuleType, voice: FakeChimeSdkVoice, invoke: Invoke
) -> None:
    desired = {
        "DataRetentionInHours": 24,
        "Disabled": False,
        "StreamingNotificationTargets": [EVENTBRIDGE],
        "MediaInsightsConfiguration": OURS,
    }
    voice.streaming[VC] = copy.deepcopy(desired)

    invoke(association_handler, voice, cfn_event("Create", PROPS))

    assert voice.mutating_calls == []


def test_a_get_that_omits_default_booleans_still_counts_as_unchanged(
    association_handler: ModuleType, voice: FakeChimeSdkVoice, invoke: Invoke
) -> None:
    voice.streaming[VC] = {
        "DataRetentionInHours": 24,
        "Disabled": False,
        "StreamingNotificationTargets": [EVENTBRIDGE],
        "MediaInsightsConfiguration": {"ConfigurationArn": ARN},
    }

    invoke(association_handler, voice, cfn_event("Create", PROPS))

    assert voice.mutating_calls == []


def test_create_retried_with_the_same_request_writes_once(
    association_handler: ModuleType, voice: FakeChimeSdkVoice, invoke: Invoke
) -> None:
    event = cfn_event("Create", PROPS)
    invoke(association_handler, voice, event)
    invoke(association_handler, voice, dict(event))

    assert voice.mutating_calls == ["PutVoiceConnectorStreamingConfiguration"]
    assert voice.streaming[VC]["MediaInsightsConfiguration"] == OURS


@pytest.mark.parametrize("disabled", [False, True])
def test_someone_elses_configuration_is_not_taken_and_delete_changes_nothing(
    association_handler: ModuleType, voice: FakeChimeSdkVoice, invoke: Invoke, disabled: bool
) -> None:
    before = {
        "DataRetentionInHours": 12,
        "Disabled": False,
        "StreamingNotificationTargets": [SNS],
        "MediaInsightsConfiguration": {"Disabled": disabled, "ConfigurationArn": FOREIGN},
    }
    voice.streaming[VC] = copy.deepcopy(before)

    with pytest.raises(RuntimeError) as excinfo:
        invoke(association_handler, voice, cfn_event("Create", PROPS))
    assert VC in str(excinfo.value)
    assert FOREIGN in str(excinfo.value)

    # CloudFormation's rollback: Delete with the framework's placeholder, or (defensively) a real-looking ID.
    invoke(association_handler, voice, delete(FAILED_CREATE_PHYSICAL_ID))
    invoke(association_handler, voice, delete(f"{VC}|streaming=on|eventbridge=added|retention=12"))

    assert voice.streaming[VC] == before
    assert voice.mutating_calls == []


def test_create_on_a_missing_connector_fails_clearly(
    association_handler: ModuleType, voice: FakeChimeSdkVoice, invoke: Invoke, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The template names a connector the account does not have."""
    monkeypatch.setenv("VOICE_CONNECTOR_IDS", f"{VC},doesnotexist0000000000")
    props = {**PROPS, "VoiceConnectorId": "doesnotexist0000000000"}

    with pytest.raises(
        RuntimeError, match=r"PutVoiceConnectorStreamingConfiguration .*'doesnotexist0000000000'.*NotFound"
    ):
        invoke(association_handler, voice, cfn_event("Create", props))


@pytest.mark.parametrize("request_type", ["Create", "Update"])
@pytest.mark.parametrize("served", ["", VC_2, f" {VC_2} , other "], ids=["unset", "another", "others"])
def test_a_crafted_request_cannot_attach_to_a_connector_the_template_does_not_name(
    association_handler: ModuleType,
    voice: FakeChimeSdkVoice,
    invoke: Invoke,
    monkeypatch: pytest.MonkeyPatch,
    request_type: str,
    served: str,
) -> None:
    """Anyone with lambda:InvokeFunction can name another team's connector (with this stack's ID and
    its own tagged configuration): nothing is read or written for a connector no association of the
    template names."""
    monkeypatch.setenv("VOICE_CONNECTOR_IDS", served)
    event = cfn_event(request_type, PROPS)
    if request_type == "Update":
        event = {**event, "PhysicalResourceId": f"{VC}|streaming=on|eventbridge=added|retention=12"}
        event["OldResourceProperties"] = PROPS
    with pytest.raises(RuntimeError, match=rf"Refusing to attach to Voice Connector '{VC}': no streaming"):
        invoke(association_handler, voice, event)
    assert voice.calls == []


def test_a_delete_still_detaches_from_a_connector_the_template_no_longer_names(
    association_handler: ModuleType, voice: FakeChimeSdkVoice, invoke: Invoke, monkeypatch: pytest.MonkeyPatch
) -> None:
    """CloudFormation deletes a removed association after updating the function: the removed connector is
    no longer listed, and its detach must still happen."""
    physical_id = create(voice, association_handler, invoke)
    monkeypatch.setenv("VOICE_CONNECTOR_IDS", VC_2)

    invoke(association_handler, voice, delete(physical_id))

    assert VC not in voice.streaming
    assert voice.mutating_calls == ["DeleteVoiceConnectorStreamingConfiguration"]


# -- Update ---------------------------------------------------------------------------------------------


def test_update_with_unchanged_properties_makes_no_mutating_call(
    association_handler: ModuleType, voice: FakeChimeSdkVoice, invoke: Invoke
) -> None:
    physical_id = create(voice, association_handler, invoke)

    result = invoke(association_handler, voice, update(physical_id, PROPS))

    assert result == {"PhysicalResourceId": physical_id, "Data": {"VoiceConnectorId": VC}}
    assert voice.mutating_calls == []


def test_update_to_a_new_configuration_keeps_the_physical_id(
    association_handler: ModuleType, voice: FakeChimeSdkVoice, invoke: Invoke
) -> None:
    voice.streaming[VC] = {
        "DataRetentionInHours": 48,
        "Disabled": False,
        "StreamingNotificationTargets": [SNS],
    }
    physical_id = create(voice, association_handler, invoke)

    result = invoke(association_handler, voice, update(physical_id, {**PROPS, "ConfigurationArn": ARN_2}))

    assert result["PhysicalResourceId"] == physical_id
    assert voice.streaming[VC]["MediaInsightsConfiguration"] == {"Disabled": False, "ConfigurationArn": ARN_2}
    assert voice.streaming[VC]["StreamingNotificationTargets"] == [SNS, EVENTBRIDGE]
    assert voice.mutating_calls == ["PutVoiceConnectorStreamingConfiguration"]


def test_update_does_not_take_a_configuration_attached_by_someone_else_meanwhile(
    association_handler: ModuleType, voice: FakeChimeSdkVoice, invoke: Invoke
) -> None:
    physical_id = create(voice, association_handler, invoke)
    voice.streaming[VC]["MediaInsightsConfiguration"] = {"Disabled": False, "ConfigurationArn": FOREIGN}

    with pytest.raises(RuntimeError, match=VC):
        invoke(association_handler, voice, update(physical_id, {**PROPS, "ConfigurationArn": ARN_2}))

    assert voice.mutating_calls == []


def test_update_of_retention_follows_the_setting_but_never_below_the_prior_value(
    association_handler: ModuleType, voice: FakeChimeSdkVoice, invoke: Invoke
) -> None:
    voice.streaming[VC] = {
        "DataRetentionInHours": 36,
        "Disabled": False,
        "StreamingNotificationTargets": [SNS],
    }
    physical_id = create(voice, association_handler, invoke)
    assert voice.streaming[VC]["DataRetentionInHours"] == 36

    steps = [("48", 48), ("12", 36), ("100", 100)]
    old = PROPS
    for hours, expected in steps:
        new = {**PROPS, "DataRetentionInHours": hours}
        result = invoke(association_handler, voice, update(physical_id, new, old=old))
        assert result["PhysicalResourceId"] == physical_id
        assert voice.streaming[VC]["DataRetentionInHours"] == expected
        old = new


def test_update_never_lowers_a_retention_someone_else_raised(
    association_handler: ModuleType, voice: FakeChimeSdkVoice, invoke: Invoke
) -> None:
    physical_id = create(voice, association_handler, invoke)
    voice.streaming[VC]["DataRetentionInHours"] = 240  # another team needs ten days

    invoke(association_handler, voice, update(physical_id, {**PROPS, "DataRetentionInHours": "12"}))

    assert voice.streaming[VC]["DataRetentionInHours"] == 240


def test_update_to_another_connector_moves_the_association_and_delete_restores_the_old_one(
    association_handler: ModuleType, voice: FakeChimeSdkVoice, invoke: Invoke
) -> None:
    voice.streaming[VC_2] = {
        "DataRetentionInHours": 1,
        "Disabled": True,
        "StreamingNotificationTargets": [SQS],
    }
    old_id = create(voice, association_handler, invoke)
    new_props = {**PROPS, "VoiceConnectorId": VC_2}

    result = invoke(association_handler, voice, update(old_id, new_props))

    new_id = result["PhysicalResourceId"]
    assert new_id == f"{VC_2}|streaming=off|eventbridge=added|retention=1|targets=SQS"
    assert result["Data"] == {"VoiceConnectorId": VC_2}
    assert voice.streaming[VC_2]["MediaInsightsConfiguration"] == OURS
    # CloudFormation's clean-up then deletes the old association: the old connector goes back to unconfigured.
    invoke(association_handler, voice, delete(old_id))
    assert VC not in voice.streaming
    # ...and the stack delete restores the second connector exactly.
    invoke(association_handler, voice, delete(new_id, new_props))
    assert voice.streaming[VC_2] == {
        "DataRetentionInHours": 1,
        "Disabled": True,
        "StreamingNotificationTargets": [SQS],
    }


def test_full_lifecycle(association_handler: ModuleType, voice: FakeChimeSdkVoice, invoke: Invoke) -> None:
    first = {"DataRetentionInHours": 48, "Disabled": False, "StreamingNotificationTargets": [SNS]}
    voice.streaming[VC] = copy.deepcopy(first)
    physical_id = invoke(association_handler, voice, cfn_event("Create", PROPS))["PhysicalResourceId"]
    moved_config = {**PROPS, "ConfigurationArn": ARN_2}
    in_place = invoke(association_handler, voice, update(physical_id, moved_config))
    assert in_place["PhysicalResourceId"] == physical_id
    moved_connector = {**moved_config, "VoiceConnectorId": VC_2}
    replaced = invoke(association_handler, voice, update(physical_id, moved_connector, old=moved_config))
    assert replaced["PhysicalResourceId"].startswith(f"{VC_2}|")

    invoke(association_handler, voice, delete(physical_id, moved_config))  # clean-up of the old connector
    assert voice.streaming[VC] == first
    invoke(association_handler, voice, delete(replaced["PhysicalResourceId"], moved_connector))
    invoke(association_handler, voice, delete(replaced["PhysicalResourceId"], moved_connector))  # twice
    assert VC_2 not in voice.streaming
    assert voice.streaming[VC] == first


def test_failed_update_and_its_rollback_leave_the_connector_as_it_was(
    association_handler: ModuleType, voice: FakeChimeSdkVoice, invoke: Invoke
) -> None:
    physical_id = create(voice, association_handler, invoke)
    before = copy.deepcopy(voice.streaming[VC])
    new = {**PROPS, "ConfigurationArn": ARN_2}
    voice.fail("PutVoiceConnectorStreamingConfiguration", "AccessDeniedException")
    with pytest.raises(
        RuntimeError, match=r"PutVoiceConnectorStreamingConfiguration .*AccessDeniedException"
    ):
        invoke(association_handler, voice, update(physical_id, new))

    result = invoke(association_handler, voice, update(physical_id, PROPS, old=new))

    assert result["PhysicalResourceId"] == physical_id
    assert voice.streaming[VC] == before
    assert voice.mutating_calls == ["PutVoiceConnectorStreamingConfiguration"]  # only the failed one


def test_rollback_update_after_a_successful_update_reattaches_the_old_configuration(
    association_handler: ModuleType, voice: FakeChimeSdkVoice, invoke: Invoke
) -> None:
    physical_id = create(voice, association_handler, invoke)
    new = {**PROPS, "ConfigurationArn": ARN_2, "DataRetentionInHours": "48"}
    invoke(association_handler, voice, update(physical_id, new))

    invoke(association_handler, voice, update(physical_id, PROPS, old=new))

    assert voice.streaming[VC]["MediaInsightsConfiguration"] == OURS
    assert voice.streaming[VC]["DataRetentionInHours"] == 24


# -- Delete ---------------------------------------------------------------------------------------------


def test_delete_after_none_deletes_the_streaming_configuration(
    association_handler: ModuleType, voice: FakeChimeSdkVoice, invoke: Invoke
) -> None:
    physical_id = create(voice, association_handler, invoke)

    invoke(association_handler, voice, delete(physical_id))

    assert VC not in voice.streaming
    assert voice.mutating_calls == ["DeleteVoiceConnectorStreamingConfiguration"]
    invoke(association_handler, voice, delete(physical_id))  # twice: nothing left to do
    assert voice.mutating_calls == ["DeleteVoiceConnectorStreamingConfiguration"]


def test_delete_after_none_keeps_streaming_on_for_a_target_added_since(
    association_handler: ModuleType, voice: FakeChimeSdkVoice, invoke: Invoke
) -> None:
    """Another tool started relying on the streaming this association turned on (it added SNS):
    detaching neither deletes nor disables it."""
    physical_id = create(voice, association_handler, invoke)
    voice.streaming[VC]["StreamingNotificationTargets"].append(SNS)  # someone else started using it

    invoke(association_handler, voice, delete(physical_id))

    assert voice.streaming[VC] == {
        "DataRetentionInHours": 24,
        "Disabled": False,
        "StreamingNotificationTargets": [SNS],
    }


@pytest.mark.parametrize(
    "before",
    [
        pytest.param(
            {"DataRetentionInHours": 6, "Disabled": True, "StreamingNotificationTargets": [SQS]},
            id="off-restores-disabled-retention-and-targets",
        ),
        pytest.param({"DataRetentionInHours": 0, "Disabled": True}, id="off-without-targets-omits-the-list"),
        pytest.param(
            {"DataRetentionInHours": 48, "Disabled": False, "StreamingNotificationTargets": [EVENTBRIDGE]},
            id="on-keeps-eventbridge-that-was-already-there",
        ),
    ],
)
def test_delete_restores_what_it_found(
    association_handler: ModuleType, voice: FakeChimeSdkVoice, invoke: Invoke, before: dict[str, Any]
) -> None:
    voice.streaming[VC] = copy.deepcopy(before)
    physical_id = create(voice, association_handler, invoke)

    invoke(association_handler, voice, delete(physical_id))

    assert voice.streaming[VC] == before


def test_delete_after_on_detaches_and_restores_retention_and_targets_but_keeps_streaming(
    association_handler: ModuleType, voice: FakeChimeSdkVoice, invoke: Invoke
) -> None:
    before = {"DataRetentionInHours": 2, "Disabled": False, "StreamingNotificationTargets": [SNS, SQS]}
    voice.streaming[VC] = copy.deepcopy(before)
    physical_id = create(voice, association_handler, invoke)
    assert voice.streaming[VC]["DataRetentionInHours"] == 24

    invoke(association_handler, voice, delete(physical_id))

    assert voice.streaming[VC] == before
    invoke(association_handler, voice, delete(physical_id))  # twice: not attached any more, no change
    assert voice.streaming[VC] == before
    assert voice.mutating_calls == ["PutVoiceConnectorStreamingConfiguration"]


def test_delete_leaves_a_retention_someone_else_changed(
    association_handler: ModuleType, voice: FakeChimeSdkVoice, invoke: Invoke
) -> None:
    voice.streaming[VC] = {
        "DataRetentionInHours": 2,
        "Disabled": False,
        "StreamingNotificationTargets": [SNS],
    }
    physical_id = create(voice, association_handler, invoke)
    voice.streaming[VC]["DataRetentionInHours"] = 96

    invoke(association_handler, voice, delete(physical_id))

    assert voice.streaming[VC]["DataRetentionInHours"] == 96
    assert "MediaInsightsConfiguration" not in voice.streaming[VC]


def test_delete_changes_nothing_when_another_configuration_is_attached_now(
    association_handler: ModuleType, voice: FakeChimeSdkVoice, invoke: Invoke
) -> None:
    physical_id = create(voice, association_handler, invoke)
    voice.streaming[VC]["MediaInsightsConfiguration"] = {"Disabled": False, "ConfigurationArn": FOREIGN}
    before = copy.deepcopy(voice.streaming[VC])

    invoke(association_handler, voice, delete(physical_id))

    assert voice.streaming[VC] == before
    assert voice.mutating_calls == []


def test_delete_after_the_connector_was_removed_out_of_band(
    association_handler: ModuleType, voice: FakeChimeSdkVoice, invoke: Invoke
) -> None:
    physical_id = create(voice, association_handler, invoke)
    voice.connectors.discard(VC)
    voice.streaming.pop(VC)

    invoke(association_handler, voice, delete(physical_id))

    assert voice.mutating_calls == []


@pytest.mark.parametrize(
    "physical_id", [FAILED_CREATE_PHYSICAL_ID, "0f9a1c20-aaaa-bbbb-cccc-444455556666", VC]
)
def test_delete_of_an_unparseable_physical_id_makes_no_call(
    association_handler: ModuleType, voice: FakeChimeSdkVoice, invoke: Invoke, physical_id: str
) -> None:
    voice.streaming[VC] = {"DataRetentionInHours": 24, "Disabled": False, "MediaInsightsConfiguration": OURS}

    invoke(association_handler, voice, delete(physical_id))

    assert voice.calls == []


def test_delete_never_fails_on_a_bad_retention_and_then_keeps_streaming_on(
    association_handler: ModuleType, voice: FakeChimeSdkVoice, invoke: Invoke
) -> None:
    """Without the retention it set, it cannot tell whether the connector's is still its own, so it
    may be another tool's: the configuration is detached, streaming stays on."""
    physical_id = create(voice, association_handler, invoke)

    invoke(association_handler, voice, delete(physical_id, {**PROPS, "DataRetentionInHours": "soon"}))

    assert voice.streaming[VC] == {"DataRetentionInHours": 24, "Disabled": False}


# -- failures -------------------------------------------------------------------------------------------


def test_failed_put_during_create_leaves_the_connector_untouched(
    association_handler: ModuleType, voice: FakeChimeSdkVoice, invoke: Invoke
) -> None:
    before = {"DataRetentionInHours": 5, "Disabled": False, "StreamingNotificationTargets": [SNS]}
    voice.streaming[VC] = copy.deepcopy(before)
    voice.fail("PutVoiceConnectorStreamingConfiguration", "BadRequestException")

    with pytest.raises(RuntimeError) as excinfo:
        invoke(association_handler, voice, cfn_event("Create", PROPS))
    assert (
        "PutVoiceConnectorStreamingConfiguration failed for the streaming configuration of Voice Connector"
        in (str(excinfo.value))
    )
    assert "BadRequestException" in str(excinfo.value)

    invoke(association_handler, voice, delete(FAILED_CREATE_PHYSICAL_ID))
    assert voice.streaming[VC] == before


def test_throttled_reads_are_retried(
    association_handler: ModuleType, voice: FakeChimeSdkVoice, invoke: Invoke, sleeps: list[float]
) -> None:
    voice.fail("GetVoiceConnectorStreamingConfiguration", "ThrottledClientException", times=3)

    invoke(association_handler, voice, cfn_event("Create", PROPS))

    assert voice.streaming[VC]["MediaInsightsConfiguration"] == OURS
    assert len(sleeps) == 3


def test_throttling_on_every_attempt_fails_clearly(
    association_handler: ModuleType, voice: FakeChimeSdkVoice, invoke: Invoke, shared: ModuleType
) -> None:
    voice.fail_always("PutVoiceConnectorStreamingConfiguration", "ThrottledClientException")

    with pytest.raises(RuntimeError, match=rf"Put.*'{VC}'.*ThrottledClientException"):
        invoke(association_handler, voice, cfn_event("Create", PROPS))

    assert voice.count("PutVoiceConnectorStreamingConfiguration") == shared.THROTTLE_ATTEMPTS
    assert VC not in voice.streaming


# -- properties and the physical ID ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "prop"),
    [
        ({"DataRetentionInHours": "0"}, "DataRetentionInHours"),
        ({"DataRetentionInHours": "-1"}, "DataRetentionInHours"),
        ({"DataRetentionInHours": "1.5"}, "DataRetentionInHours"),
        ({"DataRetentionInHours": "24h"}, "DataRetentionInHours"),
        ({"DataRetentionInHours": ""}, "DataRetentionInHours"),
        ({"DataRetentionInHours": None}, "DataRetentionInHours"),
        ({"DataRetentionInHours": "true"}, "DataRetentionInHours"),
        ({"VoiceConnectorId": ""}, "VoiceConnectorId"),
        ({"VoiceConnectorId": "a|streaming=on"}, "VoiceConnectorId"),
        ({"ConfigurationArn": "telephony-SpeakerSearch"}, "ConfigurationArn"),
        ({"ConfigurationArn": "arn:aws:chime:us-east-1:111122223333:vc/abc"}, "ConfigurationArn"),
        ({"Retention": "24"}, "Retention"),
    ],
)
def test_invalid_properties_raise_value_error_naming_the_property(
    association_handler: ModuleType,
    voice: FakeChimeSdkVoice,
    invoke: Invoke,
    change: dict[str, Any],
    prop: str,
) -> None:
    props = {k: v for k, v in {**PROPS, **change}.items() if v is not None}

    with pytest.raises(ValueError, match=prop):
        invoke(association_handler, voice, cfn_event("Create", props))

    assert voice.calls == []


@pytest.mark.parametrize(("value", "hours"), [("1", 1), ("24", 24), ("8760", 8760), (48, 48)])
def test_retention_arrives_as_a_string(association_handler: ModuleType, value: Any, hours: int) -> None:
    props = association_handler.parse_properties({**PROPS, "DataRetentionInHours": value})

    assert props.retention_hours == hours


@pytest.mark.parametrize(
    "prior",
    [
        (VC, "none", True, None),
        (VC, "off", True, 0),
        (VC, "on", False, 87600),
        ("x" * 128, "on", True, 999_999_999),
    ],
)
def test_physical_id_round_trips_and_stays_small(
    association_handler: ModuleType, prior: tuple[Any, ...]
) -> None:
    state = association_handler.Prior(*prior)

    physical_id = state.physical_id()

    assert association_handler.Prior.parse(physical_id) == state
    assert len(physical_id.encode()) < 1024


@pytest.mark.parametrize("omitted", ["top-level", "media-insights", "both"])
def test_a_configuration_read_without_disabled_compares_equal_and_is_not_written(
    association_handler: ModuleType, voice: FakeChimeSdkVoice, invoke: Invoke, omitted: str
) -> None:
    """A Get may leave out Disabled=False (a default); the connector already has what we would write."""
    current: dict[str, Any] = {
        "Disabled": False,
        "DataRetentionInHours": 24,
        "StreamingNotificationTargets": [EVENTBRIDGE],
        "MediaInsightsConfiguration": dict(OURS),
    }
    if omitted in ("top-level", "both"):
        del current["Disabled"]
    if omitted in ("media-insights", "both"):
        del current["MediaInsightsConfiguration"]["Disabled"]
    voice.streaming[VC] = current

    invoke(association_handler, voice, cfn_event("Create", PROPS))

    assert voice.count("GetVoiceConnectorStreamingConfiguration") == 1
    assert voice.mutating_calls == []


def test_delete_restores_the_rest_after_the_notification_targets_were_removed_out_of_band(
    association_handler: ModuleType, voice: FakeChimeSdkVoice, invoke: Invoke
) -> None:
    voice.streaming[VC] = {"DataRetentionInHours": 0, "Disabled": True}
    physical_id = create(voice, association_handler, invoke)
    del voice.streaming[VC]["StreamingNotificationTargets"]

    invoke(association_handler, voice, delete(physical_id))

    assert voice.streaming[VC] == {"DataRetentionInHours": 0, "Disabled": True}


def test_delete_whose_properties_name_no_configuration_changes_nothing(
    association_handler: ModuleType, voice: FakeChimeSdkVoice, invoke: Invoke
) -> None:
    voice.streaming[VC] = {"DataRetentionInHours": 0, "Disabled": True}
    physical_id = create(voice, association_handler, invoke)
    before = copy.deepcopy(voice.streaming[VC])

    invoke(association_handler, voice, delete(physical_id, {"VoiceConnectorId": VC}))

    assert voice.streaming[VC] == before
    assert voice.mutating_calls == []


# -- who may ask: the physical ID and the configurations' owner tags ----------------------------------

NONE_ID = f"{VC}|streaming=none|eventbridge=added|retention=none"
UNTAGGED = "arn:aws:chime:us-east-1:111122223333:media-insights-pipeline-configuration/untagged"
MISSING = "arn:aws:chime:us-east-1:111122223333:media-insights-pipeline-configuration/never-created"


@pytest.mark.parametrize(
    "props",
    [{**PROPS, "VoiceConnectorId": VC_2}, {"ConfigurationArn": ARN}, {}],
    ids=["another-connector", "no-connector", "no-properties"],
)
def test_a_delete_whose_properties_name_another_connector_is_refused(
    association_handler: ModuleType, voice: FakeChimeSdkVoice, invoke: Invoke, props: dict[str, Any]
) -> None:
    voice.streaming[VC] = {"DataRetentionInHours": 24, "Disabled": False, "MediaInsightsConfiguration": OURS}

    with pytest.raises(RuntimeError, match="acts only on the connector its own properties name"):
        invoke(association_handler, voice, delete(NONE_ID, props))

    assert voice.calls == []


def test_a_move_to_another_connector_must_come_from_the_physical_ids_connector(
    association_handler: ModuleType, voice: FakeChimeSdkVoice, invoke: Invoke
) -> None:
    physical_id = create(voice, association_handler, invoke)
    moved = {**PROPS, "VoiceConnectorId": VC_2}

    with pytest.raises(RuntimeError, match="acts only on the connector its own properties name"):
        invoke(association_handler, voice, update(physical_id, moved, old=moved))

    assert voice.calls == []


@pytest.mark.parametrize(
    ("arn", "message"),
    [
        (FOREIGN, "carries another stack's owner tag"),
        (UNTAGGED, "carries no chime-speaker-search:stack tag"),
        (MISSING, "it does not exist"),
    ],
)
def test_only_a_configuration_of_this_stack_is_attached(
    association_handler: ModuleType,
    voice: FakeChimeSdkVoice,
    pipelines: FakeChimeSdkMediaPipelines,
    invoke: Invoke,
    arn: str,
    message: str,
) -> None:
    """A crafted Create cannot stream a connector's calls into another team's configuration."""
    pipelines.seed("untagged")

    with pytest.raises(RuntimeError, match=message):
        invoke(association_handler, voice, cfn_event("Create", {**PROPS, "ConfigurationArn": arn}))

    assert voice.mutating_calls == []
    assert VC not in voice.streaming


@pytest.mark.parametrize("owner", [{OWNER_TAG: OTHER_STACK_ID}, {}], ids=["another-stack", "untagged"])
def test_a_delete_never_detaches_a_configuration_of_another_stack(
    association_handler: ModuleType,
    voice: FakeChimeSdkVoice,
    pipelines: FakeChimeSdkMediaPipelines,
    invoke: Invoke,
    owner: dict[str, str],
) -> None:
    """A crafted Delete naming the configuration another team attached (and a physical ID that says
    streaming was never configured) would delete their streaming; it is refused."""
    pipelines.tags[FOREIGN] = owner
    theirs = {
        "DataRetentionInHours": 24,
        "Disabled": False,
        "StreamingNotificationTargets": [EVENTBRIDGE],
        "MediaInsightsConfiguration": {"Disabled": False, "ConfigurationArn": FOREIGN},
    }
    voice.streaming[VC] = copy.deepcopy(theirs)

    with pytest.raises(RuntimeError, match=r"Refusing to detach from Voice Connector .*'someone-elses'"):
        invoke(association_handler, voice, delete(NONE_ID, {**PROPS, "ConfigurationArn": FOREIGN}))

    assert voice.streaming[VC] == theirs
    assert voice.mutating_calls == []


def test_a_configuration_that_no_longer_exists_is_detached(
    association_handler: ModuleType,
    voice: FakeChimeSdkVoice,
    pipelines: FakeChimeSdkMediaPipelines,
    invoke: Invoke,
) -> None:
    physical_id = create(voice, association_handler, invoke)
    del pipelines.configurations["telephony-SpeakerSearch"]
    del pipelines.tags[ARN]

    invoke(association_handler, voice, delete(physical_id))

    assert VC not in voice.streaming


def test_an_update_replaces_only_a_previous_configuration_of_this_stack(
    association_handler: ModuleType,
    voice: FakeChimeSdkVoice,
    pipelines: FakeChimeSdkMediaPipelines,
    invoke: Invoke,
) -> None:
    """Naming another team's attached configuration as the previous one does not make it replaceable."""
    voice.streaming[VC] = {
        "DataRetentionInHours": 24,
        "Disabled": False,
        "MediaInsightsConfiguration": {"Disabled": False, "ConfigurationArn": FOREIGN},
    }
    before = copy.deepcopy(voice.streaming[VC])
    forged = update(NONE_ID, PROPS, old={**PROPS, "ConfigurationArn": FOREIGN})

    with pytest.raises(RuntimeError, match=r"Refusing to detach from Voice Connector .*'someone-elses'"):
        invoke(association_handler, voice, forged)
    assert voice.streaming[VC] == before

    # A previous configuration that no longer exists is a dangling reference: replacing it is fine.
    del pipelines.tags[FOREIGN]
    invoke(association_handler, voice, forged)
    assert voice.streaming[VC]["MediaInsightsConfiguration"] == OURS


def test_nothing_is_checked_when_nothing_is_written(
    association_handler: ModuleType,
    voice: FakeChimeSdkVoice,
    pipelines: FakeChimeSdkMediaPipelines,
    invoke: Invoke,
) -> None:
    """A configuration of an earlier version carries no owner tag until its own Update; an Update of
    an association that changes nothing (a rollback of the upgrade, say) reads no tag and succeeds."""
    pipelines.seed("untagged")
    legacy = {**PROPS, "ConfigurationArn": UNTAGGED}
    voice.streaming[VC] = {
        "DataRetentionInHours": 24,
        "Disabled": False,
        "StreamingNotificationTargets": [EVENTBRIDGE],
        "MediaInsightsConfiguration": {"Disabled": False, "ConfigurationArn": UNTAGGED},
    }

    invoke(association_handler, voice, update(NONE_ID, legacy, old=legacy))

    assert pipelines.calls == []
    assert voice.mutating_calls == []


# -- merge rules on delete: another tool relying on the streaming ------------------------------------


@pytest.mark.parametrize(
    ("before", "since", "after"),
    [
        pytest.param(
            None,
            {"DataRetentionInHours": 48},
            {"DataRetentionInHours": 48, "Disabled": False},
            id="none-another-retention",
        ),
        pytest.param(
            {"DataRetentionInHours": 6, "Disabled": True, "StreamingNotificationTargets": [SQS]},
            {"StreamingNotificationTargets": [SQS, EVENTBRIDGE, SNS]},
            # The retention still holds the value this library set: that field is restored.
            {"DataRetentionInHours": 6, "Disabled": False, "StreamingNotificationTargets": [SQS, SNS]},
            id="off-a-new-target",
        ),
        pytest.param(
            {"DataRetentionInHours": 6, "Disabled": True},
            {"DataRetentionInHours": 12},
            {"DataRetentionInHours": 12, "Disabled": False},
            id="off-another-retention",
        ),
    ],
)
def test_delete_keeps_streaming_on_when_another_tool_relies_on_it(
    association_handler: ModuleType,
    voice: FakeChimeSdkVoice,
    invoke: Invoke,
    before: dict[str, Any] | None,
    since: dict[str, Any],
    after: dict[str, Any],
) -> None:
    if before is not None:
        voice.streaming[VC] = copy.deepcopy(before)
    physical_id = create(voice, association_handler, invoke)
    voice.streaming[VC].update(copy.deepcopy(since))

    invoke(association_handler, voice, delete(physical_id))

    assert voice.streaming[VC] == after


def test_an_id_without_recorded_targets_counts_any_other_target_as_new(
    association_handler: ModuleType, voice: FakeChimeSdkVoice, invoke: Invoke
) -> None:
    """Physical IDs written before the targets were recorded: an SQS target may have been there or
    not, so streaming that was off stays on rather than be turned off under another tool."""
    voice.streaming[VC] = {
        "DataRetentionInHours": 24,
        "Disabled": False,
        "StreamingNotificationTargets": [SQS, EVENTBRIDGE],
        "MediaInsightsConfiguration": OURS,
    }

    invoke(association_handler, voice, delete(f"{VC}|streaming=off|eventbridge=added|retention=6"))

    assert voice.streaming[VC] == {
        "DataRetentionInHours": 6,
        "Disabled": False,
        "StreamingNotificationTargets": [SQS],
    }


def test_an_id_without_recorded_targets_still_restores_when_no_other_target_is_there(
    association_handler: ModuleType, voice: FakeChimeSdkVoice, invoke: Invoke
) -> None:
    voice.streaming[VC] = {
        "DataRetentionInHours": 24,
        "Disabled": False,
        "StreamingNotificationTargets": [EVENTBRIDGE],
        "MediaInsightsConfiguration": OURS,
    }

    invoke(association_handler, voice, delete(f"{VC}|streaming=off|eventbridge=added|retention=6"))

    assert voice.streaming[VC] == {"DataRetentionInHours": 6, "Disabled": True}


# -- another writer between our calls --------------------------------------------------------------

GET = "GetVoiceConnectorStreamingConfiguration"
PUT = "PutVoiceConnectorStreamingConfiguration"
DELETE = "DeleteVoiceConnectorStreamingConfiguration"


def _adds_sns(configuration: dict[str, Any] | None) -> dict[str, Any]:
    """Another tool's change: it turns streaming on with its own SNS target, keeping the rest."""
    changed = configuration or {"DataRetentionInHours": 24}
    changed["Disabled"] = False
    changed["StreamingNotificationTargets"] = [*(changed.get("StreamingNotificationTargets") or []), SNS]
    return changed


def test_attach_merges_a_change_made_between_its_read_and_its_write(
    association_handler: ModuleType, voice: FakeChimeSdkVoice, invoke: Invoke
) -> None:
    """Order 1: the other write lands after our first read (while the owner tags were read), before
    our write: the re-read just before writing sees it, and the merge starts again from it."""
    writer = OtherWriter(voice, VC, _adds_sns)
    voice.before(GET, writer.read_and_write, nth=2)

    invoke(association_handler, voice, cfn_event("Create", PROPS))

    assert voice.streaming[VC]["StreamingNotificationTargets"] == [SNS, EVENTBRIDGE]
    assert voice.streaming[VC]["MediaInsightsConfiguration"] == OURS
    assert [name for name, _ in voice.calls] == [GET, GET, GET, PUT, GET]


def test_attach_repeats_a_write_another_writer_overwrote(
    association_handler: ModuleType, voice: FakeChimeSdkVoice, invoke: Invoke
) -> None:
    """Order 2: the other tool read before our write and writes after it, without our attachment:
    the re-read after our write sees the race lost, and the attachment is merged into its result."""
    writer = OtherWriter(voice, VC, _adds_sns)
    voice.before(PUT, writer.read)
    voice.before(GET, writer.write, nth=3)

    result = invoke(association_handler, voice, cfn_event("Create", PROPS))

    assert writer.writes == 1
    assert voice.streaming[VC]["StreamingNotificationTargets"] == [SNS, EVENTBRIDGE]
    assert voice.streaming[VC]["MediaInsightsConfiguration"] == OURS
    assert voice.mutating_calls == [PUT, PUT]
    # The state recorded is the one the attachment was finally made to: streaming the other tool enabled.
    assert result["PhysicalResourceId"] == f"{VC}|streaming=on|eventbridge=added|retention=24|targets=SNS"


def test_detach_merges_a_change_made_between_its_read_and_its_write(
    association_handler: ModuleType, voice: FakeChimeSdkVoice, invoke: Invoke
) -> None:
    physical_id = create(voice, association_handler, invoke)
    writer = OtherWriter(voice, VC, _adds_sns)
    voice.before(GET, writer.read_and_write, nth=2)

    invoke(association_handler, voice, delete(physical_id))

    # The other tool relies on the streaming now: it stays on, only what this library set goes.
    assert voice.streaming[VC] == {
        "DataRetentionInHours": 24,
        "Disabled": False,
        "StreamingNotificationTargets": [SNS],
    }
    assert voice.mutating_calls == [PUT]


def test_detach_repeats_a_delete_another_writer_overwrote(
    association_handler: ModuleType, voice: FakeChimeSdkVoice, invoke: Invoke
) -> None:
    """The other tool read the attached configuration before our delete and writes it back after,
    with its SNS target: our configuration is attached again, so it is detached again, and the
    streaming the other tool now relies on stays on."""
    physical_id = create(voice, association_handler, invoke)
    writer = OtherWriter(voice, VC, _adds_sns)
    voice.before(DELETE, writer.read)
    voice.before(GET, writer.write, nth=3)

    invoke(association_handler, voice, delete(physical_id))

    assert voice.mutating_calls == [DELETE, PUT]
    assert voice.streaming[VC] == {
        "DataRetentionInHours": 24,
        "Disabled": False,
        "StreamingNotificationTargets": [SNS],
    }


def test_a_writer_that_overwrites_every_round_makes_the_request_fail_clearly(
    association_handler: ModuleType, voice: FakeChimeSdkVoice, invoke: Invoke
) -> None:
    """cdklabs' ChimeVoiceConnector, say, writing its whole configuration after each of ours."""
    whole = {"DataRetentionInHours": 12, "Disabled": False, "StreamingNotificationTargets": [SNS]}
    writer = OtherWriter(voice, VC, lambda _: copy.deepcopy(whole))

    def overwrite_after_our_put() -> None:
        writer.write()
        voice.before(PUT, lambda: voice.before(GET, overwrite_after_our_put))

    voice.before(PUT, lambda: voice.before(GET, overwrite_after_our_put))

    with pytest.raises(
        RuntimeError, match=r"Another writer changed .*'abcdef1ghij2klmno3pqr4' in each of 4 rounds"
    ):
        invoke(association_handler, voice, cfn_event("Create", PROPS))

    assert voice.count(PUT) == association_handler.MAX_ROUNDS
    assert voice.streaming[VC] == whole


def test_the_known_limit_a_write_between_our_last_read_and_our_write_is_overwritten(
    association_handler: ModuleType, voice: FakeChimeSdkVoice, invoke: Invoke
) -> None:
    """PutVoiceConnectorStreamingConfiguration has no conditional write: a whole read-modify-write of
    another tool that lands between our re-read and our write is lost (that tool, re-reading after
    its write as this one does, would repair it). Pinned so that the docs stay true."""
    writer = OtherWriter(voice, VC, _adds_sns)
    voice.before(PUT, writer.read_and_write)

    invoke(association_handler, voice, cfn_event("Create", PROPS))

    assert writer.writes == 1
    assert voice.streaming[VC]["StreamingNotificationTargets"] == [EVENTBRIDGE]
