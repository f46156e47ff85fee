"""cdk-nag AwsSolutionsChecks: zero unacknowledged findings, every acknowledgement with a reason.

Every stack in tests/conftest.py is synthesized with the checks attached and synthesis fails on
an unacknowledged finding, so reaching these tests at all means the stacks passed; the tests
below make that explicit and check the acknowledgements themselves.
"""

from __future__ import annotations

import base64
import json
import subprocess
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_iam as iam
from cdk_nag import AwsSolutionsChecks

from tests.compliance.nag_stacks import STACKS
from tests.conftest import Synthesized
from tests.support import REPO_ROOT


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


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(STACKS))
def test_cdk_nag3_no_findings_with_the_partition_as_a_literal(name: str) -> None:
    """With ``enablePartitionLiterals`` (as in cdk.json) cdk-nag names findings ``arn:aws:...``."""
    app = cdk.App(context={"@aws-cdk/core:enablePartitionLiterals": True})
    STACKS[name](app)
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    app.synth()  # raises on any unacknowledged finding


@pytest.fixture(scope="module")
def cdk_nag2_report() -> dict[str, Any]:
    """cdk-nag 2's findings on the same stacks, from its own venv (see cdk_nag2_report.py)."""
    python = REPO_ROOT / ".venv-nag2" / "bin" / "python"
    assert python.exists(), "run `make setup`: it creates .venv-nag2 with cdk-nag 2 (requirements-nag2.txt)"
    result = subprocess.run(
        [str(python), str(Path(__file__).with_name("cdk_nag2_report.py"))],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report: dict[str, Any] = json.loads(result.stdout)
    return report


def test_cdk_nag2_runs_the_version_under_test() -> None:
    python = REPO_ROOT / ".venv-nag2" / "bin" / "python"
    version = subprocess.run(
        [str(python), "-c", "from importlib.metadata import version; print(version('cdk-nag'))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert version.startswith("2."), version


@pytest.mark.slow
@pytest.mark.parametrize(
    "partition",
    ["AWS::Partition", "aws", "AWS::Partition/legacyAspects", "AWS::Partition/newPolicyPerStatement"],
)
@pytest.mark.parametrize("name", sorted(STACKS))
def test_cdk_nag2_no_unacknowledged_findings(
    name: str, partition: str, cdk_nag2_report: dict[str, Any]
) -> None:
    """cdk-nag 2 (Aspects) sees every finding acknowledged through the ``cdk_nag`` metadata."""
    stack_report = cdk_nag2_report[f"{name}/{partition}"]
    assert stack_report["Non-Compliant"] == []
    # The gate is live: the library's known findings are there, and suppressed.
    assert stack_report["Suppressed"] >= 5


def test_both_forms_name_the_same_findings(single: Synthesized) -> None:
    """Every Validations acknowledgement has its cdk_nag metadata twin on a resource, and back."""
    validations = {rule.partition("::")[2] or rule for rule in _acknowledgements(single)}
    metadata: set[str] = set()
    for resource in single.template["Resources"].values():
        for rule in resource.get("Metadata", {}).get("cdk_nag", {}).get("rules_to_suppress", []):
            applies_to = rule.get("applies_to") or [None]
            metadata.update(rule["id"] if a is None else f"{rule['id']}[{a}]" for a in applies_to)
    assert metadata
    assert metadata == validations


def _nag2_rules(resource: dict[str, Any]) -> list[dict[str, Any]]:
    return list(resource.get("Metadata", {}).get("cdk_nag", {}).get("rules_to_suppress", []))


def test_cdk_nag2_form_has_one_entry_per_rule_and_reason(many: Synthesized) -> None:
    """A connector adds its call-stream finding to one list per resource, not an entry of its own
    (with its reason repeated) per resource and partition rendering: about 1.1 kB of template less
    per connector."""
    role_id = next(
        logical_id
        for logical_id, resource in many.resources("AWS::IAM::Policy").items()
        if logical_id.startswith("FirstConfigurationResourceAccessRoleDefaultPolicy")
    )
    call_streams = [
        rule
        for rule in _nag2_rules(many.template["Resources"][role_id])
        if any("ChimeVoiceConnector-" in finding for finding in rule.get("applies_to", []))
    ]
    # One entry per partition rendering can't be told apart by reason: both renderings share it.
    assert len(call_streams) == 1
    # First's ten connectors, each rendered with the partition as a token and as a literal.
    assert len(call_streams[0]["applies_to"]) == 20
    for logical_id, resource in many.template["Resources"].items():
        keys = [(r["id"], r["reason"], "applies_to" in r) for r in _nag2_rules(resource)]
        assert len(keys) == len(set(keys)), logical_id


@pytest.mark.parametrize("name", ["single", "many"])
def test_acknowledgements_stay_on_the_resources_they_are_for(
    name: str, every_stack: dict[str, Synthesized]
) -> None:
    """IAM findings are acknowledged on roles and policies only, the Lambda runtime on functions
    only: the provider's acknowledgements are not copied onto its log groups and functions."""
    allowed = {
        "AwsSolutions-IAM4": {"AWS::IAM::Role", "AWS::IAM::Policy"},
        "AwsSolutions-IAM5": {"AWS::IAM::Role", "AWS::IAM::Policy"},
        "AwsSolutions-L1": {"AWS::Lambda::Function"},
    }
    seen = set()
    for logical_id, resource in every_stack[name].template["Resources"].items():
        for rule in _nag2_rules(resource):
            seen.add(rule["id"])
            assert resource["Type"] in allowed.get(rule["id"], {resource["Type"]}), (logical_id, rule["id"])
    assert {"AwsSolutions-IAM4", "AwsSolutions-IAM5", "AwsSolutions-L1"} <= seen


def test_the_cdk_nag2_aspect_is_applied_to_acknowledged_scopes_only(single: Synthesized) -> None:
    """Each node an Aspect visits is a call from Node.js into Python: applied to the stack, it
    visited every node of the user's stack (``bench/synth_profile.py`` counts these calls)."""
    from chime_speaker_search._shared import _NagMetadata

    def nag_aspects(construct: Any) -> list[Any]:
        return [aspect for aspect in cdk.Aspects.of(construct).all if isinstance(aspect, _NagMetadata)]

    assert nag_aspects(single.stack) == []
    assert nag_aspects(single.constructs["search"]) == []
    assert len(nag_aspects(single.constructs["search"].configuration.resource_access_role)) == 1


def test_cdk_nag2_form_merges_findings_and_encodes_a_reason_that_is_not_ascii() -> None:
    """Same rule and reason: one entry listing both findings in both partition renderings; a
    reason with a non-ASCII character is stored base64-encoded, as cdk-nag 2 itself stores it;
    a whole-rule acknowledgement stays an entry without ``applies_to``."""
    from chime_speaker_search._shared import acknowledge

    stack = cdk.Stack(cdk.App(), "Acknowledgements")
    role = iam.Role(stack, "Role", assumed_by=iam.AccountRootPrincipal())
    role.add_to_policy(
        iam.PolicyStatement(actions=["s3:GetObject"], resources=["arn:aws:s3:::a/*", "arn:aws:s3:::b/*"])
    )
    reason = "Both buckets\N{RIGHT SINGLE QUOTATION MARK} objects are read by design."
    acknowledge(role, reason, "AwsSolutions-IAM5[Resource::arn:aws:s3:::a/*]")
    acknowledge(role, reason, "AwsSolutions-IAM5[Resource::arn:aws:s3:::b/*]")
    acknowledge(role, "The whole rule, with a plain reason.", "AwsSolutions-IAM4")
    template = cdk.assertions.Template.from_stack(stack).to_json()
    policy = next(r for r in template["Resources"].values() if r["Type"] == "AWS::IAM::Policy")
    assert _nag2_rules(policy) == [
        {
            "id": "AwsSolutions-IAM5",
            "reason": base64.b64encode(reason.encode()).decode(),
            "is_reason_encoded": True,
            "applies_to": [
                "Resource::arn:<AWS::Partition>:s3:::a/*",
                "Resource::arn:aws:s3:::a/*",
                "Resource::arn:<AWS::Partition>:s3:::b/*",
                "Resource::arn:aws:s3:::b/*",
            ],
        },
        {"id": "AwsSolutions-IAM4", "reason": "The whole rule, with a plain reason."},
    ]


NEW_POLICIES_FLAG = "@aws-cdk/aws-lambda:createNewPoliciesWithAddToRolePolicy"


@pytest.mark.slow
@pytest.mark.parametrize("name", ["example", "with_options", "consent_and_enrollment"])
def test_cdk_nag3_no_findings_when_functions_get_a_new_policy_per_statement(name: str) -> None:
    """With this feature flag aws-cdk-lib puts each ``add_to_role_policy`` statement in a new
    policy under the function, not in the role's default policy: the acknowledgements must still
    cover the library's statements (cdk-nag 2's side: cdk_nag2_report.py)."""
    app = cdk.App(context={NEW_POLICIES_FLAG: True})
    STACKS[name](app)
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    app.synth()  # raises on any unacknowledged finding
