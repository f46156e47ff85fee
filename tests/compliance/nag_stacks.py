"""Stacks that both cdk-nag versions check, built without pytest or cdk-nag (importable by either venv)."""

from __future__ import annotations

from collections.abc import Callable

import aws_cdk as cdk

from chime_speaker_search import CallLeg, SpeakerSearch, VoiceConnector, VoiceProfileDomain
from tests.support import REPO_ROOT, import_path

ENV = cdk.Environment(account="111122223333", region="us-east-1")


def example(app: cdk.App) -> cdk.Stack:
    """The README's example app (app.py)."""
    module = import_path("example_app", REPO_ROOT / "app.py")
    stack: cdk.Stack = module.TelephonyStack(
        app, "Example", call_leg="Callee", voice_connector_id=None, env=cdk.Environment(region="us-east-1")
    )
    return stack


def minimal(app: cdk.App) -> cdk.Stack:
    """The smallest use: one SpeakerSearch on one imported connector."""
    stack = cdk.Stack(app, "Minimal", env=ENV)
    pbx = VoiceConnector.from_voice_connector_id(stack, "Pbx", "abcdef1ghij2klmno3pqr4")
    SpeakerSearch(stack, "SpeakerSearch", voice_connectors=[pbx]).on_speaker_search_result("Results")
    return stack


def with_options(app: cdk.App) -> cdk.Stack:
    """Created and imported connectors, a custom bus, alarms, voice tone, and a connector added later."""
    stack = cdk.Stack(app, "WithOptions", env=ENV)
    search = SpeakerSearch(
        stack,
        "SpeakerSearch",
        voice_connectors=[VoiceConnector(stack, "Created")],
        call_leg=CallLeg.CALLEE,
        event_bus=cdk.aws_events.EventBus(stack, "Bus"),
        voice_tone_analysis=True,
        enable_alarms=True,
    )
    search.add_voice_connector(
        VoiceConnector.from_voice_connector_id(stack, "Later", "abcdef2ghij2klmno3pqr4")
    )
    SpeakerSearch(
        stack,
        "Second",
        voice_connectors=[VoiceConnector(stack, "Other")],
        voice_profile_domain=search.voice_profile_domain,
    )
    return stack


def region_agnostic(app: cdk.App) -> cdk.Stack:
    """No account or Region: the partition is always the AWS::Partition token."""
    stack = cdk.Stack(app, "Agnostic")
    pbx = VoiceConnector.from_voice_connector_id(stack, "Pbx", "abcdef1ghij2klmno3pqr4")
    SpeakerSearch(stack, "SpeakerSearch", voice_connectors=[pbx])
    return stack


def imported_by_parameter(app: cdk.App) -> cdk.Stack:
    """A connector and a domain imported by deploy-time ARNs: findings name CloudFormation functions."""
    stack = cdk.Stack(app, "ByParameter", env=ENV)
    pbx = VoiceConnector.from_voice_connector_arn(
        stack, "Pbx", cdk.CfnParameter(stack, "Arn").value_as_string
    )
    domain = VoiceProfileDomain.from_voice_profile_domain_arn(
        stack, "Domain", cdk.CfnParameter(stack, "DomainArn").value_as_string
    )
    SpeakerSearch(stack, "SpeakerSearch", voice_connectors=[pbx], voice_profile_domain=domain)
    return stack


def consent_and_enrollment(app: cdk.App) -> cdk.Stack:
    """Consent and enrollment: the handler's voice profile permissions, one of them on ``*``."""
    stack = cdk.Stack(app, "ConsentAndEnrollment", env=ENV)
    pbx = VoiceConnector.from_voice_connector_id(stack, "Pbx", "abcdef1ghij2klmno3pqr4")
    SpeakerSearch(
        stack, "SpeakerSearch", voice_connectors=[pbx], require_consent=True, enable_enrollment=True
    )
    return stack


STACKS: dict[str, Callable[[cdk.App], cdk.Stack]] = {
    "example": example,
    "minimal": minimal,
    "with_options": with_options,
    "region_agnostic": region_agnostic,
    "imported_by_parameter": imported_by_parameter,
    "consent_and_enrollment": consent_and_enrollment,
}
