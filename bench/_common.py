"""Helpers shared by the benchmarks: machine description, statistics and table printing."""

from __future__ import annotations

import math
import os
import platform
import shutil
import statistics
import subprocess
import sys
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
NODE_BIN = REPO_ROOT / "node_modules" / ".bin"


def project_env(**extra: str) -> dict[str, str]:
    """The environment for child processes: the project's Node.js first on PATH, no telemetry."""
    env = dict(os.environ)
    env["PATH"] = f"{NODE_BIN}{os.pathsep}{env.get('PATH', '')}"
    env["CDK_DISABLE_CLI_TELEMETRY"] = "true"
    env.update(extra)
    return env


def _first_line(path: str, prefix: str) -> str:
    try:
        with open(path, encoding="utf-8") as handle:
            for line in handle:
                if line.startswith(prefix):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


def _version(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "not installed"


def node_version() -> str:
    node = shutil.which("node", path=str(NODE_BIN)) or shutil.which("node")
    if node is None:
        return "not found"
    result = subprocess.run([node, "--version"], capture_output=True, text=True, check=False)
    return f"{result.stdout.strip()} ({node})"


def machine_lines(distributions: Sequence[str]) -> list[str]:
    """One line per fact about the machine and the toolchain the figures came from."""
    mem_kib = _first_line("/proc/meminfo", "MemTotal").split()[0]
    memory = f"{int(mem_kib) / 1024 / 1024:.1f} GiB" if mem_kib.isdigit() else "unknown"
    lines = [
        f"CPU: {_first_line('/proc/cpuinfo', 'model name')}, {os.cpu_count()} logical cores (nproc)",
        f"Memory: {memory} (MemTotal)",
        f"OS: {platform.platform()}",
        f"Python: {platform.python_version()} ({sys.executable})",
    ]
    lines += [f"{name}: {_version(name)}" for name in distributions]
    return lines


def load_average() -> str:
    """The 1/5/15-minute load averages: on a shared machine, how busy it was around the run."""
    try:
        with open("/proc/loadavg", encoding="utf-8") as handle:
            return " ".join(handle.read().split()[:3])
    except OSError:
        return "unknown"


def source_state(paths: Sequence[str]) -> str:
    """The commit measured, and whether ``paths`` had uncommitted changes (others edit this checkout)."""

    def git(*args: str) -> str:
        result = subprocess.run(["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, check=False)
        return result.stdout

    head = git("rev-parse", "--short", "HEAD").strip() or "unknown"
    dirty = sorted(
        {line[3:].split("/")[0] for line in git("status", "--porcelain", "--", *paths).splitlines()}
    )
    return f"git HEAD {head}" + (f"; uncommitted changes in: {', '.join(dirty)}" if dirty else "; clean")


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile (``fraction`` in 0..1) of ``values``."""
    ordered = sorted(values)
    rank = math.ceil(round(fraction * len(ordered), 9))
    return ordered[max(1, min(len(ordered), rank)) - 1]


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A Markdown table (pasteable into docs/performance.md), columns padded for the terminal."""
    cells = [[str(h) for h in headers], *[[str(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]

    def line(row: Sequence[str]) -> str:
        return "| " + " | ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)) + " |"

    separator = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(cells[0]), separator, *(line(row) for row in cells[1:])])


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"
