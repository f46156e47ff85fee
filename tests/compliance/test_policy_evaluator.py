"""The policy evaluator of the perimeter tests follows IAM's rules, and would catch a missing Deny."""

from __future__ import annotations

from typing import Any

import pytest

from tests.compliance.policy_evaluator import ACCOUNT, ALLOW_EVERYTHING, Request, Resolver, decide

QUEUE = f"arn:aws:sqs:us-east-1:{ACCOUNT}:q"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/r"
OTHER = f"arn:aws:iam::{ACCOUNT}:role/other"
ROOT = f"arn:aws:iam::{ACCOUNT}:root"


def _deny_unless(condition: dict[str, Any]) -> dict[str, Any]:
    return {
        "Effect": "Deny",
        "Principal": {"AWS": "*"},
        "Action": "sqs:SendMessage",
        "Resource": QUEUE,
        "Condition": condition,
    }


def test_explicit_deny_beats_any_allow() -> None:
    resource = [_deny_unless({"ArnNotEquals": {"aws:PrincipalArn": [ROLE]}})]
    assert decide(
        Request("sqs:SendMessage", QUEUE, ("AWS", OTHER)), identity=ALLOW_EVERYTHING, resource=resource
    ) == ("ExplicitDeny")
    assert decide(
        Request("sqs:SendMessage", QUEUE, ("AWS", ROLE)), identity=ALLOW_EVERYTHING, resource=resource
    ) == ("Allow")


def test_without_the_deny_the_attacker_gets_through() -> None:
    """What the perimeter tests guard against: an Allow-only policy denies nobody."""
    allow_only = [
        {
            "Effect": "Allow",
            "Principal": {"Service": "events.amazonaws.com"},
            "Action": "sqs:SendMessage",
            "Resource": QUEUE,
        }
    ]
    assert decide(
        Request("sqs:SendMessage", QUEUE, ("AWS", OTHER)), identity=ALLOW_EVERYTHING, resource=allow_only
    ) == ("Allow")


@pytest.mark.parametrize(
    ("operator", "present", "expected"),
    [
        ("ArnNotEquals", False, True),  # a negated operator holds when the key is missing
        ("ArnEquals", False, False),
        ("ArnEqualsIfExists", False, True),
        ("ArnNotEquals", True, False),
        ("ArnEquals", True, True),
    ],
)
def test_missing_keys_follow_iam(operator: str, present: bool, expected: bool) -> None:
    rule = "arn:aws:events:us-east-1:1:rule/x"
    statement = _deny_unless({operator: {"aws:SourceArn": [rule]}})
    context = {"aws:SourceArn": rule} if present else {}
    request = Request("sqs:SendMessage", QUEUE, ("AWS", OTHER), context)
    denied = decide(request, identity=ALLOW_EVERYTHING, resource=[statement]) == "ExplicitDeny"
    assert denied is expected


def test_conditions_of_one_statement_must_all_hold() -> None:
    statement = _deny_unless(
        {"ArnNotEquals": {"aws:PrincipalArn": [ROLE], "aws:SourceArn": ["arn:aws:events:us-east-1:1:rule/x"]}}
    )
    via_rule = Request(
        "sqs:SendMessage",
        QUEUE,
        ("Service", "events.amazonaws.com"),
        {"aws:SourceArn": "arn:aws:events:us-east-1:1:rule/x"},
    )
    assert decide(via_rule, identity=[], resource=[statement]) == "ImplicitDeny"  # not denied, not allowed
    assert (
        decide(Request("sqs:SendMessage", QUEUE, ("AWS", OTHER)), identity=[], resource=[statement])
        == "ExplicitDeny"
    )


def test_a_key_policy_that_delegates_to_iam_needs_an_identity_allow() -> None:
    key = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/k"
    delegate = [{"Effect": "Allow", "Principal": {"AWS": ROOT}, "Action": "kms:*", "Resource": "*"}]
    request = Request("kms:Decrypt", key, ("AWS", ROLE))
    assert decide(request, identity=[], resource=delegate, key_policy=True) == "ImplicitDeny"
    assert decide(request, identity=ALLOW_EVERYTHING, resource=delegate, key_policy=True) == "Allow"
    # Without any key policy statement, identity policies alone never open a key.
    assert decide(request, identity=ALLOW_EVERYTHING, resource=[], key_policy=True) == "ImplicitDeny"


def test_the_resolver_gives_consistent_fake_arns() -> None:
    template = {
        "Resources": {
            "Q": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": "fixed"}},
            "R": {"Type": "AWS::IAM::Role", "Properties": {}},
        }
    }
    resolver = Resolver(template)
    joined = {"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, f":sqs:us-east-1:{ACCOUNT}:fixed"]]}
    assert resolver.value({"Fn::GetAtt": ["Q", "Arn"]}) == resolver.value(joined)
    assert resolver.value({"Fn::GetAtt": ["R", "Arn"]}) == f"arn:aws:iam::{ACCOUNT}:role/R"
    with pytest.raises(NotImplementedError):
        resolver.value({"Fn::Sub": "x"})
