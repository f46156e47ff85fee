"""Per-file mutation scores from mutmut's results (``make mutation`` prints this after ``mutmut run``).

mutmut keeps one ``mutants/<file>.py.meta`` JSON file per mutated source file, mapping each mutant
to the exit code of its test run. A mutant is *killed* when a test failed (or the run timed out:
a mutant that makes a retry loop spin forever is caught). Survivors listed in
``mutation/equivalent.toml`` change nothing observable and leave the denominator; every other
survivor, and every mutant no test reaches, counts against the file.

    python mutation/report.py [--min 90] [--survivors]
    python mutation/report.py --pending lambda/speaker_search/results.py ...

``--pending`` prints (space-separated, for ``make mutation MUTANTS=...``) the mutants of those files that
are not known to be killed: never checked, survived (new tests may kill them now) or without tests.

Exits 1 when a file scores below ``--min`` percent. Files with no checked mutant are not listed.
"""

from __future__ import annotations

import argparse
import json
import sys
import tomllib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MUTANTS = ROOT / "mutants"
EQUIVALENT_FILE = ROOT / "mutation" / "equivalent.toml"

# mutmut's exit codes (mutmut/stats.py): 1 and 3 are failing tests, the others timeouts.
KILLED = {1, 3, 24, -24, 36, 152, 255}
SURVIVED = {0}
NO_TESTS = {5, 33}


@dataclass
class FileScore:
    path: str
    killed: int = 0
    survived: int = 0
    equivalent: int = 0
    no_tests: int = 0
    unchecked: int = 0
    other: int = 0

    @property
    def counted(self) -> int:
        """Mutants that count: everything checked, less the equivalent ones."""
        return self.killed + self.survived + self.no_tests + self.other

    @property
    def score(self) -> float:
        return 100.0 * self.killed / self.counted if self.counted else 100.0


def load_equivalent() -> dict[str, str]:
    if not EQUIVALENT_FILE.exists():
        return {}
    with EQUIVALENT_FILE.open("rb") as f:
        return dict(tomllib.load(f).get("equivalent", {}))


def collect(equivalent: dict[str, str]) -> tuple[list[FileScore], list[str], set[str]]:
    """Scores per file, the survivors not known to be equivalent, and equivalent names seen."""
    scores: list[FileScore] = []
    survivors: list[str] = []
    seen: set[str] = set()
    for meta in sorted(MUTANTS.glob("lambda/**/*.py.meta")):
        if not (ROOT / meta.relative_to(MUTANTS)).with_suffix("").exists():
            continue  # left over from a source file that is gone
        exit_codes: dict[str, int | None] = json.loads(meta.read_text())["exit_code_by_key"]
        if all(code is None for code in exit_codes.values()):
            continue  # not part of this run (make mutation MUTANTS=... narrows it)
        score = FileScore(str(meta.relative_to(MUTANTS)).removesuffix(".meta"))
        for name, code in sorted(exit_codes.items()):
            if code is None:
                score.unchecked += 1
            elif code in KILLED:
                score.killed += 1
            elif code in SURVIVED and name in equivalent:
                score.equivalent += 1
                seen.add(name)
            elif code in SURVIVED:
                score.survived += 1
                survivors.append(name)
            elif code in NO_TESTS:
                score.no_tests += 1
                survivors.append(name)
            else:
                score.other += 1
                survivors.append(name)
        scores.append(score)
    return scores, survivors, seen


def pending(files: list[str], equivalent: dict[str, str]) -> list[str]:
    names = []
    for file in files:
        meta = MUTANTS / f"{file}.meta"
        exit_codes: dict[str, int | None] = json.loads(meta.read_text())["exit_code_by_key"]
        names += [k for k, code in sorted(exit_codes.items()) if code not in KILLED and k not in equivalent]
    return names


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--min", type=float, default=90.0, help="lowest acceptable score per file (%%)")
    parser.add_argument("--survivors", action="store_true", help="list every survivor by name")
    parser.add_argument("--pending", nargs="+", metavar="FILE", help="print the unkilled mutants of FILEs")
    args = parser.parse_args(argv)

    equivalent = load_equivalent()
    if args.pending:
        print(" ".join(pending(args.pending, equivalent)))
        return 0
    scores, survivors, seen = collect(equivalent)
    if not scores:
        print("no mutation results under mutants/: run `make mutation` first")
        return 1
    header = (
        f"{'file':<46} {'mutants':>7} {'killed':>6} {'survived':>8} {'equiv.':>6} {'no test':>7} {'score':>6}"
    )
    print(header)
    print("-" * len(header))
    for s in scores:
        total = s.counted + s.equivalent + s.unchecked
        print(
            f"{s.path:<46} {total:>7} {s.killed:>6} {s.survived:>8} {s.equivalent:>6} {s.no_tests:>7} "
            f"{s.score:>5.1f}%" + (f"  ({s.unchecked} not checked)" if s.unchecked else "")
        )
    totals = Counter[str]()
    for s in scores:
        totals.update(killed=s.killed, counted=s.counted)
    print(f"all files: {totals['killed']}/{totals['counted']} non-equivalent mutants killed")

    stale = sorted(set(equivalent) - seen)
    if stale:
        print(f"{len(stale)} entries of mutation/equivalent.toml are no longer surviving mutants:")
        print("\n".join(f"  {name}" for name in stale))
    if args.survivors and survivors:
        print("survivors (show one with `.venv/bin/mutmut show NAME`):")
        print("\n".join(f"  {name}" for name in survivors))

    low = [s.path for s in scores if s.score < args.min]
    unchecked = [s.path for s in scores if s.unchecked]
    if low:
        print(f"below {args.min:g}%: {', '.join(low)}")
    if unchecked:
        print(f"some mutants not checked (run interrupted or narrowed): {', '.join(unchecked)}")
    return 1 if low else 0


if __name__ == "__main__":
    sys.exit(main())
