"""Stage train: ``python -m stages.train K`` trains the params.yaml experiment on test fold K.

Reads ``train`` from params.yaml, the manifest and the features under data/features; writes the
fold's models, test predictions and reports (the list is in :mod:`models.train_fold`).
"""

from __future__ import annotations

import argparse

from features.core.cli import run_stage
from features.core.config import load_params
from models.train_fold import train_fold


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("fold", type=int, help="test fold (0..4)")
    args = ap.parse_args(argv)
    train_fold(args.fold, load_params())
    return 0


if __name__ == "__main__":
    run_stage(main)
