"""Stage predict: apply the trained fold models to any recordings, offline or live.

Offline (the DVC stage ``predict@INPUT``, one per entry of ``predict.inputs``):
``python -m stages.predict INPUT`` scores every recording under the folder (or the one file)
``INPUT`` with the models of ``data/models/fold_K/`` and writes per-recording CSVs and timeline
PNGs, ``summary.csv``, ``problems.csv`` and ``settings.json`` into ``reports/predict/<INPUT>/``
(:mod:`features.predict.batch`). Live: ``python -m stages.predict --live SOURCE`` (camera index,
stream URL or a video file played at its own frame rate) prints one line per hop and appends it
to ``predict.live.csv`` (:mod:`features.predict.live`).
"""

from __future__ import annotations

import argparse
import logging

from features.core.cli import run_stage
from features.core.config import load_params
from features.predict.batch import predict_input


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m stages.predict",
                                 description=__doc__.splitlines()[0])
    ap.add_argument("input", nargs="?", help="folder or file of recordings (offline)")
    ap.add_argument("--live", metavar="SOURCE",
                    help="camera index, stream URL or video file (played in real time)")
    ap.add_argument("--no-pace", action="store_true",
                    help="live from a file: read frames as fast as they are processed")
    ap.add_argument("--csv", help="live: CSV the lines are appended to (default predict.live.csv)")
    ap.add_argument("--seconds", type=float, default=0.0, help="live: stop after this long")
    ap.add_argument("--params", default="params.yaml")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    params = load_params(args.params)
    if args.live is not None:
        from features.predict.live import run_live_cli

        return run_live_cli(args.live, params, args.csv, pace=not args.no_pace,
                            seconds=args.seconds)
    if not args.input:
        ap.error("give an INPUT folder/file, or --live SOURCE")
    predict_input(args.input, params)
    return 0


if __name__ == "__main__":
    run_stage(main)
