"""Command line shared by the per-actor feature stages: ``python -m stages.<name> a,b <actor>``."""

from __future__ import annotations

import argparse
from typing import Any, Callable, Sequence

from features.params import load_params


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
