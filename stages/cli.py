"""Command line shared by the per-actor feature stages: ``python -m stages.<name> a,b <actor>``."""

from __future__ import annotations

import argparse
import time
from typing import Any, Callable, Sequence

from features.core.config import load_params
from features.core.paths import actor_dir, feature_file, problems_csv
from features.core.problems import ProblemLog
from features.core.store import write_feature_file


def run_named(argv: list[str] | None, prog: str, doc: str, choices: Sequence[str],
              fn: Callable[[str, str, dict[str, Any]], int]) -> int:
    """Parse ``<comma-separated names> <actor>`` and call ``fn(name, actor, params)`` for each name.

    One process computes several features of one actor (one interpreter start, one params load).
    """
    ap = argparse.ArgumentParser(prog=prog, description=doc.splitlines()[0])
    ap.add_argument("names", help=f"comma-separated list of {', '.join(choices)}")
    ap.add_argument("actor", help="actor number, e.g. 05")
    args = ap.parse_args(argv)
    names = [n for n in args.names.split(",") if n]
    bad = [n for n in names if n not in choices]
    if bad or not names:
        ap.error(f"unknown name(s) {bad or args.names!r}; choose from {', '.join(choices)}")
    params = load_params()
    for name in names:
        fn(name, args.actor, params)
    return 0


def write_actor_outputs(feature: str, actor: str, records: list, n_clips: int,
                        file_params: dict[str, Any], problems: ProblemLog, t0: float,
                        where: str = "") -> int:
    """Write one actor's feature file and problems CSV, print a summary; returns records written."""
    out = write_feature_file(feature_file(feature, actor), feature, records, file_params,
                             actor=int(actor))
    problems.write(problems_csv(f"{feature}/{actor_dir(actor)}"))
    print(f"{feature} {actor_dir(actor)}: {len(records)}/{n_clips} clips -> {out}{where} "
          f"({len(problems.items)} problems, {time.perf_counter() - t0:.1f} s)")
    return len(records)
