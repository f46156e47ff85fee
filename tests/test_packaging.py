"""A wheel built from this checkout carries the handlers, a construct from it finds them, and
cdk-nag finds nothing unacknowledged in a fresh app that uses it."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from tests.support import LAMBDA_ROOT, REPO_ROOT

SYNTH_FROM_WHEEL = """
import sys
from pathlib import Path
import aws_cdk as cdk
import chime_speaker_search
from cdk_nag import AwsSolutionsChecks
from chime_speaker_search import SpeakerSearch, VoiceConnector

site = Path(sys.argv[1]).resolve()
assert Path(chime_speaker_search.__file__).resolve().is_relative_to(site), chime_speaker_search.__file__
app = cdk.App(outdir=sys.argv[2])
stack = cdk.Stack(app, "FromWheel", env=cdk.Environment(account="111122223333", region="us-east-1"))
pbx = VoiceConnector.from_voice_connector_id(stack, "Pbx", "abcdef1ghij2klmno3pqr4")
SpeakerSearch(stack, "Search", voice_connectors=[pbx])
# As a user checks it: cdk-nag 3's AwsSolutionsChecks fails the synth on any unacknowledged finding.
cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))
app.synth()
print(chime_speaker_search.__file__)
# The sample events ship in the wheel and load from it.
from chime_speaker_search import sample_events
assert Path(sample_events.__file__).resolve().is_relative_to(site), sample_events.__file__
assert sample_events.load("analytics-ready")["detail"]["detailStatus"] == "AnalyticsReady"
assert len(sample_events.names()) >= 15, sample_events.names()

# The same check is live here: a queue without SSL enforcement (AwsSolutions-SQS4) stops synth.
control = cdk.App(outdir=sys.argv[2] + "-control")
cdk.aws_sqs.Queue(cdk.Stack(control, "Control"), "Plain", encryption=cdk.aws_sqs.QueueEncryption.SQS_MANAGED)
cdk.Validations.of(control).add_plugins(AwsSolutionsChecks(control))
try:
    control.synth()
except RuntimeError as exc:
    assert "AwsSolutions-SQS" in str(exc), exc
else:
    raise AssertionError("cdk-nag did not stop a stack with findings")
"""


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    outdir = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(outdir), str(REPO_ROOT)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (built,) = outdir.glob("*.whl")
    return built


def test_wheel_contains_package_and_every_handler(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "chime_speaker_search/__init__.py" in names
    assert "chime_speaker_search/py.typed" in names
    for folder in (p for p in LAMBDA_ROOT.iterdir() if p.is_dir() and not p.name.startswith("_")):
        assert f"chime_speaker_search/_handlers/{folder.name}/index.py" in names
    assert "chime_speaker_search/_handlers/_common/cfn_custom_resource.py" in names
    samples = REPO_ROOT / "constructs" / "chime_speaker_search" / "sample_events"
    for sample in samples.glob("*.json"):
        assert f"chime_speaker_search/sample_events/{sample.name}" in names
    assert "chime_speaker_search/sample_events/__init__.py" in names
    assert not any("__pycache__" in n or n.startswith("tests/") for n in names)


@pytest.mark.slow
def test_construct_from_installed_wheel_finds_its_handler_code(wheel: Path, tmp_path: Path) -> None:
    site = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(site), str(wheel)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    # -S: no site processing, so the checkout's .pth (constructs/ on sys.path) is not read and
    # only the installed wheel can provide chime_speaker_search; dependencies come from purelib.
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), sysconfig.get_paths()["purelib"]])}
    outdir = tmp_path / "cdk.out"
    result = subprocess.run(
        [sys.executable, "-S", "-c", SYNTH_FROM_WHEEL, str(site), str(outdir)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert str(site) in result.stdout
    expected = (LAMBDA_ROOT / "speaker_search" / "index.py").read_bytes()
    shipped = [p for p in outdir.glob("asset.*/index.py") if p.read_bytes() == expected]
    assert len(shipped) == 1
    # The one custom-resource function ships with its type modules and the shared modules it imports.
    (asset,) = {p.parent for p in outdir.glob("asset.*/cfn_custom_resource.py")}
    for name in (
        "index.py",
        "voice_profile_domain.py",
        "media_insights_configuration.py",
        "streaming_association.py",
    ):
        assert (asset / name).read_bytes() == (LAMBDA_ROOT / "custom_resources" / name).read_bytes()
    for name in ("cfn_custom_resource.py", "aws_calls.py"):
        assert (asset / name).read_bytes() == (LAMBDA_ROOT / "_common" / name).read_bytes()


def test_wheel_carries_the_license_and_the_one_version(wheel: Path) -> None:
    from chime_speaker_search import __version__

    archive = zipfile.ZipFile(wheel)
    dist_info = f"cdk_chime_speaker_search-{__version__}.dist-info"
    license_text = archive.read(f"{dist_info}/licenses/LICENSE").decode()
    assert license_text == (REPO_ROOT / "LICENSE").read_text()
    assert "Apache License" in license_text
    assert "Version 2.0, January 2004" in license_text
    metadata = archive.read(f"{dist_info}/METADATA").decode()
    assert f"\nVersion: {__version__}\n" in metadata
    assert "\nLicense-Expression: Apache-2.0\n" in metadata
    # Defined once: pyproject.toml takes it from the package, never a literal of its own.
    pyproject = (REPO_ROOT / "pyproject.toml").read_text()
    assert 'dynamic = ["version"]' in pyproject
    assert "\nversion =" not in pyproject.split("[tool.setuptools.dynamic]")[0]
    # CHANGELOG.md against this version: tests/test_repository.py (Keep a Changelog form).
