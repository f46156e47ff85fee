"""The repository layout that DESIGN.md requires, and the traps it names."""

from __future__ import annotations

import tomllib
from pathlib import Path

from tests.support import LAMBDA_ROOT, REPO_ROOT


def test_required_top_level_files_exist() -> None:
    for name in ["app.py", "cdk.json", "README.md", "pyproject.toml", "Makefile", ".ci/run", "package.json"]:
        assert (REPO_ROOT / name).is_file(), name
    assert (REPO_ROOT / "constructs" / "chime_speaker_search" / "__init__.py").is_file()
    assert (REPO_ROOT / "constructs" / "chime_speaker_search" / "py.typed").is_file()


def test_constructs_source_root_has_no_init() -> None:
    """constructs/__init__.py would shadow the `constructs` dependency."""
    assert not (REPO_ROOT / "constructs" / "__init__.py").exists()


def handler_folders() -> list[str]:
    return sorted(p.name for p in LAMBDA_ROOT.iterdir() if p.is_dir() and not p.name.startswith(("_", ".")))


def test_one_folder_per_function_each_with_index() -> None:
    folders = handler_folders()
    assert folders == ["attachment_guard", "custom_resources", "speaker_search"]
    for folder in folders:
        assert (LAMBDA_ROOT / folder / "index.py").is_file(), folder


def test_no_two_functions_share_a_module_name() -> None:
    """Each function's modules are imported top-level, and the tests put every folder on one path: two
    folders with a module of the same name would import each other's."""
    seen: dict[str, str] = {}
    for folder in [*handler_folders(), "_common"]:
        for source in (LAMBDA_ROOT / folder).glob("*.py"):
            if source.stem in {"index", "__init__"}:
                continue
            assert source.stem not in seen, f"{folder}/{source.name} and {seen[source.stem]}/{source.name}"
            seen[source.stem] = folder


def test_every_handler_folder_ships_in_the_wheel() -> None:
    config = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    packages = set(config["tool"]["setuptools"]["packages"])
    for folder in [*handler_folders(), "_common"]:
        assert f"chime_speaker_search._handlers.{folder}" in packages, folder


def test_handlers_use_only_stdlib_and_boto3() -> None:
    import ast
    import sys

    shared = {p.stem for p in (LAMBDA_ROOT / "_common").glob("*.py")}
    base = set(sys.stdlib_module_names) | {"boto3", "botocore"} | shared
    folders = [*handler_folders(), "_common"]
    for folder in folders:
        siblings = {p.stem for p in (LAMBDA_ROOT / folder).glob("*.py")}
        for source in sorted((LAMBDA_ROOT / folder).glob("*.py")):
            tree = ast.parse(source.read_text())
            for node in ast.walk(tree):
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                else:
                    continue
                for name in names:
                    top = name.split(".")[0]
                    allowed = base | siblings
                    assert top in allowed or top.startswith("mypy_boto3"), f"{source} imports {name}"


def test_handler_modules_shadow_no_installed_or_standard_module() -> None:
    """A function's modules are imported top-level: one named like a package (``requests``) would
    shadow it in Lambda and in the tests."""
    import importlib.machinery
    import sys

    lambda_root = LAMBDA_ROOT.resolve()
    elsewhere = [p for p in sys.path if lambda_root not in Path(p or ".").resolve().parents]
    for folder in [*handler_folders(), "_common"]:
        for source in (LAMBDA_ROOT / folder).glob("*.py"):
            name = source.stem
            if name in {"index", "__init__"}:
                continue
            assert name not in sys.stdlib_module_names, f"{source} shadows the standard module {name}"
            spec = importlib.machinery.PathFinder.find_spec(name, elsewhere)
            assert spec is None, f"{source} shadows the installed module {name} ({spec.origin})"


def test_ci_runs_the_readme_test_command() -> None:
    ci = (REPO_ROOT / ".ci" / "run").read_text()
    readme = (REPO_ROOT / "README.md").read_text()
    assert "make test" in ci
    assert "make test" in readme and "make synth" in readme
    cdk_json = (REPO_ROOT / "cdk.json").read_text()
    assert "app.py" in cdk_json
