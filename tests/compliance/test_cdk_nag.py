"""cdk-nag AwsSolutionsChecks: zero unacknowledged findings, every acknowledgement with a reason.

Every stack in tests/conftest.py is synthesized with the checks attached and synthesis fails on
an unacknowledged finding, so reaching these tests at all means the stacks passed; the tests
below make that explicit and check the acknowledgements themselves.
"""

from __future__ import annotations

import aws_cdk as cdk
import pytest
from aws_cdk import aws_iam as iam
from cdk_nag import AwsSolutionsChecks

from tests.conftest import Synthesized


def _acknowledgements(synth: Synthesized) -> dict[str, str]:
    """Rule ID -> reason, from the metadata CDK records for each acknowledgement."""
    found: dict[str, str] = {}
    for construct in synth.stack.node.find_all():
        for entry in construct.node.metadata:
            if entry.type == cdk.Validations.ACKNOWLEDGED_RULES_METADATA_KEY:
                found.update(entry.data)
    return found


@pytest.mark.parametrize("name", ["example_caller", "example_callee", "many", "callee_with_options"])
def test_every_acknowledgement_has_a_reason(name: str, every_stack: dict[str, Synthesized]) -> None:
    acknowledgements = _acknowledgements(every_stack[name])
    assert any("AwsSolutions-IAM5" in rule for rule in acknowledgements)
    for rule, reason in acknowledgements.items():
        assert len(reason) >= 30, (rule, reason)


def test_an_unacknowledged_finding_fails_synthesis() -> None:
    """The gate is live: a wildcard policy without an acknowledgement stops synth."""
    app = cdk.App()
    stack = cdk.Stack(app, "Bad")
    role = iam.Role(stack, "Role", assumed_by=iam.AccountRootPrincipal())
    role.add_to_policy(iam.PolicyStatement(actions=["chime:*"], resources=["*"]))
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    with pytest.raises(RuntimeError, match=r"(?s)ValidationFailed: .*AwsSolutions-IAM5\[Action::chime:\*\]"):
        app.synth()


@pytest.mark.parametrize(
    "name", ["example_caller", "example_callee", "single", "callee_with_options", "many", "parameter_leg"]
)
def test_no_warnings_or_errors(name: str, every_stack: dict[str, Synthesized]) -> None:
    """CDK's own template validation: a warning on a shared stack is treated as an error."""
    annotations = cdk.assertions.Annotations.from_stack(every_stack[name].stack)
    any_value = cdk.assertions.Match.any_value()
    assert annotations.find_warning("*", any_value) == []
    assert annotations.find_error("*", any_value) == []
