"""The construct package and the handler spell every event source and detail-type the same.

The handler is read as source (its modules are parsed, never imported into the construct package):
every string in ``event_types`` must appear among the handler's string literals, and every detail-type
the handler publishes or serves must be one of ``event_types``'.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator

import pytest

import chime_speaker_search
from chime_speaker_search import event_types
from tests.support import LAMBDA_ROOT

HANDLER_DIR = LAMBDA_ROOT / "speaker_search"

#: Constants of ``event_types`` the handler never needs to spell, and why.
NOT_READ_BY_THE_HANDLER = {
    # The construct's rules match these sources; the handler trusts the queue they deliver to.
    "PIPELINE_EVENT_SOURCE": "matched by the construct's pipeline health rule",
    "VOICE_ANALYTICS_EVENT_SOURCE": "the sinks deliver only the configuration's own notifications",
    # Published by the stack's attachment guard, not this handler; test_monitoring.py checks its spelling
    # in lambda/attachment_guard/guard_report.py.
    "CONFIGURATION_DETACHED_DETAIL_TYPE": "published by the attachment guard",
}
#: A detail-type spelled as a title ("Voice Profile Enrolled"); module constants so spelled are
#: treated as detail-types, so a new outcome cannot slip past the check by going through a variable.
TITLE = re.compile(r"[A-Z][a-z]+( [A-Z][a-z]+)+")


def _modules() -> dict[str, ast.Module]:
    modules = {
        path.stem: ast.parse(path.read_text(encoding="utf-8")) for path in sorted(HANDLER_DIR.glob("*.py"))
    }
    assert "index" in modules
    return modules


def _docstrings(tree: ast.AST) -> set[int]:
    """ids of the docstring nodes of ``tree`` (they mention names without spelling contracts)."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                found.add(id(body[0].value))
    return found


def _strings(tree: ast.AST) -> Iterator[str]:
    skip = _docstrings(tree)
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip:
            yield node.value


class _Scopes:
    """Module-level string constants of the handler's modules, resolved as Python would: a name in
    the module itself, a name imported from a sibling (``from state import DELETED``), or a sibling's
    attribute (``state.DELETED``). Two modules may bind one name to different strings."""

    def __init__(self, modules: dict[str, ast.Module]) -> None:
        self.modules = modules
        self.constants: dict[str, dict[str, list[str]]] = {name: {} for name in modules}
        self.imports: dict[str, dict[str, tuple[str, str]]] = {name: {} for name in modules}
        for module, tree in modules.items():
            for statement in tree.body:
                if isinstance(statement, ast.ImportFrom) and statement.module in modules:
                    for alias in statement.names:
                        self.imports[module][alias.asname or alias.name] = (statement.module, alias.name)
        # Twice: a constant built from a sibling's constant resolves once the sibling's is known.
        for _ in range(2):
            for module, tree in modules.items():
                self._collect(module, tree)

    def _collect(self, module: str, tree: ast.Module) -> None:
        for statement in tree.body:
            targets: list[ast.expr] = []
            if isinstance(statement, ast.Assign):
                targets, value = statement.targets, statement.value
            elif isinstance(statement, ast.AnnAssign) and statement.value is not None:
                targets, value = [statement.target], statement.value
            else:
                continue
            strings = self.resolve(module, value)
            for target in targets:
                if isinstance(target, ast.Name) and strings:
                    self.constants[module][target.id] = strings

    def name(self, module: str, name: str) -> list[str]:
        if name in self.constants[module]:
            return self.constants[module][name]
        if name in self.imports[module]:
            source, original = self.imports[module][name]
            return self.constants[source].get(original, [])
        return []

    def resolve(self, module: str, node: ast.expr) -> list[str]:
        """The strings ``node`` stands for in ``module``: a literal, a constant, or a collection."""
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return [node.value]
        if isinstance(node, ast.Name):
            return self.name(module, node.id)
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id in self.modules
        ):
            return self.name(node.value.id, node.attr)
        if isinstance(node, ast.Tuple | ast.List | ast.Set):
            return [s for element in node.elts for s in self.resolve(module, element)]
        if isinstance(node, ast.Starred):
            return self.resolve(module, node.value)
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in {"frozenset", "set", "tuple"}
        ):
            return [s for argument in node.args for s in self.resolve(module, argument)]
        return []


def handler_strings() -> set[str]:
    return {s for tree in _modules().values() for s in _strings(tree)}


def handler_detail_types(modules: dict[str, ast.Module] | None = None) -> set[str]:
    """Every detail-type the handler publishes or serves, as its source spells it."""
    modules = _modules() if modules is None else modules
    scopes = _Scopes(modules)
    found: set[str] = set()
    for module, tree in modules.items():
        for node in ast.walk(tree):
            # Published: publish(<detail-type>, ...) and self.publish(<detail-type>, ...).
            if isinstance(node, ast.Call) and node.args:
                name = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", "")
                if name == "publish":
                    found.update(scopes.resolve(module, node.args[0]))
            # Served: detail_type == X, detail_type in (...) / SOME_SET, and the negations.
            if (
                isinstance(node, ast.Compare)
                and isinstance(node.left, ast.Name)
                and node.left.id == "detail_type"
            ):
                for comparator in node.comparators:
                    found.update(scopes.resolve(module, comparator))
    for constants in scopes.constants.values():
        for name, values in constants.items():
            if "DETAIL_TYPE" in name:
                found.update(values)
            found.update(value for value in values if TITLE.fullmatch(value))
    return found


def _event_type_constants() -> dict[str, str]:
    return {
        name: value for name, value in vars(event_types).items() if name.isupper() and isinstance(value, str)
    }


def _library_detail_types() -> set[str]:
    return {value for name, value in _event_type_constants().items() if name.endswith("DETAIL_TYPE")}


@pytest.mark.parametrize("name", sorted(_event_type_constants()))
def test_the_handler_spells_each_constant_the_same(name: str) -> None:
    value = _event_type_constants()[name]
    strings = handler_strings()
    if name in NOT_READ_BY_THE_HANDLER:
        return
    if name == "REQUEST_ENVELOPE" and "envelope" not in strings:
        # The handler reads no "envelope" field (yet): it cannot misspell the envelope's marker.
        return
    assert value in strings, f"{name} = {value!r} does not appear in lambda/speaker_search/*.py"


def test_every_detail_type_the_handler_publishes_or_serves_is_a_constant() -> None:
    unknown = handler_detail_types() - _library_detail_types()
    assert unknown == set(), f"add these to constructs/chime_speaker_search/event_types.py: {sorted(unknown)}"


def test_the_extraction_finds_published_served_and_read_detail_types() -> None:
    """Guards the check above against an extraction that finds nothing (and so passes)."""
    found = handler_detail_types()
    assert {
        event_types.RESULT_EVENT_DETAIL_TYPE,  # published through a module constant
        event_types.VOICE_PROFILE_ENROLLED_DETAIL_TYPE,  # published through a variable (title rule)
        event_types.CONSENT_REQUEST_DETAIL_TYPE,  # served
        event_types.VOICE_ANALYTICS_STATUS_DETAIL_TYPE,  # compared with detail_type
        event_types.PIPELINE_EVENT_DETAIL_TYPE,
    } <= found


def test_the_extraction_would_catch_a_new_unlisted_detail_type() -> None:
    modules = {
        "state": ast.parse('DELETED = "deleted"\n'),
        "registry": ast.parse(
            "from state import DELETED as GONE\n"
            'OPTED_OUT = "Speaker Opted Out"\n'
            'SWEEP_DETAIL_TYPES = ("Sweep Done",)\n'
            "def f(detail_type):\n"
            "    publish(ERASED_EVENT, {})\n"
            '    return detail_type == "Brand New" or detail_type in SWEEP_DETAIL_TYPES\n'
        ),
        "outcomes": ast.parse('ERASED_EVENT = "Speaker Erased"\nDELETED = "Voice Profile Deleted"\n'),
    }
    # ERASED_EVENT is not imported into registry: an unresolved name yields nothing, not a guess.
    assert handler_detail_types(modules) == {
        "Speaker Opted Out",
        "Sweep Done",
        "Brand New",
        "Voice Profile Deleted",
        "Speaker Erased",
    }
    # A name bound to different strings in two modules resolves per module.
    assert _Scopes(modules).resolve("registry", ast.parse("GONE", mode="eval").body) == ["deleted"]


def test_every_constant_group_is_exported_and_consistent() -> None:
    for name in _event_type_constants():
        assert getattr(chime_speaker_search, name) == getattr(event_types, name), name
    assert set(event_types.READ_DETAIL_TYPES) == {
        *event_types.VOICE_ANALYTICS_DETAIL_TYPES,
        event_types.PIPELINE_EVENT_DETAIL_TYPE,
        *event_types.REQUEST_DETAIL_TYPES,
    }
    # Published and read never overlap: a consumer tells them apart by detail-type alone.
    assert not set(event_types.PUBLISHED_DETAIL_TYPES) & set(event_types.READ_DETAIL_TYPES)
    every = set(event_types.PUBLISHED_DETAIL_TYPES) | set(event_types.READ_DETAIL_TYPES)
    assert every == _library_detail_types()
