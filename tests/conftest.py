"""Synthesized stacks shared by the template, security and compliance tests.

Each stack is built and synthesized once per session (a synth costs seconds), with
cdk-nag's AWS Solutions checks attached, so building any of them is also a cdk-nag gate.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import assertions
from cdk_nag import AwsSolutionsChecks

from chime_speaker_search import CallLeg, SpeakerSearch, VoiceConnector
from tests.support import REPO_ROOT, import_path

ENV = cdk.Environment(account="111122223333", region="us-east-1")
IMPORTED_IDS = [f"abcdef{n}ghij2klmno3pqr{n}" for n in range(10)]


@dataclass
class Synthesized:
    """One synthesized stack, with the objects the tests inspect."""

    app: cdk.App
    stack: cdk.Stack
    template: dict[str, Any]
    constructs: dict[str, Any]

    @property
    def assertions(self) -> assertions.Template:
        return assertions.Template.from_json(self.template)

    def resources(self, resource_type: str) -> dict[str, dict[str, Any]]:
        return {k: v for k, v in self.template["Resources"].items() if v["Type"] == resource_type}


def synthesize(
    build: Callable[[cdk.Stack], dict[str, Any]], *, env: cdk.Environment = ENV, app: cdk.App | None = None
) -> Synthesized:
    """Build a stack with ``build`` and synthesize it with cdk-nag's AWS Solutions checks.

    Synthesis fails (raises) on any unacknowledged cdk-nag finding, so every fixture built
    here is also a cdk-nag gate.
    """
    app = app or cdk.App()
    stack = cdk.Stack(app, "TestStack", env=env)
    built = build(stack)
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    assembly = app.synth()
    template = assembly.get_stack_by_name(stack.stack_name).template
    return Synthesized(app=app, stack=stack, template=template, constructs=built)


def _single(stack: cdk.Stack) -> dict[str, Any]:
    connector = VoiceConnector.from_voice_connector_id(stack, "Pbx", IMPORTED_IDS[0])
    search = SpeakerSearch(stack, "SpeakerSearch", voice_connectors=[connector])
    search.on_speaker_search_result("Results")
    return {"search": search, "connectors": [connector]}


def _callee_with_options(stack: cdk.Stack) -> dict[str, Any]:
    connectors = [
        VoiceConnector(stack, "Created"),
        VoiceConnector.from_voice_connector_id(stack, "Pbx", IMPORTED_IDS[1]),
    ]
    bus = cdk.aws_events.EventBus(stack, "Bus")
    sns_key = cdk.aws_kms.Alias.from_alias_name(stack, "SnsKey", "alias/aws/sns")
    alerts = cdk.aws_sns.Topic(stack, "Alerts", master_key=sns_key, enforce_ssl=True)
    search = SpeakerSearch(
        stack,
        "SpeakerSearch",
        voice_connectors=connectors,
        call_leg=CallLeg.CALLEE,
        voice_tone_analysis=True,
        event_bus=bus,
        enable_alarms=True,
        streaming_data_retention=cdk.Duration.hours(48),
        alarm_actions=[cdk.aws_cloudwatch_actions.SnsAction(alerts)],
    )
    return {"search": search, "connectors": connectors, "bus": bus}


def _many(stack: cdk.Stack) -> dict[str, Any]:
    """Ten connectors behind one SpeakerSearch, and a second SpeakerSearch beside it."""
    connectors = [VoiceConnector.from_voice_connector_id(stack, f"Pbx{n}", IMPORTED_IDS[n]) for n in range(9)]
    connectors.append(VoiceConnector(stack, "Created"))
    first = SpeakerSearch(stack, "First", voice_connectors=connectors)
    second = SpeakerSearch(
        stack,
        "Second",
        voice_connectors=[VoiceConnector(stack, "Other")],
        voice_profile_domain=first.voice_profile_domain,
    )
    return {"first": first, "second": second, "connectors": connectors}


def _parameter_leg(stack: cdk.Stack) -> dict[str, Any]:
    leg = cdk.CfnParameter(stack, "CallLeg", allowed_values=["Caller", "Callee"], default="Caller")
    connector = VoiceConnector.from_voice_connector_id(stack, "Pbx", IMPORTED_IDS[0])
    search = SpeakerSearch(stack, "SpeakerSearch", voice_connectors=[connector], call_leg=leg.value_as_string)
    return {"search": search, "parameter": leg}


@pytest.fixture(scope="session")
def single() -> Synthesized:
    return synthesize(_single)


@pytest.fixture(scope="session")
def callee_with_options() -> Synthesized:
    return synthesize(_callee_with_options)


@pytest.fixture(scope="session")
def many() -> Synthesized:
    return synthesize(_many)


@pytest.fixture(scope="session")
def parameter_leg() -> Synthesized:
    return synthesize(_parameter_leg)


def _example(call_leg: str) -> Synthesized:
    """The README's example app (app.py) for one call leg, with the stack it creates."""
    example = import_path("example_app", REPO_ROOT / "app.py")
    app = cdk.App()
    stack = example.TelephonyStack(
        app,
        "ChimeSpeakerSearchExample",
        call_leg=call_leg,
        voice_connector_id=None,
        env=cdk.Environment(region="us-east-1"),
    )
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    template = app.synth().get_stack_by_name(stack.stack_name).template
    return Synthesized(app=app, stack=stack, template=template, constructs={})


@pytest.fixture(scope="session")
def example_caller() -> Synthesized:
    return _example("Caller")


@pytest.fixture(scope="session")
def example_callee() -> Synthesized:
    return _example("Callee")


@pytest.fixture(scope="session")
def every_stack(
    example_caller: Synthesized,
    example_callee: Synthesized,
    single: Synthesized,
    callee_with_options: Synthesized,
    many: Synthesized,
    parameter_leg: Synthesized,
) -> dict[str, Synthesized]:
    """Every synthesized stack of the suite, by name: the gates that walk templates use all of them."""
    return {
        "example_caller": example_caller,
        "example_callee": example_callee,
        "single": single,
        "callee_with_options": callee_with_options,
        "many": many,
        "parameter_leg": parameter_leg,
    }


@pytest.fixture(scope="session")
def two_regions() -> dict[str, dict[str, Any]]:
    """examples/two_regions.py: one Stage per voice analytics Region; Region -> synthesized template."""
    example = import_path("two_regions_example", REPO_ROOT / "examples" / "two_regions.py")
    app = cdk.App()
    stages = example.build(
        app, account=ENV.account, east_connector=IMPORTED_IDS[0], west_connector=IMPORTED_IDS[1]
    )
    for stage in stages:
        cdk.Validations.of(stage).add_plugins(AwsSolutionsChecks(stage))
    app.synth()
    return {
        stage.stack.region: stage.synth().get_stack_by_name(stage.stack.stack_name).template
        for stage in stages
    }


#: Per-test limit of the handler tests, whose slowest takes about a second: a retry loop that stops
#: terminating fails in seconds here instead of at the suite-wide ceiling (`timeout` in pyproject.toml).
#: It times the test function only: some handler tests use a synthesized stack, built in a fixture.
HANDLER_TEST_TIMEOUT_S = 20
#: The handler tests marked ``slow`` run a whole soak (hundreds of notifications through the real
#: handler and moto): 5 to 10 s on an idle machine, close to 20 s on a loaded one. The soak has its own
#: time guard that fails a stuck run; this limit only keeps it from reaching the suite-wide ceiling.
SLOW_HANDLER_TEST_TIMEOUT_S = 120
HANDLER_TEST_DIRS = frozenset({"runtime", "custom_resources", "attachment_guard"})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    tests_root = REPO_ROOT / "tests"
    for item in items:
        in_handler_dir = item.path.is_relative_to(tests_root) and (
            item.path.relative_to(tests_root).parts[0] in HANDLER_TEST_DIRS
        )
        if in_handler_dir and item.get_closest_marker("timeout") is None:
            limit = SLOW_HANDLER_TEST_TIMEOUT_S if item.get_closest_marker("slow") else HANDLER_TEST_TIMEOUT_S
            item.add_marker(pytest.mark.timeout(limit, func_only=True))
