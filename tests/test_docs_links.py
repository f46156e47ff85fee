"""Links between the project's Markdown files point at files and headings that exist."""

from __future__ import annotations

import functools
import re
from pathlib import Path

import pytest

from tests.support import REPO_ROOT

_FENCE = re.compile(r"^(```|~~~)")
_HEADING = re.compile(r"^#{1,6}\s+(.*?)\s*#*\s*$")
_SETEXT_UNDERLINE = re.compile(r"^(=+|-+)\s*$")
# Inline links and images, with or without a title, and reference definitions ("[x]: target").
_LINK = re.compile(r"\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
_REFERENCE = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*(\S+)")


#: Build output the docs may link to: `make docs` writes the API reference to build/docs/.
GENERATED = REPO_ROOT / "build"


def _markdown_files() -> list[Path]:
    """The project's own Markdown: the top level and docs/ (no dependency's, no generated)."""
    return sorted([*REPO_ROOT.glob("*.md"), *(REPO_ROOT / "docs").rglob("*.md")])


def _prose_lines(path: Path) -> list[str]:
    """The file's lines outside fenced code blocks."""
    lines, fenced = [], False
    for line in path.read_text(encoding="utf-8").splitlines():
        if _FENCE.match(line.strip()):
            fenced = not fenced
        elif not fenced:
            lines.append(line)
    return lines


def _heading_texts(lines: list[str]) -> list[str]:
    """ATX (``## Title``) and setext (``Title`` over ``===``/``---``) headings, in order."""
    texts = []
    for previous, line in zip(["", *lines], lines, strict=False):
        if match := _HEADING.match(line):
            texts.append(match.group(1))
        elif _SETEXT_UNDERLINE.match(line) and previous.strip() and not previous.lstrip().startswith("|"):
            texts.append(previous.strip())
    return texts


def github_slugs(headings: list[str]) -> list[str]:
    """The fragment IDs GitHub gives these headings, in order: the rendered text (links, images,
    inline HTML and emphasis markers removed), lowercased, punctuation other than ``-`` and ``_``
    dropped, spaces to hyphens; a slug already taken gets the first free ``-1``, ``-2``... suffix."""
    occurrences: dict[str, int] = {}  # as github-slugger keeps them: per slug, across headings
    slugs = []
    for heading in headings:
        text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # [text](url) -> text
        text = re.sub(r"<[^>]+>", "", text)  # inline HTML tags
        text = re.sub(r"(\*\*|\*|(?<!\w)__|(?<!\w)_)(\S(?:.*?\S)?)\1(?!\w)", r"\2", text)  # emphasis
        base = slug = re.sub(r"[^\w\- ]", "", text.lower()).replace(" ", "-")
        while slug in occurrences:
            occurrences[base] += 1
            slug = f"{base}-{occurrences[base]}"
        occurrences[slug] = 0
        slugs.append(slug)
    return slugs


@functools.cache  # one parse per linked file, not per link
def github_anchors(path: Path) -> frozenset[str]:
    return frozenset(github_slugs(_heading_texts(_prose_lines(path))))


@pytest.mark.parametrize(
    ("headings", "slugs"),
    [
        (["Burst (`bench/burst.py`)"], ["burst-benchburstpy"]),
        (["_Note_ here", "**Bold** and snake_case"], ["note-here", "bold-and-snake_case"]),
        (["See [the docs](other.md)", "<code>x</code> y"], ["see-the-docs", "x-y"]),
        (["Foo", "Foo", "Foo 1"], ["foo", "foo-1", "foo-1-1"]),
    ],
)
def test_anchors_follow_githubs_rules(headings: list[str], slugs: list[str]) -> None:
    assert github_slugs(headings) == slugs


def test_setext_headings_and_reference_links_are_read() -> None:
    lines = ["Title", "=====", "", "| a |", "|---|", "text", "---"]
    assert _heading_texts(lines) == ["Title", "text"]
    assert _REFERENCE.match("[perf]: docs/performance.md#synth").group(1) == "docs/performance.md#synth"  # type: ignore[union-attr]
    assert _LINK.findall('[x](docs/a.md#b "title")') == ["docs/a.md#b"]


@pytest.mark.parametrize("path", _markdown_files(), ids=lambda p: str(p.relative_to(REPO_ROOT)))
def test_relative_links_resolve(path: Path) -> None:
    broken = []
    for line in _prose_lines(path):
        for target in [*_LINK.findall(line), *_REFERENCE.findall(line)]:
            if re.match(r"[a-z][a-z+.-]*:", target):  # https:, mailto:...
                continue
            file_part, _, anchor = target.partition("#")
            linked = (path.parent / file_part).resolve() if file_part else path
            if linked.is_relative_to(GENERATED):
                continue  # written by `make docs`, which runs after the tests (a fresh clone has none)
            if not linked.exists():
                broken.append(f"{target}: no file {linked}")
            elif anchor and linked.suffix == ".md" and anchor not in github_anchors(linked):
                broken.append(f"{target}: no heading with anchor #{anchor} in {linked.name}")
    assert not broken, broken
