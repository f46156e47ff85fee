"""Voice analytics Regions: refused at synth when known, stopped by a CloudFormation rule when not."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_sqs as sqs
from cfnlint.api import ManualArgs, lint

from chime_speaker_search import (
    VOICE_ANALYTICS_REGIONS,
    SpeakerSearch,
    VoiceAnalyticsConfiguration,
    VoiceConnector,
)
from chime_speaker_search._regions import REGION_RULE_ID
from tests.conftest import IMPORTED_IDS

ACCOUNT = "111122223333"
OTHER_REGIONS = ["eu-west-1", "ap-southeast-2", "eu-central-1", "us-east-2"]


def _stack(region: str | None) -> cdk.Stack:
    env = None if region is None else cdk.Environment(account=ACCOUNT, region=region)
    return cdk.Stack(cdk.App(), "S", env=env)


def _pbx(stack: cdk.Stack, n: int = 0) -> Any:
    return VoiceConnector.from_voice_connector_id(stack, f"Pbx{n}", IMPORTED_IDS[n])


def _arn(region: str, n: int) -> str:
    return f"arn:aws:chime:{region}:{ACCOUNT}:vc/{IMPORTED_IDS[n]}"


BUILDERS: dict[str, Callable[[cdk.Stack], object]] = {
    "SpeakerSearch": lambda stack: SpeakerSearch(stack, "Search", voice_connectors=[_pbx(stack)]),
    "VoiceAnalyticsConfiguration": lambda stack: VoiceAnalyticsConfiguration(
        stack, "Configuration", notification_queue=sqs.Queue(stack, "Queue")
    ),
    "VoiceConnector": lambda stack: VoiceConnector(stack, "Created"),
}


def _rules(stack: cdk.Stack) -> dict[str, Any]:
    rules: dict[str, Any] = cdk.assertions.Template.from_stack(stack).to_json().get("Rules", {})
    return rules


def _passes(rule: dict[str, Any], region: str) -> bool:
    """CloudFormation's evaluation of the rule's assertions for a deploy to ``region`` (the two rule
    functions the library writes, over ``Ref: AWS::Region``)."""

    def value(node: Any) -> Any:
        if node == {"Ref": "AWS::Region"}:
            return region
        assert isinstance(node, str | list), node
        return node

    def holds(assertion: dict[str, Any]) -> bool:
        ((function, arguments),) = assertion.items()
        if function == "Fn::Contains":
            return value(arguments[1]) in value(arguments[0])
        if function == "Fn::Equals":
            return bool(value(arguments[0]) == value(arguments[1]))
        raise AssertionError(f"unexpected rule function {function}")

    return all(holds(a["Assert"]) for a in rule["Assertions"])


# --- a Region known at synth -----------------------------------------------------------------------


@pytest.mark.parametrize("region", OTHER_REGIONS)
@pytest.mark.parametrize("construct", sorted(BUILDERS))
def test_another_region_is_refused_at_synth_naming_it(construct: str, region: str) -> None:
    with pytest.raises(ValueError, match=rf"^{construct}: the stack 'S' is in Region '{region}'") as raised:
        BUILDERS[construct](_stack(region))
    assert "VOICE_ANALYTICS_REGIONS ('us-east-1', 'us-west-2')" in str(raised.value)


@pytest.mark.parametrize("region", VOICE_ANALYTICS_REGIONS)
@pytest.mark.parametrize("construct", sorted(BUILDERS))
def test_a_voice_analytics_region_needs_no_rule(construct: str, region: str) -> None:
    stack = _stack(region)
    BUILDERS[construct](stack)
    assert REGION_RULE_ID not in _rules(stack)


def test_an_explicit_aws_region_outside_the_voice_analytics_regions_is_refused() -> None:
    stack = _stack("us-east-1")
    with pytest.raises(
        ValueError, match=r"^aws_region: 'eu-west-1' is not allowed; .*VOICE_ANALYTICS_REGIONS"
    ):
        VoiceConnector(stack, "Dublin", aws_region="eu-west-1")
    # The connector's own Region decides: a us-west-2 connector from a us-east-1 stack can be made.
    VoiceConnector(stack, "Oregon", aws_region="us-west-2")


# --- a Region unknown at synth: one CloudFormation rule ----------------------------------------------


@pytest.fixture(scope="module")
def agnostic() -> cdk.Stack:
    """An environment-agnostic stack with every construct that checks the Region, twice over."""
    stack = _stack(None)
    SpeakerSearch(stack, "First", voice_connectors=[_pbx(stack, 0)])
    SpeakerSearch(stack, "Second", voice_connectors=[_pbx(stack, 1), VoiceConnector(stack, "Created")])
    VoiceAnalyticsConfiguration(
        stack, "Configuration", voice_connectors=[_pbx(stack, 2)], notification_queue=sqs.Queue(stack, "Q")
    )
    VoiceConnector(stack, "Spare")
    return stack


def test_an_env_agnostic_stack_gets_one_rule_however_many_constructs(agnostic: cdk.Stack) -> None:
    rules = _rules(agnostic)
    assert sorted(rules) == ["CheckBootstrapVersion", REGION_RULE_ID]  # CheckBootstrapVersion is CDK's
    (assertion,) = rules[REGION_RULE_ID]["Assertions"]
    assert assertion["Assert"] == {"Fn::Contains": [list(VOICE_ANALYTICS_REGIONS), {"Ref": "AWS::Region"}]}
    description = assertion["AssertDescription"]
    assert "runs only in us-east-1 and us-west-2" in description
    assert "Deploy this stack to one of them" in description


@pytest.mark.parametrize(
    ("region", "allowed"),
    [("us-east-1", True), ("us-west-2", True), ("eu-west-1", False), ("us-east-2", False)],
)
def test_the_rule_stops_a_deploy_in_another_region_only(
    agnostic: cdk.Stack, region: str, allowed: bool
) -> None:
    assert _passes(_rules(agnostic)[REGION_RULE_ID], region) is allowed


def test_the_rule_passes_cfn_lint(agnostic: cdk.Stack) -> None:
    """In us-east-1: cfn-lint's registry has no AWS::Chime::VoiceConnector in us-west-2 (the stack's
    created connectors), which VoiceConnector already warns about; the Rules section is the same."""
    template = cdk.assertions.Template.from_stack(agnostic).to_json()
    matches = lint(json.dumps(template), config=ManualArgs(regions=["us-east-1"], ignore_checks=["W3005"]))
    assert [f"{m.rule.id} {m.message}" for m in matches] == []


# --- a connector of another Region ---------------------------------------------------------------


@pytest.mark.parametrize("kind", ["imported by ARN", "created with aws_region"])
def test_a_connector_of_the_other_region_cannot_join_this_stacks_search(kind: str) -> None:
    stack = _stack("us-east-1")
    if kind == "imported by ARN":
        west = VoiceConnector.from_voice_connector_arn(stack, "West", _arn("us-west-2", 5))
        label = f"Voice Connector '{IMPORTED_IDS[5]}' (construct 'S/West')"
    else:
        west = VoiceConnector(stack, "West", aws_region="us-west-2")
        label = "Voice Connector (construct 'S/West')"
    with pytest.raises(ValueError, match="is in 'us-west-2', but this stack is in 'us-east-1'") as raised:
        SpeakerSearch(stack, "Search", voice_connectors=[west])
    assert str(raised.value).startswith(f"voice_connectors: {label} is in")
    assert "Serve it from a stack in 'us-west-2'" in str(raised.value)


def test_a_connector_of_the_stacks_own_region_joins() -> None:
    stack = _stack("us-west-2")
    west = VoiceConnector.from_voice_connector_arn(stack, "West", _arn("us-west-2", 5))
    search = SpeakerSearch(stack, "Search", voice_connectors=[west])
    assert search.voice_connectors == [west]


def test_a_created_connector_in_another_region_warns_what_it_cannot_do() -> None:
    stack = _stack("us-east-1")
    VoiceConnector(stack, "West", aws_region="us-west-2")
    VoiceConnector(stack, "East", aws_region="us-east-1")
    warnings = cdk.assertions.Annotations.from_stack(stack).find_warning(
        "*", cdk.assertions.Match.string_like_regexp("differs from the stack's Region")
    )
    assert [w.id for w in warnings] == ["/S/West"]
    assert "not given to a SpeakerSearch or VoiceAnalyticsConfiguration of this stack" in json.dumps(
        warnings[0].entry.data
    )


def test_an_env_agnostic_stack_asserts_the_region_of_its_connectors() -> None:
    stack = _stack(None)
    west = VoiceConnector.from_voice_connector_arn(stack, "West", _arn("us-west-2", 5))
    search = SpeakerSearch(stack, "Search", voice_connectors=[west])
    search.add_voice_connector(VoiceConnector.from_voice_connector_arn(stack, "West2", _arn("us-west-2", 6)))
    rule = _rules(stack)[REGION_RULE_ID]
    assert [a["Assert"] for a in rule["Assertions"]][1:] == [
        {"Fn::Equals": [{"Ref": "AWS::Region"}, "us-west-2"]}
    ]
    assert "deploy this stack to us-west-2" in rule["Assertions"][1]["AssertDescription"]
    assert _passes(rule, "us-west-2")
    assert not _passes(rule, "us-east-1")


def test_an_env_agnostic_stack_refuses_connectors_of_two_regions() -> None:
    stack = _stack(None)
    west = VoiceConnector.from_voice_connector_arn(stack, "West", _arn("us-west-2", 5))
    east = VoiceConnector.from_voice_connector_arn(stack, "East", _arn("us-east-1", 6))
    with pytest.raises(
        ValueError,
        match=r"^voice_connectors: Voice Connector .*'S/East'.* is in 'us-east-1', but "
        r"Voice Connector .*'S/West'.* of this stack is in another Region",
    ):
        SpeakerSearch(stack, "Search", voice_connectors=[west, east])
