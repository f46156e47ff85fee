"""The README's example app: synthesizes with each leg, imports a connector, rejects bad context."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest

from tests.conftest import Synthesized
from tests.support import REPO_ROOT


def _handler_env(synth: Synthesized) -> dict[str, Any]:
    (function,) = [
        f
        for f in synth.template["Resources"].values()
        if f["Type"] == "AWS::Lambda::Function"
        and f["Properties"].get("Handler") == "index.handler"
        and "GUARD_SEARCHES" not in f["Properties"]["Environment"]["Variables"]  # not the attachment guard
    ]
    return function["Properties"]["Environment"]["Variables"]


@pytest.mark.parametrize(
    ("fixture_name", "leg"), [("example_caller", "Caller"), ("example_callee", "Callee")]
)
def test_example_synthesizes_with_each_leg(
    fixture_name: str, leg: str, request: pytest.FixtureRequest
) -> None:
    synth: Synthesized = request.getfixturevalue(fixture_name)
    assert _handler_env(synth)["CALL_LEG"] == leg
    types = [r["Type"] for r in synth.template["Resources"].values()]
    assert types.count("AWS::Chime::VoiceConnector") == 1
    assert types.count("Custom::ChimeVoiceConnectorStreamingAssociation") == 1
    # The results rule, the pipeline health rule and the attachment guard's schedule.
    assert types.count("AWS::Events::Rule") == 3


def _run_app(context: dict[str, str], outdir: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "CDK_CONTEXT_JSON": json.dumps(context),
        "CDK_OUTDIR": outdir,
        "PYTHONWARNINGS": "ignore",
    }
    return subprocess.run(
        [sys.executable, str(REPO_ROOT / "app.py")],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.mark.parametrize(
    ("context", "message"),
    [
        (
            {"callLeg": "Agent"},
            "app.py: context callLeg: 'Agent' is not allowed; allowed values are 'Caller', 'Callee'",
        ),
        ({"callLeg": "caller"}, "app.py: context callLeg: 'caller' is not allowed"),
        ({"region": "eu-central-1"}, "app.py: context region: 'eu-central-1' is not allowed"),
        ({"nag": "yes"}, "app.py: context nag: 'yes' is not allowed; allowed values are 'true', 'false'"),
        ({"region": "us-west-2"}, "app.py: context voiceConnectorId is required in us-west-2"),
        (
            {"voiceConnectorId": "arn:aws:chime:x"},
            "app.py: voice_connector_id: 'arn:aws:chime:x' is not allowed",
        ),
    ],
)
def test_bad_context_stops_with_one_line(context: dict[str, str], message: str, tmp_path: Any) -> None:
    result = _run_app(context, str(tmp_path))
    assert result.returncode == 1
    lines = [line for line in result.stderr.splitlines() if line.startswith("app.py:")]
    assert len(lines) == 1 and lines[0].startswith(message), result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.slow
def test_context_imports_an_existing_connector(tmp_path: Any) -> None:
    result = _run_app({"callLeg": "Callee", "voiceConnectorId": "abcdef1ghij2klmno3pqr4"}, str(tmp_path))
    assert result.returncode == 0, result.stderr
    template = json.loads((tmp_path / "ChimeSpeakerSearchExample.template.json").read_text())
    types = [r["Type"] for r in template["Resources"].values()]
    assert "AWS::Chime::VoiceConnector" not in types
    association = next(
        r
        for r in template["Resources"].values()
        if r["Type"] == "Custom::ChimeVoiceConnectorStreamingAssociation"
    )
    assert association["Properties"]["VoiceConnectorId"] == "abcdef1ghij2klmno3pqr4"


@pytest.mark.slow
def test_cdk_cli_synthesizes_the_example_strictly(tmp_path: Any) -> None:
    """What `make synth` runs: the project's CDK CLI, where any warning or validation error fails."""
    cdk_cli = REPO_ROOT / "node_modules" / ".bin" / "cdk"
    assert cdk_cli.exists(), "run `make setup` (make test does) to install the project's CDK CLI"
    env = {
        **os.environ,
        "PATH": f"{cdk_cli.parent}{os.pathsep}{os.environ['PATH']}",
        "CDK_DISABLE_CLI_TELEMETRY": "true",
    }
    result = subprocess.run(
        [
            str(cdk_cli),
            "synth",
            "--strict",
            "--quiet",
            "--no-notices",
            "-o",
            str(tmp_path),
            "-c",
            "callLeg=Callee",
        ],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "warning" not in (result.stdout + result.stderr).lower()
    assert (tmp_path / "ChimeSpeakerSearchExample.template.json").is_file()
