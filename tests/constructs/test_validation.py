"""Synth-time validation: clear ValueErrors naming the prop, the value and what is allowed."""

from __future__ import annotations

import json

import aws_cdk as cdk
import pytest
from aws_cdk import aws_sqs as sqs

from chime_speaker_search import (
    SpeakerSearch,
    VoiceAnalyticsConfiguration,
    VoiceConnector,
    VoiceProfileDomain,
)
from tests.conftest import ENV, IMPORTED_IDS


@pytest.fixture
def stack() -> cdk.Stack:
    return cdk.Stack(cdk.App(), "S", env=ENV)


def _pbx(stack: cdk.Stack, n: int = 0) -> VoiceConnector:
    return VoiceConnector.from_voice_connector_id(stack, f"Pbx{n}", IMPORTED_IDS[n])  # type: ignore[return-value]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"voice_connectors": []}, r"voice_connectors: \[\] is empty"),
        (
            {"call_leg": "Agent"},
            r"call_leg: 'Agent' is not a call leg; allowed values are 'Caller', 'Callee'",
        ),
        ({"max_receive_count": 0}, r"max_receive_count: 0 is out of range; expected 1 to 1000"),
        (
            {"handler_timeout": cdk.Duration.seconds(20)},
            r"handler_timeout: 20 seconds is out of range; expected 30",
        ),
        ({"handler_timeout": cdk.Duration.minutes(16)}, r"handler_timeout: 16 minutes is out of range"),
        ({"handler_memory_size": 64}, r"handler_memory_size: 64 is out of range"),
        (
            {"streaming_data_retention": cdk.Duration.hours(0)},
            r"streaming_data_retention: 0 hours is out of range",
        ),
        (
            {"streaming_data_retention": cdk.Duration.minutes(90)},
            r"streaming_data_retention: 1 hour 30 minutes is not a whole number of hours",
        ),
        (
            {"enable_kinesis_sink": False, "kinesis_stream": "stream"},
            r"kinesis_stream: a stream was given while enable_kinesis_sink is False",
        ),
    ],
)
def test_speaker_search_rejects_bad_props(stack: cdk.Stack, kwargs: dict[str, object], message: str) -> None:
    if kwargs.get("kinesis_stream") == "stream":
        kwargs["kinesis_stream"] = cdk.aws_kinesis.Stream(stack, "Stream")
    props: dict[str, object] = {"voice_connectors": [_pbx(stack)], **kwargs}
    with pytest.raises(ValueError, match=message):
        SpeakerSearch(stack, "Search", **props)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"configuration_name": "x"}, r"configuration_name: 'x' is not allowed; expected 2 to 64 characters"),
        ({"configuration_name": "has space"}, r"configuration_name: 'has space' is not allowed"),
        ({"configuration_name": "a" * 65}, r"configuration_name: 'a{65}' is not allowed"),
        (
            {"enable_kinesis_sink": False},
            r"enable_kinesis_sink: False leaves the configuration without any sink",
        ),
        ({"speaker_search": False}, r"speaker_search: False with voice_tone_analysis False"),
    ],
)
def test_configuration_rejects_bad_props(stack: cdk.Stack, kwargs: dict[str, object], message: str) -> None:
    queue = None if kwargs.get("enable_kinesis_sink") is False else sqs.Queue(stack, "Q")
    with pytest.raises(ValueError, match=message):
        VoiceAnalyticsConfiguration(stack, "C", notification_queue=queue, **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"voice_profile_domain_name": "bad/name"}, r"voice_profile_domain_name: 'bad/name' is not allowed"),
        ({"voice_profile_domain_name": ""}, r"voice_profile_domain_name: '' is not allowed"),
        ({"description": "d" * 1025}, r"description: .* has 1025 characters; expected 0 to 1024"),
        ({"removal_policy": cdk.RemovalPolicy.SNAPSHOT}, r"removal_policy: .* allowed values are"),
    ],
)
def test_domain_rejects_bad_props(stack: cdk.Stack, kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        VoiceProfileDomain(stack, "D", **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", ["arn:aws:chime:us-east-1:111122223333:vc/abc", "abc-def", "", "a" * 129])
def test_imported_connector_id_is_checked(stack: cdk.Stack, bad: str) -> None:
    with pytest.raises(ValueError, match=r"voice_connector_id: .* expected a Voice Connector ID"):
        VoiceConnector.from_voice_connector_id(stack, "Pbx", bad)


def test_tokens_are_not_validated_at_synth(stack: cdk.Stack) -> None:
    connector_id = cdk.CfnParameter(stack, "ConnectorId").value_as_string
    name = cdk.CfnParameter(stack, "ConfigName").value_as_string
    connector = VoiceConnector.from_voice_connector_id(stack, "Pbx", connector_id)
    config = VoiceAnalyticsConfiguration(
        stack,
        "C",
        voice_connectors=[connector],
        notification_queue=sqs.Queue(stack, "Q"),
        configuration_name=name,
    )
    assert config.configuration_name == name


@pytest.mark.parametrize(("region", "refused"), [("eu-central-1", True), ("us-west-2", False)])
def test_unsupported_region_is_refused_at_synth(region: str, refused: bool) -> None:
    """It used to be a warning and synth passed; tests/constructs/test_regions.py covers the rest."""
    stack = cdk.Stack(cdk.App(), "S", env=cdk.Environment(account="111122223333", region=region))
    if refused:
        with pytest.raises(ValueError, match=rf"^SpeakerSearch: the stack 'S' is in Region '{region}'"):
            SpeakerSearch(stack, "Search", voice_connectors=[_pbx(stack)])
    else:
        SpeakerSearch(stack, "Search", voice_connectors=[_pbx(stack)])


def test_handler_timeout_token_is_refused_clearly(stack: cdk.Stack) -> None:
    seconds = cdk.CfnParameter(stack, "Timeout", type="Number").value_as_number
    with pytest.raises(ValueError, match="handler_timeout: a deploy-time token is not supported"):
        SpeakerSearch(
            stack, "Search", voice_connectors=[_pbx(stack)], handler_timeout=cdk.Duration.seconds(seconds)
        )


def test_number_tokens_pass_through_to_the_template(stack: cdk.Stack) -> None:
    """Deploy-time numbers are not range-checked at synth (CloudFormation checks them)."""
    parameters = {
        name: cdk.CfnParameter(stack, name, type="Number") for name in ("Deliveries", "Concurrency", "Memory")
    }
    SpeakerSearch(
        stack,
        "Search",
        voice_connectors=[_pbx(stack)],
        max_receive_count=parameters["Deliveries"].value_as_number,  # type: ignore[arg-type]
        max_concurrency=parameters["Concurrency"].value_as_number,  # type: ignore[arg-type]
        handler_memory_size=parameters["Memory"].value_as_number,  # type: ignore[arg-type]
    )
    template = cdk.assertions.Template.from_stack(stack)
    template.has_resource_properties(
        "AWS::SQS::Queue", {"RedrivePolicy": {"maxReceiveCount": {"Ref": "Deliveries"}}}
    )
    template.has_resource_properties(
        "AWS::Lambda::EventSourceMapping", {"ScalingConfig": {"MaximumConcurrency": {"Ref": "Concurrency"}}}
    )
    template.has_resource_properties("AWS::Lambda::Function", {"MemorySize": {"Ref": "Memory"}})


def test_connector_region_is_checked(stack: cdk.Stack) -> None:
    with pytest.raises(ValueError, match=r"aws_region: 'mars-1' is not allowed; expected a Region name"):
        VoiceConnector(stack, "Bad", aws_region="mars-1")
    VoiceConnector(stack, "Elsewhere", aws_region="us-west-2")
    warnings = cdk.assertions.Annotations.from_stack(stack).find_warning(
        "*", cdk.assertions.Match.any_value()
    )
    assert any("differs from the stack's Region 'us-east-1'" in json.dumps(w.entry.data) for w in warnings)
