"""Where the Lambda handler code is, in a checkout and in an installed wheel."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from aws_cdk import aws_lambda as lambda_

_PACKAGE_DIR = Path(__file__).resolve().parent


@cache
def handler_dir(function_folder: str) -> Path:
    """Return the folder holding ``index.py`` for one function.

    An installed wheel carries the handlers as ``chime_speaker_search/_handlers/<folder>``
    (see ``[tool.setuptools] package-dir`` in pyproject.toml); a source checkout has them in
    ``lambda/<folder>`` beside ``constructs/``.
    """
    for candidate in (
        _PACKAGE_DIR / "_handlers" / function_folder,
        _PACKAGE_DIR.parent.parent / "lambda" / function_folder,
    ):
        if (candidate / "index.py").is_file():
            return candidate
    raise FileNotFoundError(
        f"handler code for {function_folder!r} not found beside {_PACKAGE_DIR}; the package is incomplete"
    )


def handler_code(function_folder: str) -> lambda_.Code:
    """Lambda code for one handler folder: plain files, no bundling, no Docker."""
    return lambda_.Code.from_asset(
        str(handler_dir(function_folder)),
        exclude=["__pycache__", "*.pyc"],
    )
