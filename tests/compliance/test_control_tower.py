"""AWS Control Tower proactive controls: cfn-guard with the rules of @cdklabs/cdk-validator-cfnguard.

Organisations that enforce these controls as CloudFormation hooks refuse a template that fails
any of them. Every synthesized stack of the suite is checked with the pinned cfn-guard binary
and rule set (package.json); the one accepted exception is listed with its reason.
"""

from __future__ import annotations

import json
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Synthesized
from tests.support import REPO_ROOT

VALIDATOR = REPO_ROOT / "node_modules" / "@cdklabs" / "cdk-validator-cfnguard"
RULES = VALIDATOR / "rules" / "control-tower" / "cfn-guard"

#: Rule -> why a failure of it is accepted on the library's resources.
ACCEPTED = {
    "lambda_inside_vpc_check": "CT.LAMBDA.PR.3: the library's functions call only public AWS APIs "
    "(Chime SDK, EventBridge, SQS) and reach no private network; a VPC would add NAT or interface "
    "endpoints, cost and cold-start latency without protecting anything.",
}


def _cfn_guard() -> Path:
    system = "macos" if sys.platform == "darwin" else "ubuntu"
    machine = {"arm64": "aarch64", "amd64": "x86_64"}.get(
        platform.machine().lower(), platform.machine().lower()
    )
    binary = VALIDATOR / "bin" / system / machine / "cfn-guard"
    assert binary.exists(), f"{binary} is missing: run `make setup` (npm ci installs the pinned validator)"
    return binary


@pytest.fixture(scope="module")
def failures(
    every_stack: dict[str, Synthesized],
    two_regions: dict[str, dict[str, Any]],
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, Any]:
    """Stack name -> failed rule -> resources, from one cfn-guard run over every template."""
    folder = tmp_path_factory.mktemp("templates")
    templates = {name: synth.template for name, synth in every_stack.items()}
    templates.update({f"two_regions_{region}": template for region, template in two_regions.items()})
    for name, template in templates.items():
        (folder / f"{name}.json").write_text(json.dumps(template))
    result = subprocess.run(
        [
            *(str(_cfn_guard()), "validate", "--rules", str(RULES), "--data", str(folder)),
            *("--output-format", "json", "--structured", "--show-summary", "none"),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    # 0: all pass, 19: some rule failed; anything else is an error of cfn-guard itself.
    assert result.returncode in (0, 19), result.stderr[-3000:]
    found: dict[str, Any] = {}
    for report in json.loads(result.stdout):
        rules: dict[str, set[str]] = {}
        for failure in report["not_compliant"]:
            rules.setdefault(failure["Rule"]["name"], set()).update(_resources(failure))
        found[Path(report["name"]).stem] = rules
    assert set(found) == set(templates)
    return found


def _resources(node: Any) -> set[str]:
    """Logical IDs named by the ``/Resources/<id>/...`` paths anywhere in a failure report."""
    names: set[str] = set()
    if isinstance(node, dict):
        path = node.get("path")
        if isinstance(path, str) and path.startswith("/Resources/"):
            names.add(path.split("/")[2])
        for value in node.values():
            names |= _resources(value)
    elif isinstance(node, list):
        for value in node:
            names |= _resources(value)
    return names


@pytest.mark.parametrize(
    "name",
    [
        *("example_caller", "example_callee", "single", "callee_with_options", "many", "parameter_leg"),
        *("two_regions_us-east-1", "two_regions_us-west-2"),
    ],
)
def test_no_control_tower_failures_but_the_accepted_one(name: str, failures: dict[str, Any]) -> None:
    assert set(failures[name]) <= set(ACCEPTED), {
        k: v for k, v in failures[name].items() if k not in ACCEPTED
    }


def test_the_accepted_exception_is_needed_and_only_for_functions(
    failures: dict[str, Any], single: Synthesized
) -> None:
    """The check is live: the exception is hit, by Lambda functions and nothing else."""
    functions = set(single.resources("AWS::Lambda::Function"))
    assert failures["single"]["lambda_inside_vpc_check"] == functions
    for reason in ACCEPTED.values():
        assert len(reason) >= 30


def test_each_key_denies_create_grant_except_for_aws_resources_and_services(single: Synthesized) -> None:
    keys = single.resources("AWS::KMS::Key")
    assert len(keys) == 2  # the data key and the voice profile domain's key
    for key in keys.values():
        denies = [
            s
            for s in key["Properties"]["KeyPolicy"]["Statement"]
            if s["Effect"] == "Deny" and "kms:CreateGrant" in s["Action"]
        ]
        assert denies == [
            {
                "Sid": "DenyCreateGrantUnlessForAWSResourceOrByAWSService",
                "Effect": "Deny",
                "Principal": {"AWS": "*"},
                "Action": "kms:CreateGrant",
                "Resource": "*",
                "Condition": {
                    "BoolIfExists": {
                        "kms:GrantIsForAWSResource": "false",
                        "aws:PrincipalIsAWSService": "false",
                    }
                },
            }
        ]


def test_each_dead_letter_queue_names_its_source_queue(single: Synthesized) -> None:
    queues = single.resources("AWS::SQS::Queue")
    search = single.constructs["search"]
    dlq = queues[single.stack.get_logical_id(search.dead_letter_queue.node.default_child)]
    source = queues[single.stack.get_logical_id(search.queue.node.default_child)]
    allow = dlq["Properties"]["RedriveAllowPolicy"]
    assert allow["redrivePermission"] == "byQueue"
    (arn,) = allow["sourceQueueArns"]
    # Built from the source queue's fixed name, not a reference to it (which would be a cycle).
    assert json.dumps(arn).endswith(f':sqs:us-east-1:111122223333:{source["Properties"]["QueueName"]}"]]}}')
    assert "Fn::GetAtt" not in json.dumps(arn)


_CREATE_GRANT_DENY = "DenyCreateGrantUnlessForAWSResourceOrByAWSService"


def _denied(statement: dict[str, Any], context: dict[str, str]) -> bool:
    """IAM's evaluation of one ``BoolIfExists`` Deny: it applies when every key is absent or matches."""
    conditions = statement["Condition"]["BoolIfExists"]
    return all(key not in context or context[key] == value for key, value in conditions.items())


@pytest.mark.parametrize(
    ("who", "context", "denied"),
    [
        # [U] Chime creates the domain's grant on the caller's behalf, as a KMS-integrated service.
        ("Chime on the caller's behalf", {"kms:GrantIsForAWSResource": "true"}, False),
        (
            "Chime on the caller's behalf, both keys present",
            {"kms:GrantIsForAWSResource": "true", "aws:PrincipalIsAWSService": "false"},
            False,
        ),
        # [U] ... or with its own service principal.
        ("Chime's service principal", {"aws:PrincipalIsAWSService": "true"}, False),
        (
            "Chime's service principal, both keys present",
            {"aws:PrincipalIsAWSService": "true", "kms:GrantIsForAWSResource": "false"},
            False,
        ),
        # Anyone calling CreateGrant directly is refused, whatever their IAM permissions.
        (
            "a role calling CreateGrant itself",
            {"kms:GrantIsForAWSResource": "false", "aws:PrincipalIsAWSService": "false"},
            True,
        ),
    ],
)
def test_the_create_grant_deny_under_every_plausible_answer(
    who: str, context: dict[str, str], denied: bool, single: Synthesized
) -> None:
    """Whether ``kms:GrantIsForAWSResource`` is true for Chime's grant is unverified (facts part 3).

    Under either plausible answer (on the caller's behalf, or as a service principal) Chime's
    grant on the domain key passes. Were it neither, the domain handler's own
    ``kms:CreateGrant`` permission (``Bool kms:GrantIsForAWSResource true``) would refuse it
    already: the domain's creation fails at deploy, before any voiceprint exists.
    """
    for key in single.resources("AWS::KMS::Key").values():
        (deny,) = [
            s for s in key["Properties"]["KeyPolicy"]["Statement"] if s.get("Sid") == _CREATE_GRANT_DENY
        ]
        assert _denied(deny, context) is denied, who
