"""What every stage script shares on the command line: the actor argument, ``names actor``
commands, and :func:`run_stage`, which prints a params error as one line instead of a traceback."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import NoReturn

from features.core.config import ParamsError
from features.core.paths import parse_actor


def run_stage(main: Callable[[list[str] | None], int | None]) -> NoReturn:
    """``sys.exit(main())``, with a :class:`ParamsError` printed as ``error: <message>`` (exit 2).

    A bad params.yaml is a user's mistake, not a bug: one line naming the key, the value and what
    is allowed says all. Any other exception keeps its traceback (bugs need it).
    """
    try:
        code = main(None)
    except ParamsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    sys.exit(code or 0)


def actor_parser(prog: str, doc: str | None) -> argparse.ArgumentParser:
    """An argument parser whose last argument is the actor (``05``, ``5`` or ``Actor_05`` -> 5)."""
    ap = argparse.ArgumentParser(prog=prog, description=(doc or "").strip().splitlines()[0])
    ap.add_argument("actor", type=parse_actor, help="actor number, e.g. 05")
    return ap


def parse_names_actor(argv: list[str] | None, prog: str, doc: str | None,
                      choices: Sequence[str]) -> tuple[list[str], int]:
    """``<comma-separated names> <actor>`` -> (names, actor); an argparse error for unknown names."""
    ap = argparse.ArgumentParser(prog=prog, description=(doc or "").strip().splitlines()[0])
    ap.add_argument("names", help=f"comma-separated list of {', '.join(choices)}")
    ap.add_argument("actor", type=parse_actor, help="actor number, e.g. 05")
    args = ap.parse_args(argv)
    names = [n for n in args.names.split(",") if n]
    bad = [n for n in names if n not in choices]
    if bad or not names:
        ap.error(f"unknown name(s) {bad or args.names!r}; choose from {', '.join(choices)}")
    return names, args.actor
