"""Track stage: one OpenFace-schema CSV per video of one actor.

``python -m stages.track 05`` reads ``data/manifest_by_actor/Actor_05.parquet`` and the
``track`` and ``compute`` params, and writes ``data/openface/Actor_05/<video id>.csv`` (714
columns, OpenFace 2.2 header and number formatting) and ``reports/problems/track/Actor_05.csv``.

Backends, AU baselines and atomic output: :mod:`features.tracker.actor`.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence

from features.core.cli import run_stage
from features.core.config import load_params
from features.core.paths import actor_dir, parse_actor
from features.tracker.actor import track_actor

log = logging.getLogger("stages.track")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("actor", type=parse_actor, help='actor number, e.g. "05"')
    parser.add_argument("--params", default="params.yaml")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    problems = track_actor(args.actor, load_params(args.params))
    n = len(problems.items)
    log.info("%s: done, %d problem(s) reported", actor_dir(args.actor), n)
    return 0


if __name__ == "__main__":
    run_stage(main)
