"""Helpers shared by the test packages."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Mapping, MutableMapping
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
LAMBDA_ROOT = REPO_ROOT / "lambda"
#: Modules shared by several handlers; deployed beside each one's index.py, so importable top-level.
COMMON_ROOT = LAMBDA_ROOT / "_common"


#: Fake credentials and a Region for real boto3 clients that must never reach AWS.
OFFLINE_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "AWS_CONFIG_FILE": "/nonexistent/aws-config",
    "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/aws-credentials",
    "AWS_EC2_METADATA_DISABLED": "true",
}
#: Variables of the developer's shell that could point those clients at an account or endpoint, or
#: change botocore's retries under the tests.
AWS_VARS_TO_CLEAR = (
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_CHIME_SDK_VOICE",
    "AWS_ENDPOINT_URL_CHIME_SDK_MEDIA_PIPELINES",
    "AWS_ENDPOINT_URL_EVENTBRIDGE",
    "AWS_RETRY_MODE",
    "AWS_MAX_ATTEMPTS",
)


def offline_aws_env(extra: Mapping[str, str] | None = None) -> dict[str, str | None]:
    """The environment changes that keep boto3 offline: value None means "unset it"."""
    changes: dict[str, str | None] = dict.fromkeys(AWS_VARS_TO_CLEAR)
    changes.update(OFFLINE_AWS_ENV)
    changes.update(extra or {})
    return changes


def use_offline_aws(monkeypatch: pytest.MonkeyPatch, extra: Mapping[str, str] | None = None) -> None:
    """For one test: boto3 offline (fake credentials, no profile or endpoint overrides), plus ``extra``."""
    for name, value in offline_aws_env(extra).items():
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)


def apply_env(environ: MutableMapping[str, str], changes: Mapping[str, str | None]) -> None:
    """Apply ``offline_aws_env``-style changes to ``environ`` (os.environ, or a copy for a child)."""
    for name, value in changes.items():
        if value is None:
            environ.pop(name, None)
        else:
            environ[name] = value


def import_path(module_name: str, path: Path) -> ModuleType:
    """Import the file at ``path`` as ``module_name`` (cached in ``sys.modules``)."""
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module


def add_handler_paths(function_folder: str) -> None:
    """Make a function's sibling modules and the shared modules importable top-level, as in Lambda."""
    for path in (COMMON_ROOT, LAMBDA_ROOT / function_folder):
        if str(path) not in sys.path:
            sys.path.insert(0, str(path))


def load_handler(function_folder: str) -> ModuleType:
    """Import ``lambda/<function_folder>/index.py`` under a unique module name.

    Every handler is called ``index`` (the Lambda convention), so they cannot share one
    import namespace; each is loaded as ``handler_<folder>`` instead. Loading is cached
    through ``sys.modules`` like a normal import.
    """
    add_handler_paths(function_folder)
    return import_path(f"handler_{function_folder}", LAMBDA_ROOT / function_folder / "index.py")
