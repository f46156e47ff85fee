"""Links between the project's Markdown files point at files and headings that exist."""

from __future__ import annotations

import re
import subprocess
from collections import Counter
from pathlib import Path

import pytest

from tests.support import REPO_ROOT

_FENCE = re.compile(r"^(```|~~~)")
_HEADING = re.compile(r"^#{1,6}\s+(.*?)\s*#*\s*$")
_LINK = re.compile(r"\]\(([^)\s]+)\)")


def _markdown_files() -> list[Path]:
    listed = subprocess.run(
        ["git", "ls-files", "*.md"], cwd=REPO_ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    return [REPO_ROOT / name for name in listed if not name.startswith("tests/integ/")]


def _prose_lines(path: Path) -> list[str]:
    """The file's lines outside fenced code blocks."""
    lines, fenced = [], False
    for line in path.read_text(encoding="utf-8").splitlines():
        if _FENCE.match(line.strip()):
            fenced = not fenced
        elif not fenced:
            lines.append(line)
    return lines


def github_anchors(path: Path) -> set[str]:
    """The fragment IDs GitHub gives the file's headings (lowercase, punctuation dropped, spaces to
    hyphens, a repeated one suffixed -1, -2...)."""
    anchors: set[str] = set()
    seen: Counter[str] = Counter()
    for line in _prose_lines(path):
        match = _HEADING.match(line)
        if not match:
            continue
        slug = re.sub(r"[^\w\- ]", "", match.group(1).lower()).replace(" ", "-")
        anchors.add(slug if not seen[slug] else f"{slug}-{seen[slug]}")
        seen[slug] += 1
    return anchors


def test_anchors_follow_githubs_rules() -> None:
    sample = REPO_ROOT / "docs" / "performance.md"
    assert "burst-benchburstpy" in github_anchors(sample)  # "## Burst (`bench/burst.py`)"


@pytest.mark.parametrize("path", _markdown_files(), ids=lambda p: str(p.relative_to(REPO_ROOT)))
def test_relative_links_resolve(path: Path) -> None:
    broken = []
    for line in _prose_lines(path):
        for target in _LINK.findall(line):
            if re.match(r"[a-z][a-z+.-]*:", target):  # https:, mailto:...
                continue
            file_part, _, anchor = target.partition("#")
            linked = (path.parent / file_part).resolve() if file_part else path
            if not linked.exists():
                broken.append(f"{target}: no file {linked}")
            elif anchor and linked.suffix == ".md" and anchor not in github_anchors(linked):
                broken.append(f"{target}: no heading with anchor #{anchor} in {linked.name}")
    assert not broken, broken
