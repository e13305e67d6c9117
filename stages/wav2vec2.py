"""Stage wav2vec2: ``python -m stages.wav2vec2 [feature] <actor>``.

Clips of one actor -> ``data/features/<feature>/Actor_XX.h5`` and
``reports/problems/<feature>/Actor_XX.csv``; ``feature`` is ``wav2vec2`` (default: the transformer
output, ``(146, hidden)``), ``wav2vec2_cnn`` (CNN encoder, ``(146, 512)``) or
``wav2vec2_layer<N>`` (hidden state N), stored as ``features.wav2vec2.dtype`` (float16).
The checkpoint (``features.wav2vec2.checkpoint``) must be on this machine: the stage stops
before any work with instructions otherwise. Audio decoding runs on ``compute.jobs`` workers;
inference runs in batches of ``batch_size`` clips on ``device`` (auto: CUDA if present) with
``compute.jobs`` torch threads.
"""

from __future__ import annotations

import argparse

from features.core.cli import run_stage
from features.core.config import load_params
from features.core.paths import parse_actor
from features.learnt.wav2vec2 import parse_output
from features.learnt.wav2vec2_actor import wav2vec2_actor


def parse_args(argv: list[str] | None) -> tuple[str, int]:
    """``[feature] actor`` -> (feature, actor)."""
    ap = argparse.ArgumentParser(prog="python -m stages.wav2vec2", description=__doc__.splitlines()[0])
    ap.add_argument("args", nargs="+", metavar="[feature] actor",
                    help="wav2vec2 | wav2vec2_cnn | wav2vec2_layer<N> (default wav2vec2), then "
                         "the actor number, e.g. 05")
    ns = ap.parse_args(argv)
    if len(ns.args) > 2:
        ap.error("expected [feature] actor")
    feature, actor = (["wav2vec2"] + ns.args)[-2:]
    try:
        parse_output(feature)
    except ValueError as exc:
        ap.error(str(exc))
    try:
        return feature, parse_actor(actor)
    except ValueError as exc:
        ap.error(str(exc))


def main(argv: list[str] | None = None) -> int:
    feature, actor = parse_args(argv)
    wav2vec2_actor(feature, actor, load_params())
    return 0


if __name__ == "__main__":
    run_stage(main)
