"""pytest plugin, loaded only by ``make mutation`` (pyproject.toml [tool.mutmut]).

Lambda imports a handler's modules flat (``index``, ``aws_calls`` beside it), and the tests load them
the same way (tests/support.py: ``handler_<folder>`` and top-level ``aws_calls``...). mutmut instead
derives each module's name from its path (``lambda/_common/aws_calls.py`` ->
``lambda._common.aws_calls``) and switches a mutant on only in functions whose ``__module__`` is that
name. So every module under lambda/ is executed with the path-derived ``__name__`` (functions and
classes take ``__module__`` from it), and ``sys.modules`` holds it under both names. The tests still
import the modules exactly as before; only logger names that come from ``__name__`` change, and no
test depends on those.
"""

from __future__ import annotations

import sys
from importlib.machinery import SourceFileLoader
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[1]
LAMBDA_ROOT = ROOT / "lambda"

_exec_module = SourceFileLoader.exec_module


def path_derived_name(path: Path) -> str:
    """``lambda/speaker_search/index.py`` -> ``lambda.speaker_search.index``, as mutmut names it."""
    return ".".join(path.resolve().relative_to(ROOT).with_suffix("").parts)


def _exec_with_path_name(self: SourceFileLoader, module: ModuleType) -> None:
    origin = Path(self.path).resolve()
    if not origin.is_relative_to(LAMBDA_ROOT):
        _exec_module(self, module)
        return
    code = self.get_code(module.__name__)
    name = path_derived_name(origin)
    sys.modules[name] = module
    module.__name__ = name
    # What SourceFileLoader.exec_module does itself, but under the new name (it would refuse it).
    exec(code, module.__dict__)  # noqa: S102


SourceFileLoader.exec_module = _exec_with_path_name  # type: ignore[method-assign]
