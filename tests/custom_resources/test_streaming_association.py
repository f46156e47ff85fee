"""Lifecycle tests of custom_resources/streaming_association.py against the in-memory chime-sdk-voice fake."""

from __future__ import annotations

import copy
from types import ModuleType
from typing import Any

import pytest

from tests.custom_resources.conftest import Invoke
from tests.custom_resources.fakes import FAILED_CREATE_PHYSICAL_ID, FakeChimeSdkVoice, cfn_event

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
def connectors(voice: FakeChimeSdkVoice) -> None:
    voice.connectors.update({VC, VC_2})


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

    assert result["PhysicalResourceId"] == f"{VC}|streaming=on|eventbridge=added|retention=48"
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

    assert result["PhysicalResourceId"] == f"{VC}|streaming=on|eventbridge=present|retention=2"
    assert voice.streaming[VC]["StreamingNotificationTargets"] == [EVENTBRIDGE, SNS]
    assert voice.streaming[VC]["DataRetentionInHours"] == 24


def test_create_on_disabled_streaming_enables_it_with_the_configured_retention(
    association_handler: ModuleType, voice: FakeChimeSdkVoice, invoke: Invoke
) -> None:
    voice.streaming[VC] = {"DataRetentionInHours": 72, "Disabled": True}

    result = invoke(association_handler, voice, cfn_event("Create", PROPS))

    assert result["PhysicalResourceId"] == f"{VC}|streaming=off|eventbridge=added|retention=72"
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
    association_handler: ModuleType, voice: FakeChimeSdkVoice, invoke: Invoke
) -> None:
    props = {**PROPS, "VoiceConnectorId": "doesnotexist0000000000"}

    with pytest.raises(
        RuntimeError, match=r"PutVoiceConnectorStreamingConfiguration .*'doesnotexist0000000000'.*NotFound"
    ):
        invoke(association_handler, voice, cfn_event("Create", props))


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
    assert new_id == f"{VC_2}|streaming=off|eventbridge=added|retention=1"
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


def test_delete_after_none_keeps_targets_added_since_and_only_disables(
    association_handler: ModuleType, voice: FakeChimeSdkVoice, invoke: Invoke
) -> None:
    physical_id = create(voice, association_handler, invoke)
    voice.streaming[VC]["StreamingNotificationTargets"].append(SNS)  # someone else started using it

    invoke(association_handler, voice, delete(physical_id))

    assert voice.streaming[VC] == {
        "DataRetentionInHours": 24,
        "Disabled": True,
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


def test_delete_never_fails_on_bad_properties(
    association_handler: ModuleType, voice: FakeChimeSdkVoice, invoke: Invoke
) -> None:
    physical_id = create(voice, association_handler, invoke)

    invoke(association_handler, voice, delete(physical_id, {**PROPS, "DataRetentionInHours": "soon"}))

    assert VC not in voice.streaming


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


@pytest.mark.parametrize("props", [{}, {"VoiceConnectorId": VC}])
def test_delete_whose_properties_name_no_configuration_changes_nothing(
    association_handler: ModuleType, voice: FakeChimeSdkVoice, invoke: Invoke, props: dict[str, Any]
) -> None:
    voice.streaming[VC] = {"DataRetentionInHours": 0, "Disabled": True}
    physical_id = create(voice, association_handler, invoke)
    voice.streaming[VC].pop("MediaInsightsConfiguration")  # detached out of band
    before = copy.deepcopy(voice.streaming[VC])

    invoke(association_handler, voice, delete(physical_id, props))

    assert voice.streaming[VC] == before
    assert voice.mutating_calls == []
