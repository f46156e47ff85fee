"""Lifecycle tests of custom_resources/media_insights_configuration.py against the media-pipelines fake."""

from __future__ import annotations

from types import ModuleType
from typing import Any

import pytest

from tests.custom_resources.conftest import Invoke
from tests.custom_resources.fakes import FAILED_CREATE_PHYSICAL_ID, FakeChimeSdkMediaPipelines, cfn_event

ROLE = "arn:aws:iam::111122223333:role/telephony-MediaPipelinesRole-1A2B3C"
ROLE_2 = "arn:aws:iam::111122223333:role/other-role"
STREAM = "arn:aws:kinesis:us-east-1:111122223333:stream/voice-analytics"
QUEUE = "arn:aws:sqs:us-east-1:111122223333:telephony-Notifications-AbC123"
PROPS: dict[str, Any] = {
    "Name": "telephony-SpeakerSearch-1a2b3c4d",
    "ResourceAccessRoleArn": ROLE,
    "SpeakerSearch": "Enabled",
    "VoiceToneAnalysis": "Disabled",
    "KinesisDataStreamArn": STREAM,
    "SqsQueueArn": QUEUE,
    "Tags": [{"Key": "team", "Value": "voice"}],
}
NAME = PROPS["Name"]


@pytest.fixture
def created(
    configuration_handler: ModuleType, pipelines: FakeChimeSdkMediaPipelines, invoke: Invoke
) -> dict[str, Any]:
    result = invoke(configuration_handler, pipelines, cfn_event("Create", PROPS))
    pipelines.reset_calls()
    return result


def update(physical_id: str, new: dict[str, Any], old: dict[str, Any] = PROPS) -> dict[str, Any]:
    return cfn_event("Update", new, physical_id=physical_id, old_properties=old)


def test_create_sends_processor_then_stream_then_queue_and_reports_name_arn_id(
    configuration_handler: ModuleType, pipelines: FakeChimeSdkMediaPipelines, invoke: Invoke
) -> None:
    result = invoke(configuration_handler, pipelines, cfn_event("Create", PROPS))

    configuration = pipelines.configurations[NAME]
    assert result == {
        "PhysicalResourceId": NAME,
        "Data": {
            "ConfigurationArn": pipelines.arn(NAME),
            "ConfigurationName": NAME,
            "ConfigurationId": configuration["MediaInsightsPipelineConfigurationId"],
        },
    }
    assert configuration["Elements"] == [
        {
            "Type": "VoiceAnalyticsProcessor",
            "VoiceAnalyticsProcessorConfiguration": {
                "SpeakerSearchStatus": "Enabled",
                "VoiceToneAnalysisStatus": "Disabled",
            },
        },
        {"Type": "KinesisDataStreamSink", "KinesisDataStreamSinkConfiguration": {"InsightsTarget": STREAM}},
        {"Type": "SqsQueueSink", "SqsQueueSinkConfiguration": {"InsightsTarget": QUEUE}},
    ]
    assert configuration["ResourceAccessRoleArn"] == ROLE
    assert pipelines.tags[pipelines.arn(NAME)] == {"team": "voice"}
    token = pipelines.calls[0][1]["ClientRequestToken"]
    assert len(token) == 64


def test_defaults_and_a_single_sink(
    configuration_handler: ModuleType, pipelines: FakeChimeSdkMediaPipelines, invoke: Invoke
) -> None:
    props = {"Name": NAME, "ResourceAccessRoleArn": ROLE, "SqsQueueArn": QUEUE}

    invoke(configuration_handler, pipelines, cfn_event("Create", props))

    (_, params) = pipelines.calls[0]
    assert params["Elements"] == [
        {
            "Type": "VoiceAnalyticsProcessor",
            "VoiceAnalyticsProcessorConfiguration": {
                "SpeakerSearchStatus": "Enabled",
                "VoiceToneAnalysisStatus": "Disabled",
            },
        },
        {"Type": "SqsQueueSink", "SqsQueueSinkConfiguration": {"InsightsTarget": QUEUE}},
    ]
    assert "Tags" not in params


def test_create_retried_with_the_same_request_id_creates_one_configuration(
    configuration_handler: ModuleType, pipelines: FakeChimeSdkMediaPipelines, invoke: Invoke
) -> None:
    event = cfn_event("Create", PROPS)

    first = invoke(configuration_handler, pipelines, event)
    second = invoke(configuration_handler, pipelines, dict(event))

    assert first == second
    assert len(pipelines.configurations) == 1


def test_update_with_unchanged_properties_makes_no_mutating_call(
    configuration_handler: ModuleType,
    pipelines: FakeChimeSdkMediaPipelines,
    invoke: Invoke,
    created: dict[str, Any],
) -> None:
    result = invoke(configuration_handler, pipelines, update(NAME, PROPS))

    assert result == created
    assert pipelines.mutating_calls == []


@pytest.mark.parametrize(
    "change",
    [{"ResourceAccessRoleArn": ROLE_2}, {"VoiceToneAnalysis": "Enabled"}, {"SqsQueueArn": ""}],
)
def test_update_of_role_or_elements_replaces_both_in_place(
    configuration_handler: ModuleType,
    pipelines: FakeChimeSdkMediaPipelines,
    invoke: Invoke,
    created: dict[str, Any],
    change: dict[str, Any],
) -> None:
    new = {**PROPS, **change}

    result = invoke(configuration_handler, pipelines, update(NAME, new))

    assert result == created
    assert pipelines.mutating_calls == ["UpdateMediaInsightsPipelineConfiguration"]
    (_, params) = pipelines.calls[-1]
    expected = configuration_handler.parse_properties(new)
    assert params == {
        "Identifier": NAME,
        "ResourceAccessRoleArn": expected.role_arn,
        "Elements": expected.elements,
    }
    assert pipelines.configurations[NAME]["Elements"] == expected.elements


def test_update_of_tags_only_tags(
    configuration_handler: ModuleType,
    pipelines: FakeChimeSdkMediaPipelines,
    invoke: Invoke,
    created: dict[str, Any],
) -> None:
    new = {**PROPS, "Tags": [{"Key": "owner", "Value": "ops"}]}

    invoke(configuration_handler, pipelines, update(NAME, new))

    assert pipelines.mutating_calls == ["UntagResource", "TagResource"]
    assert pipelines.tags[pipelines.arn(NAME)] == {"owner": "ops"}


def test_update_of_the_name_creates_a_new_configuration(
    configuration_handler: ModuleType,
    pipelines: FakeChimeSdkMediaPipelines,
    invoke: Invoke,
    created: dict[str, Any],
) -> None:
    new = {**PROPS, "Name": "telephony-SpeakerSearch-v2"}

    result = invoke(configuration_handler, pipelines, update(NAME, new))

    assert result["PhysicalResourceId"] == "telephony-SpeakerSearch-v2"
    assert result["Data"]["ConfigurationArn"] == pipelines.arn("telephony-SpeakerSearch-v2")
    assert set(pipelines.configurations) == {NAME, "telephony-SpeakerSearch-v2"}
    assert pipelines.mutating_calls == ["CreateMediaInsightsPipelineConfiguration"]


def test_full_lifecycle(
    configuration_handler: ModuleType, pipelines: FakeChimeSdkMediaPipelines, invoke: Invoke
) -> None:
    invoke(configuration_handler, pipelines, cfn_event("Create", PROPS))
    toned = {**PROPS, "VoiceToneAnalysis": "Enabled"}
    assert invoke(configuration_handler, pipelines, update(NAME, toned))["PhysicalResourceId"] == NAME
    renamed = {**toned, "Name": "renamed"}
    assert invoke(configuration_handler, pipelines, update(NAME, renamed, old=toned))[
        "PhysicalResourceId"
    ] == ("renamed")
    assert pipelines.configurations["renamed"]["Elements"] == pipelines.configurations[NAME]["Elements"]

    invoke(configuration_handler, pipelines, cfn_event("Delete", toned, physical_id=NAME))  # clean-up
    invoke(configuration_handler, pipelines, cfn_event("Delete", renamed, physical_id="renamed"))
    assert pipelines.configurations == {}
    invoke(configuration_handler, pipelines, cfn_event("Delete", renamed, physical_id="renamed"))  # twice


def test_delete_after_out_of_band_removal_succeeds(
    configuration_handler: ModuleType,
    pipelines: FakeChimeSdkMediaPipelines,
    invoke: Invoke,
    created: dict[str, Any],
) -> None:
    pipelines.configurations.clear()

    invoke(configuration_handler, pipelines, cfn_event("Delete", PROPS, physical_id=NAME))

    assert pipelines.count("DeleteMediaInsightsPipelineConfiguration") == 1


@pytest.mark.parametrize("physical_id", [FAILED_CREATE_PHYSICAL_ID, "x", "name with spaces"])
def test_delete_of_a_placeholder_physical_id_makes_no_call(
    configuration_handler: ModuleType,
    pipelines: FakeChimeSdkMediaPipelines,
    invoke: Invoke,
    created: dict[str, Any],
    physical_id: str,
) -> None:
    invoke(configuration_handler, pipelines, cfn_event("Delete", PROPS, physical_id=physical_id))

    assert pipelines.calls == []
    assert NAME in pipelines.configurations


def test_rollback_delete_after_a_failed_create_keeps_other_configurations(
    configuration_handler: ModuleType,
    pipelines: FakeChimeSdkMediaPipelines,
    invoke: Invoke,
    created: dict[str, Any],
) -> None:
    # A second stack resource with the same name fails: the name is taken.
    failed = cfn_event("Create", PROPS, logical_id="Other")
    with pytest.raises(RuntimeError, match=r"CreateMediaInsightsPipelineConfiguration .*BadRequestException"):
        invoke(configuration_handler, pipelines, failed)

    invoke(configuration_handler, pipelines, cfn_event("Delete", PROPS, physical_id=failed["RequestId"]))

    assert NAME in pipelines.configurations


def test_delete_waits_while_the_configuration_is_still_in_use(
    configuration_handler: ModuleType,
    pipelines: FakeChimeSdkMediaPipelines,
    invoke: Invoke,
    created: dict[str, Any],
    sleeps: list[float],
) -> None:
    pipelines.fail("DeleteMediaInsightsPipelineConfiguration", "ConflictException", times=3)

    invoke(configuration_handler, pipelines, cfn_event("Delete", PROPS, physical_id=NAME))

    assert pipelines.configurations == {}
    assert len(sleeps) == 3


def test_delete_gives_up_on_a_lasting_conflict_with_a_clear_reason(
    configuration_handler: ModuleType,
    pipelines: FakeChimeSdkMediaPipelines,
    invoke: Invoke,
    created: dict[str, Any],
    sleeps: list[float],
    shared: ModuleType,
) -> None:
    pipelines.in_use.add(NAME)

    with pytest.raises(RuntimeError) as excinfo:
        invoke(configuration_handler, pipelines, cfn_event("Delete", PROPS, physical_id=NAME))

    message = str(excinfo.value)
    assert "DeleteMediaInsightsPipelineConfiguration" in message
    assert NAME in message
    assert "ConflictException" in message
    assert "still in use" in message
    budget = configuration_handler.DELETE_CONFLICT_BUDGET_S
    # Attempts start only within the budget, measured on the clock: the last backoff that would
    # have crossed it was not slept.
    assert budget - shared.BACKOFF_CAP_S < sum(sleeps) <= budget
    assert NAME in pipelines.configurations


def test_api_failure_is_raised_with_operation_resource_and_code(
    configuration_handler: ModuleType, pipelines: FakeChimeSdkMediaPipelines, invoke: Invoke
) -> None:
    pipelines.fail("CreateMediaInsightsPipelineConfiguration", "AccessDeniedException")

    with pytest.raises(RuntimeError) as excinfo:
        invoke(configuration_handler, pipelines, cfn_event("Create", PROPS))

    assert "CreateMediaInsightsPipelineConfiguration failed for media insights pipeline configuration" in str(
        excinfo.value
    )
    assert NAME in str(excinfo.value)
    assert "AccessDeniedException" in str(excinfo.value)
    assert pipelines.configurations == {}


def test_throttling_on_every_attempt_fails_clearly(
    configuration_handler: ModuleType,
    pipelines: FakeChimeSdkMediaPipelines,
    invoke: Invoke,
    created: dict[str, Any],
    shared: ModuleType,
) -> None:
    pipelines.fail_always("GetMediaInsightsPipelineConfiguration", "ThrottledClientException")

    with pytest.raises(RuntimeError, match="ThrottledClientException"):
        invoke(configuration_handler, pipelines, update(NAME, PROPS))

    assert pipelines.count("GetMediaInsightsPipelineConfiguration") == shared.THROTTLE_ATTEMPTS


def test_failed_update_midway_is_undone_by_the_rollback_update(
    configuration_handler: ModuleType,
    pipelines: FakeChimeSdkMediaPipelines,
    invoke: Invoke,
    created: dict[str, Any],
) -> None:
    before = dict(pipelines.configurations[NAME])
    new = {**PROPS, "ResourceAccessRoleArn": ROLE_2, "Tags": [{"Key": "team", "Value": "data"}]}
    pipelines.fail("TagResource", "AccessDeniedException")
    with pytest.raises(RuntimeError, match="TagResource"):
        invoke(configuration_handler, pipelines, update(NAME, new))
    assert pipelines.configurations[NAME]["ResourceAccessRoleArn"] == ROLE_2  # half applied

    result = invoke(configuration_handler, pipelines, update(NAME, PROPS, old=new))

    assert result == created
    assert pipelines.configurations[NAME]["ResourceAccessRoleArn"] == before["ResourceAccessRoleArn"]
    assert pipelines.configurations[NAME]["Elements"] == before["Elements"]
    assert pipelines.tags[pipelines.arn(NAME)] == {"team": "voice"}


def test_rollback_of_an_invalid_update_restores_the_valid_configuration(
    configuration_handler: ModuleType,
    pipelines: FakeChimeSdkMediaPipelines,
    invoke: Invoke,
    created: dict[str, Any],
) -> None:
    invalid = {**PROPS, "SpeakerSearch": "On"}
    with pytest.raises(ValueError, match="SpeakerSearch"):
        invoke(configuration_handler, pipelines, update(NAME, invalid))

    result = invoke(configuration_handler, pipelines, update(NAME, PROPS, old=invalid))

    assert result == created
    assert (
        pipelines.configurations[NAME]["Elements"] == configuration_handler.parse_properties(PROPS).elements
    )


def test_rollback_of_a_rename_deletes_only_the_new_configuration(
    configuration_handler: ModuleType,
    pipelines: FakeChimeSdkMediaPipelines,
    invoke: Invoke,
    created: dict[str, Any],
) -> None:
    new = {**PROPS, "Name": "renamed"}
    invoke(configuration_handler, pipelines, update(NAME, new))

    invoke(configuration_handler, pipelines, cfn_event("Delete", new, physical_id="renamed"))

    assert set(pipelines.configurations) == {NAME}


@pytest.mark.parametrize(
    ("change", "prop"),
    [
        ({"Name": "a"}, "Name"),
        ({"Name": "n" * 65}, "Name"),
        ({"Name": "has space"}, "Name"),
        ({"ResourceAccessRoleArn": None}, "ResourceAccessRoleArn"),
        ({"ResourceAccessRoleArn": "arn:aws:iam::111122223333:user/someone"}, "ResourceAccessRoleArn"),
        ({"ResourceAccessRoleArn": "arn:aws:iam::111122223333:role/a+b"}, "ResourceAccessRoleArn"),
        ({"SpeakerSearch": "enabled"}, "SpeakerSearch"),
        ({"VoiceToneAnalysis": "true"}, "VoiceToneAnalysis"),
        ({"SqsQueueArn": "arn:aws:sqs:us-east-1:111122223333:queue.fifo"}, "SqsQueueArn"),
        ({"SqsQueueArn": "https://sqs.us-east-1.amazonaws.com/111122223333/q"}, "SqsQueueArn"),
        (
            {"KinesisDataStreamArn": "arn:aws:kinesis:us-east-1:111122223333:deliverystream/x"},
            "KinesisDataStreamArn",
        ),
        ({"SqsQueueArn": None, "KinesisDataStreamArn": None}, "SqsQueueArn / KinesisDataStreamArn"),
        ({"Tags": [{"Key": "k"}] * 201}, "Tags"),
        ({"Sinks": "x"}, "Sinks"),
    ],
)
def test_invalid_properties_raise_value_error_naming_the_property(
    configuration_handler: ModuleType,
    pipelines: FakeChimeSdkMediaPipelines,
    invoke: Invoke,
    change: dict[str, Any],
    prop: str,
) -> None:
    props = {k: v for k, v in {**PROPS, **change}.items() if v is not None}

    with pytest.raises(ValueError, match=prop):
        invoke(configuration_handler, pipelines, cfn_event("Create", props))

    assert pipelines.calls == []


@pytest.mark.parametrize("name", ["ab", "A.b_c-1", "n" * 64])
def test_valid_names_are_used_unchanged(
    configuration_handler: ModuleType, pipelines: FakeChimeSdkMediaPipelines, invoke: Invoke, name: str
) -> None:
    result = invoke(configuration_handler, pipelines, cfn_event("Create", {**PROPS, "Name": name}))

    assert result["PhysicalResourceId"] == name
    assert name in pipelines.configurations


def test_a_conflict_on_update_is_retried_within_its_budget(
    configuration_handler: ModuleType,
    pipelines: FakeChimeSdkMediaPipelines,
    invoke: Invoke,
    sleeps: list[float],
    shared: ModuleType,
) -> None:
    invoke(configuration_handler, pipelines, cfn_event("Create", PROPS))
    new = {**PROPS, "VoiceToneAnalysis": "Enabled"}
    pipelines.fail("UpdateMediaInsightsPipelineConfiguration", "ConflictException", times=2)

    result = invoke(configuration_handler, pipelines, update(NAME, new))

    assert result["PhysicalResourceId"] == NAME
    assert pipelines.count("UpdateMediaInsightsPipelineConfiguration") == 3
    assert pipelines.configurations[NAME]["Elements"] == configuration_handler.parse_properties(new).elements

    # A conflict that outlasts the budget fails, having waited no longer than the budget.
    sleeps.clear()
    pipelines.fail_always("UpdateMediaInsightsPipelineConfiguration", "ConflictException")
    with pytest.raises(
        RuntimeError, match=r"UpdateMediaInsightsPipelineConfiguration failed .*ConflictException"
    ):
        invoke(configuration_handler, pipelines, update(NAME, PROPS, old=new))
    budget = configuration_handler.UPDATE_CONFLICT_BUDGET_S
    assert budget - shared.BACKOFF_CAP_S < sum(sleeps) <= budget
