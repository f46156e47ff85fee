"""Where the Lambda handler code is, in a checkout and in an installed wheel."""

from __future__ import annotations

import atexit
import shutil
import tempfile
from collections.abc import Sequence
from functools import cache
from pathlib import Path

from aws_cdk import aws_lambda as lambda_

_PACKAGE_DIR = Path(__file__).resolve().parent
#: Folder of modules shared by several handlers; it is not a function of its own.
COMMON_FOLDER = "_common"


@cache
def _lambda_root() -> Path:
    """``chime_speaker_search/_handlers`` in an installed wheel (see ``[tool.setuptools] package-dir``
    in pyproject.toml), or ``lambda/`` beside ``constructs/`` in a source checkout."""
    for candidate in (_PACKAGE_DIR / "_handlers", _PACKAGE_DIR.parent.parent / "lambda"):
        if (candidate / COMMON_FOLDER).is_dir():
            return candidate
    raise FileNotFoundError(f"handler code not found beside {_PACKAGE_DIR}; the package is incomplete")


def handler_dir(function_folder: str) -> Path:
    """The folder holding ``index.py`` for one function."""
    folder = _lambda_root() / function_folder
    if not (folder / "index.py").is_file():
        raise FileNotFoundError(f"no handler code for {function_folder!r} in {folder}")
    return folder


@cache
def _staged(function_folder: str, common_modules: tuple[str, ...]) -> Path:
    """A copy of the function's folder with the shared modules it imports beside ``index.py``.

    The asset hash is computed from the staged content, so it is the same on every synth.
    """
    staging = Path(tempfile.mkdtemp(prefix=f"chime-speaker-search-{function_folder}-"))
    atexit.register(shutil.rmtree, staging, ignore_errors=True)
    shutil.copytree(handler_dir(function_folder), staging, dirs_exist_ok=True, ignore=_IGNORED)
    for module in common_modules:
        shutil.copy2(_lambda_root() / COMMON_FOLDER / module, staging / module)
    return staging


_IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", ".*")


def handler_code(function_folder: str, common_modules: Sequence[str] = ()) -> lambda_.Code:
    """Lambda code for one handler folder (plus shared modules): plain files, no bundling, no Docker."""
    if not common_modules:
        return lambda_.Code.from_asset(str(handler_dir(function_folder)), exclude=["__pycache__", "*.pyc"])
    return lambda_.Code.from_asset(str(_staged(function_folder, tuple(common_modules))))
