#!/usr/bin/env python3
"""Mutation testing of the safety and money code (issue 18): ``make mutate`` [``MODULE="a.py b.py"``].

Runs mutmut (configured in ``[tool.mutmut]`` of pyproject.toml: the target modules and the fast unit test files)
in ``mutants/`` (a copy; the tree is never touched), then scores each module:

    score = killed / (total - equivalent)

where a timeout counts as killed (the mutant made the tests hang), a survivor, a mutant no test reaches ("no
tests") and anything not checked count as not killed, and ``equivalent`` are the mutants listed, each with the
reason it cannot change behaviour, in ``tests/mutation_equivalents.toml``. An entry there whose mutant no longer
exists (the code changed) or that a test now kills is refused: the list must be kept true. The table goes to
``artifacts/mutation.txt`` (with the surviving mutants' names, for ``mutmut show NAME``); the exit status is 1 when a
module is under the target.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET = 0.85
EQUIVALENTS = Path("tests/mutation_equivalents.toml")
REPORT = Path("artifacts/mutation.txt")

#: mutmut's exit codes per mutant (mutmut/stats.py): killed, and timed out (CPU limit: SIGXCPU, then SIGKILL).
KILLED = {1, 3}
TIMEOUT = {24, -24, 152, 255, 36, -9}
SURVIVED = {0}
NO_TESTS = {5, 33}


class MutateError(Exception):
    pass


@dataclass
class ModuleScore:
    path: str
    total: int = 0
    killed: int = 0
    timeout: int = 0
    survived: list[str] = field(default_factory=list)
    no_tests: list[str] = field(default_factory=list)
    other: list[str] = field(default_factory=list)  # not checked, suspicious, skipped, segfault…
    equivalent: list[str] = field(default_factory=list)

    @property
    def counted(self) -> int:
        return self.total - len(self.equivalent)

    @property
    def score(self) -> float:
        return 1.0 if self.counted == 0 else (self.killed + self.timeout) / self.counted

    @property
    def passed(self) -> bool:
        return self.score >= TARGET


def module_name(path: str) -> str:
    """``edge/apps/gate/decision.py`` → ``edge.apps.gate.decision`` (mutmut names its mutants after it)."""
    return path.removesuffix(".py").replace("/", ".")


def load_config() -> list[str]:
    cfg = tomllib.loads(Path("pyproject.toml").read_text("utf-8"))["tool"]["mutmut"]
    targets = list(cfg["only_mutate"])
    missing = [t for t in targets if not Path(t).is_file()]
    if missing:
        raise MutateError(f"[tool.mutmut] only_mutate names files that do not exist: {missing}")
    tests = [t for t in cfg.get("pytest_add_cli_args_test_selection", []) if not t.startswith("-")]
    missing = [t for t in tests if not Path(t.split("::")[0]).exists()]
    if missing:
        raise MutateError(f"[tool.mutmut] test selection names files that do not exist: {missing}")
    return targets


def load_equivalents(path: Path = EQUIVALENTS) -> dict[str, str]:
    if not path.exists():
        return {}
    data = tomllib.loads(path.read_text("utf-8"))
    eq = data.get("equivalent", {})
    bad = [k for k, v in eq.items() if not isinstance(v, str) or not v.strip()]
    if bad:
        raise MutateError(f"{path}: every equivalent mutant needs a one-line reason: {bad}")
    return dict(eq)


def read_results(targets: list[str]) -> dict[str, dict[str, int | None]]:
    """Mutant name → exit code, per target file, from mutmut's ``mutants/<path>.meta``."""
    out: dict[str, dict[str, int | None]] = {}
    for t in targets:
        meta = Path("mutants") / (t + ".meta")
        if not meta.exists():
            raise MutateError(f"mutmut wrote no results for {t} ({meta} missing)")
        out[t] = json.loads(meta.read_text("utf-8"))["exit_code_by_key"]
    return out


def score(targets: list[str], run: list[str], results: dict[str, dict[str, int | None]],
          equivalents: dict[str, str]) -> list[ModuleScore]:
    """Scores of the modules in ``run``; refuses an equivalent entry that is stale or wrong."""
    known = {name: (t, code) for t in targets for name, code in results[t].items()}
    stale = sorted(set(equivalents) - set(known))
    if stale:
        raise MutateError(f"{EQUIVALENTS} lists mutants that no longer exist (the code changed; look again and "
                          f"update the list): {stale}")
    wrong = sorted(n for n in equivalents if known[n][0] in run and known[n][1] in KILLED | TIMEOUT)
    if wrong:
        raise MutateError(f"{EQUIVALENTS} lists mutants that a test kills, so they are not equivalent: {wrong}")
    scores = []
    for t in run:
        s = ModuleScore(t)
        for name, code in sorted(results[t].items()):
            s.total += 1
            if name in equivalents:
                s.equivalent.append(name)
            elif code in KILLED:
                s.killed += 1
            elif code in TIMEOUT:
                s.timeout += 1
            elif code in SURVIVED:
                s.survived.append(name)
            elif code in NO_TESTS:
                s.no_tests.append(name)
            else:
                s.other.append(name)
        scores.append(s)
    return scores


def report(scores: list[ModuleScore], equivalents: dict[str, str]) -> str:
    lines = [f"mutation score per module (mutmut; target >= {TARGET:.0%}; score = (killed + timeout) / "
             "(total - equivalent))", ""]
    head = f"{'module':<34} {'total':>5} {'killed':>6} {'timeout':>7} {'survived':>8} {'no tests':>8} " \
           f"{'other':>5} {'equiv':>5} {'score':>7}  result"
    lines += [head, "-" * len(head)]
    for s in scores:
        lines.append(f"{s.path:<34} {s.total:>5} {s.killed:>6} {s.timeout:>7} {len(s.survived):>8} "
                     f"{len(s.no_tests):>8} {len(s.other):>5} {len(s.equivalent):>5} {s.score:>7.1%}  "
                     f"{'PASS' if s.passed else 'FAIL'}")
    for s in scores:
        for title, names in (("survived", s.survived), ("no tests", s.no_tests), ("not checked/other", s.other)):
            if names:
                lines += ["", f"{s.path}: {title} ({len(names)}; see `.venv/bin/mutmut show NAME`)"]
                lines += [f"  {n}" for n in names]
        if s.equivalent:
            lines += ["", f"{s.path}: equivalent ({len(s.equivalent)}, {EQUIVALENTS})"]
            lines += [f"  {n}: {equivalents[n]}" for n in s.equivalent]
    return "\n".join(lines) + "\n"


def tracked_state() -> str:
    """What git says of the tracked files (a mutation run must leave them exactly as they were)."""
    r = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True,
                       check=False)
    return r.stdout if r.returncode == 0 else ""


def run_mutmut(names: list[str], max_children: int) -> None:
    """``mutmut run`` on these mutant names or patterns (none: every mutant)."""
    mutmut = Path(sys.executable).parent / "mutmut"
    cmd = [str(mutmut if mutmut.exists() else "mutmut"), "run", "--max-children", str(max_children), *names]
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    print("$", " ".join(cmd[:6]), f"… ({len(names)} names)" if len(names) > 2 else "", flush=True)
    rc = subprocess.run(cmd, env=env, check=False).returncode
    if rc != 0:
        raise MutateError(f"mutmut run failed (exit {rc})")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--module", action="append", default=None,
                    help="a target file, e.g. edge/apps/gate/decision.py; may be given more than once (default: "
                    "every target; MODULE in the environment may list several, space-separated)")
    ap.add_argument("--keep", action="store_true", help="reuse mutants/ and mutmut's cached results")
    ap.add_argument("--max-children", type=int, default=2, help="mutants tested in parallel (default 2)")
    ap.add_argument("--report-only", action="store_true", help="score the results already in mutants/")
    ap.add_argument("--recheck", action="store_true",
                    help="keep mutants/ and test again only the mutants of the modules that were not killed (after "
                    "adding tests: minutes instead of a full run)")
    args = ap.parse_args(argv)
    os.chdir(ROOT)
    try:
        targets = load_config()
        modules = args.module or os.environ.get("MODULE", "").split()
        unknown = [m for m in modules if m not in targets]
        if unknown:
            raise MutateError(f"{', '.join(unknown)}: not a mutation target; targets: {', '.join(targets)}")
        run = modules or targets
        equivalents = load_equivalents()
        if not args.report_only:
            before = tracked_state()
            names = [module_name(m) + ".*" for m in modules]
            if args.recheck:
                results = read_results(targets)
                names = sorted(n for t in run for n, code in results[t].items() if code not in KILLED | TIMEOUT)
                if not names:
                    raise MutateError("nothing to check again: every mutant of these modules is killed")
            elif not args.keep:
                shutil.rmtree("mutants", ignore_errors=True)
            os.nice(10)
            run_mutmut(names, args.max_children)
            if tracked_state() != before:  # mutmut writes only under mutants/; an edit made meanwhile shows here
                print("make mutate: WARNING: tracked files changed during the run (edited meanwhile, or written by "
                      "the run): check `git status`", file=sys.stderr)
        scores = score(targets, run, read_results(targets), equivalents)
    except MutateError as e:
        print(f"make mutate: {e}", file=sys.stderr)
        return 2
    text = report(scores, equivalents)
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text(text, "utf-8")
    print(text, end="")
    print(f"written to {REPORT}")
    return 0 if all(s.passed for s in scores) else 1


if __name__ == "__main__":
    sys.exit(main())
