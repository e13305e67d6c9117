"""Stage report: score the fold predictions and write the experiment's reports.

Reads ``data/predictions/fold_K.parquet`` (and ``reports/train/fold_K.json``) for every fold in
``train.folds`` and writes

* ``reports/metrics.json``: per metric (accuracy, uar, macro_f1) the mean over folds, the 95 %
  t-distribution confidence interval and each fold's value; mean F1 per class; pooled accuracy
  (shown by ``dvc metrics show`` / ``dvc exp show``);
* ``reports/plots/confusion.json``: one ``{"actual", "predicted"}`` record per test clip (DVC's
  confusion template, declared under ``plots:`` in dvc.yaml);
* ``reports/plots/confusion.png`` and ``reports/plots/f1.png`` (matplotlib, Agg);
* ``reports/comparison.md``: this run next to the paper's number for the same features, the
  human raters and Luna-Jiménez et al.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from features.core.atomic import atomic_path
from features.core.config import get, load_params
from features.core.paths import METRICS, PLOTS_DIR, PREDICTIONS_DIR, REPORTS
from models.hparams import resolve_experiment
from models.metrics import confusion_records, fold_scores, summarise
from models.reporting import comparison_markdown, plot_confusion, plot_f1

TRAIN_REPORTS = REPORTS / "train"
COMPARISON = REPORTS / "comparison.md"


def read_predictions(fold: int, class_names: list[str], root: Path = PREDICTIONS_DIR) -> pd.DataFrame:
    """One fold's predictions; error if missing or made for other classes."""
    path = root / f"fold_{fold}.parquet"
    if not path.exists():
        raise FileNotFoundError(f"{path}: predictions missing; run `dvc repro train`")
    df = pd.read_parquet(path)
    want = [f"p_{c}" for c in class_names]
    have = [c for c in df.columns if c.startswith("p_")]
    if have != want:
        raise ValueError(f"{path}: posterior columns {have} do not match the experiment's "
                         f"classes {want}; re-run the train stage")
    return df


def write_reports(preds: dict[int, pd.DataFrame], class_names: list[str], modalities: list[str],
                  task: str, target: str | None, dataset_root: str, notes: list[str],
                  reports: Path = REPORTS) -> dict:
    """Write metrics.json, plots and comparison.md under ``reports``; return the summary."""
    per_fold = {k: fold_scores(df["label"].to_numpy(), df["predicted"].to_numpy(), len(class_names))
                for k, df in sorted(preds.items())}
    summary = summarise(per_fold, class_names)
    allp = pd.concat([preds[k] for k in sorted(preds)], ignore_index=True)
    plots = reports / "plots"
    with atomic_path(reports / "metrics.json", suffix=".json") as tmp:
        tmp.write_text(json.dumps(summary, indent=2) + "\n")
    records = confusion_records(allp["label"].to_numpy(), allp["predicted"].to_numpy(), class_names)
    with atomic_path(plots / "confusion.json", suffix=".json") as tmp:
        tmp.write_text(json.dumps(records, indent=1) + "\n")
    total = np.sum([np.asarray(per_fold[k]["confusion"]) for k in per_fold], axis=0)
    title = f"{'+'.join(modalities)}: accuracy {100 * summary['accuracy']['mean']:.1f} %"
    with atomic_path(plots / "confusion.png", suffix=".png") as tmp:
        plot_confusion(total, class_names, tmp, title)
    with atomic_path(plots / "f1.png", suffix=".png") as tmp:
        plot_f1(summary["f1"], tmp, f"{'+'.join(modalities)}: F1 per class")
    text = comparison_markdown(summary, modalities, task, target, dataset_root, notes)
    with atomic_path(reports / "comparison.md", suffix=".md") as tmp:
        tmp.write_text(text)
    return summary


def run_notes(folds: list[int], root: Path = TRAIN_REPORTS) -> list[str]:
    """Settings lines for comparison.md from the per-fold training reports (when present)."""
    infos = []
    for k in folds:
        p = root / f"fold_{k}.json"
        if p.exists():
            infos.append(json.loads(p.read_text()))
    if not infos:
        return []
    first = infos[0]
    sel = sorted({i["selection"] for i in infos})
    notes = [f"checkpoint selection: {', '.join(sel)} (best epochs "
             f"{', '.join(str(i['best_epoch']) for i in infos)} of {first['epochs']})",
             f"lr {first['lr']:g}, batch {first['batch_size']}, epochs {first['epochs']}; trunks "
             + "; ".join(f"{m}: {t}" for m, t in first["trunks"].items()),
             "hyperparameter sources: " + ", ".join(f"{k}: {v}" for k, v in first["sources"].items()),
             f"training time per fold (s): {', '.join(str(i['train_seconds']) for i in infos)}"]
    excluded = sum(i.get("n_excluded", 0) for i in infos)
    if excluded:
        notes.append(f"{excluded} clip-fold entries excluded for missing features "
                     f"(reports/problems/train/)")
    return notes


def main(argv: list[str] | None = None) -> int:
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args(argv)
    params = load_params()
    exp = resolve_experiment(get(params, "train"))
    folds = [int(k) for k in get(params, "train.folds")]
    preds = {k: read_predictions(k, exp.class_names) for k in folds}
    summary = write_reports(preds, exp.class_names, exp.modalities, exp.task, exp.target,
                            str(get(params, "dataset.root")), run_notes(folds))
    print(f"report: accuracy {100 * summary['accuracy']['mean']:.2f} % "
          f"(macro-F1 {100 * summary['macro_f1']['mean']:.2f} %) over {len(folds)} folds; "
          f"{METRICS}, {PLOTS_DIR}/, {COMPARISON}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
