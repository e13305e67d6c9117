"""Stage resnet: ``python -m stages.resnet <resnet_face|resnet_eyes|resnet_mouth> <actor>``.

Crops of one actor (``data/features/crops_<part>/Actor_XX.h5`` from the crops stage) ->
``data/features/resnet_<part>/Actor_XX.h5`` (``(frames, 512)`` per clip, eyes averaged or
``(frames, 1024)`` concatenated, stored as ``features.resnet.dtype``) and
``reports/problems/resnet_<part>/Actor_XX.csv``. Each clip keeps the crops' frame indices and
validity mask. The checkpoint (``features.resnet.checkpoint``) must be on this machine: the stage
stops before any work with instructions otherwise. Inference runs on ``device`` (auto: CUDA if
present) with ``compute.jobs`` torch threads, ``batch_size`` images at a time.
"""

from __future__ import annotations

import argparse

from features.core.cli import run_stage
from features.core.config import load_params
from features.core.paths import parse_actor
from features.learnt.resnet_actor import RESNET_FEATURES, resnet_actor


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m stages.resnet", description=__doc__.splitlines()[0])
    ap.add_argument("feature", choices=RESNET_FEATURES)
    ap.add_argument("actor", type=parse_actor, help="actor number, e.g. 05")
    args = ap.parse_args(argv)
    resnet_actor(args.feature, args.actor, load_params())
    return 0


if __name__ == "__main__":
    run_stage(main)
