#!/usr/bin/env python3
"""Where one synth of the example app spends its time: jsii round trips and Node.js CPU by area.

Runs ``app.py`` (or an empty app) once in a child process with

* every jsii request from Python to the Node.js kernel counted and timed by kind, and attributed to
  the first caller frame outside site-packages (app.py, the library's modules);
* ``NODE_OPTIONS=--cpu-prof`` on the kernel, whose samples are then summed into areas by the
  functions on their stacks (the CloudFormation validation engine's start, template validation,
  cdk-nag, module loading, token resolution, asset staging, ...).

Wall times on a busy machine are inflated, so compare shares within one run, or the same case across
runs made close together. Counts of round trips do not depend on the machine.

Usage: PATH=$PWD/node_modules/.bin:$PATH .venv/bin/python bench/synth_profile.py \
    [--empty | --connectors N] [--nag]
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import REPO_ROOT, project_env, table
from synth import _LIBRARY, _ONE_SEARCH_IMPORTED

# Runs inside the child: wraps jsii's one request channel, then runs the app.
_CHILD = r"""
import atexit, collections, json, os, runpy, sys, time, traceback
import jsii._kernel.providers.process as process
counts, seconds, callers = collections.Counter(), collections.Counter(), collections.Counter()
send = process._NodeProcess.send
def counted(self, request, response_type):
    started = time.perf_counter()
    try:
        return send(self, request, response_type)
    finally:
        elapsed = time.perf_counter() - started
        kind = type(request).__name__.removesuffix("Request")
        counts[kind] += 1
        seconds[kind] += elapsed
        for frame in reversed(traceback.extract_stack(limit=80)[:-2]):
            if "site-packages" not in frame.filename and not frame.filename.startswith("<frozen"):
                callers[os.path.relpath(frame.filename)] += 1
                break
process._NodeProcess.send = counted
atexit.register(lambda: print("JSII_PROFILE " + json.dumps(
    {"counts": counts, "seconds": seconds, "callers": callers}), file=sys.stderr))
target = sys.argv[1]
sys.argv = sys.argv[1:]
if target == "--empty":
    import aws_cdk as cdk
    cdk.App().synth()
elif target == "--program":
    exec(sys.argv[1])
else:
    runpy.run_path(target, run_name="__main__")
"""

#: Areas of Node.js CPU time, checked in this order: a sample counts for the first area that any
#: function on its stack matches (so GC or module loading inside the engine's start counts there).
AREAS = (
    ("CloudFormation validation engine start", ("WasmCompositeEngine", "_singletonInstance")),
    ("cdk-nag rules", ("cdk-nag",)),
    ("CloudFormation template validation", ("validateTemplate",)),
    ("token resolution", ("resolve.js", "lazy.js")),
    ("asset staging (copy + fingerprint)", ("fingerprint", "copyDirectory")),
    ("construct tree and template output", ("synthesizeTree", "tree-metadata", "prepareApp")),
    ("module loading (require)", ("modules/cjs/loader", "__webpack_require__")),
    ("garbage collection", ("(garbage collector)",)),
    ("waiting for Python (stdin)", ("readSync", "readLine")),
)


def _label(node: dict[str, object]) -> str:
    frame = node["callFrame"]
    assert isinstance(frame, dict)
    return f"{frame.get('functionName') or '(anonymous)'} {frame.get('url') or ''}"


def node_areas(profile_path: Path) -> tuple[float, collections.Counter[str]]:
    """Total sampled milliseconds, and microseconds per area, of one ``.cpuprofile``."""
    profile = json.loads(profile_path.read_text(encoding="utf-8"))
    nodes = {n["id"]: n for n in profile["nodes"]}
    parent = {child: n["id"] for n in profile["nodes"] for child in n.get("children", [])}
    per_node: collections.Counter[int] = collections.Counter()
    for sample, delta in zip(profile["samples"], profile["timeDeltas"], strict=True):
        per_node[sample] += delta
    areas: collections.Counter[str] = collections.Counter()
    for node_id, micros in per_node.items():
        stack: list[str] = []
        current: int | None = node_id
        while current is not None:
            stack.append(_label(nodes[current]))
            current = parent.get(current)
        area = next(
            (name for name, keys in AREAS if any(k in label for label in stack for k in keys)),
            "other (constructing, synthesis, kernel)",
        )
        areas[area] += micros
    return sum(per_node.values()) / 1000, areas


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    subject = parser.add_mutually_exclusive_group()
    subject.add_argument("--empty", action="store_true", help="profile an empty app instead of app.py")
    parser.add_argument("--nag", action="store_true", help="app.py with context nag=true")
    subject.add_argument(
        "--connectors",
        type=int,
        metavar="N",
        help="one SpeakerSearch over N imported connectors (bench/synth.py's vcN case) instead of app.py",
    )
    args = parser.parse_args()
    if args.connectors is not None and args.connectors < 1:
        parser.error("--connectors must be at least 1")
    if args.nag and (args.empty or args.connectors is not None):
        parser.error("--nag applies to app.py only")
    cdk_json = json.loads((REPO_ROOT / "cdk.json").read_text(encoding="utf-8"))
    context = {**cdk_json.get("context", {}), **({"nag": "true"} if args.nag else {})}
    with tempfile.TemporaryDirectory(prefix="synth-profile-") as work:
        profiles = Path(work) / "cpu"
        env = project_env(
            CDK_OUTDIR=str(Path(work) / "out"),
            CDK_CONTEXT_JSON=json.dumps(context),
            NODE_OPTIONS=f"--cpu-prof --cpu-prof-dir={profiles}",
        )
        target = ["--empty"] if args.empty else ["app.py"]
        if args.connectors is not None:
            program = (
                f"{_LIBRARY}\n{_ONE_SEARCH_IMPORTED.replace('COUNT', str(args.connectors))}\napp.synth()"
            )
            target = ["--program", program]
        result = subprocess.run(
            [sys.executable, "-c", _CHILD, *target],
            check=False,
            cwd=REPO_ROOT,
            env=env,
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            sys.exit(result.stderr[-3000:])
        line = next(x for x in result.stderr.splitlines() if x.startswith("JSII_PROFILE "))
        jsii = json.loads(line.removeprefix("JSII_PROFILE "))
        # The kernel is the largest profile (node also profiles short-lived helpers, if any).
        kernel = max(profiles.glob("*.cpuprofile"), key=lambda p: p.stat().st_size)
        total, areas = node_areas(kernel)

    subject = "an empty app" if args.empty else "app.py"
    if args.connectors is not None:
        subject = f"one SpeakerSearch over {args.connectors} imported connectors"
    print(f"Synth profile of {subject}{' with cdk-nag' if args.nag else ''}")
    print(f"  Load average: {os.getloadavg()[0]:.2f} (2 cores); times below are this machine's, now\n")
    counts, seconds = jsii["counts"], jsii["seconds"]
    rows = [
        [kind, counts[kind], f"{seconds[kind]:.2f}"] for kind in sorted(counts, key=lambda k: -seconds[k])
    ]
    print(f"jsii round trips from Python: {sum(counts.values())}")
    print(table(["request", "count", "seconds (wall, incl. Node work)"], rows))
    print(
        "  by caller:", ", ".join(f"{k} {v}" for k, v in collections.Counter(jsii["callers"]).most_common(6))
    )
    print()
    print(f"Node.js kernel CPU samples: {total / 1000:.2f} s in all")
    print(
        table(
            ["area", "seconds", "share"],
            [[name, f"{us / 1e6:.2f}", f"{us / 1000 / total:.0%}"] for name, us in areas.most_common()],
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
