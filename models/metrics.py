"""Scores of fold predictions: accuracy, unweighted average recall, macro-F1, per-class F1, CIs.

* Accuracy = fraction of correct test predictions; UAR = mean recall over the classes present
  in the test set; macro-F1 = mean F1 over the classes present in the test set or predicted
  (sklearn's default label set; a class with neither has no defined F1 and is left out, which
  only matters on tiny test sets). Per-class F1 lists every class (0 where undefined).
* The 95 % confidence interval over folds uses the t-distribution with ``folds - 1`` degrees of
  freedom: ``mean +- t_{0.975, k-1} * sd / sqrt(k)`` (sd with ddof = 1); undefined (None) for
  a single fold.
* :func:`headline` is the small ``reports/metrics.json`` that ``dvc exp show`` compares (means
  and CI half-widths in %, the paper's number); :func:`summarise` the full detail
  (``reports/scores.json``: every fold, CI bounds, per-class F1).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy import stats
from sklearn.metrics import confusion_matrix, f1_score, recall_score


def fold_scores(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> dict[str, Any]:
    """accuracy, uar, macro_f1 (floats), f1 (list per class), confusion (C x C, rows = actual)."""
    y_true, y_pred = np.asarray(y_true, int), np.asarray(y_pred, int)
    if len(y_true) == 0:
        raise ValueError("fold_scores: no prediction to score")
    labels = list(range(n_classes))
    present = sorted(set(y_true.tolist()))
    return {
        "accuracy": float(np.mean(y_true == y_pred)),
        # UAR over the classes present in the test set (recall is undefined for absent ones).
        "uar": float(recall_score(y_true, y_pred, labels=present, average="macro",
                                  zero_division=0)),
        "macro_f1": float(f1_score(y_true, y_pred, average="macro", zero_division=0)),
        "f1": [float(v) for v in f1_score(y_true, y_pred, labels=labels, average=None,
                                          zero_division=0)],
        "confusion": confusion_matrix(y_true, y_pred, labels=labels).tolist(),
    }


def mean_ci(values: list[float], level: float = 0.95) -> dict[str, float | None]:
    """Mean, sample sd and the t-distribution confidence interval over folds."""
    v = np.asarray(values, np.float64)
    if v.size == 0:
        raise ValueError("mean_ci: no value")
    mean = float(v.mean())
    if v.size < 2:
        return {"mean": mean, "sd": None, "ci95_low": None, "ci95_high": None, "ci95_half": None}
    sd = float(v.std(ddof=1))
    half = float(stats.t.ppf(0.5 + level / 2, v.size - 1) * sd / math.sqrt(v.size))
    return {"mean": mean, "sd": sd, "ci95_low": mean - half, "ci95_high": mean + half,
            "ci95_half": half}


def summarise(per_fold: dict[int, dict[str, Any]], class_names: list[str]) -> dict[str, Any]:
    """metrics.json body: per metric the mean, CI and value of each fold; per-class mean F1.

    Only numbers (``dvc exp show`` shows nested keys as ``accuracy.mean`` etc.).
    """
    folds = sorted(per_fold)
    out: dict[str, Any] = {"n_folds": len(folds)}
    for key in ("accuracy", "uar", "macro_f1"):
        vals = [per_fold[k][key] for k in folds]
        entry = {k: v for k, v in mean_ci(vals).items() if v is not None}
        entry.update({f"fold_{k}": per_fold[k][key] for k in folds})
        out[key] = entry
    out["f1"] = {name: float(np.mean([per_fold[k]["f1"][i] for k in folds]))
                 for i, name in enumerate(class_names)}
    total = np.sum([np.asarray(per_fold[k]["confusion"]) for k in folds], axis=0)
    out["pooled_accuracy"] = float(np.trace(total) / total.sum())
    out["n_test_clips"] = int(total.sum())
    return out


def confusion_records(y_true: np.ndarray, y_pred: np.ndarray, class_names: list[str]
                      ) -> list[dict[str, str]]:
    """One ``{"actual": name, "predicted": name}`` per prediction (DVC's confusion template)."""
    return [{"actual": class_names[int(a)], "predicted": class_names[int(p)]}
            for a, p in zip(y_true, y_pred)]


HEADLINE_DECIMALS = 2


def headline(summary: dict[str, Any], paper: float | None) -> dict[str, float]:
    """``reports/metrics.json``: ``acc``, ``uar``, ``macro_f1`` (mean over folds, %), their 95 %
    CI half-widths ``*_ci`` (% points; absent for one fold) and ``paper`` (the paper's number,
    %, for the same features and task; absent when not reported). Rounded to 2 decimals: finer
    digits are noise between runs and would widen ``dvc exp show``'s columns."""
    out: dict[str, float] = {}
    for key, short in (("accuracy", "acc"), ("uar", "uar"), ("macro_f1", "macro_f1")):
        out[short] = round(100 * summary[key]["mean"], HEADLINE_DECIMALS)
        if summary[key].get("ci95_half") is not None:
            out[f"{short}_ci"] = round(100 * summary[key]["ci95_half"], HEADLINE_DECIMALS)
    if paper is not None:
        out["paper"] = round(float(paper), HEADLINE_DECIMALS)
    return out
