"""The per-test timeout (pytest-timeout) that keeps a non-terminating retry loop from hanging CI."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import HANDLER_TEST_TIMEOUT_S, SLOW_HANDLER_TEST_TIMEOUT_S

# Marked as tests/conftest.py marks every handler test (with a shorter limit).
SPINNING_TEST = """
import pytest


@pytest.mark.timeout(2, func_only=True)
def test_retry_loop_that_never_gives_up():
    attempts = 0
    while True:  # a retry loop whose stop condition was lost
        attempts += 1
"""


def test_a_spinning_test_fails_with_a_timeout_in_seconds(tmp_path: Path) -> None:
    (tmp_path / "test_spin.py").write_text(SPINNING_TEST)
    (tmp_path / "pytest.ini").write_text("[pytest]\n")  # not this repository's configuration
    started = time.monotonic()
    config = ["--rootdir", str(tmp_path), "-c", str(tmp_path / "pytest.ini")]
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            *config,
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    elapsed = time.monotonic() - started
    assert run.returncode == 1, run.stdout + run.stderr
    assert "Failed: Timeout" in run.stdout
    assert "1 failed" in run.stdout
    assert elapsed < 60  # interpreter and pytest start-up included; without the plugin it never ends


@pytest.mark.parametrize("folder", ["runtime", "custom_resources"])
def test_handler_tests_carry_the_short_timeout(request: pytest.FixtureRequest, folder: str) -> None:
    session_items = [item for item in request.session.items if f"tests/{folder}/" in item.path.as_posix()]
    if not session_items:
        pytest.skip(f"tests/{folder} is not part of this run")
    for item in session_items:
        marker = item.get_closest_marker("timeout")
        assert marker is not None, item.nodeid
        limit = SLOW_HANDLER_TEST_TIMEOUT_S if item.get_closest_marker("slow") else HANDLER_TEST_TIMEOUT_S
        assert (marker.args, marker.kwargs) == ((limit,), {"func_only": True}), item.nodeid


def test_only_the_soak_runs_get_the_longer_handler_limit(request: pytest.FixtureRequest) -> None:
    slow = {
        item.path.name
        for item in request.session.items
        if item.get_closest_marker("slow") and "tests/runtime/" in item.path.as_posix()
    }
    if not any("tests/runtime/" in item.path.as_posix() for item in request.session.items):
        pytest.skip("tests/runtime is not part of this run")
    assert slow == {"test_soak.py"}
    assert HANDLER_TEST_TIMEOUT_S < SLOW_HANDLER_TEST_TIMEOUT_S < int(request.config.getini("timeout"))


def test_other_tests_keep_the_suite_wide_ceiling(request: pytest.FixtureRequest) -> None:
    assert request.node.get_closest_marker("timeout") is None
    assert request.config.getini("timeout") == "600"
