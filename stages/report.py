"""Stage report: score the fold predictions and write the experiment's reports.

Reads ``data/predictions/fold_K.parquet`` and ``reports/train/fold_K.json`` /
``fold_K_history.csv`` for every fold in ``train.folds``; writes under ``reports/``:
``metrics.json`` (headline, the DVC metric), ``scores.json`` (detail), ``plots/confusion.json``,
``plots/f1.json``, ``plots/training.json`` (DVC plots) and ``comparison.md``
(see ``models/reporting.py``).
"""

from __future__ import annotations

import argparse
import json
import sys

import pandas as pd

from features.core.atomic import atomic_path
from features.core.config import get, load_params
from features.core.paths import PREDICTIONS_DIR, REPORTS
from models.hparams import resolve_experiment
from models.reporting import check_predictions, report_files, run_notes

TRAIN_REPORTS = REPORTS / "train"


def main(argv: list[str] | None = None) -> int:
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args(argv)
    params = load_params()
    exp = resolve_experiment(get(params, "train"))
    folds = [int(k) for k in get(params, "train.folds")]
    preds, histories, infos = {}, {}, []
    for k in folds:
        path = PREDICTIONS_DIR / f"fold_{k}.parquet"
        if not path.exists():
            raise FileNotFoundError(f"{path}: predictions missing; run `dvc repro train`")
        preds[k] = check_predictions(pd.read_parquet(path), exp.class_names, str(path))
        if (TRAIN_REPORTS / f"fold_{k}_history.csv").exists():
            histories[k] = pd.read_csv(TRAIN_REPORTS / f"fold_{k}_history.csv")
        if (TRAIN_REPORTS / f"fold_{k}.json").exists():
            infos.append(json.loads((TRAIN_REPORTS / f"fold_{k}.json").read_text()))
    files, summary = report_files(preds, histories, exp.class_names, exp.modalities, exp.task,
                                  exp.target, str(get(params, "dataset.root")), run_notes(infos))
    for name, text in files.items():
        with atomic_path(REPORTS / name, suffix=(REPORTS / name).suffix) as tmp:
            tmp.write_text(text)
    print(f"report: accuracy {100 * summary['accuracy']['mean']:.2f} % (macro-F1 "
          f"{100 * summary['macro_f1']['mean']:.2f} %) over {len(folds)} folds -> "
          + ", ".join(f"{REPORTS}/{n}" for n in files))
    return 0


if __name__ == "__main__":
    sys.exit(main())
