"""Stage finetune: ResNet-18 fine-tuned per (part, fold), then its frozen per-fold features.

``python -m stages.finetune train <face|eyes|mouth> K`` fine-tunes ResNet-18 with a TIM-Net head
on the 20 spaced frames' crops of test fold K's training clips and predicts fold K's test clips
(:func:`models.finetune_fold.train_fold`, which lists the outputs): the fold's model
``data/finetune/<part>/fold_K/{extractor/,head.pt}``, its unimodal "ResNet" predictions
``data/finetune/<part>/predictions/fold_K.parquet``, ``reports/finetune/<part>/fold_K.json``,
``fold_K_history.csv``, ``fold_K.log`` and ``reports/problems/finetune/<part>/fold_K.csv``.

``python -m stages.finetune features <part> K`` runs fold K's fine-tuned extractor, frozen, on the
88 middle frames' crops of **every** clip (:func:`features.learnt.finetuned.finetuned_features`):
the per-fold feature ``data/features/resnet_<part>_ft/fold_K/Actor_XX.h5``, read by Multi-Net on
test fold K only, and ``reports/problems/resnet_<part>_ft/fold_K.csv``.
"""

from __future__ import annotations

import argparse

from features.core.cli import run_stage
from features.core.config import get, load_params
from features.learnt.finetuned import PARTS, finetuned_features
from models.finetune_fold import train_fold


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m stages.finetune", description=__doc__.splitlines()[0])
    ap.add_argument("command", choices=("train", "features"))
    ap.add_argument("part", choices=PARTS)
    ap.add_argument("fold", type=int, help="test fold (index into dataset.folds)")
    args = ap.parse_args(argv)
    params = load_params()
    n_folds = len(get(params, "dataset.folds"))
    if not 0 <= args.fold < n_folds:
        raise SystemExit(f"stages.finetune: fold {args.fold} out of range 0..{n_folds - 1}")
    (train_fold if args.command == "train" else finetuned_features)(args.part, args.fold, params)
    return 0


if __name__ == "__main__":
    run_stage(main)
