"""Lifecycle tests of custom_resources/media_insights_configuration.py against the media-pipelines fake.

Who may ask (the physical ID and the owner tag), the upgrade that tags configurations of earlier
versions, and a delete that waits through the Provider framework's isComplete while the configuration
is in use are tested at the end.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import pytest

from tests.custom_resources.conftest import (
    COMPLETION_KEY,
    MAX_ATTEMPTS,
    QUERY_INTERVAL_S,
    FakeClock,
    Invoke,
)
from tests.custom_resources.fakes import (
    FAILED_CREATE_PHYSICAL_ID,
    OTHER_STACK_ID,
    OWNED,
    OWNER_TAG,
    STACK_ID,
    FakeChimeSdkMediaPipelines,
    cfn_event,
)

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
    assert pipelines.tags[pipelines.arn(NAME)] == {"team": "voice", **OWNED}
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
    assert params["Tags"] == [{"Key": OWNER_TAG, "Value": STACK_ID}]  # always: the handler's own tag


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
    assert pipelines.tags[pipelines.arn(NAME)] == {"owner": "ops", **OWNED}


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

    assert pipelines.calls == [("GetMediaInsightsPipelineConfiguration", {"Identifier": NAME})]


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
    pipelines.reset_calls()

    # The framework's placeholder is skipped; an ID that is not the properties' name is refused.
    invoke(
        configuration_handler, pipelines, cfn_event("Delete", PROPS, physical_id=FAILED_CREATE_PHYSICAL_ID)
    )
    with pytest.raises(RuntimeError, match="acts only on the configuration its own properties name"):
        invoke(configuration_handler, pipelines, cfn_event("Delete", PROPS, physical_id=failed["RequestId"]))

    assert NAME in pipelines.configurations
    assert pipelines.calls == []


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
    assert pipelines.tags[pipelines.arn(NAME)] == {"team": "voice", **OWNED}


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


# -- who may ask: the physical ID and the owner tag ----------------------------------------------------


@pytest.mark.parametrize("owner", [{OWNER_TAG: OTHER_STACK_ID}, {}, {"team": "voice"}], ids=str)
@pytest.mark.parametrize("request_type", ["Update", "Delete"])
def test_a_configuration_this_stack_did_not_tag_is_neither_updated_nor_deleted(
    configuration_handler: ModuleType,
    pipelines: FakeChimeSdkMediaPipelines,
    invoke: Invoke,
    owner: dict[str, str],
    request_type: str,
) -> None:
    """A StackId is no secret: a crafted request of this stack's ID, naming another team's
    configuration (its real role, so nothing but the tag tells it apart), changes nothing."""
    pipelines.seed(NAME, tags=owner, role=ROLE)
    before = dict(pipelines.configurations[NAME])
    ours = {**PROPS, "Tags": [{"Key": OWNER_TAG, "Value": STACK_ID}], "VoiceToneAnalysis": "Enabled"}
    event = (
        update(NAME, ours, old={**PROPS, "Tags": [{"Key": OWNER_TAG, "Value": STACK_ID}]})
        if request_type == "Update"
        else cfn_event("Delete", ours, physical_id=NAME)
    )

    with pytest.raises(RuntimeError, match=rf"Refusing to {request_type.lower()} media insights .*'{NAME}'"):
        invoke(configuration_handler, pipelines, event)

    assert pipelines.mutating_calls == []
    assert pipelines.configurations[NAME] == before
    assert pipelines.tags[pipelines.arn(NAME)] == owner


@pytest.mark.parametrize(
    ("physical_id", "new_name", "old_name"),
    [
        pytest.param("someone-elses", NAME, NAME, id="physical-id-not-the-name"),
        pytest.param("someone-elses", "renamed", NAME, id="rename-from-another-configuration"),
    ],
)
def test_an_update_whose_physical_id_is_not_its_properties_name_is_refused(
    configuration_handler: ModuleType,
    pipelines: FakeChimeSdkMediaPipelines,
    invoke: Invoke,
    created: dict[str, Any],
    physical_id: str,
    new_name: str,
    old_name: str,
) -> None:
    pipelines.seed("someone-elses", tags=OWNED)  # even tagged as ours, it is not this resource's

    with pytest.raises(RuntimeError, match="acts only on the configuration its own properties name"):
        invoke(
            configuration_handler,
            pipelines,
            update(physical_id, {**PROPS, "Name": new_name}, old={**PROPS, "Name": old_name}),
        )

    assert pipelines.calls == []


def test_a_delete_whose_physical_id_is_not_its_properties_name_is_refused(
    configuration_handler: ModuleType, pipelines: FakeChimeSdkMediaPipelines, invoke: Invoke
) -> None:
    pipelines.seed("someone-elses", tags=OWNED)

    with pytest.raises(RuntimeError, match="acts only on the configuration its own properties name"):
        invoke(configuration_handler, pipelines, cfn_event("Delete", PROPS, physical_id="someone-elses"))

    assert pipelines.calls == []
    assert "someone-elses" in pipelines.configurations


def test_properties_cannot_tag_a_configuration_as_another_stacks(
    configuration_handler: ModuleType, pipelines: FakeChimeSdkMediaPipelines, invoke: Invoke
) -> None:
    props = {**PROPS, "Tags": [{"Key": OWNER_TAG, "Value": OTHER_STACK_ID}]}

    with pytest.raises(RuntimeError, match="names another stack"):
        invoke(configuration_handler, pipelines, cfn_event("Create", props))

    assert pipelines.calls == []


def test_the_rename_cleanup_and_the_rename_rollback_delete_only_what_they_name(
    configuration_handler: ModuleType,
    pipelines: FakeChimeSdkMediaPipelines,
    invoke: Invoke,
    created: dict[str, Any],
) -> None:
    """Rename: CloudFormation's clean-up deletes the old configuration with the old properties; a
    rollback of the rename deletes the new one with the new properties. Both pass the checks."""
    renamed = {**PROPS, "Name": "renamed"}
    assert invoke(configuration_handler, pipelines, update(NAME, renamed))["PhysicalResourceId"] == "renamed"
    assert pipelines.tags[pipelines.arn("renamed")] == {"team": "voice", **OWNED}

    invoke(configuration_handler, pipelines, cfn_event("Delete", renamed, physical_id="renamed"))  # rollback
    assert set(pipelines.configurations) == {NAME}
    invoke(configuration_handler, pipelines, update(NAME, renamed))
    invoke(configuration_handler, pipelines, cfn_event("Delete", PROPS, physical_id=NAME))  # clean-up
    assert set(pipelines.configurations) == {"renamed"}


# -- the upgrade from a version that did not tag configurations ----------------------------------------

LEGACY = {k: v for k, v in PROPS.items() if k != "Tags"}  # that version's template: no Tags at all
TAGGED = {**PROPS, "Tags": [{"Key": OWNER_TAG, "Value": STACK_ID}]}  # this version's template


@pytest.mark.parametrize(
    ("new", "old"),
    [pytest.param(TAGGED, LEGACY, id="upgrade"), pytest.param(LEGACY, TAGGED, id="rollback-of-the-upgrade")],
)
def test_an_untagged_configuration_of_an_earlier_version_is_adopted_on_its_next_update(
    configuration_handler: ModuleType,
    pipelines: FakeChimeSdkMediaPipelines,
    invoke: Invoke,
    new: dict[str, Any],
    old: dict[str, Any],
) -> None:
    """The upgrade's Update (tags are properties) tags it, writing role and elements so that the
    role is passed (IAM allows the function only this stack's roles); a rollback of the upgrade's
    Update, before the tag was written, passes too."""
    pipelines.seed(NAME, role=ROLE)

    result = invoke(configuration_handler, pipelines, update(NAME, new, old=old))

    assert result["PhysicalResourceId"] == NAME
    assert pipelines.mutating_calls == ["UpdateMediaInsightsPipelineConfiguration", "TagResource"]
    assert pipelines.tags[pipelines.arn(NAME)][OWNER_TAG] == STACK_ID
    assert pipelines.configurations[NAME]["Elements"] == configuration_handler.parse_properties(new).elements
    # From now on it is this stack's: the next update of properties that drop the tag keeps it.
    pipelines.reset_calls()
    invoke(configuration_handler, pipelines, update(NAME, LEGACY, old=TAGGED))
    assert pipelines.tags[pipelines.arn(NAME)][OWNER_TAG] == STACK_ID
    assert pipelines.mutating_calls == []
    invoke(configuration_handler, pipelines, cfn_event("Delete", TAGGED, physical_id=NAME))
    assert pipelines.configurations == {}


def test_adoption_needs_the_requests_role_and_a_template_of_the_earlier_version(
    configuration_handler: ModuleType, pipelines: FakeChimeSdkMediaPipelines, invoke: Invoke
) -> None:
    pipelines.seed(NAME, role=ROLE_2)
    with pytest.raises(RuntimeError, match="carries no chime-speaker-search:stack tag"):
        invoke(configuration_handler, pipelines, update(NAME, TAGGED, old=LEGACY))  # another role
    pipelines.configurations[NAME]["ResourceAccessRoleArn"] = ROLE
    with pytest.raises(RuntimeError, match="carries no chime-speaker-search:stack tag"):
        invoke(configuration_handler, pipelines, update(NAME, TAGGED, old=TAGGED))  # both of this version

    assert pipelines.mutating_calls == []


def test_adoption_stops_where_iam_refuses_to_pass_the_role(
    configuration_handler: ModuleType, pipelines: FakeChimeSdkMediaPipelines, invoke: Invoke
) -> None:
    """A crafted adoption of another team's configuration names its role, which the function may not
    pass: the Update fails, and the configuration is not tagged."""
    pipelines.seed(NAME, role=ROLE)
    pipelines.fail("UpdateMediaInsightsPipelineConfiguration", "AccessDeniedException")

    with pytest.raises(RuntimeError, match=r"UpdateMediaInsightsPipelineConfiguration .*AccessDenied"):
        invoke(configuration_handler, pipelines, update(NAME, TAGGED, old=LEGACY))

    assert OWNER_TAG not in pipelines.tags[pipelines.arn(NAME)]


def test_an_untagged_configuration_of_an_earlier_version_is_not_deleted(
    configuration_handler: ModuleType, pipelines: FakeChimeSdkMediaPipelines, invoke: Invoke
) -> None:
    """The upgrade edge: removed (or renamed) in the same deployment as the upgrade, it was never
    updated, so never tagged, and its delete is refused like any other untagged configuration's."""
    pipelines.seed(NAME, role=ROLE)

    with pytest.raises(RuntimeError, match="Refusing to delete"):
        invoke(configuration_handler, pipelines, cfn_event("Delete", LEGACY, physical_id=NAME))

    assert NAME in pipelines.configurations


# -- a delete that waits while the configuration is in use (Provider framework isComplete) -----------


@pytest.fixture(params=["ConflictException", "BadRequestException"])
def in_use_answer(request: pytest.FixtureRequest, pipelines: FakeChimeSdkMediaPipelines) -> str:
    """AWS does not document which error a delete of a configuration in use answers: test both."""
    answer: str = request.param
    pipelines.in_use_answer = answer
    return answer


def test_a_delete_not_in_use_completes_in_on_event(
    configuration_handler: ModuleType,
    pipelines: FakeChimeSdkMediaPipelines,
    provider: Any,
    created: dict[str, Any],
) -> None:
    outcome = provider(configuration_handler, pipelines, cfn_event("Delete", PROPS, physical_id=NAME))

    assert (outcome.status, outcome.checks, outcome.elapsed_s) == ("SUCCESS", 1, 0.0)
    assert pipelines.configurations == {}
    assert pipelines.count("DeleteMediaInsightsPipelineConfiguration") == 1  # isComplete made no call


def test_a_delete_waits_for_a_call_that_outlasts_ten_minutes(
    configuration_handler: ModuleType,
    pipelines: FakeChimeSdkMediaPipelines,
    provider: Any,
    clock: FakeClock,
    created: dict[str, Any],
    in_use_answer: str,
) -> None:
    """A contact-centre call keeps the configuration in use for 25 minutes after the stack delete
    detached it: the delete waits it out, polled by isComplete, instead of failing at 10 minutes."""
    pipelines.in_use_until[NAME] = clock.now + 25 * 60

    outcome = provider(configuration_handler, pipelines, cfn_event("Delete", PROPS, physical_id=NAME))

    assert outcome.status == "SUCCESS", outcome.reason
    assert pipelines.configurations == {}
    assert 25 * 60 <= outcome.elapsed_s < 25 * 60 + QUERY_INTERVAL_S
    assert outcome.checks == 25 * 60 / QUERY_INTERVAL_S + 1
    # One attempt per invocation: the waiting happens between isComplete calls, not inside one.
    assert pipelines.count("DeleteMediaInsightsPipelineConfiguration") == outcome.checks + 1
    assert outcome.response["PhysicalResourceId"] == NAME


def test_a_delete_gives_up_with_its_reason_before_the_framework_and_cloudformation_do(
    configuration_handler: ModuleType,
    pipelines: FakeChimeSdkMediaPipelines,
    provider: Any,
    clock: FakeClock,
    created: dict[str, Any],
    in_use_answer: str,
) -> None:
    pipelines.in_use.add(NAME)
    wait_s = configuration_handler.IN_USE_WAIT_S

    outcome = provider(configuration_handler, pipelines, cfn_event("Delete", PROPS, physical_id=NAME))

    assert outcome.status == "FAILED"
    assert f"{in_use_answer}: still in use after 45 minutes" in outcome.reason
    assert "DeleteMediaInsightsPipelineConfiguration" in outcome.reason and NAME in outcome.reason
    assert "detach it from every Voice Connector" in outcome.reason
    assert wait_s <= outcome.elapsed_s < wait_s + QUERY_INTERVAL_S
    assert outcome.checks < MAX_ATTEMPTS + 1  # the handler's reason, not the framework's timeout
    assert NAME in pipelines.configurations


def test_a_configuration_deleted_out_of_band_while_waiting_completes_the_delete(
    configuration_handler: ModuleType,
    pipelines: FakeChimeSdkMediaPipelines,
    invoke: Invoke,
    clock: FakeClock,
    created: dict[str, Any],
    in_use_answer: str,
) -> None:
    pipelines.in_use.add(NAME)
    answer = invoke(configuration_handler, pipelines, cfn_event("Delete", PROPS, physical_id=NAME))
    assert answer[COMPLETION_KEY] == {"Awaiting": "ConfigurationDeleted", "Since": clock.now}
    check = {**cfn_event("Delete", PROPS, physical_id=NAME), **answer}
    assert invoke(configuration_handler, pipelines, check) == {"IsComplete": False}

    del pipelines.configurations[NAME]
    clock.now += QUERY_INTERVAL_S

    assert invoke(configuration_handler, pipelines, check) == {"IsComplete": True}


def test_any_other_delete_error_fails_at_once(
    configuration_handler: ModuleType,
    pipelines: FakeChimeSdkMediaPipelines,
    provider: Any,
    created: dict[str, Any],
) -> None:
    pipelines.fail_always("DeleteMediaInsightsPipelineConfiguration", "AccessDeniedException")

    outcome = provider(configuration_handler, pipelines, cfn_event("Delete", PROPS, physical_id=NAME))

    assert outcome.status == "FAILED"
    assert "AccessDeniedException" in outcome.reason
    assert (outcome.checks, outcome.elapsed_s) == (0, 0.0)


@pytest.mark.parametrize(
    ("request_type", "awaited"),
    [
        ("Delete", {"Awaiting": "ConfigurationDeleted"}),
        ("Delete", {"Awaiting": "ConfigurationDeleted", "Since": "0"}),
        ("Delete", {"Awaiting": "ConfigurationDeleted", "Since": True}),
        ("Delete", {"Awaiting": "SomethingElse", "Since": 0}),
        ("Delete", ["ConfigurationDeleted"]),
        ("Update", {"Awaiting": "ConfigurationDeleted", "Since": 0}),
    ],
)
def test_an_is_complete_call_that_awaits_something_else_is_refused(
    configuration_handler: ModuleType,
    pipelines: FakeChimeSdkMediaPipelines,
    invoke: Invoke,
    created: dict[str, Any],
    request_type: str,
    awaited: Any,
) -> None:
    event = {
        **cfn_event(request_type, PROPS, physical_id=NAME, old_properties=PROPS),
        COMPLETION_KEY: awaited,
    }

    with pytest.raises(ValueError, match="Unsupported completion check"):
        invoke(configuration_handler, pipelines, event)

    assert pipelines.calls == []


def test_a_forged_is_complete_call_passes_the_same_checks_as_a_delete(
    configuration_handler: ModuleType, pipelines: FakeChimeSdkMediaPipelines, invoke: Invoke, clock: FakeClock
) -> None:
    pipelines.seed(NAME, tags={OWNER_TAG: OTHER_STACK_ID})
    forged = {
        **cfn_event("Delete", PROPS, physical_id=NAME),
        COMPLETION_KEY: {"Awaiting": "ConfigurationDeleted", "Since": clock.now},
    }

    with pytest.raises(RuntimeError, match="Refusing to delete"):
        invoke(configuration_handler, pipelines, forged)
    with pytest.raises(RuntimeError, match="acts only on the configuration its own properties name"):
        invoke(configuration_handler, pipelines, {**forged, "PhysicalResourceId": "someone-elses"})

    assert pipelines.mutating_calls == []
    assert NAME in pipelines.configurations
