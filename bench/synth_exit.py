#!/usr/bin/env python3
"""Where a synth process's exit goes: the Node.js kernel's exit, then Python's own teardown.

``bench/synth.py`` shows that an app with L2 constructs spends about 0.4 s more than an empty app
after ``app.synth()`` has returned. This benchmark splits that time, for the empty app, the plain
queue + Lambda reference of ``bench/synth.py``, its two bounds (a role and a function as plain
``CfnResource`` s; aws-cdk-lib's Provider alone) and ``app.py``, each a fresh process:

* **kernel exit**: jsii's ``atexit`` hook sends the kernel its exit request and waits for the
  Node.js process to end (``_NodeProcess.stop``);
* **Python teardown**: from there until the parent sees the process end (interpreter finalization,
  plus the parent's own wait for the child to be reaped, which the empty app pays too).

Each case also runs with the kernel started as ``node --liftoff-only`` (through ``JSII_NODE``), which
keeps V8 from optimizing WebAssembly in background threads: if the kernel's exit shrinks there, Node.js
was waiting at exit for that optimization (of aws-cdk-lib's CloudFormation validation engine, which
validating a template starts). That variant is a diagnosis, not a recommendation: it runs the
validation engine's code unoptimized, and jsii offers no supported way to pass V8 flags (Node.js
refuses them in ``NODE_OPTIONS``); its whole-process column shows what it costs or saves.

Rounds run every case in turn; medians are reported. Usage:
PATH=$PWD/node_modules/.bin:$PATH .venv/bin/python bench/synth_exit.py [--runs N]
"""

from __future__ import annotations

import argparse
import json
import os
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import NODE_BIN, REPO_ROOT, load_average, median, node_version, project_env, source_state, table
from synth import (
    _PLAIN_BUILD,
    _PLAIN_IMPORTS,
    _PROVIDER_BUILD,
    _PROVIDER_IMPORTS,
    _RAW_FUNCTION_BUILD,
    _RAW_FUNCTION_IMPORTS,
)

# Runs inside the child: times jsii's kernel stop, then runs the case.
_CHILD = r"""
import json, runpy, sys, time
import jsii._kernel.providers.process as process
stop = process._NodeProcess.stop
def timed_stop(self):
    started = time.time()
    stop(self)
    print("EXIT_MARKS " + json.dumps({"stop_started": started, "stop_ended": time.time()}), flush=True)
process._NodeProcess.stop = timed_stop
case = sys.argv[1]
if case == "example":
    sys.argv = ["app.py"]
    runpy.run_path("app.py", run_name="__main__")
else:
    exec(sys.argv[2])
"""

_CASES = {
    "empty": "import aws_cdk as cdk\ncdk.App().synth()",
    "raw-function": f"{_RAW_FUNCTION_IMPORTS}\n{_RAW_FUNCTION_BUILD}\napp.synth()",
    "provider-only": f"{_PROVIDER_IMPORTS}\n{_PROVIDER_BUILD}\napp.synth()",
    "plain-lambda": f"{_PLAIN_IMPORTS}\n{_PLAIN_BUILD}\napp.synth()",
    "example": "",
}


def _liftoff_node(folder: Path) -> Path:
    """A ``node`` for JSII_NODE that starts the project's Node.js with ``--liftoff-only``."""
    wrapper = folder / "node-liftoff-only"
    wrapper.write_text(f'#!/bin/sh\nexec "{NODE_BIN / "node"}" --liftoff-only "$@"\n', encoding="utf-8")
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)
    return wrapper


def _run(case: str, node: Path | None, context: str) -> tuple[float, float, float]:
    """(whole process, kernel exit, Python teardown) seconds of one fresh process."""
    with tempfile.TemporaryDirectory(prefix="bench-exit-") as outdir:
        env = project_env(CDK_OUTDIR=outdir, CDK_CONTEXT_JSON=context)
        if node is not None:
            env["JSII_NODE"] = str(node)
        started = time.perf_counter()
        result = subprocess.run(
            [sys.executable, "-c", _CHILD, case, _CASES[case]],
            cwd=REPO_ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        ended_at = time.time()
        whole = time.perf_counter() - started
    if result.returncode != 0:
        sys.exit(f"case {case} failed (exit {result.returncode}):\n{result.stderr[-3000:]}")
    line = next(x for x in result.stdout.splitlines() if x.startswith("EXIT_MARKS "))
    marks = json.loads(line.removeprefix("EXIT_MARKS "))
    return whole, marks["stop_ended"] - marks["stop_started"], ended_at - marks["stop_ended"]


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="rounds (default 5)")
    args = parser.parse_args()
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    cdk_json = json.loads((REPO_ROOT / "cdk.json").read_text(encoding="utf-8"))
    context = json.dumps(cdk_json.get("context", {}))

    print("Synth exit benchmark (bench/synth_exit.py)")
    print(f"  Node.js: {node_version()}")
    print(f"  Load average at the start: {load_average()} ({os.cpu_count()} cores)")
    print(f"  Source: {source_state(['app.py', 'cdk.json', 'constructs'])}")
    print(f"  Rounds: {args.runs}, every case in turn; medians reported\n")
    with tempfile.TemporaryDirectory(prefix="bench-exit-node-") as folder:
        liftoff = _liftoff_node(Path(folder))
        variants = [
            (case, label, node)
            for case in _CASES
            for label, node in (("node", None), ("--liftoff-only", liftoff))
        ]
        samples: dict[tuple[str, str], list[tuple[float, float, float]]] = {
            (c, v): [] for c, v, _ in variants
        }
        for round_number in range(1, args.runs + 1):
            for case, label, node in variants:
                samples[(case, label)].append(_run(case, node, context))
            print(f"  round {round_number}/{args.runs} done", flush=True)
    rows = []
    for (case, label), runs in samples.items():
        whole, kernel, teardown = (median([run[i] for run in runs]) for i in range(3))
        rows.append([case, label, f"{whole:.2f}", f"{kernel:.2f}", f"{teardown:.2f}"])
    print()
    print(table(["case", "kernel", "whole process s", "kernel exit s", "Python teardown s"], rows))


if __name__ == "__main__":
    os.chdir(REPO_ROOT)
    main()
