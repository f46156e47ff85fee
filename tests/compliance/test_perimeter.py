"""The perimeter, as an attacker inside the account meets it: the synthesized queue, key and bus policies
evaluated for a principal whose identity policies allow everything (denied) and for each legitimate
sender (allowed).

The evaluation model is ``policy_evaluator.py``: explicit deny wins; same-account requests need an
allow in the identity or the resource policy; a KMS key's policy must allow the request itself or
delegate to IAM.
"""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_iam as iam

from chime_speaker_search import SpeakerSearch, VoiceConnector
from chime_speaker_search.event_types import (
    CONFIGURATION_DETACHED_DETAIL_TYPE,
    CONSENT_REQUEST_DETAIL_TYPE,
    ENROLLMENT_REQUEST_DETAIL_TYPES,
    PUBLISHED_DETAIL_TYPES,
    RESULT_EVENT_SOURCE,
)
from tests.compliance.policy_evaluator import (
    ACCOUNT,
    ALLOW_EVERYTHING,
    REGION,
    Request,
    Resolver,
    decide,
    identity_statements,
)
from tests.conftest import IMPORTED_IDS, Synthesized, synthesize

CUSTOM_SOURCE = "contact-centre.requests"


def _build(stack: cdk.Stack) -> dict[str, Any]:
    connector = VoiceConnector.from_voice_connector_id(stack, "Pbx", IMPORTED_IDS[0])
    search = SpeakerSearch(
        stack,
        "Search",
        voice_connectors=[connector],
        require_consent=True,
        enable_enrollment=True,
        request_source=CUSTOM_SOURCE,
    )

    def role(name: str) -> iam.Role:
        return iam.Role(stack, name, assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"))

    search.grant_send_consent(role("Ivr"))
    search.grant_send_enrollment(role("Enroller"))
    search.grant_send_requests(role("Both"))
    search.grant_redrive_dead_letters(role("Operator"))
    return {"search": search}


@pytest.fixture(scope="module")
def synth() -> Synthesized:
    return synthesize(_build)


class Policies:
    """The template's resources, resolved, by the names the tests use."""

    def __init__(self, synth: Synthesized) -> None:
        self.template = synth.template
        self.resolver = Resolver(synth.template)
        self.ids = list(synth.template["Resources"])

    def logical_id(self, prefix: str, kind: str) -> str:
        [found] = [
            i for i in self.ids if i.startswith(prefix) and self.template["Resources"][i]["Type"] == kind
        ]
        return found

    def arn(self, prefix: str, kind: str) -> str:
        return self.resolver.arn(self.logical_id(prefix, kind))

    def role(self, prefix: str) -> str:
        return self.arn(prefix, "AWS::IAM::Role")

    def identity(self, prefix: str) -> list[dict[str, Any]]:
        return identity_statements(self.template, self.logical_id(prefix, "AWS::IAM::Role"))

    def queue_policy(self, queue_prefix: str) -> list[dict[str, Any]]:
        queue = self.logical_id(queue_prefix, "AWS::SQS::Queue")
        for resource in self.template["Resources"].values():
            if (
                resource["Type"] == "AWS::SQS::QueuePolicy"
                and {"Ref": queue} in resource["Properties"]["Queues"]
            ):
                return list(self.resolver.value(resource["Properties"]["PolicyDocument"])["Statement"])
        raise AssertionError(f"no policy for {queue}")

    def key_policy(self) -> list[dict[str, Any]]:
        key = self.logical_id("ChimeSpeakerSearchDataKey", "AWS::KMS::Key")
        return list(
            self.resolver.value(self.template["Resources"][key]["Properties"]["KeyPolicy"])["Statement"]
        )

    def bus_policy(self) -> list[dict[str, Any]]:
        return [
            self.resolver.value(r["Properties"]["Statement"])
            for r in self.template["Resources"].values()
            if r["Type"] == "AWS::Events::EventBusPolicy"
        ]


@pytest.fixture(scope="module")
def policies(synth: Synthesized) -> Policies:
    return Policies(synth)


ATTACKER = ("AWS", f"arn:aws:iam::{ACCOUNT}:role/PowerUser")


# -- notification queue -------------------------------------------------------------------------


def _send(policies: Policies, principal: tuple[str, str], **context: Any) -> Request:
    return Request(
        "sqs:SendMessage", policies.arn("SearchNotificationQueue", "AWS::SQS::Queue"), principal, context
    )


def test_nobody_but_the_pipeline_and_the_rules_sends_to_the_notification_queue(policies: Policies) -> None:
    resource = policies.queue_policy("SearchNotificationQueue")
    assert decide(_send(policies, ATTACKER), identity=ALLOW_EVERYTHING, resource=resource) == "ExplicitDeny"
    # The handler itself has no business sending notifications to its own queue.
    handler = ("AWS", policies.role("SearchHandlerRole"))
    assert decide(_send(policies, handler), identity=ALLOW_EVERYTHING, resource=resource) == "ExplicitDeny"
    pipeline = ("AWS", policies.role("SearchConfigurationResourceAccessRole"))
    identity = policies.identity("SearchConfigurationResourceAccessRole")
    assert decide(_send(policies, pipeline), identity=identity, resource=resource) == "Allow"
    operator = ("AWS", policies.role("Operator"))
    assert (
        decide(_send(policies, operator), identity=policies.identity("Operator"), resource=resource)
        == "Allow"
    )


@pytest.mark.parametrize(
    "rule", ["SearchConsentRequestRule", "SearchEnrollmentRequestRule", "SearchPipelineHealthRule"]
)
def test_event_bridge_delivers_for_the_constructs_own_rules(policies: Policies, rule: str) -> None:
    resource = policies.queue_policy("SearchNotificationQueue")
    own = _send(
        policies,
        ("Service", "events.amazonaws.com"),
        **{"aws:SourceArn": policies.arn(rule, "AWS::Events::Rule"), "aws:SourceAccount": ACCOUNT},
    )
    assert decide(own, identity=[], resource=resource) == "Allow"


def test_event_bridge_does_not_deliver_for_another_rule(policies: Policies) -> None:
    """An attacker's own rule targeting the queue (aws:SourceArn is set by the service, not forgeable)."""
    resource = policies.queue_policy("SearchNotificationQueue")
    foreign = _send(
        policies,
        ("Service", "events.amazonaws.com"),
        **{"aws:SourceArn": f"arn:aws:events:{REGION}:{ACCOUNT}:rule/attacker", "aws:SourceAccount": ACCOUNT},
    )
    assert decide(foreign, identity=[], resource=resource) != "Allow"


@pytest.mark.parametrize("action", ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility"])
def test_only_the_handler_consumes_the_notification_queue(policies: Policies, action: str) -> None:
    queue = policies.arn("SearchNotificationQueue", "AWS::SQS::Queue")
    resource = policies.queue_policy("SearchNotificationQueue")
    attacker = Request(action, queue, ATTACKER)
    assert decide(attacker, identity=ALLOW_EVERYTHING, resource=resource) == "ExplicitDeny"
    handler = Request(action, queue, ("AWS", policies.role("SearchHandlerRole")))
    assert decide(handler, identity=policies.identity("SearchHandlerRole"), resource=resource) == "Allow"


def test_only_the_handler_sends_to_the_dead_letter_queue(policies: Policies) -> None:
    dlq = policies.arn("SearchDeadLetterQueue", "AWS::SQS::Queue")
    resource = policies.queue_policy("SearchDeadLetterQueue")
    assert decide(
        Request("sqs:SendMessage", dlq, ATTACKER), identity=ALLOW_EVERYTHING, resource=resource
    ) == ("ExplicitDeny")
    pipeline = ("AWS", policies.role("SearchConfigurationResourceAccessRole"))
    assert decide(
        Request("sqs:SendMessage", dlq, pipeline), identity=ALLOW_EVERYTHING, resource=resource
    ) == ("ExplicitDeny")
    handler = ("AWS", policies.role("SearchHandlerRole"))
    identity = policies.identity("SearchHandlerRole")
    assert decide(Request("sqs:SendMessage", dlq, handler), identity=identity, resource=resource) == "Allow"


# -- the queues' key ------------------------------------------------------------------------------


def _key_request(policies: Policies, action: str, principal: tuple[str, str], **context: Any) -> Request:
    key = policies.arn("ChimeSpeakerSearchDataKey", "AWS::KMS::Key")
    queue = policies.arn("SearchNotificationQueue", "AWS::SQS::Queue")
    full = {
        "kms:EncryptionContext:aws:sqs:arn": queue,
        "kms:ViaService": f"sqs.{REGION}.amazonaws.com",
        **context,
    }
    return Request(action, key, principal, full)


def test_the_key_refuses_notification_data_keys_to_everyone_but_the_senders(policies: Policies) -> None:
    key_policy = policies.key_policy()
    attacker = _key_request(policies, "kms:GenerateDataKey", ATTACKER)
    assert decide(attacker, identity=ALLOW_EVERYTHING, resource=key_policy, key_policy=True) == "ExplicitDeny"
    for role in ("SearchConfigurationResourceAccessRole", "Operator"):
        sender = _key_request(policies, "kms:GenerateDataKey", ("AWS", policies.role(role)))
        assert (
            decide(sender, identity=policies.identity(role), resource=key_policy, key_policy=True) == "Allow"
        )
    rule = policies.arn("SearchConsentRequestRule", "AWS::Events::Rule")
    events = _key_request(
        policies,
        "kms:GenerateDataKey",
        ("Service", "events.amazonaws.com"),
        **{"aws:SourceArn": rule, "aws:SourceAccount": ACCOUNT},
    )
    assert decide(events, identity=[], resource=key_policy, key_policy=True) == "Allow"


def test_the_key_decrypts_notifications_for_the_handler_only(policies: Policies) -> None:
    key_policy = policies.key_policy()
    attacker = _key_request(policies, "kms:Decrypt", ATTACKER)
    assert decide(attacker, identity=ALLOW_EVERYTHING, resource=key_policy, key_policy=True) == "ExplicitDeny"
    handler = _key_request(policies, "kms:Decrypt", ("AWS", policies.role("SearchHandlerRole")))
    identity = policies.identity("SearchHandlerRole")
    assert decide(handler, identity=identity, resource=key_policy, key_policy=True) == "Allow"


def test_the_key_deny_is_limited_to_the_notification_queue(policies: Policies) -> None:
    """Other users of the stack's key (another queue, the stream, the table) are not affected."""
    key_policy = policies.key_policy()
    other = _key_request(
        policies,
        "kms:GenerateDataKey",
        ATTACKER,
        **{"kms:EncryptionContext:aws:sqs:arn": policies.arn("SearchDeadLetterQueue", "AWS::SQS::Queue")},
    )
    assert decide(other, identity=ALLOW_EVERYTHING, resource=key_policy, key_policy=True) == "Allow"


# -- the construct's event bus --------------------------------------------------------------------


def _put(policies: Policies, principal: tuple[str, str], source: str, detail_type: str) -> Request:
    bus = policies.arn("SearchEventBus", "AWS::Events::EventBus")
    return Request(
        "events:PutEvents", bus, principal, {"events:source": source, "events:detail-type": detail_type}
    )


@pytest.mark.parametrize("detail_type", PUBLISHED_DETAIL_TYPES)
def test_only_the_handler_publishes_results_on_the_bus(policies: Policies, detail_type: str) -> None:
    bus = policies.bus_policy()
    forged = _put(policies, ATTACKER, RESULT_EVENT_SOURCE, detail_type)
    assert decide(forged, identity=ALLOW_EVERYTHING, resource=bus) == "ExplicitDeny"
    # A principal granted every request is not a publisher either.
    both = _put(policies, ("AWS", policies.role("Both")), RESULT_EVENT_SOURCE, detail_type)
    assert decide(both, identity=ALLOW_EVERYTHING, resource=bus) == "ExplicitDeny"
    handler = _put(policies, ("AWS", policies.role("SearchHandlerRole")), RESULT_EVENT_SOURCE, detail_type)
    assert decide(handler, identity=policies.identity("SearchHandlerRole"), resource=bus) == "Allow"


def test_the_attachment_guard_publishes_only_its_own_event(policies: Policies) -> None:
    """The stack's guard joins the bus's publishers, and its own policy limits it to the one detail-type."""
    bus = policies.bus_policy()
    guard = "ChimeSpeakerSearchAttachmentGuardFunctionRole"
    principal = ("AWS", policies.role(guard))
    detached = _put(policies, principal, RESULT_EVENT_SOURCE, CONFIGURATION_DETACHED_DETAIL_TYPE)
    assert decide(detached, identity=policies.identity(guard), resource=bus) == "Allow"
    forged = _put(policies, ATTACKER, RESULT_EVENT_SOURCE, CONFIGURATION_DETACHED_DETAIL_TYPE)
    assert decide(forged, identity=ALLOW_EVERYTHING, resource=bus) == "ExplicitDeny"
    for detail_type in set(PUBLISHED_DETAIL_TYPES) - {CONFIGURATION_DETACHED_DETAIL_TYPE}:
        result = _put(policies, principal, RESULT_EVENT_SOURCE, detail_type)
        assert decide(result, identity=policies.identity(guard), resource=bus) == "ImplicitDeny", detail_type
    request = _put(policies, principal, CUSTOM_SOURCE, CONSENT_REQUEST_DETAIL_TYPE)
    assert decide(request, identity=policies.identity(guard), resource=bus) != "Allow"


@pytest.mark.parametrize(
    ("sender", "consent", "enrollment"),
    [("Ivr", "Allow", "ExplicitDeny"), ("Enroller", "ExplicitDeny", "Allow"), ("Both", "Allow", "Allow")],
)
def test_each_grant_sends_its_own_kind_of_request_and_no_other(
    policies: Policies, sender: str, consent: str, enrollment: str
) -> None:
    bus = policies.bus_policy()
    principal = ("AWS", policies.role(sender))
    request = _put(policies, principal, CUSTOM_SOURCE, CONSENT_REQUEST_DETAIL_TYPE)
    assert decide(request, identity=policies.identity(sender), resource=bus) == consent
    for detail_type in ENROLLMENT_REQUEST_DETAIL_TYPES:
        request = _put(policies, principal, CUSTOM_SOURCE, detail_type)
        # With its own grant only, a kind it was not granted is not allowed at all; with broad
        # identity permissions on top, the bus policy still denies it.
        assert decide(request, identity=policies.identity(sender), resource=bus) == (
            enrollment if enrollment == "Allow" else "ExplicitDeny"
        )
        assert decide(request, identity=ALLOW_EVERYTHING, resource=bus) == enrollment


def test_nobody_else_sends_requests(policies: Policies) -> None:
    bus = policies.bus_policy()
    for detail_type in (CONSENT_REQUEST_DETAIL_TYPE, *ENROLLMENT_REQUEST_DETAIL_TYPES):
        request = _put(policies, ATTACKER, CUSTOM_SOURCE, detail_type)
        assert decide(request, identity=ALLOW_EVERYTHING, resource=bus) == "ExplicitDeny"
        handler = _put(policies, ("AWS", policies.role("SearchHandlerRole")), CUSTOM_SOURCE, detail_type)
        assert decide(handler, identity=ALLOW_EVERYTHING, resource=bus) == "ExplicitDeny"


def test_the_grants_carry_the_custom_request_source(policies: Policies) -> None:
    [ivr] = [s for s in policies.identity("Ivr") if s["Action"] == "events:PutEvents"]
    assert ivr["Condition"]["StringEquals"] == {
        "events:source": CUSTOM_SOURCE,
        "events:detail-type": [CONSENT_REQUEST_DETAIL_TYPE],
    }
    assert ivr["Resource"] == policies.arn("SearchEventBus", "AWS::Events::EventBus")
