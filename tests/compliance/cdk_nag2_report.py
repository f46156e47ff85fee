"""Run cdk-nag 2 (the ``Aspects`` API) on the library's stacks and print its findings as JSON.

cdk-nag 2 and 3 cannot share one environment (one package name), so this script runs in its
own venv (``.venv-nag2``, made by ``make setup`` from requirements-nag2.txt) and
test_cdk_nag.py reads its output. Each stack is synthesized twice: with the partition as the
``AWS::Partition`` token and as the literal ``aws`` (the ``enablePartitionLiterals`` feature
flag with a known Region), because cdk-nag names findings after the rendered partition. Then once
more under each feature flag in ``VARIANTS`` that changes where the acknowledged findings end up:
``aspectStabilization`` off (on by default in aws-cdk-lib 2.275) invokes Aspects the older way, and
the library's own Aspect must still run before cdk-nag's on every resource;
``createNewPoliciesWithAddToRolePolicy`` on puts a function's ``add_to_role_policy`` statements in
new policies under the function.

Output: ``{"<stack>/<partition>[/<variant>]": {"Non-Compliant": [[rule, resource], ...],
"Suppressed": N}}``.
"""

from __future__ import annotations

import csv
import json
import sys
import tempfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(REPO_ROOT), str(REPO_ROOT / "constructs")]

import aws_cdk as cdk  # noqa: E402
from cdk_nag import AwsSolutionsChecks  # noqa: E402

from tests.compliance.nag_stacks import STACKS  # noqa: E402

PARTITION_LITERALS = "@aws-cdk/core:enablePartitionLiterals"
#: Extra runs (with the partition as a token): name -> feature flags.
VARIANTS: dict[str, dict[str, bool]] = {
    "legacyAspects": {"@aws-cdk/core:aspectStabilization": False},
    "newPolicyPerStatement": {"@aws-cdk/aws-lambda:createNewPoliciesWithAddToRolePolicy": True},
}


def report(name: str, literal_partition: bool, flags: dict[str, bool] | None = None) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as outdir:
        app = cdk.App(outdir=outdir, context={PARTITION_LITERALS: literal_partition, **(flags or {})})
        stack = STACKS[name](app)
        cdk.Aspects.of(app).add(AwsSolutionsChecks(reports=True, verbose=True))
        app.synth()
        non_compliant: list[list[str]] = []
        suppressed = 0
        (path,) = Path(outdir).glob(f"AwsSolutions-*{stack.artifact_id}-NagReport.csv")
        with path.open(newline="") as rows:
            for row in csv.DictReader(rows):
                if row["Compliance"] == "Suppressed":
                    suppressed += 1
                elif row["Compliance"] != "Compliant":
                    non_compliant.append([row["Rule ID"], row["Resource ID"], row["Compliance"]])
        return {"Non-Compliant": non_compliant, "Suppressed": suppressed}


def main() -> None:
    results = {
        f"{name}/{'aws' if literal else 'AWS::Partition'}": report(name, literal)
        for name in STACKS
        for literal in (False, True)
    }
    results.update(
        {
            f"{name}/AWS::Partition/{variant}": report(name, False, flags)
            for name in STACKS
            for variant, flags in VARIANTS.items()
        }
    )
    print(json.dumps(results, indent=1, sort_keys=True))


if __name__ == "__main__":
    main()
