"""What CloudFormation shows for each custom resource request: failure messages and answers, exactly.

A failed request's message is what an operator reads in the stack events, so it is pinned word for word:
validation errors (ValueError naming property, value and what is allowed), failed API calls (operation,
resource, AWS error code and message), and the refusals that protect resources this library does not own
or voiceprints it would lose. Every Delete path answers with its physical ID and no Data.
Also pinned: events that lack the optional parts of a request (OldResourceProperties, ResourceProperties)
are handled as "previous state unknown", never as a crash.
"""

from __future__ import annotations

import re
from types import ModuleType
from typing import Any

import pytest

from tests.custom_resources.conftest import FakeClock, Invoke
from tests.custom_resources.fakes import (
    FAILED_CREATE_PHYSICAL_ID,
    OTHER_STACK_ID,
    OWNED,
    OWNER_TAG,
    STACK_ID,
    FakeChimeSdkMediaPipelines,
    FakeChimeSdkVoice,
    cfn_event,
)

KEY_A = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
KEY_B = "arn:aws:kms:us-east-1:111122223333:key/mrk-5678abcd12ab34cd56ef1234567890ab"
DOMAIN: dict[str, Any] = {"Name": "callers", "KmsKeyArn": KEY_A, "Tags": [{"Key": "team", "Value": "voice"}]}
ROLE = "arn:aws:iam::111122223333:role/telephony-MediaPipelinesRole-1A2B3C"
QUEUE = "arn:aws:sqs:us-east-1:111122223333:telephony-Notifications-AbC123"
NAME = "telephony-SpeakerSearch-1a2b3c4d"
CONFIGURATION: dict[str, Any] = {
    "Name": NAME,
    "ResourceAccessRoleArn": ROLE,
    "SqsQueueArn": QUEUE,
    "Tags": [{"Key": "team", "Value": "voice"}],
}
VC = "abcdef1ghij2klmno3pqr4"
ARN = "arn:aws:chime:us-east-1:111122223333:media-insights-pipeline-configuration/telephony-SpeakerSearch"
FOREIGN = "arn:aws:chime:us-east-1:111122223333:media-insights-pipeline-configuration/someone-elses"
ASSOCIATION: dict[str, Any] = {"VoiceConnectorId": VC, "ConfigurationArn": ARN, "DataRetentionInHours": "24"}
DENIED = "AccessDeniedException: fake AccessDeniedException"


@pytest.fixture(autouse=True)
def configurations(pipelines: FakeChimeSdkMediaPipelines) -> None:
    """The configuration the associations attach: this stack's; another stack's beside it."""
    pipelines.seed("telephony-SpeakerSearch", tags=OWNED)
    pipelines.seed("someone-elses", tags={OWNER_TAG: OTHER_STACK_ID})


def exactly(message: str) -> str:
    """A ``pytest.raises(match=...)`` pattern that matches ``message`` and nothing else."""
    return f"^{re.escape(message)}$"


def without_none(props: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in props.items() if value is not None}


# -- validation messages ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"Name": ""}, "Invalid property Name='': expected 1-256 characters of [a-zA-Z0-9 _.-]"),
        ({"Description": 5}, "Invalid property Description=5: expected a string of 0-1024 characters"),
        (
            {"KmsKeyArn": "arn:aws:kms:us-east-1:111122223333:alias/voice"},
            "Invalid property KmsKeyArn='arn:aws:kms:us-east-1:111122223333:alias/voice': a KMS alias is not "
            "accepted by the voice profile domain API; pass the key ARN "
            "arn:<partition>:kms:<region>:<account>:key/<key-id>",
        ),
        (
            {"KmsKeyArn": "1234abcd-12ab-34cd-56ef-1234567890ab"},
            "Invalid property KmsKeyArn='1234abcd-12ab-34cd-56ef-1234567890ab': expected a KMS key ARN "
            "arn:<partition>:kms:<region>:<account>:key/<key-id>",
        ),
        (
            {"AllowReplacementOnKeyChange": "yes"},
            "Invalid property AllowReplacementOnKeyChange='yes': allowed values are 'true', 'false'",
        ),
    ],
)
def test_domain_validation_messages(domain_handler: ModuleType, change: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=exactly(message)):
        domain_handler.parse_properties(without_none({**DOMAIN, **change}))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"Name": "a"}, "Invalid property Name='a': expected 2-64 characters of [0-9a-zA-Z._-]"),
        (
            {"ResourceAccessRoleArn": "arn:aws:iam::111122223333:user/someone"},
            "Invalid property ResourceAccessRoleArn='arn:aws:iam::111122223333:user/someone': expected "
            "an IAM role ARN arn:<partition>:iam::<account>:role/<name>",
        ),
        (
            {"ResourceAccessRoleArn": None},
            "Missing property ResourceAccessRoleArn: the media pipelines resource access role ARN",
        ),
        (
            {"SqsQueueArn": "arn:aws:sqs:us-east-1:111122223333:calls.fifo"},
            "Invalid property SqsQueueArn='arn:aws:sqs:us-east-1:111122223333:calls.fifo': FIFO queues are "
            "not supported as sinks",
        ),
        (
            {"SqsQueueArn": "https://sqs.us-east-1.amazonaws.com/111122223333/q"},
            "Invalid property SqsQueueArn='https://sqs.us-east-1.amazonaws.com/111122223333/q': expected a "
            "standard SQS queue ARN arn:<partition>:sqs:<region>:<account>:<name>",
        ),
        (
            {"KinesisDataStreamArn": "arn:aws:kinesis:us-east-1:111122223333:deliverystream/x"},
            "Invalid property KinesisDataStreamArn="
            "'arn:aws:kinesis:us-east-1:111122223333:deliverystream/x': expected a Kinesis data stream ARN "
            "arn:<partition>:kinesis:<region>:<account>:stream/<name>",
        ),
        (
            {"SqsQueueArn": None},
            "Missing sink: at least one of the properties SqsQueueArn / KinesisDataStreamArn is required",
        ),
        (
            {"VoiceToneAnalysis": "true"},
            "Invalid property VoiceToneAnalysis='true': allowed values are ['Enabled', 'Disabled']",
        ),
    ],
)
def test_configuration_validation_messages(
    configuration_handler: ModuleType, change: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=exactly(message)):
        configuration_handler.parse_properties(without_none({**CONFIGURATION, **change}))


RETENTION_EXPECTED = 'expected an integer >= 1, e.g. "24"'


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"VoiceConnectorId": ""},
            "Invalid property VoiceConnectorId='': expected a Voice Connector ID of 22 lowercase letters "
            "and digits, e.g. 'abcdef1ghij2klmno3pqr4'",
        ),
        (
            {"ConfigurationArn": "telephony-SpeakerSearch"},
            "Invalid property ConfigurationArn='telephony-SpeakerSearch': expected "
            "arn:<partition>:chime:<region>:<account>:media-insights-pipeline-configuration/<name>",
        ),
        (
            {"DataRetentionInHours": "24h"},
            f"Invalid property DataRetentionInHours='24h': {RETENTION_EXPECTED}",
        ),
        ({"DataRetentionInHours": "0"}, f"Invalid property DataRetentionInHours='0': {RETENTION_EXPECTED}"),
        ({"DataRetentionInHours": 0}, f"Invalid property DataRetentionInHours=0: {RETENTION_EXPECTED}"),
        ({"DataRetentionInHours": True}, f"Invalid property DataRetentionInHours=True: {RETENTION_EXPECTED}"),
    ],
)
def test_association_validation_messages(
    association_handler: ModuleType, change: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=exactly(message)):
        association_handler.parse_properties({**ASSOCIATION, **change})


def test_retention_given_as_a_number_counts_from_one_hour(association_handler: ModuleType) -> None:
    assert (
        association_handler.parse_properties({**ASSOCIATION, "DataRetentionInHours": 1}).retention_hours == 1
    )


@pytest.mark.parametrize(
    ("value", "allowed"), [(True, True), (False, False), ("true", True), ("false", False)]
)
def test_allow_replacement_on_key_change_accepts_booleans_and_their_strings(
    domain_handler: ModuleType, value: Any, allowed: bool
) -> None:
    props = domain_handler.parse_properties({**DOMAIN, "AllowReplacementOnKeyChange": value})

    assert props.allow_replacement_on_key_change is allowed


# -- failed calls: operation, resource, code and message ------------------------------------------------


@pytest.fixture
def domain_id(domain_handler: ModuleType, voice: FakeChimeSdkVoice, invoke: Invoke) -> str:
    physical_id: str = invoke(domain_handler, voice, cfn_event("Create", DOMAIN))["PhysicalResourceId"]
    return physical_id


@pytest.mark.parametrize(
    ("operation", "request_type", "new"),
    [
        ("CreateVoiceProfileDomain", "Create", DOMAIN),
        ("GetVoiceProfileDomain", "Update", DOMAIN),
        ("UpdateVoiceProfileDomain", "Update", {**DOMAIN, "Name": "renamed"}),
        ("TagResource", "Update", {**DOMAIN, "Tags": [{"Key": "team", "Value": "data"}]}),
        ("UntagResource", "Update", {**DOMAIN, "Tags": []}),
        ("DeleteVoiceProfileDomain", "Delete", DOMAIN),
    ],
)
def test_a_failed_domain_call_names_operation_domain_and_error(
    domain_handler: ModuleType,
    voice: FakeChimeSdkVoice,
    invoke: Invoke,
    domain_id: str,
    operation: str,
    request_type: str,
    new: dict[str, Any],
) -> None:
    voice.fail(operation, "AccessDeniedException")
    if request_type == "Create":
        event, resource = cfn_event("Create", new), "voice profile domain 'callers'"
    else:
        old = DOMAIN if request_type == "Update" else None
        event = cfn_event(request_type, new, physical_id=domain_id, old_properties=old)
        resource = f"voice profile domain {domain_id!r}"

    with pytest.raises(RuntimeError) as excinfo:
        invoke(domain_handler, voice, event)

    assert str(excinfo.value) == f"{operation} failed for {resource}: {DENIED}"


@pytest.mark.parametrize(
    ("operation", "request_type", "new"),
    [
        ("CreateMediaInsightsPipelineConfiguration", "Create", CONFIGURATION),
        ("GetMediaInsightsPipelineConfiguration", "Update", CONFIGURATION),
        (
            "UpdateMediaInsightsPipelineConfiguration",
            "Update",
            {**CONFIGURATION, "SpeakerSearch": "Disabled"},
        ),
        ("TagResource", "Update", {**CONFIGURATION, "Tags": [{"Key": "team", "Value": "data"}]}),
        ("UntagResource", "Update", {**CONFIGURATION, "Tags": []}),
        ("DeleteMediaInsightsPipelineConfiguration", "Delete", CONFIGURATION),
    ],
)
def test_a_failed_configuration_call_names_operation_configuration_and_error(
    configuration_handler: ModuleType,
    pipelines: FakeChimeSdkMediaPipelines,
    invoke: Invoke,
    operation: str,
    request_type: str,
    new: dict[str, Any],
) -> None:
    invoke(configuration_handler, pipelines, cfn_event("Create", {**CONFIGURATION, "Name": "already-there"}))
    if request_type != "Create":
        invoke(configuration_handler, pipelines, cfn_event("Create", CONFIGURATION))
    pipelines.fail(operation, "AccessDeniedException")
    old = CONFIGURATION if request_type == "Update" else None
    event = cfn_event(
        request_type, new, physical_id=None if request_type == "Create" else NAME, old_properties=old
    )

    with pytest.raises(RuntimeError) as excinfo:
        invoke(configuration_handler, pipelines, event)

    assert (
        str(excinfo.value)
        == f"{operation} failed for media insights pipeline configuration {NAME!r}: {DENIED}"
    )


def test_a_lasting_conflict_on_delete_says_what_to_do(
    configuration_handler: ModuleType, pipelines: FakeChimeSdkMediaPipelines, invoke: Invoke, clock: FakeClock
) -> None:
    invoke(configuration_handler, pipelines, cfn_event("Create", CONFIGURATION))
    pipelines.in_use.add(NAME)
    answer = invoke(configuration_handler, pipelines, cfn_event("Delete", CONFIGURATION, physical_id=NAME))
    clock.now += configuration_handler.IN_USE_WAIT_S

    with pytest.raises(RuntimeError) as excinfo:
        invoke(
            configuration_handler,
            pipelines,
            {**cfn_event("Delete", CONFIGURATION, physical_id=NAME), **answer},
        )

    assert str(excinfo.value) == (
        "DeleteMediaInsightsPipelineConfiguration failed for "
        f"media insights pipeline configuration {NAME!r}: ConflictException: still in use after 45 "
        "minutes of retries; "
        "detach it from every Voice Connector streaming configuration (changes take about 5 minutes to "
        "propagate), let the calls in progress end, and retry the delete"
    )


def test_a_request_of_another_stack_says_which_stack_the_function_serves(
    domain_handler: ModuleType, voice: FakeChimeSdkVoice, invoke: Invoke
) -> None:
    event = {**cfn_event("Create", DOMAIN), "StackId": OTHER_STACK_ID}

    with pytest.raises(
        RuntimeError,
        match=exactly(
            f"Refusing a request of stack {OTHER_STACK_ID!r}: this function serves only the custom "
            f"resources of stack {STACK_ID!r}."
        ),
    ):
        invoke(domain_handler, voice, event)


def test_a_resource_of_another_stack_is_refused_saying_whose_tag_is_missing(
    configuration_handler: ModuleType, pipelines: FakeChimeSdkMediaPipelines, invoke: Invoke
) -> None:
    delete = cfn_event("Delete", {**CONFIGURATION, "Name": "someone-elses"}, physical_id="someone-elses")

    with pytest.raises(
        RuntimeError,
        match=exactly(
            "Refusing to delete media insights pipeline configuration 'someone-elses': it carries another "
            "stack's owner tag, so this stack did not create it. The custom-resource function acts only on "
            f"resources tagged chime-speaker-search:stack={STACK_ID!r}."
        ),
    ):
        invoke(configuration_handler, pipelines, delete)


def test_a_physical_id_that_is_not_the_properties_configuration_is_refused_saying_so(
    configuration_handler: ModuleType, pipelines: FakeChimeSdkMediaPipelines, invoke: Invoke
) -> None:
    with pytest.raises(
        RuntimeError,
        match=exactly(
            "Refusing a request for media insights pipeline configuration 'someone-elses': its "
            f"ResourceProperties name {NAME!r}; a request acts only on the configuration its own properties "
            "name"
        ),
    ):
        invoke(
            configuration_handler, pipelines, cfn_event("Delete", CONFIGURATION, physical_id="someone-elses")
        )


@pytest.mark.parametrize(
    ("operation", "request_type"),
    [
        ("GetVoiceConnectorStreamingConfiguration", "Create"),
        ("PutVoiceConnectorStreamingConfiguration", "Create"),
        ("GetVoiceConnectorStreamingConfiguration", "Delete"),
        ("DeleteVoiceConnectorStreamingConfiguration", "Delete"),
    ],
)
def test_a_failed_streaming_call_names_operation_connector_and_error(
    association_handler: ModuleType,
    voice: FakeChimeSdkVoice,
    invoke: Invoke,
    operation: str,
    request_type: str,
) -> None:
    voice.connectors.add(VC)
    physical_id = invoke(association_handler, voice, cfn_event("Create", ASSOCIATION))["PhysicalResourceId"]
    if request_type == "Create":
        del voice.streaming[VC]
    voice.fail(operation, "AccessDeniedException")
    event = cfn_event(
        request_type, ASSOCIATION, physical_id=None if request_type == "Create" else physical_id
    )

    with pytest.raises(RuntimeError) as excinfo:
        invoke(association_handler, voice, event)

    resource = f"the streaming configuration of Voice Connector {VC!r}"
    assert str(excinfo.value) == f"{operation} failed for {resource}: {DENIED}"


def test_a_configuration_someone_else_attached_is_never_taken(
    association_handler: ModuleType, voice: FakeChimeSdkVoice, invoke: Invoke
) -> None:
    voice.connectors.add(VC)
    voice.streaming[VC] = {
        "DataRetentionInHours": 24,
        "Disabled": False,
        "MediaInsightsConfiguration": {"Disabled": False, "ConfigurationArn": FOREIGN},
    }

    with pytest.raises(RuntimeError) as excinfo:
        invoke(association_handler, voice, cfn_event("Create", ASSOCIATION))

    assert str(excinfo.value) == (
        f"Voice Connector {VC!r} already has the media insights pipeline configuration {FOREIGN!r} attached, "
        f"not {ARN!r}; refusing to replace a configuration this resource does not own. Detach it from the "
        "connector first."
    )
    assert voice.mutating_calls == []


def test_a_key_change_without_the_opt_in_is_refused_saying_why_and_what_to_do(
    domain_handler: ModuleType, voice: FakeChimeSdkVoice, invoke: Invoke, domain_id: str
) -> None:
    event = cfn_event("Update", {**DOMAIN, "KmsKeyArn": KEY_B}, physical_id=domain_id, old_properties=DOMAIN)

    with pytest.raises(RuntimeError) as excinfo:
        invoke(domain_handler, voice, event)

    assert str(excinfo.value) == (
        f"Refusing to replace voice profile domain {domain_id!r}: KmsKeyArn changed, and a domain's key "
        "cannot be changed in place, so only a new domain can have it, and every voice profile enrolled in "
        "this one would stay behind in it. Keep the previous encryption_key, or set "
        "allow_replacement_on_key_change=True on the VoiceProfileDomain to create a new domain (re-enrol "
        "callers there; the old domain is retained unless its removal policy is DESTROY)."
    )


# -- Delete answers ---------------------------------------------------------------------------------------


def test_every_domain_delete_answers_with_its_physical_id_and_no_data(
    domain_handler: ModuleType, voice: FakeChimeSdkVoice, invoke: Invoke, domain_id: str
) -> None:
    # Deleted, already gone, a failed Create's placeholder.
    for physical_id in (domain_id, domain_id, FAILED_CREATE_PHYSICAL_ID):
        result = invoke(domain_handler, voice, cfn_event("Delete", DOMAIN, physical_id=physical_id))
        assert result == {"PhysicalResourceId": physical_id, "Data": {}}
    assert voice.domains == {}


def test_every_configuration_delete_answers_with_its_physical_id_and_no_data(
    configuration_handler: ModuleType, pipelines: FakeChimeSdkMediaPipelines, invoke: Invoke
) -> None:
    invoke(configuration_handler, pipelines, cfn_event("Create", CONFIGURATION))
    for physical_id in (NAME, NAME, FAILED_CREATE_PHYSICAL_ID):
        result = invoke(
            configuration_handler, pipelines, cfn_event("Delete", CONFIGURATION, physical_id=physical_id)
        )
        assert result == {"PhysicalResourceId": physical_id, "Data": {}}
    assert NAME not in pipelines.configurations


def test_every_association_delete_answers_with_its_physical_id_and_no_data(
    association_handler: ModuleType, voice: FakeChimeSdkVoice, invoke: Invoke
) -> None:
    voice.connectors.add(VC)
    physical_id = invoke(association_handler, voice, cfn_event("Create", ASSOCIATION))["PhysicalResourceId"]
    delete = cfn_event("Delete", ASSOCIATION, physical_id=physical_id)

    voice.streaming[VC]["MediaInsightsConfiguration"]["ConfigurationArn"] = FOREIGN  # not ours: unchanged
    assert invoke(association_handler, voice, delete) == {"PhysicalResourceId": physical_id, "Data": {}}
    voice.streaming[VC]["MediaInsightsConfiguration"]["ConfigurationArn"] = ARN  # ours: streaming deleted
    assert invoke(association_handler, voice, delete) == {"PhysicalResourceId": physical_id, "Data": {}}
    assert VC not in voice.streaming
    # Already gone:
    assert invoke(association_handler, voice, delete) == {"PhysicalResourceId": physical_id, "Data": {}}
    placeholder = cfn_event("Delete", ASSOCIATION, physical_id=FAILED_CREATE_PHYSICAL_ID)
    assert invoke(association_handler, voice, placeholder) == {
        "PhysicalResourceId": FAILED_CREATE_PHYSICAL_ID,
        "Data": {},
    }


def test_an_association_delete_after_restoring_answers_with_its_physical_id(
    association_handler: ModuleType, voice: FakeChimeSdkVoice, invoke: Invoke
) -> None:
    voice.connectors.add(VC)
    voice.streaming[VC] = {"DataRetentionInHours": 0, "Disabled": True}
    physical_id = invoke(association_handler, voice, cfn_event("Create", ASSOCIATION))["PhysicalResourceId"]

    result = invoke(association_handler, voice, cfn_event("Delete", ASSOCIATION, physical_id=physical_id))

    assert result == {"PhysicalResourceId": physical_id, "Data": {}}
    assert voice.streaming[VC] == {"DataRetentionInHours": 0, "Disabled": True}


# -- requests without their optional parts --------------------------------------------------------------


def without(event: dict[str, Any], key: str) -> dict[str, Any]:
    return {name: value for name, value in event.items() if name != key}


def test_a_domain_update_without_old_properties_applies_the_new_ones(
    domain_handler: ModuleType, voice: FakeChimeSdkVoice, invoke: Invoke, domain_id: str
) -> None:
    new = {**DOMAIN, "Name": "renamed", "Tags": [{"Key": "env", "Value": "prod"}]}
    event = without(
        cfn_event("Update", new, physical_id=domain_id, old_properties=DOMAIN), "OldResourceProperties"
    )

    result = invoke(domain_handler, voice, event)

    assert result["PhysicalResourceId"] == domain_id
    domain = voice.domains[domain_id]
    assert domain["Name"] == "renamed"
    # Without the old tags nothing is known to be ours to remove: the new one is added, "team" stays.
    assert voice.tags[domain["VoiceProfileDomainArn"]] == {"team": "voice", "env": "prod", **OWNED}


def test_a_domain_answer_without_its_key_still_lets_a_key_change_be_refused(
    domain_handler: ModuleType, voice: FakeChimeSdkVoice, invoke: Invoke, domain_id: str
) -> None:
    del voice.domains[domain_id]["ServerSideEncryptionConfiguration"]
    event = cfn_event("Update", {**DOMAIN, "KmsKeyArn": KEY_B}, physical_id=domain_id, old_properties=DOMAIN)

    with pytest.raises(RuntimeError, match="Refusing to replace"):
        invoke(domain_handler, voice, event)

    assert voice.mutating_calls == ["CreateVoiceProfileDomain"]


def test_a_configuration_update_without_old_properties_writes_the_new_ones(
    configuration_handler: ModuleType, pipelines: FakeChimeSdkMediaPipelines, invoke: Invoke
) -> None:
    invoke(configuration_handler, pipelines, cfn_event("Create", CONFIGURATION))
    pipelines.reset_calls()
    event = without(
        cfn_event("Update", CONFIGURATION, physical_id=NAME, old_properties=CONFIGURATION),
        "OldResourceProperties",
    )

    result = invoke(configuration_handler, pipelines, event)

    assert result["PhysicalResourceId"] == NAME
    # Nothing is known about the previous state: the configuration and its tags are written again.
    assert pipelines.mutating_calls == ["UpdateMediaInsightsPipelineConfiguration", "TagResource"]


def test_an_association_update_without_old_properties_keeps_the_association(
    association_handler: ModuleType, voice: FakeChimeSdkVoice, invoke: Invoke
) -> None:
    voice.connectors.add(VC)
    physical_id = invoke(association_handler, voice, cfn_event("Create", ASSOCIATION))["PhysicalResourceId"]
    voice.reset_calls()
    event = without(
        cfn_event("Update", ASSOCIATION, physical_id=physical_id, old_properties=ASSOCIATION),
        "OldResourceProperties",
    )

    assert invoke(association_handler, voice, event)["PhysicalResourceId"] == physical_id
    assert voice.mutating_calls == []


def test_an_association_delete_without_properties_cannot_prove_ownership_and_is_refused(
    association_handler: ModuleType, voice: FakeChimeSdkVoice, invoke: Invoke
) -> None:
    voice.connectors.add(VC)
    physical_id = invoke(association_handler, voice, cfn_event("Create", ASSOCIATION))["PhysicalResourceId"]
    before = dict(voice.streaming[VC])
    voice.reset_calls()
    event = without(cfn_event("Delete", ASSOCIATION, physical_id=physical_id), "ResourceProperties")

    with pytest.raises(
        RuntimeError,
        match=exactly(
            f"Refusing a request for the streaming configuration of Voice Connector {VC!r}: its "
            "ResourceProperties name Voice Connector None; a request acts only on the connector its own "
            "properties name"
        ),
    ):
        invoke(association_handler, voice, event)

    assert voice.streaming[VC] == before
    assert voice.calls == []
