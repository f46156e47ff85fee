"""cfn-lint over every template the suite synthesizes: errors and warnings both fail."""

from __future__ import annotations

import json

import pytest
from cfnlint.api import ManualArgs, lint

from tests.conftest import Synthesized

# W3005 flags the DependsOn that aws-cdk-lib itself adds from each Lambda function to its role
# next to the GetAtt of the role: redundant, harmless, and not the library's to change.
IGNORED = ["W3005"]
STACKS = ["example_caller", "example_callee", "single", "callee_with_options", "many", "parameter_leg"]


@pytest.mark.parametrize("name", STACKS)
def test_template_passes_cfn_lint(name: str, every_stack: dict[str, Synthesized]) -> None:
    synth = every_stack[name]
    matches = lint(
        json.dumps(synth.template), config=ManualArgs(regions=[synth.stack.region], ignore_checks=IGNORED)
    )
    findings = [f"{m.rule.id} {m.message} ({'/'.join(map(str, m.path))})" for m in matches]
    assert findings == []


def test_cfn_lint_can_fail() -> None:
    """The gate is live: a broken template produces findings."""
    broken = {
        "Resources": {"Queue": {"Type": "AWS::SQS::Queue", "Properties": {"VisibilityTimeout": "soon"}}}
    }
    assert lint(json.dumps(broken), config=ManualArgs(regions=["us-east-1"]))
