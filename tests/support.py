"""Helpers shared by the test packages."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

REPO_ROOT = Path(__file__).resolve().parents[1]
LAMBDA_ROOT = REPO_ROOT / "lambda"
#: Modules shared by several handlers; deployed beside each one's index.py, so importable top-level.
COMMON_ROOT = LAMBDA_ROOT / "_common"


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


def load_handler(function_folder: str) -> ModuleType:
    """Import ``lambda/<function_folder>/index.py`` under a unique module name.

    Every handler is called ``index`` (the Lambda convention), so they cannot share one
    import namespace; each is loaded as ``handler_<folder>`` instead. Loading is cached
    through ``sys.modules`` like a normal import.
    """
    if str(COMMON_ROOT) not in sys.path:
        sys.path.insert(0, str(COMMON_ROOT))
    return import_path(f"handler_{function_folder}", LAMBDA_ROOT / function_folder / "index.py")
