"""The stack's one custom-resource provider: footprint, timeouts, asynchronous completion, upgrades, and
the shared stream."""

from __future__ import annotations

import json
from pathlib import Path
from types import ModuleType
from typing import Any

import aws_cdk as cdk
import pytest

from chime_speaker_search import SpeakerSearch, VoiceConnector, VoiceProfileDomain
from chime_speaker_search._shared import (
    _FRAMEWORK_MARGIN,
    COMPLETION_QUERY_INTERVAL,
    COMPLETION_TOTAL_TIMEOUT,
    CUSTOM_RESOURCE_TYPES,
    HANDLER_COMMON_MODULES,
    LEGACY_CONTEXT,
    MAX_SERVICE_TIMEOUT,
    MEDIA_INSIGHTS_CONFIGURATION,
    ON_EVENT_TIMEOUT,
)
from tests.conftest import ENV, IMPORTED_IDS, Synthesized, synthesize
from tests.custom_resources import conftest as handler_tests
from tests.custom_resources.conftest import load
from tests.support import COMMON_ROOT, LAMBDA_ROOT

#: ServiceToken of each custom resource of the stack below as the three-provider layout (one
#: Provider per type, up to commit 1ff6b05) synthesized it; recorded from that commit.
THREE_PROVIDER_TOKENS = json.loads((Path(__file__).parent / "three_provider_layout_tokens.json").read_text())
#: What a stack may hold once the other open work lands (a state table, a pipeline-health rule).
#: The Provider's asynchronous completion (a configuration delete that waits while it is in use) added
#: ten: the framework's isComplete and onTimeout functions with their roles and policies (6), the
#: waiter state machine with its role and policy (3), and the state machine's log group (1). The
#: attachment guard added seven: the stack's one function with its role, policy, log group and
#: asynchronous-invoke configuration (5), and the search's schedule with its invoke permission (2).
RESOURCE_BUDGET = 45
#: The runtime handler, the one on_event function, the Provider framework's onEvent, isComplete
#: and onTimeout functions, and the stack's attachment guard.
MAX_FUNCTIONS = 6


def _search_on(connectors: int, context: dict[str, Any] | None = None) -> dict[str, Any]:
    """The template of one SpeakerSearch on ``connectors`` imported connectors."""
    app = cdk.App(context=context)
    stack = cdk.Stack(app, "TestStack", env=ENV)
    pbx = [
        VoiceConnector.from_voice_connector_id(stack, "Pbx" if n == 0 else f"Pbx{n}", IMPORTED_IDS[n])
        for n in range(connectors)
    ]
    SpeakerSearch(stack, "SpeakerSearch", voice_connectors=pbx)
    template: dict[str, Any] = app.synth().get_stack_by_name("TestStack").template
    return template


def _of_type(template: dict[str, Any], resource_type: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == resource_type}


@pytest.fixture(scope="module")
def footprints() -> dict[int, dict[str, Any]]:
    return {n: _search_on(n) for n in (1, 2, 3)}


def test_one_search_on_one_imported_connector_fits_the_budget(footprints: dict[int, dict[str, Any]]) -> None:
    template = footprints[1]
    functions = _of_type(template, "AWS::Lambda::Function")
    assert len(functions) <= MAX_FUNCTIONS, sorted(functions)
    assert len(template["Resources"]) <= RESOURCE_BUDGET, sorted(template["Resources"])


def test_each_extra_imported_connector_adds_exactly_one_resource(
    footprints: dict[int, dict[str, Any]],
) -> None:
    counts = {n: len(template["Resources"]) for n, template in footprints.items()}
    assert counts[2] - counts[1] == 1
    assert counts[3] - counts[2] == 1
    added = set(footprints[2]["Resources"]) - set(footprints[1]["Resources"])
    (association,) = added
    assert (
        footprints[2]["Resources"][association]["Type"] == "Custom::ChimeVoiceConnectorStreamingAssociation"
    )


def test_every_custom_resource_has_its_types_service_timeout(footprints: dict[int, dict[str, Any]]) -> None:
    timeouts = {kind.resource_type: kind.service_timeout.to_seconds() for kind in CUSTOM_RESOURCE_TYPES}
    custom = {k: v for k, v in footprints[1]["Resources"].items() if v["Type"].startswith("Custom::")}
    assert {v["Type"] for v in custom.values()} == set(timeouts)
    for resource in custom.values():
        assert int(resource["Properties"]["ServiceTimeout"]) == timeouts[resource["Type"]]


def test_timeouts_cover_each_types_budget_and_stay_below_the_framework() -> None:
    """The handler's budget per type (its module's BUDGET_S) bounds its slowest legitimate path;
    the function and CloudFormation must wait at least that long, the framework (15 min) longer."""
    index: ModuleType = load("index")
    on_event_s = ON_EVENT_TIMEOUT.to_seconds()
    assert on_event_s < 15 * 60  # strictly below the Provider framework's own timeout
    for kind in CUSTOM_RESOURCE_TYPES:
        budget_s = index.HANDLERS[kind.resource_type].BUDGET_S
        assert budget_s + index.SAFETY_MARGIN_S <= on_event_s, kind.resource_type
        # Cold starts of two functions and the framework's reply fit in the rest.
        assert kind.service_timeout.to_seconds() >= budget_s + 60, kind.resource_type
        assert kind.service_timeout.to_seconds() <= 3600  # CloudFormation's maximum
    assert set(index.HANDLERS) == {kind.resource_type for kind in CUSTOM_RESOURCE_TYPES}


def test_the_on_event_function_has_the_shared_timeout(footprints: dict[int, dict[str, Any]]) -> None:
    functions = _of_type(footprints[1], "AWS::Lambda::Function")
    (on_event,) = [f for f in functions.values() if f["Properties"]["Handler"] == "index.on_event"]
    assert on_event["Properties"]["Timeout"] == ON_EVENT_TIMEOUT.to_seconds()


# --- a stack deployed with the three-provider layout ----------------------------------------------


@pytest.fixture(scope="module")
def legacy() -> Synthesized:
    """The stack of THREE_PROVIDER_TOKENS, with the context key that keeps its ServiceTokens
    (synthesized with cdk-nag, like every shared stack)."""

    def build(stack: cdk.Stack) -> dict[str, Any]:
        pbx = VoiceConnector.from_voice_connector_id(stack, "Pbx", IMPORTED_IDS[0])
        SpeakerSearch(stack, "SpeakerSearch", voice_connectors=[pbx])
        return {}

    return synthesize(build, app=cdk.App(context={LEGACY_CONTEXT: True}))


def test_a_stack_of_the_three_provider_layout_keeps_every_service_token(legacy: Synthesized) -> None:
    """CloudFormation refuses to change a custom resource's ServiceToken ("Modifying service token
    is not allowed"); with the context key, each resource keeps exactly the token it was deployed with."""
    custom = {k: v for k, v in legacy.template["Resources"].items() if v["Type"].startswith("Custom::")}
    assert set(custom) == set(THREE_PROVIDER_TOKENS)
    for logical_id, recorded in THREE_PROVIDER_TOKENS.items():
        assert custom[logical_id]["Type"] == recorded["Type"]
        assert custom[logical_id]["Properties"]["ServiceToken"] == recorded["ServiceToken"]


def test_the_three_frameworks_front_the_one_on_event_function(legacy: Synthesized) -> None:
    functions = legacy.resources("AWS::Lambda::Function")
    (on_event,) = [k for k, v in functions.items() if v["Properties"]["Handler"] == "index.on_event"]
    frameworks = {k: v for k, v in functions.items() if "frameworkonEvent" in k}
    assert len(frameworks) == 3
    for framework in frameworks.values():
        target = framework["Properties"]["Environment"]["Variables"]["USER_ON_EVENT_FUNCTION_ARN"]
        assert target == {"Fn::GetAtt": [on_event, "Arn"]}
    # Was 7 with three on_event functions, 5 with one; the configuration's Provider has a waiter (+2);
    # the stack's attachment guard (+1).
    assert len(functions) == 8


def test_in_the_three_provider_layout_only_the_configurations_provider_waits(legacy: Synthesized) -> None:
    functions = legacy.resources("AWS::Lambda::Function")
    waiting = {
        k: v
        for k, v in functions.items()
        if "frameworkonEvent" in k
        and "WAITER_STATE_MACHINE_ARN" in v["Properties"]["Environment"]["Variables"]
    }
    (framework,) = waiting
    assert framework.startswith(MEDIA_INSIGHTS_CONFIGURATION.legacy_construct_id)
    assert len(legacy.resources("AWS::StepFunctions::StateMachine")) == 1


def test_without_the_context_key_there_is_one_framework(footprints: dict[int, dict[str, Any]]) -> None:
    tokens = {
        json.dumps(v["Properties"]["ServiceToken"])
        for v in footprints[1]["Resources"].values()
        if v["Type"].startswith("Custom::")
    }
    assert len(tokens) == 1
    recorded = {json.dumps(t["ServiceToken"]) for t in THREE_PROVIDER_TOKENS.values()}
    assert tokens.isdisjoint(recorded)


# --- one Kinesis data stream per stack ------------------------------------------------------------


def test_two_searches_in_one_stack_share_one_stream(many: Synthesized) -> None:
    (stream_id,) = many.resources("AWS::Kinesis::Stream")
    configurations = many.resources("Custom::ChimeMediaInsightsPipelineConfiguration").values()
    assert len(configurations) == 2
    for configuration in configurations:
        assert configuration["Properties"]["KinesisDataStreamArn"] == {"Fn::GetAtt": [stream_id, "Arn"]}


def test_a_given_stream_or_key_is_respected() -> None:
    stack = cdk.Stack(cdk.App(), "S", env=ENV)
    mine = cdk.aws_kinesis.Stream(stack, "Mine")
    key = cdk.aws_kms.Key(stack, "Key", enable_key_rotation=True)
    pbx = [VoiceConnector.from_voice_connector_id(stack, f"P{n}", IMPORTED_IDS[n]) for n in range(4)]
    given = SpeakerSearch(stack, "Given", voice_connectors=[pbx[0]], kinesis_stream=mine)
    default = SpeakerSearch(stack, "Default", voice_connectors=[pbx[1]])
    keyed = SpeakerSearch(stack, "Keyed", voice_connectors=[pbx[2]], encryption_key=key)
    keyed_too = SpeakerSearch(stack, "KeyedToo", voice_connectors=[pbx[3]], encryption_key=key)

    assert given.configuration.kinesis_stream is mine
    assert keyed.configuration.kinesis_stream is keyed_too.configuration.kinesis_stream
    assert keyed.configuration.kinesis_stream is not default.configuration.kinesis_stream
    streams = cdk.assertions.Template.from_stack(stack).find_resources("AWS::Kinesis::Stream")
    assert len(streams) == 3  # the user's, the stack's default, and one for the other key


# --- a domain's key change ------------------------------------------------------------------------


def _domain_properties(**kwargs: Any) -> dict[str, Any]:
    stack = cdk.Stack(cdk.App(), "S", env=ENV)
    VoiceProfileDomain(stack, "Domain", **kwargs)
    (domain,) = (
        cdk.assertions.Template.from_stack(stack).find_resources("Custom::ChimeVoiceProfileDomain").values()
    )
    properties: dict[str, Any] = domain["Properties"]
    return properties


def test_key_replacement_is_off_unless_opted_in() -> None:
    assert "AllowReplacementOnKeyChange" not in _domain_properties()
    assert _domain_properties(allow_replacement_on_key_change=True)["AllowReplacementOnKeyChange"] == "true"


def test_an_opted_in_domain_is_named_after_its_key() -> None:
    def name(arn: str) -> str:
        stack = cdk.Stack(cdk.App(), "S", env=ENV)
        key = cdk.aws_kms.Key.from_key_arn(stack, "K", arn)
        VoiceProfileDomain(
            stack,
            "Domain",
            encryption_key=key,
            voice_profile_domain_name="callers",
            allow_replacement_on_key_change=True,
        )
        (domain,) = (
            cdk.assertions.Template.from_stack(stack)
            .find_resources("Custom::ChimeVoiceProfileDomain")
            .values()
        )
        value: str = domain["Properties"]["Name"]
        return value

    first = name("arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab")
    second = name("arn:aws:kms:us-east-1:111122223333:key/5678abcd-12ab-34cd-56ef-1234567890ab")
    assert first.startswith("callers-k") and second.startswith("callers-k")
    assert first != second
    assert _domain_properties(voice_profile_domain_name="callers")["Name"] == "callers"


# --- who may ask, and asynchronous completion ------------------------------------------------------


def _on_event(template: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    ((logical_id, function),) = [
        (k, v)
        for k, v in _of_type(template, "AWS::Lambda::Function").items()
        if v["Properties"]["Handler"] == "index.on_event"
    ]
    return logical_id, function


def test_the_on_event_function_knows_its_stack(footprints: dict[int, dict[str, Any]]) -> None:
    _, on_event = _on_event(footprints[1])
    assert on_event["Properties"]["Environment"]["Variables"]["STACK_ID"] == {"Ref": "AWS::StackId"}


def test_the_on_event_function_ships_every_common_module_its_handlers_import() -> None:
    """Handlers import lambda/_common modules top-level; one not shipped fails only in Lambda."""
    import ast

    common = {p.name for p in COMMON_ROOT.glob("*.py")}
    needed: set[str] = set()
    pending = sorted((LAMBDA_ROOT / "custom_resources").glob("*.py"))
    while pending:
        tree = ast.parse(pending.pop().read_text())
        for node in ast.walk(tree):
            names = (
                [alias.name for alias in node.names]
                if isinstance(node, ast.Import)
                else [node.module]
                if isinstance(node, ast.ImportFrom) and node.module
                else []
            )
            for name in names:
                module = f"{name.split('.')[0]}.py"
                if module in common and module not in needed:
                    needed.add(module)
                    pending.append(COMMON_ROOT / module)
    assert needed == set(HANDLER_COMMON_MODULES)


def test_the_on_event_function_is_also_the_is_complete_handler(footprints: dict[int, dict[str, Any]]) -> None:
    template = footprints[1]
    on_event_id, _ = _on_event(template)
    frameworks = {k: v for k, v in _of_type(template, "AWS::Lambda::Function").items() if "framework" in k}
    assert len(frameworks) == 3  # onEvent, isComplete, onTimeout
    for logical_id, framework in frameworks.items():
        variables = framework["Properties"]["Environment"]["Variables"]
        assert variables["USER_ON_EVENT_FUNCTION_ARN"] == {"Fn::GetAtt": [on_event_id, "Arn"]}, logical_id
        assert variables["USER_IS_COMPLETE_FUNCTION_ARN"] == {"Fn::GetAtt": [on_event_id, "Arn"]}, logical_id


def _waiter(template: dict[str, Any]) -> dict[str, Any]:
    (machine,) = _of_type(template, "AWS::StepFunctions::StateMachine").values()
    return machine


def _retry(machine: dict[str, Any]) -> dict[str, Any]:
    definition = "".join(
        part if isinstance(part, str) else "ARN"
        for part in machine["Properties"]["DefinitionString"]["Fn::Join"][1]
    )
    (retry,) = json.loads(definition)["States"]["framework-isComplete-task"]["Retry"]
    return dict(retry)


def test_the_waiter_polls_as_the_handler_tests_assume(footprints: dict[int, dict[str, Any]]) -> None:
    retry = _retry(_waiter(footprints[1]))
    assert (
        retry["IntervalSeconds"] == handler_tests.QUERY_INTERVAL_S == COMPLETION_QUERY_INTERVAL.to_seconds()
    )
    assert retry["MaxAttempts"] == handler_tests.MAX_ATTEMPTS
    assert retry["MaxAttempts"] * retry["IntervalSeconds"] == COMPLETION_TOTAL_TIMEOUT.to_seconds()
    assert retry["BackoffRate"] == 1


def test_a_configuration_delete_in_use_gives_up_before_the_framework_and_cloudformation() -> None:
    """The handler's own wait (45 minutes) ends its delete with a reason; the framework's timeout
    (50 minutes of intervals) comes later; and whichever ends it, the framework reports before
    CloudFormation's ServiceTimeout (its maximum, one hour) would cut it off.

    The latest report: on_event (its budget), then isComplete calls until the wait is over (the wait,
    one more interval, one more check), then the framework's margin (cold starts, the reply)."""
    index = load("index")
    configuration = load("media_insights_configuration")
    wait_s = configuration.IN_USE_WAIT_S
    assert wait_s < COMPLETION_TOTAL_TIMEOUT.to_seconds()
    latest = (
        configuration.BUDGET_S
        + index.SAFETY_MARGIN_S
        + wait_s
        + COMPLETION_QUERY_INTERVAL.to_seconds()
        + index.CHECK_BUDGET_S
        + index.SAFETY_MARGIN_S
        + _FRAMEWORK_MARGIN.to_seconds()
    )
    assert (
        latest < MEDIA_INSIGHTS_CONFIGURATION.service_timeout.to_seconds() == MAX_SERVICE_TIMEOUT.to_seconds()
    )
    assert MAX_SERVICE_TIMEOUT.to_seconds() == 3600  # CloudFormation's maximum ServiceTimeout
    # More than ten minutes: contact-centre calls outlast the old 10-minute conflict loop.
    assert wait_s >= 30 * 60
    # An isComplete call fits in the on_event function's timeout too.
    assert ON_EVENT_TIMEOUT.to_seconds() >= index.CHECK_BUDGET_S + index.SAFETY_MARGIN_S


def test_the_waiter_logs_every_event_without_execution_data_and_is_traced(
    footprints: dict[int, dict[str, Any]],
) -> None:
    template = footprints[1]
    machine = _waiter(template)["Properties"]
    logging = machine["LoggingConfiguration"]
    assert logging["Level"] == "ALL"
    assert logging["IncludeExecutionData"] is False  # the request's properties and its presigned URL
    ((log_group_id, _),) = [
        d["CloudWatchLogsLogGroup"]["LogGroupArn"]["Fn::GetAtt"] for d in logging["Destinations"]
    ]
    log_group = template["Resources"][log_group_id]["Properties"]
    assert log_group["LogGroupName"]["Fn::Join"][1][0] == "/aws/vendedlogs/states/chime-speaker-search"
    assert log_group["KmsKeyId"] and log_group["RetentionInDays"] == 365
    assert machine["TracingConfiguration"] == {"Enabled": True}


def test_the_on_event_function_lists_every_connector_the_stack_associates(many: Synthesized) -> None:
    """The handler attaches to no connector outside this list (a crafted request could name any)."""
    [on_event] = [
        v
        for k, v in many.resources("AWS::Lambda::Function").items()
        if k.startswith("ChimeSpeakerSearchCustomResourceProviderOnEvent")
    ]
    served = on_event["Properties"]["Environment"]["Variables"]["VOICE_CONNECTOR_IDS"]
    # CDK folds the literal IDs (with their separators) into one string beside the created connectors'.
    separator, parts = served["Fn::Join"]
    assert separator == ","
    literal = ",".join(p for p in parts if isinstance(p, str))
    imported = [i for i in literal.split(",") if i]
    created = [p for p in parts if isinstance(p, dict)]
    assert imported == IMPORTED_IDS[:9]
    # The two created connectors (one per search), by their attribute.
    assert [p["Fn::GetAtt"][1] for p in created] == ["VoiceConnectorId", "VoiceConnectorId"]
    associations = many.resources("Custom::ChimeVoiceConnectorStreamingAssociation")
    assert len(imported) + len(created) == len(associations) == 11
