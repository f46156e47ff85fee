"""GUARD_SEARCHES, the only source of what the guard may touch: what parses, and what is refused."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.attachment_guard.conftest import CONFIGURATION_ARN, PREFIX, SEARCH_ID, VC, VC2, load, search


def parse(entries: Any, prefix: Any = PREFIX) -> Any:
    return load("guard_searches").parse(json.dumps({"prefix": prefix, "searches": entries}))


def test_a_search_as_the_construct_writes_it() -> None:
    parsed = parse([search(vcs=(VC, VC2, VC), hours=48, repair=False)])
    assert list(parsed) == [SEARCH_ID]
    found = parsed[SEARCH_ID]
    assert (found.configuration_arn, found.retention_hours, found.repair) == (CONFIGURATION_ARN, 48, False)
    assert found.voice_connector_ids == (VC, VC2)  # each connector once, in order


def test_a_search_without_connectors_checks_nothing() -> None:
    assert parse([search(vcs=())])[SEARCH_ID].voice_connector_ids == ()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("id", "c8" + "1" * 39),
        ("id", "C8" + "1" * 40),
        ("id", None),
        ("bus", ""),
        ("bus", 7),
        ("name", "a"),
        ("name", "x" * 65),
        ("name", "name/with/slashes"),
        ("name", None),
        ("hours", 0),
        ("hours", True),
        ("hours", "24h"),
        ("hours", 1.5),
        ("repair", "true"),
        ("repair", None),
        ("vcs", VC),
        ("vcs", [VC, ""]),
        ("vcs", ["a" * 129]),
        ("vcs", ["abc def"]),
    ],
)
def test_a_malformed_field_is_refused(field: str, value: Any) -> None:
    entry = {**search(), field: value}
    with pytest.raises(load("guard_searches").MisconfiguredError, match=rf"searches\[0\]\.{field} "):
        parse([entry])


@pytest.mark.parametrize(("hours", "parsed"), [(1, 1), ("1", 1), (87600, 87600)])
def test_the_retention_edges(hours: Any, parsed: int) -> None:
    assert parse([search(hours=hours)])[SEARCH_ID].retention_hours == parsed


@pytest.mark.parametrize(
    "prefix",
    [
        None,
        "",
        "arn:aws:chime:us-east-1:111122223333:vc/",
        "arn:aws:chime:us-east-1:111122223333:media-insights-pipeline-configuration",
    ],
    ids=["none", "empty", "another-resource", "no-slash"],
)
def test_a_prefix_that_makes_no_configuration_arn_is_refused(prefix: Any) -> None:
    with pytest.raises(load("guard_searches").MisconfiguredError):
        parse([search()], prefix)


@pytest.mark.parametrize("value", [[search()], "searches", {"prefix": PREFIX}, {"searches": []}])
def test_a_variable_of_another_shape_is_refused(value: Any) -> None:
    with pytest.raises(load("guard_searches").MisconfiguredError):
        load("guard_searches").parse(json.dumps(value))


def test_a_search_listed_twice_is_refused() -> None:
    with pytest.raises(load("guard_searches").MisconfiguredError, match="listed twice"):
        parse([search(), search()])


def test_the_variable_is_read_once_per_container(monkeypatch: pytest.MonkeyPatch) -> None:
    searches = load("guard_searches")
    searches.reset()
    monkeypatch.setenv("GUARD_SEARCHES", json.dumps({"prefix": PREFIX, "searches": [search()]}))
    first = searches.get()
    monkeypatch.setenv("GUARD_SEARCHES", json.dumps({"prefix": PREFIX, "searches": []}))
    assert searches.get() is first
    searches.reset()
    assert searches.get() == {}
    searches.reset()
