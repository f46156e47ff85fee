"""Walk every identity policy in every synthesized template and enforce least privilege.

- no ``chime:*`` (nor any service-wide ``<service>:*`` or ``*`` action);
- ``Resource: "*"`` only for actions that have no resource type in IAM;
- ``iam:PassRole`` always names the role(s) it passes, with no wildcard.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import Synthesized

#: Actions whose Service Authorization Reference entry lists no resource type.
ACTIONS_WITHOUT_RESOURCE_TYPE = frozenset(
    {
        "chime:CreateVoiceProfileDomain",
        "chime:CreateMediaInsightsPipelineConfiguration",
        "chime:CreateVoiceProfile",
    }
)


#: Statements aws-cdk-lib or AWS's documentation write on ``Resource: "*"`` for actions that either have
#: no resource type or are documented that way for the service that uses them, each with the reason.
DOCUMENTED_WILDCARDS = {
    frozenset(
        {
            "logs:CreateLogDelivery",
            "logs:CreateLogStream",
            "logs:GetLogDelivery",
            "logs:UpdateLogDelivery",
            "logs:DeleteLogDelivery",
            "logs:ListLogDeliveries",
            "logs:PutLogEvents",
            "logs:PutResourcePolicy",
            "logs:DescribeResourcePolicies",
            "logs:DescribeLogGroups",
        }
    ): "aws-cdk-lib's statement for the Provider framework's waiter state machine: Step Functions "
    "delivers its logs through CloudWatch Logs' log delivery, and AWS documents this action set on '*' "
    "for a state machine's role",
    frozenset(
        {
            "xray:PutTraceSegments",
            "xray:PutTelemetryRecords",
            "xray:GetSamplingRules",
            "xray:GetSamplingTargets",
        }
    ): "X-Ray tracing of the waiter state machine: these X-Ray actions have no resource type",
}


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def identity_statements(template: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(logical ID, statement) for every identity-based policy statement in ``template``."""
    for logical_id, resource in template.get("Resources", {}).items():
        props = resource.get("Properties", {})
        documents = []
        if resource["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            documents.append(props["PolicyDocument"])
        if resource["Type"] == "AWS::IAM::Role":
            documents += [p["PolicyDocument"] for p in props.get("Policies", [])]
        for document in documents:
            for statement in _as_list(document["Statement"]):
                yield logical_id, statement


def violations(template: dict[str, Any]) -> list[str]:
    found = []
    for logical_id, statement in identity_statements(template):
        if statement.get("Effect") != "Allow":
            continue
        actions = _as_list(statement.get("Action", []))
        resources = _as_list(statement.get("Resource", []))
        if resources == ["*"] and frozenset(actions) in DOCUMENTED_WILDCARDS:
            continue
        for action in actions:
            if action == "*" or action.endswith(":*"):
                found.append(f"{logical_id}: action {action!r} is a whole service")
            if action == "iam:PassRole" and any("*" in json.dumps(r) for r in resources):
                found.append(f"{logical_id}: iam:PassRole without a named role: {resources}")
            if "*" in resources and action not in ACTIONS_WITHOUT_RESOURCE_TYPE:
                found.append(f"{logical_id}: {action} on Resource '*' although it has a resource type")
        if "iam:PassRole" in actions and not resources:
            found.append(f"{logical_id}: iam:PassRole without a resource")
    return found


@pytest.mark.parametrize(
    "name", ["example_caller", "example_callee", "single", "callee_with_options", "many", "parameter_leg"]
)
def test_every_identity_policy_is_least_privilege(name: str, every_stack: dict[str, Synthesized]) -> None:
    template = every_stack[name].template
    assert list(identity_statements(template)), "the walker found no policy at all"
    assert violations(template) == []


@pytest.mark.parametrize(
    ("statement", "expected"),
    [
        (
            {"Effect": "Allow", "Action": "chime:*", "Resource": "arn:aws:chime:us-east-1:1:vc/x"},
            "whole service",
        ),
        (
            {"Effect": "Allow", "Action": "chime:StartSpeakerSearchTask", "Resource": "*"},
            "has a resource type",
        ),
        ({"Effect": "Allow", "Action": "iam:PassRole", "Resource": "*"}, "without a named role"),
        (  # a documented wildcard statement widened by one action is no longer the documented one
            {
                "Effect": "Allow",
                "Action": [
                    "xray:PutTraceSegments",
                    "xray:PutTelemetryRecords",
                    "xray:GetSamplingRules",
                    "xray:GetSamplingTargets",
                    "chime:StartSpeakerSearchTask",
                ],
                "Resource": "*",
            },
            "has a resource type",
        ),
        ({"Effect": "Allow", "Action": ["iam:PassRole"], "Resource": []}, "without a resource"),
    ],
)
def test_the_walker_catches_each_kind_of_violation(statement: dict[str, Any], expected: str) -> None:
    template = {
        "Resources": {
            "Bad": {"Type": "AWS::IAM::Policy", "Properties": {"PolicyDocument": {"Statement": [statement]}}}
        }
    }
    assert any(expected in v for v in violations(template))
