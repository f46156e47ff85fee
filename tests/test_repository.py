"""The repository's automation: GitHub workflows, the pre-commit hooks and the release checks.

- every ``uses:`` of a workflow is pinned by a 40-hex commit SHA and names its version in a comment;
- the CI workflow runs ``.ci/run`` (so ``make test``) on pushes and pull requests, with the pinned
  Python and Node.js;
- the release workflow checks the tag against the package version, publishes every file of dist/
  with trusted publishing and holds no stored credential;
- the pre-commit hooks run exactly the commands of ``make lint``.

Each checker is also run on made-up input, so a test here can fail.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import tomllib
from typing import Any

import pytest
import yaml

from tests.support import REPO_ROOT

WORKFLOWS = REPO_ROOT / ".github" / "workflows"
VERSION_FILE = REPO_ROOT / "constructs" / "chime_speaker_search" / "_version.py"

_SHA = re.compile(r"[0-9a-f]{40}")
_VERSION_COMMENT = re.compile(r"#\s*v\d+\.\d+\.\d+\b")
_USES_LINE = re.compile(r"^\s*(?:-\s+)?uses:\s*(?P<value>[^\s#]+)\s*(?P<comment>#.*)?$")


def _load(text: str) -> dict[Any, Any]:
    loaded = yaml.safe_load(text)
    assert isinstance(loaded, dict), "not a YAML mapping"
    return loaded


def _triggers(workflow: dict[Any, Any]) -> dict[str, Any]:
    """The ``on:`` section (YAML 1.1 reads the bare key ``on`` as the boolean True)."""
    on = workflow.get("on", workflow.get(True))
    if isinstance(on, str):
        return {on: None}
    if isinstance(on, list):
        return dict.fromkeys(on)
    return dict(on or {})


def _uses_values(workflow: dict[Any, Any]) -> list[str]:
    """Every ``uses:`` of the workflow: steps' actions and jobs' reusable workflows."""
    found = []
    for job in (workflow.get("jobs") or {}).values():
        if "uses" in job:
            found.append(job["uses"])
        found += [step["uses"] for step in job.get("steps", []) if "uses" in step]
    return found


def unpinned_uses(text: str) -> list[str]:
    """What in a workflow's text is not pinned: each ``uses:`` of another repository must name a
    40-hex commit SHA and, in a comment on its line, the version it is (``# v4.2.2``); a Docker
    image needs a ``sha256`` digest; a local ``./`` action or workflow is part of the commit."""
    comments: dict[str, list[str]] = {}
    for line in text.splitlines():
        if match := _USES_LINE.match(line):
            comments.setdefault(match["value"], []).append(match["comment"] or "")
    found = []
    for value in _uses_values(_load(text)):
        if value.startswith("./"):
            continue
        if value.startswith("docker://"):
            if "@sha256:" not in value:
                found.append(f"{value}: a Docker image without a sha256 digest")
            continue
        _, _, ref = value.partition("@")
        if not _SHA.fullmatch(ref):
            found.append(f"{value}: not pinned by a full 40-hex commit SHA")
        elif value not in comments:
            found.append(f"{value}: not written as `uses: {value}  # vX.Y.Z` on one line")
        elif not all(_VERSION_COMMENT.search(comment) for comment in comments[value]):
            found.append(f"{value}: no `# vX.Y.Z` comment naming the version of the SHA")
    return found


def _runs_ci_script(command: str) -> bool:
    """Whether one line of a ``run:`` script executes .ci/run (not merely mentions it)."""
    try:
        words = shlex.split(command, comments=True)
    except ValueError:
        return False
    if words[:1] == ["bash"]:
        words = words[1:]
    return bool(words) and words[0] in {".ci/run", "./.ci/run"}


def ci_problems(text: str) -> list[str]:
    """Why a CI workflow's text would not run every check: it must run .ci/run on pushes and pull
    requests, after setting up Python from .python-version and Node.js from package.json's pin."""
    workflow = _load(text)
    problems = []
    triggers = _triggers(workflow)
    for event in ("push", "pull_request"):
        if event not in triggers:
            problems.append(f"not run on {event}")
    steps = [step for job in (workflow.get("jobs") or {}).values() for step in job.get("steps", [])]
    runs = [line for step in steps if "if" not in step for line in str(step.get("run", "")).splitlines()]
    if not any(_runs_ci_script(line) for line in runs):
        problems.append("no step runs .ci/run")
    python = [s for s in steps if str(s.get("uses", "")).startswith("actions/setup-python@")]
    if not python or python[0].get("with", {}).get("python-version-file") != ".python-version":
        problems.append("Python is not set up from .python-version")
    node = [s for s in steps if str(s.get("uses", "")).startswith("actions/setup-node@")]
    node_version = str(node[0].get("with", {}).get("node-version", "")) if node else ""
    reads_pin = any(
        ".devDependencies.node" in str(s.get("run", "")) and "package.json" in str(s.get("run", ""))
        for s in steps
    )
    if not (node_version.startswith("${{ steps.") and reads_pin):
        problems.append("Node.js is not set up from the version package.json pins")
    return problems


def recipe(makefile: str, target: str) -> list[str]:
    """The commands of a Makefile target, with ``$(VENV)`` expanded as the Makefile defines it."""
    venv = re.search(r"^VENV\s*:=\s*(\S+)", makefile, re.MULTILINE)
    lines = makefile.splitlines()
    start = next(i for i, line in enumerate(lines) if re.match(rf"{re.escape(target)}\s*:", line))
    commands = []
    for line in lines[start + 1 :]:
        if not line.startswith("\t"):
            break
        command = line.strip().lstrip("@-")
        commands.append(command.replace("$(VENV)", venv[1]) if venv else command)
    return commands


def _as_make_runs_it(command: str) -> str:
    """A hook's command as the Makefile writes it: make puts .venv/bin first on PATH."""
    program, _, rest = command.partition(" ")
    program = program.removeprefix("./").removeprefix(".venv/bin/")
    return f"{program} {rest}".strip()


def hook_mismatches(makefile: str, pre_commit_config: str) -> list[str]:
    """How the pre-commit hooks differ from ``make lint``: the same commands in the same order, each
    a local hook on the whole tree (no file names appended, run whatever changed) with the tool from
    .venv/bin, the project's pinned one."""
    config = _load(pre_commit_config)
    problems, hooks = [], []
    for repo in config.get("repos", []):
        if repo.get("repo") != "local":
            problems.append(f"hooks from {repo.get('repo')}: use `repo: local` and the pinned tools")
            continue
        for hook in repo.get("hooks", []):
            command = " ".join([hook["entry"], *hook.get("args", [])])
            if not command.startswith(".venv/bin/"):
                problems.append(f"{hook['id']}: runs {command.split()[0]}, not the pinned .venv/bin one")
            if hook.get("pass_filenames", True):
                problems.append(f"{hook['id']}: without `pass_filenames: false` it appends file names")
            if not hook.get("always_run", False) or "files" in hook or "types" in hook:
                problems.append(f"{hook['id']}: skipped for some changes; set `always_run: true`")
            hooks.append(_as_make_runs_it(command))
    lint = recipe(makefile, "lint")
    if hooks != lint:
        problems.append(f"the hooks run {hooks}, make lint runs {lint}")
    return problems


_STANDARD_SECTIONS = ("Added", "Changed", "Deprecated", "Removed", "Fixed", "Security")
_RELEASE_HEADING = re.compile(r"## \[(\d+)\.(\d+)\.(\d+)\] - \d{4}-\d{2}-\d{2}")


def changelog_problems(text: str, version: str) -> list[str]:
    """How a CHANGELOG.md departs from Keep a Changelog 1.1.0 as this project uses it: ``## [Unreleased]``
    first, then ``## [X.Y.Z] - YYYY-MM-DD`` newest first, each with at most one of each standard
    ``###`` heading; the package's ``version`` either has its section or is newer than every release."""
    lines = text.splitlines()
    problems = []
    if lines[:1] != ["# Changelog"]:
        problems.append("the first line is not '# Changelog'")
    for needed in ("https://keepachangelog.com/en/1.1.0/", "Semantic Versioning"):
        if needed not in text:
            problems.append(f"the header does not name {needed}")
    sections: list[tuple[str, list[str]]] = []
    for line in lines:
        if line.startswith("## "):
            sections.append((line, []))
        elif line.startswith("### ") and sections:
            sections[-1][1].append(line.removeprefix("### "))
        elif line.startswith("### "):
            problems.append(f"{line!r} before any release section")
    if not sections or sections[0][0] != "## [Unreleased]":
        problems.append("the first section is not '## [Unreleased]'")
    released = []
    for heading, kinds in sections:
        match = _RELEASE_HEADING.fullmatch(heading)
        if heading != "## [Unreleased]":
            if match:
                released.append(tuple(int(part) for part in match.groups()))
            else:
                problems.append(f"{heading!r} is neither '## [Unreleased]' nor '## [X.Y.Z] - YYYY-MM-DD'")
        for kind in kinds:
            if kind not in _STANDARD_SECTIONS:
                problems.append(f"{heading}: '### {kind}' is not one of {', '.join(_STANDARD_SECTIONS)}")
        if len(set(kinds)) != len(kinds):
            problems.append(f"{heading}: a '###' heading appears twice")
    if released != sorted(released, reverse=True):
        problems.append("the releases are not newest first")
    current = tuple(int(part) for part in version.split("."))
    if current not in released and any(release >= current for release in released):
        problems.append(f"version {version} has no section and is not newer than every release")
    return problems


def _workflow(name: str) -> dict[Any, Any]:
    return _load((WORKFLOWS / name).read_text())


def _package_version() -> str:
    match = re.search(r'^__version__ = "([^"]+)"', VERSION_FILE.read_text(), re.MULTILINE)
    assert match, VERSION_FILE
    return match[1]


# --- the checkers, on made-up input ---------------------------------------------------------------

SHA = "0123456789abcdef0123456789abcdef01234567"
PINNED = f"""
on: push
jobs:
  build:
    runs-on: ubuntu-24.04
    steps:
      - uses: actions/checkout@{SHA} # v4.2.2
      - uses: ./.github/actions/local
      - uses: docker://alpine@sha256:{"a" * 64}
      - run: .ci/run
  reuse:
    uses: ./.github/workflows/other.yml
"""


def test_the_pin_checker_accepts_shas_with_versions_and_local_paths() -> None:
    assert unpinned_uses(PINNED) == []


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("- uses: actions/checkout@v4", "not pinned by a full 40-hex commit SHA"),
        ("- uses: actions/checkout@main # v4.2.2", "not pinned by a full 40-hex commit SHA"),
        (f"- uses: actions/checkout@{SHA[:7]} # v4.2.2", "not pinned by a full 40-hex commit SHA"),
        (f"- uses: actions/checkout@{SHA.upper()} # v4.2.2", "not pinned by a full 40-hex commit SHA"),
        (f"- uses: actions/checkout@{SHA}", "no `# vX.Y.Z` comment"),
        (f"- uses: actions/checkout@{SHA} # main", "no `# vX.Y.Z` comment"),
        (f"- {{uses: actions/checkout@{SHA}}} # v4.2.2", "not written as"),
        ("- uses: docker://alpine:3.20", "without a sha256 digest"),
    ],
)
def test_the_pin_checker_reports_each_kind_of_unpinned_uses(line: str, expected: str) -> None:
    text = PINNED.replace(f"- uses: actions/checkout@{SHA} # v4.2.2", line)
    (problem,) = unpinned_uses(text)
    assert expected in problem


def test_the_pin_checker_reads_reusable_workflows_of_other_repositories() -> None:
    text = PINNED.replace("uses: ./.github/workflows/other.yml", "uses: org/repo/.github/workflows/x.yml@v1")
    assert unpinned_uses(text) == [
        "org/repo/.github/workflows/x.yml@v1: not pinned by a full 40-hex commit SHA"
    ]


CI = """
on:
  push:
    branches: [main]
  pull_request:
jobs:
  test:
    runs-on: ubuntu-24.04
    steps:
      - uses: actions/setup-python@x
        with:
          python-version-file: .python-version
      - id: pins
        run: echo "node=$(jq -r .devDependencies.node package.json)" >> "$GITHUB_OUTPUT"
      - uses: actions/setup-node@x
        with:
          node-version: ${{ steps.pins.outputs.node }}
      - run: .ci/run
"""


def test_the_ci_checker_accepts_a_workflow_that_runs_the_ci_script() -> None:
    assert ci_problems(CI) == []
    assert ci_problems(CI.replace("- run: .ci/run", "- run: bash .ci/run")) == []


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("- run: .ci/run", "- run: make test", "no step runs .ci/run"),
        ("- run: .ci/run", "- run: echo .ci/run", "no step runs .ci/run"),
        ("- run: .ci/run", "- run: 'true # .ci/run'", "no step runs .ci/run"),
        ("- run: .ci/run", "- if: false\n        run: .ci/run", "no step runs .ci/run"),
        ("  pull_request:\n", "", "not run on pull_request"),
        ("  push:\n    branches: [main]\n", "", "not run on push"),
        ("python-version-file: .python-version", "python-version: '3.12'", "Python is not set up"),
        ("${{ steps.pins.outputs.node }}", "'24'", "Node.js is not set up"),
    ],
)
def test_the_ci_checker_reports_a_workflow_that_skips_checks(old: str, new: str, expected: str) -> None:
    assert old in CI
    (problem,) = ci_problems(CI.replace(old, new))
    assert problem.startswith(expected)


MAKEFILE = """VENV := .venv
lint: setup
\truff check .
\tjactionlint --shellcheck=$(VENV)/bin/shellcheck

format: setup
\truff format .
"""
PRE_COMMIT = """
repos:
  - repo: local
    hooks:
      - id: ruff
        entry: .venv/bin/ruff check .
        language: unsupported
        pass_filenames: false
        always_run: true
      - id: jactionlint
        entry: .venv/bin/jactionlint
        args: [--shellcheck=.venv/bin/shellcheck]
        language: unsupported
        pass_filenames: false
        always_run: true
"""
RUFF_HOOK_PASS_FILENAMES = "        pass_filenames: false\n        always_run: true\n      - id: jactionlint"


def test_the_hook_checker_accepts_hooks_that_run_the_lint_recipe() -> None:
    assert recipe(MAKEFILE, "lint") == ["ruff check .", "jactionlint --shellcheck=.venv/bin/shellcheck"]
    assert hook_mismatches(MAKEFILE, PRE_COMMIT) == []


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("\tjactionlint", "\tactionlint", "make lint runs"),
        ("entry: .venv/bin/jactionlint\n", "entry: .venv/bin/jactionlint --fix\n", "make lint runs"),
        ("      - id: jactionlint\n", "      - id: jactionlint\n        files: ^\\.github/\n", "always_run"),
        ("entry: .venv/bin/ruff check .", "entry: ruff check .", "not the pinned .venv/bin one"),
        (
            RUFF_HOOK_PASS_FILENAMES,
            RUFF_HOOK_PASS_FILENAMES.replace("        pass_filenames: false\n", ""),
            "file names",
        ),
        ("  - repo: local", "  - repo: https://github.com/astral-sh/ruff-pre-commit", "use `repo: local`"),
    ],
)
def test_the_hook_checker_reports_hooks_that_differ_from_make_lint(old: str, new: str, expected: str) -> None:
    makefile, pre_commit = MAKEFILE.replace(old, new), PRE_COMMIT.replace(old, new)
    assert (makefile, pre_commit) != (MAKEFILE, PRE_COMMIT), old
    assert any(expected in problem for problem in hook_mismatches(makefile, pre_commit))


CHANGELOG = """# Changelog

Based on [Keep a Changelog](https://keepachangelog.com/en/1.1.0/); Semantic Versioning.

## [Unreleased]

### Added
- something new

### Fixed
- something broken

## [0.1.0] - 2026-01-31

### Added
- the first release
"""


def test_the_changelog_checker_accepts_keep_a_changelog() -> None:
    assert changelog_problems(CHANGELOG, "0.2.0") == []
    assert changelog_problems(CHANGELOG, "0.1.0") == []


@pytest.mark.parametrize(
    ("old", "new", "version", "expected"),
    [
        ("## [Unreleased]", "## 0.2.0 (unreleased)", "0.2.0", "is neither"),
        ("## [Unreleased]", "## [Unreleased] (soon)", "0.2.0", "the first section is not"),
        ("## [0.1.0] - 2026-01-31", "## [0.1.0]", "0.2.0", "is neither"),
        ("### Fixed", "### Fixed (found by the soak)", "0.2.0", "is not one of"),
        ("### Fixed", "### Added", "0.2.0", "appears twice"),
        ("## [0.1.0] - 2026-01-31", "## [0.3.0] - 2026-01-31", "0.2.0", "has no section"),
        ("## [0.1.0] - 2026-01-31", "## [0.0.1] - 2025-01-01\n\n## [0.1.0] - 2026-01-31", "0.1.0", "newest"),
        ("(https://keepachangelog.com/en/1.1.0/)", "", "0.2.0", "keepachangelog"),
    ],
)
def test_the_changelog_checker_reports_each_departure(
    old: str, new: str, version: str, expected: str
) -> None:
    assert old in CHANGELOG
    problems = changelog_problems(CHANGELOG.replace(old, new, 1), version)
    assert any(expected in problem for problem in problems), problems


# --- the repository ---------------------------------------------------------------------------------


def test_every_workflow_action_is_pinned_by_commit_sha() -> None:
    workflows = sorted(WORKFLOWS.glob("*.y*ml"))
    assert {p.name for p in workflows} >= {"ci.yml", "release.yml"}
    for path in workflows:
        text = path.read_text()
        assert _uses_values(_load(text)), f"{path.name}: the checker found no uses: at all"
        assert unpinned_uses(text) == [], path.name


def test_ci_runs_the_ci_script_on_pushes_and_pull_requests() -> None:
    assert ci_problems((WORKFLOWS / "ci.yml").read_text()) == []
    assert "make test" in (REPO_ROOT / ".ci" / "run").read_text()


def test_ci_uses_the_python_and_node_the_project_pins() -> None:
    pinned_python = (REPO_ROOT / ".python-version").read_text().strip()
    config = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    assert pinned_python == config["tool"]["mypy"]["python_version"]
    assert config["project"]["requires-python"] == f">={pinned_python}"
    package = json.loads((REPO_ROOT / "package.json").read_text())
    assert re.fullmatch(r"\d+\.\d+\.\d+", package["devDependencies"]["node"])
    steps = _workflow("ci.yml")["jobs"]["test"]["steps"]
    (setup_python,) = [s for s in steps if s.get("uses", "").startswith("actions/setup-python@")]
    assert setup_python["with"]["cache"] == "pip"
    assert setup_python["with"]["cache-dependency-path"].split() == [
        "requirements-dev.txt",
        "requirements-nag2.txt",
    ]
    (setup_node,) = [s for s in steps if s.get("uses", "").startswith("actions/setup-node@")]
    assert setup_node["with"]["cache"] == "npm"
    assert setup_node["with"]["cache-dependency-path"] == "package-lock.json"


def test_workflows_grant_the_least_permissions() -> None:
    ci, release = _workflow("ci.yml"), _workflow("release.yml")
    assert ci["permissions"] == {"contents": "read"}
    assert release["permissions"] == {"contents": "read"}
    assert all("permissions" not in job for job in ci["jobs"].values())
    granted = {name: job.get("permissions") for name, job in release["jobs"].items()}
    assert granted == {
        "test": {"contents": "read"},
        "build": None,
        "publish": {"contents": "read", "id-token": "write"},
        "github-release": {"contents": "write"},
    }
    assert ci["concurrency"]["cancel-in-progress"] is True
    assert release["concurrency"]["cancel-in-progress"] is False


def test_release_publishes_every_distribution_with_trusted_publishing() -> None:
    text = (WORKFLOWS / "release.yml").read_text()
    release = _load(text)
    assert _triggers(release) == {"push": {"tags": ["v*"]}}
    for credential in ("secrets.", "password:", "TWINE_PASSWORD", "TWINE_USERNAME"):
        assert credential not in text, f"{credential}: trusted publishing needs no stored token"
    jobs = release["jobs"]
    assert jobs["test"]["uses"] == "./.github/workflows/ci.yml"
    assert jobs["build"]["needs"] == "test"
    assert jobs["publish"]["needs"] == "build"
    assert jobs["github-release"]["needs"] == "publish"
    assert jobs["publish"]["environment"]["name"] == "pypi"

    def runs(job: str) -> str:
        return "\n".join(str(step.get("run", "")) for step in jobs[job]["steps"])

    assert "make package" in runs("build")
    (upload,) = [
        s for s in jobs["build"]["steps"] if s.get("uses", "").startswith("actions/upload-artifact@")
    ]
    assert upload["with"]["path"] == "dist/"
    for job in ("publish", "github-release"):
        (download,) = [
            s for s in jobs[job]["steps"] if s.get("uses", "").startswith("actions/download-artifact@")
        ]
        assert download["with"] == {"name": upload["with"]["name"], "path": "dist/"}
    assert re.search(r"twine\S* upload --non-interactive .*dist/\*$", runs("publish"), re.MULTILINE)
    assert "--constraint requirements-dev.txt twine" in runs("publish")
    assert 'gh release upload "$TAG" dist/* ' in runs("github-release")
    assert 'gh release create "$TAG" dist/* ' in runs("github-release")


def _tag_check_script() -> str:
    (step,) = [
        s for s in _workflow("release.yml")["jobs"]["build"]["steps"] if "tag names" in s.get("name", "")
    ]
    return str(step["run"])


@pytest.mark.parametrize(
    ("tag", "passes"),
    [("v{version}", True), ("{version}", False), ("v{version}.1", False), ("v0.0.0-{version}", False)],
)
def test_release_stops_on_a_tag_that_is_not_the_package_version(tag: str, passes: bool) -> None:
    version = _package_version()
    ref_name = tag.format(version=version)
    result = subprocess.run(
        ["bash", "-eo", "pipefail", "-c", _tag_check_script()],
        cwd=REPO_ROOT,
        env={"GITHUB_REF_NAME": ref_name, "PATH": os.environ["PATH"]},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (result.returncode == 0) is passes, result
    if passes:
        assert result.stdout.strip() == f"Releasing version {version}"
    else:
        assert f"The tag {ref_name} does not match the package version {version}" in result.stdout


def test_pre_commit_runs_what_make_lint_runs() -> None:
    makefile = (REPO_ROOT / "Makefile").read_text()
    lint = recipe(makefile, "lint")
    assert "ruff check ." in lint and "ruff format --check ." in lint
    assert any(command.split()[0] == "jactionlint" for command in lint), "make lint checks no workflow"
    assert re.search(r"^test:.*\blint\b", makefile, re.MULTILINE), "make test does not run make lint"
    assert hook_mismatches(makefile, (REPO_ROOT / ".pre-commit-config.yaml").read_text()) == []


def test_dependabot_moves_the_cdk_library_and_cli_in_one_pull_request() -> None:
    config = _load((REPO_ROOT / ".github" / "dependabot.yml").read_text())
    updates = {entry["package-ecosystem"]: entry for entry in config["updates"]}
    assert set(updates) == {"pip", "npm", "github-actions"}
    # aws-cdk-lib and its alpha are pip packages, the CLI and integ-runner npm ones: one group, one PR.
    assert updates["pip"]["multi-ecosystem-group"] == updates["npm"]["multi-ecosystem-group"]
    assert updates["pip"]["patterns"] == updates["npm"]["patterns"] == ["*"]
    assert (
        config["multi-ecosystem-groups"][updates["pip"]["multi-ecosystem-group"]]["schedule"]["interval"]
        == "weekly"
    )
    assert updates["github-actions"]["schedule"]["interval"] == "weekly"


def test_changelog_follows_keep_a_changelog_and_the_package_version() -> None:
    assert changelog_problems((REPO_ROOT / "CHANGELOG.md").read_text(), _package_version()) == []
