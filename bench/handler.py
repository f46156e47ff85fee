#!/usr/bin/env python3
"""Handler benchmark: CPU cost of the speaker-search handler per notification, and its import time.

1. In-process: ``lambda/speaker_search/index.py`` (imported through ``tests.support.load_handler``,
   never copied) handles SQS batches of 1 and of 10 notifications of each kind. The AWS clients
   are replaced by in-memory fakes that return canned responses at once (``_chime`` and
   ``_events`` are monkeypatched), so the figures exclude the API round trip and measure only
   the handler: unwrapping, validation, token hashing, result building, JSON encoding, logging.
   The handler's logger runs at INFO (``LOG_LEVEL=INFO``, as deployed) and the root logger has
   one handler that formats each record like Lambda's JSON log format (extras as top-level
   keys) and writes it to ``os.devnull``, so the cost of logging is included.
   Kinds are interleaved in blocks (every kind, then again) so machine noise hits all alike.
2. Import time: fresh processes, interleaved, each timing its own import with
   ``time.perf_counter``: ``import boto3`` versus ``import index`` with the handler's folder on
   ``sys.path`` (how the Lambda Python runtime loads it). Bytecode is set explicitly, whatever the
   caller's environment (``PYTHONDONTWRITEBYTECODE``): once with every module's ``.pyc`` cached
   (the target's figure), once with boto3's cached but the handler's modules compiled from source
   on every import, as on Lambda, whose asset ships no ``.pyc`` (and ``/var/task`` is read-only).
   The
   handler creates its boto3 clients lazily (on first use), so its import creates none; the
   clients' creation is measured separately (what the first notification of a cold start pays).
3. Cold-start footprint: peak RSS of a process that imports the handler, creates both clients
   and handles 1,000 notifications.
4. Asset size: each function's files (its folder plus the ``lambda/_common`` modules it imports)
   zipped in memory (DEFLATED, ``__pycache__`` excluded).
5. The handler's retry budget (its module constants) against the default 30 s timeout.

Usage: .venv/bin/python bench/handler.py [--quick] [--runs N] [--imports N]
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import os
import re
import subprocess
import sys
import tempfile
import time
import uuid
import zipfile
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    REPO_ROOT,
    load_average,
    machine_lines,
    median,
    percentile,
    project_env,
    source_state,
    table,
    verdict,
)

sys.path[:0] = [str(REPO_ROOT), str(REPO_ROOT / "constructs")]

from tests.support import apply_env, offline_aws_env  # noqa: E402 (needs the repo on sys.path)

HANDLER_FILE = REPO_ROOT / "lambda" / "speaker_search" / "index.py"
CONNECTOR_ID = "abcdef1ghij2klmno3pqr4"
DOMAIN_ID = "3f3b5b3e-4c2a-4d6b-9a55-2c1b8f0e7a10"
LAMBDA_TIMEOUT_S = 30  # SpeakerSearch's default handler_timeout
BATCH_SIZES = (1, 10)
DISTINCT_EVENTS = 64  # prebuilt events per (kind, batch size), cycled

ENV = offline_aws_env(
    {
        "VOICE_PROFILE_DOMAIN_ID": DOMAIN_ID,
        "CALL_LEG": "Caller",
        "VOICE_CONNECTOR_IDS": f"{CONNECTOR_ID},zyxwvu9tsrq8ponml7kjih6",
        "EVENT_BUS_NAME": "default",
        "SEARCH_ID": "c8a1f0e0f0c4d2d1b1f0e8d7c6b5a4f3e2d1c0b9a8",
        "LOG_LEVEL": "INFO",
    }
)

KINDS = (
    "AnalyticsReady",
    "IdentificationSuccessful",
    "IdentificationNoMatchesFound",
    "IdentificationFailure",
    "VoiceprintGenerationSuccess",
    "VoiceprintGenerationFailure",
)


# ---------------------------------------------------------------------------------------------
# Events


def _envelope(detail_type: str, detail: dict[str, Any]) -> dict[str, Any]:
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": detail_type,
        "service-type": "VoiceAnalytics",
        "source": "aws.chime",
        "account": "111122223333",
        "time": "2026-11-25T18:38:38Z",
        "region": "us-east-1",
        "resources": [],
        "detail": detail,
    }


def notification(kind: str, n: int) -> dict[str, Any]:
    """One realistic notification of ``kind`` (a fresh call/transaction per ``n``)."""
    transaction_id = str(uuid.UUID(int=n + 1))
    call = {
        "voiceConnectorId": CONNECTOR_ID,
        "transactionId": transaction_id,
        "callId": f"{n:08d}-1111-2222-3333-444455556666",
        "direction": "Inbound",
        "fromNumber": "+12065550100",
        "toNumber": "+13605550199",
    }
    if kind == "AnalyticsReady":
        return _envelope("VoiceAnalyticsStatus", {"detailStatus": kind, **call})
    detail: dict[str, Any] = {"taskId": str(uuid.UUID(int=n + 10**9)), "detailStatus": kind, "isCaller": True}
    if kind == "IdentificationSuccessful":
        # Ten matches, scores as strings (as the AWS docs show them), deliberately unsorted.
        detail["speakerSearchDetails"] = {
            "results": [
                {
                    "voiceProfileId": f"vp-{uuid.UUID(int=n * 10 + i)}",
                    "confidenceScore": f"0.{(i * 37) % 100:02d}5",
                }
                for i in range(10)
            ]
        }
    return _envelope("SpeakerSearchStatus", {**detail, **call})


def sqs_event(kind: str, batch_size: int, first: int) -> dict[str, Any]:
    records = []
    for i in range(batch_size):
        message_id = str(uuid.uuid4())
        records.append(
            {
                "messageId": message_id,
                "receiptHandle": f"rh-{message_id}",
                "body": json.dumps(notification(kind, first + i)),
                "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1795286318000"},
                "messageAttributes": {},
                "md5OfBody": "0" * 32,
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:111122223333:NotificationQueue",
                "awsRegion": "us-east-1",
            }
        )
    return {"Records": records}


# ---------------------------------------------------------------------------------------------
# Fakes


class FakeChime:
    def __init__(self) -> None:
        self.calls = 0

    def start_speaker_search_task(self, **request: Any) -> dict[str, Any]:
        self.calls += 1
        return {"SpeakerSearchTask": {"SpeakerSearchTaskId": "8f9e5b62-3c1d-4a7e-9b0f-2d6c4e1a7b93"}}


class FakeEvents:
    def __init__(self) -> None:
        self.calls = 0

    def put_events(self, Entries: list[dict[str, Any]]) -> dict[str, Any]:  # noqa: N803 (boto3's name)
        self.calls += 1
        return {"FailedEntryCount": 0, "Entries": [{"EventId": "e-1"}]}


class FakeContext:
    def get_remaining_time_in_millis(self) -> int:
        return LAMBDA_TIMEOUT_S * 1000


_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


class LambdaLikeJsonFormatter(logging.Formatter):
    """Approximates the Lambda runtime's JSON log format: ``extra`` fields become top-level keys."""

    def format(self, record: logging.LogRecord) -> str:
        payload = {
            "timestamp": self.formatTime(record),
            "level": record.levelname,
            "message": record.getMessage(),
            "logger": record.name,
            **{k: v for k, v in vars(record).items() if k not in _STANDARD},
        }
        return json.dumps(payload, default=str)


def _apply_env() -> None:
    apply_env(os.environ, ENV)


def load_module() -> tuple[ModuleType, FakeChime, FakeEvents]:
    from tests.support import load_handler  # noqa: PLC0415 (after sys.path and env are set)

    module = load_handler("speaker_search")
    module.reset_for_tests()
    chime, events = FakeChime(), FakeEvents()
    clients = sys.modules["clients"]
    for getter in ("chime", "events"):
        if not callable(getattr(clients, getter, None)):
            sys.exit(f"clients.py has no {getter}() client getter to stub; update bench/handler.py")
    # setattr: the stubs replace module functions that mypy sees as typed attributes of a ModuleType.
    setattr(clients, "chime", lambda: chime)  # noqa: B010
    setattr(clients, "events", lambda: events)  # noqa: B010
    # The EMF lines go where the logs go in this benchmark: written (the cost is real), not printed.
    sink = open(os.devnull, "w", encoding="utf-8")  # noqa: SIM115 (lives as long as the run)
    setattr(sys.modules["metrics"], "_out", sink)  # noqa: B010
    return module, chime, events


# ---------------------------------------------------------------------------------------------
# 1. Per-notification cost


def measure_handler(invocations: int, blocks: int) -> dict[tuple[str, int], list[float]]:
    """Per-notification microseconds for each (kind, batch size), ``invocations`` samples each."""
    module, chime, events = load_module()
    sink = logging.StreamHandler(open(os.devnull, "w", encoding="utf-8"))  # noqa: SIM115 (lives as long as the run)
    sink.setFormatter(LambdaLikeJsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [sink]
    root.setLevel(logging.WARNING)  # as in Lambda; the handler's own logger is at LOG_LEVEL

    context = FakeContext()
    events_by_case = {
        (kind, size): [sqs_event(kind, size, i * size) for i in range(DISTINCT_EVENTS)]
        for kind in KINDS
        for size in BATCH_SIZES
    }
    # Correctness first: every record must succeed and reach the fake (the timed path is the real one).
    for (kind, size), prebuilt in events_by_case.items():
        before = chime.calls + events.calls
        result = module.handler(prebuilt[0], context)
        if result != {"batchItemFailures": []} or chime.calls + events.calls - before != size:
            sys.exit(f"{kind} batch of {size}: unexpected result {result}; the benchmark needs updating")

    samples: dict[tuple[str, int], list[float]] = {case: [] for case in events_by_case}
    per_block = max(1, invocations // blocks)
    clock = time.perf_counter_ns
    handle = module.handler
    for block in range(-1, blocks):  # block -1 is the warm-up
        for case, prebuilt in events_by_case.items():
            size = case[1]
            for i in range(per_block):
                event = prebuilt[i % DISTINCT_EVENTS]
                started = clock()
                handle(event, context)
                elapsed = clock() - started
                if block >= 0:
                    samples[case].append(elapsed / 1000 / size)
    return samples


# ---------------------------------------------------------------------------------------------
# 2. Import time and 3. footprint, in fresh processes

_IMPORT_BOTO3 = """
import time
started = time.perf_counter()
import boto3
print(time.perf_counter() - started)
"""
# As the Lambda Python runtime does it: the function's folder (with the shared modules the
# construct copies into it) on sys.path, then ``import index``.
_IMPORT_HANDLER = f"""
import sys, time
sys.path[:0] = [{str(HANDLER_FILE.parent)!r}, {str(REPO_ROOT / "lambda" / "_common")!r}]
started = time.perf_counter()
import index as module
print(time.perf_counter() - started)
"""
_CLIENTS = (
    _IMPORT_HANDLER
    + """
import resource, sys
import clients
assert clients._chime.cache_info().currsize == 0, "clients created at import"
started = time.perf_counter()
clients.chime()
clients.events()
print(time.perf_counter() - started)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""
)
_FOOTPRINT = f"""
import resource, sys
sys.path[:0] = [{str(REPO_ROOT)!r}, {str(Path(__file__).resolve().parent)!r}]
from tests.support import load_handler
module = load_handler("speaker_search")
clients = sys.modules["clients"]
real_clients = (clients.chime(), clients.events())  # created as on a cold start, and kept
import handler as bench
bench.load_module()  # the same module, its getters now return the in-memory fakes
event = bench.sqs_event("IdentificationSuccessful", 10, 0)
ready = bench.sqs_event("AnalyticsReady", 10, 0)
for _ in range(50):
    module.handler(event, bench.FakeContext())
    module.handler(ready, bench.FakeContext())
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def _child_env() -> dict[str, str]:
    env = project_env()
    apply_env(env, ENV)
    return env


def _python(code: str, bytecode: dict[str, str] | None = None) -> tuple[float, list[str]]:
    """Run ``code`` in a fresh interpreter; ``bytecode``: the PYTHON*BYTECODE/PYCACHE variables."""
    env = _child_env()
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.update(bytecode or {})
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        sys.exit(f"child process failed:\n{result.stderr[-3000:]}")
    return elapsed, result.stdout.split()


def measure_imports(runs: int) -> dict[str, list[float]]:
    """Seconds per fresh process: in-process import time and whole-process wall time.

    Two bytecode caches outside the tree (``PYTHONPYCACHEPREFIX``): ``cached`` gets every module's
    ``.pyc`` in the untimed round 0; ``boto3-only`` gets boto3's alone, and the handler is then
    imported with writing off, so its modules are compiled on every import (``compiling``).
    """
    out: dict[str, list[float]] = {
        "boto3 import": [],
        "handler import": [],
        "handler import (compiling)": [],
        "boto3 process": [],
        "handler process": [],
        "handler process (compiling)": [],
        "pass process": [],
    }
    with tempfile.TemporaryDirectory() as cached, tempfile.TemporaryDirectory() as boto3_only:
        warm = {"PYTHONPYCACHEPREFIX": cached}
        compiling = {"PYTHONPYCACHEPREFIX": boto3_only, "PYTHONDONTWRITEBYTECODE": "1"}
        _python(_IMPORT_BOTO3, {"PYTHONPYCACHEPREFIX": boto3_only})
        for round_number in range(runs + 1):  # round 0 warms the file cache and the cached .pyc files
            wall_pass, _ = _python("pass", warm)
            wall_boto3, (boto3_s,) = _python(_IMPORT_BOTO3, warm)
            wall_handler, (handler_s,) = _python(_IMPORT_HANDLER, warm)
            wall_compiling, (compiling_s,) = _python(_IMPORT_HANDLER, compiling)
            if round_number:
                out["pass process"].append(wall_pass)
                out["boto3 process"].append(wall_boto3)
                out["boto3 import"].append(float(boto3_s))
                out["handler process"].append(wall_handler)
                out["handler import"].append(float(handler_s))
                out["handler process (compiling)"].append(wall_compiling)
                out["handler import (compiling)"].append(float(compiling_s))
    return out


# ---------------------------------------------------------------------------------------------
# 4. Asset sizes


def shipped_files(folder: Path) -> list[Path]:
    """The files of one function's asset: its folder, plus the ``lambda/_common`` modules it imports
    (the constructs copy those beside ``index.py``; see ``_assets.handler_code``)."""
    files = [p for p in sorted(folder.rglob("*")) if p.is_file() and "__pycache__" not in p.parts]
    common = REPO_ROOT / "lambda" / "_common"
    source = (folder / "index.py").read_text(encoding="utf-8")
    for module in sorted(common.glob("*.py")) if common.is_dir() else []:
        if re.search(rf"^\s*(from|import)\s+{re.escape(module.stem)}\b", source, re.MULTILINE):
            files.append(module)
    return [p for p in files if p.suffix != ".pyc"]


def zipped_size(folder: Path, files: list[Path]) -> tuple[int, int]:
    """(raw bytes, zipped bytes) of ``files`` zipped in memory with DEFLATE, laid out as shipped."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path in files:
            archive.write(path, path.relative_to(folder) if path.is_relative_to(folder) else path.name)
    return sum(p.stat().st_size for p in files), len(buffer.getvalue())


# ---------------------------------------------------------------------------------------------


def _fmt(values: list[float], statistic: Callable[[list[float]], float], scale: float = 1.0) -> str:
    return f"{statistic(values) * scale:.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--runs", type=int, default=None, help="invocations per case (default 2000; --quick 400)"
    )
    parser.add_argument("--imports", type=int, default=None, help="import runs (default 15; --quick 5)")
    parser.add_argument("--quick", action="store_true", help="fewer invocations and import runs")
    args = parser.parse_args()
    invocations = args.runs or (400 if args.quick else 2000)
    import_runs = args.imports or (5 if args.quick else 15)
    if invocations < 1 or import_runs < 1:
        parser.error("--runs and --imports must be at least 1")
    _apply_env()
    wall = time.perf_counter()

    print("Handler benchmark (bench/handler.py)")
    for line in machine_lines(["boto3", "botocore"]):
        print(f"  {line}")
    print(f"  Load average at the start: {load_average()} ({os.cpu_count()} cores)")
    print(f"  Source: {source_state(['lambda'])}")
    print(f"  Handler: {HANDLER_FILE.relative_to(REPO_ROOT)}; clients stubbed in memory (no API time)")
    print("  Logging: handler logger at INFO, root handler = Lambda-like JSON formatter -> os.devnull")
    print(f"  Invocations per case: {invocations} after a warm-up block, kinds interleaved in 10 blocks")
    print()

    samples = measure_handler(invocations, blocks=10)
    rows = []
    for (kind, size), values in samples.items():
        rows.append(
            [
                kind,
                size,
                len(values),
                _fmt(values, median),
                _fmt(values, lambda v: percentile(v, 0.99)),
                f"{median(values) * size:.1f}",
            ]
        )
    print("Per notification, handler only (API calls stubbed):")
    headers = ["notification", "batch", "samples", "median us", "p99 us", "median us / invocation"]
    print(table(headers, rows))
    print()

    imports = measure_imports(import_runs)
    boto3_import, handler_import = median(imports["boto3 import"]), median(imports["handler import"])
    print(f"Import time ({import_runs} fresh processes each, interleaved; medians):")
    print(
        table(
            ["what", "import ms (in-process)", "process ms (wall)"],
            [
                ["python -c pass", "", _fmt(imports["pass process"], median, 1000)],
                [
                    "import boto3",
                    _fmt(imports["boto3 import"], median, 1000),
                    _fmt(imports["boto3 process"], median, 1000),
                ],
                [
                    "import lambda/speaker_search/index.py",
                    _fmt(imports["handler import"], median, 1000),
                    _fmt(imports["handler process"], median, 1000),
                ],
                [
                    "  the same, its modules compiled (Lambda)",
                    _fmt(imports["handler import (compiling)"], median, 1000),
                    _fmt(imports["handler process (compiling)"], median, 1000),
                ],
            ],
        )
    )
    import_ratio = handler_import / boto3_import
    process_ratio = median(imports["handler process"]) / median(imports["boto3 process"])
    compiling_ratio = median(imports["handler import (compiling)"]) / boto3_import
    print(f"  ratio handler / boto3: {import_ratio:.3f} (import), {process_ratio:.3f} (whole process)")
    print(
        f"  compiling the handler's modules, as a Lambda cold start does: {compiling_ratio:.3f} "
        f"(+{(median(imports['handler import (compiling)']) - handler_import) * 1000:.0f} ms)"
    )

    client_s, footprint_kib = [], []
    for _ in range(max(3, import_runs // 3)):
        _, (_, clients, _) = _python(_CLIENTS, {"PYTHONDONTWRITEBYTECODE": "1"})
        client_s.append(float(clients))
    for _ in range(3):
        _, (rss,) = _python(_FOOTPRINT, {"PYTHONDONTWRITEBYTECODE": "1"})
        footprint_kib.append(float(rss))
    print(
        f"  clients are created lazily (none at import); creating both on first use: "
        f"{median(client_s) * 1000:.0f} ms median"
    )
    print(
        "  peak RSS after import + both clients + 1,000 notifications: "
        f"{median(footprint_kib) / 1024:.0f} MiB"
    )
    print()

    print("Function code assets (zipped in memory, DEFLATED, __pycache__ excluded):")
    asset_rows = []
    for folder in sorted((REPO_ROOT / "lambda").iterdir()):
        if not (folder / "index.py").is_file():
            continue
        files = shipped_files(folder)
        raw, zipped = zipped_size(folder, files)
        role = "speaker-search handler" if folder.name == "speaker_search" else "custom-resource handler"
        names = ", ".join(p.relative_to(REPO_ROOT / "lambda").as_posix() for p in files)
        asset_rows.append([f"lambda/{folder.name}", role, names, f"{raw:,}", f"{zipped:,}"])
    print(table(["function", "role", "files shipped", "bytes", "zipped bytes"], asset_rows))
    print()

    load_module()
    budget_module = sys.modules["clients"]  # where the handler's retry budget is defined
    attempt = budget_module.CONNECT_TIMEOUT_S + budget_module.READ_TIMEOUT_S
    backoffs = [
        min(budget_module.BACKOFF_CAP_S, budget_module.BACKOFF_BASE_S * 2**i)
        for i in range(budget_module.MAX_ATTEMPTS - 1)
    ]
    budget = LAMBDA_TIMEOUT_S - budget_module.SAFETY_MARGIN_S
    print(f"Retry budget (module constants) against the default {LAMBDA_TIMEOUT_S} s timeout:")
    b = budget_module
    print(
        f"  MAX_ATTEMPTS={b.MAX_ATTEMPTS}, BACKOFF_BASE_S={b.BACKOFF_BASE_S}, "
        f"BACKOFF_CAP_S={b.BACKOFF_CAP_S}, CONNECT/READ_TIMEOUT_S={b.CONNECT_TIMEOUT_S}/"
        f"{b.READ_TIMEOUT_S}, SAFETY_MARGIN_S={b.SAFETY_MARGIN_S}"
    )
    print(
        f"  backoff before each retry at most {', '.join(f'{b:g}' for b in backoffs)} s "
        f"= {sum(backoffs):.1f} s in all (full jitter: {sum(backoffs) / 2:.1f} s expected)"
    )
    print(
        f"  deadline for the whole batch: {LAMBDA_TIMEOUT_S} - {b.SAFETY_MARGIN_S:g} = {budget:g} s; "
        f"no attempt starts with less than {attempt:g} s (connect + read timeout) left"
    )
    print()

    worst_median = max(median(v) for v in samples.values())
    targets = [
        (
            worst_median <= 1000,
            f"<= 1 ms median per notification (API excluded): worst case {worst_median:.1f} us",
        ),
        (
            import_ratio <= 1.1,
            f"import time <= 1.1 x bare boto3 (bytecode cached): {import_ratio:.3f} "
            f"({handler_import * 1000:.0f} ms vs {boto3_import * 1000:.0f} ms)",
        ),
    ]
    print("Targets:")
    for ok, text in targets:
        print(f"  {verdict(ok)}  {text}")
    print(f"\nTotal wall time: {time.perf_counter() - wall:.0f} s; load average at the end: {load_average()}")


if __name__ == "__main__":
    main()
