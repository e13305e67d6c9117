"""Late fusion (Luna-Jiménez et al. 2022): logistic regression on stacked unimodal posteriors.

The comparison to Multi-Net's joint fusion: each *member* (one modality, or a '+'-joined
combination trained as one Multi-Net) is trained on its own; their posteriors are concatenated,
min-max normalised to [0, 1] (as Luna-Jiménez et al. do, statistics from the training
posteriors) and fed to a multinomial logistic regression (sklearn, C = 1, otherwise defaults but
``max_iter=1000`` so that it converges).

Where the fusion's training posteriors come from (the leakage argument)
----------------------------------------------------------------------
The regression for outer test fold K must be fitted on posteriors of *training* clips that the
member models did not see, and nothing of fold K may influence it. Two designs were possible:

1. reuse the outer folds' test posteriors of the other folds j != K. Those come from the model
   of fold j, which was trained on every fold except j, *including fold K*: the regression's
   inputs would then be functions of the fold-K clips and labels, an indirect test leakage.
2. inner cross-validation over the training actors (chosen): for each j != K a member model is
   trained on the folds other than K and j and predicts fold j. These out-of-fold posteriors
   cover every training clip of fold K, and no model behind them saw a fold-K clip. The test
   posteriors of fold K come from the member model trained on all folds but K (the same model
   the unimodal experiment would use). Cost: 1 + (folds - 1) trainings per member and fold.

``fuse_fold`` checks both properties from the recorded ``trained_on`` folds before fitting, and
fits on the out-of-fold rows only; test rows are only ever passed to ``predict_proba``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression

from features.core.paths import FEATURES_DIR
from models.folds import drop_missing, predictions_frame, run_fold
from models.hparams import Experiment


def member_name(modalities: list[str]) -> str:
    return "+".join(modalities)


def parse_member(name: str) -> list[str]:
    parts = [p for p in str(name).split("+") if p]
    if not parts:
        raise ValueError(f"fusion member {name!r}: expected a feature or '+'-joined features")
    return parts


def inner_plan(all_folds: list[int], test_fold: int) -> list[tuple[int, list[int]]]:
    """``[(j, training folds)]`` for every inner fold j != K: train on all folds but K and j."""
    if test_fold not in all_folds:
        raise ValueError(f"test fold {test_fold} not in folds {all_folds}")
    return [(j, [f for f in all_folds if f not in (test_fold, j)])
            for j in all_folds if j != test_fold]


def member_posteriors(exp: Experiment, manifest: pd.DataFrame, test_fold: int,
                      root: Path = FEATURES_DIR, log: Callable[[str], None] = print
                      ) -> tuple[pd.DataFrame, list[tuple[str, str, str]]]:
    """Test posteriors of fold K and out-of-fold posteriors of its training clips, for one member.

    Returns the frame (predictions columns + ``split`` in {test, oof} + ``trained_on``, the
    folds the producing model was trained on, as "1,2,3") and the clips excluded for a missing
    feature.
    """
    rows, missing = drop_missing(manifest, exp.modalities, root)
    folds = sorted(set(rows["fold"].astype(int)))
    parts = []

    def one(train_folds: list[int], target_fold: int, split: str) -> None:
        tr = rows[rows["fold"].astype(int).isin(train_folds)].reset_index(drop=True)
        te = rows[rows["fold"].astype(int) == target_fold].reset_index(drop=True)
        log(f"{member_name(exp.modalities)}: train on folds {train_folds}, predict fold "
            f"{target_fold} ({split})")
        run = run_fold(exp, tr, te, root, log)
        df = predictions_frame(exp, te, run.posteriors)
        df["split"] = split
        df["trained_on"] = ",".join(map(str, train_folds))
        parts.append(df)

    one([f for f in folds if f != test_fold], test_fold, "test")
    for j, train_folds in inner_plan(folds, test_fold):
        one(train_folds, j, "oof")
    return pd.concat(parts, ignore_index=True), missing


def _posterior_cols(df: pd.DataFrame) -> list[str]:
    return [c for c in df.columns if c.startswith("p_")]


def stack(members: dict[str, pd.DataFrame], split: str) -> tuple[pd.DataFrame, np.ndarray]:
    """Rows of ``split`` present in every member (inner join on video_id) and ``(n, M*C)`` X."""
    base = None
    for name in sorted(members):
        df = members[name]
        part = df[df["split"] == split][["video_id", "actor", "fold", "label", "trained_on"]
                                          + _posterior_cols(df)]
        part = part.rename(columns={c: f"{name}:{c}" for c in _posterior_cols(df)} |
                           {"trained_on": f"{name}:trained_on"})
        base = part if base is None else base.merge(
            part.drop(columns=["actor", "fold", "label"]), on="video_id", how="inner")
    assert base is not None
    base = base.sort_values("video_id").reset_index(drop=True)
    cols = [c for c in base.columns if ":p_" in c]
    return base, base[cols].to_numpy(np.float64)


@dataclasses.dataclass
class LateFusion:
    """Min-max scaling (training statistics) + multinomial logistic regression."""

    low: np.ndarray
    high: np.ndarray
    model: LogisticRegression

    def _scale(self, x: np.ndarray) -> np.ndarray:
        span = np.where(self.high - self.low > 1e-12, self.high - self.low, 1.0)
        return (x - self.low) / span

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        return self.model.predict_proba(self._scale(x))


def fit_late_fusion(x: np.ndarray, y: np.ndarray, c: float = 1.0, seed: int = 0) -> LateFusion:
    """Fit on training posteriors ``x (n, M*C)`` and labels ``y``."""
    low, high = x.min(axis=0), x.max(axis=0)
    fusion = LateFusion(low, high, LogisticRegression(C=c, max_iter=1000, random_state=seed))
    fusion.model.fit(fusion._scale(x), y)
    return fusion


def fuse_fold(members: dict[str, pd.DataFrame], test_fold: int, class_names: list[str],
              c: float = 1.0, seed: int = 0) -> tuple[pd.DataFrame, LateFusion]:
    """Fit on the out-of-fold rows of fold K's members, predict its test rows.

    Raises if an out-of-fold row is a test-fold clip or came from a model trained on fold K.
    """
    if len(members) < 2:
        raise ValueError(f"late fusion needs at least two members; got {sorted(members)}")
    train, x_train = stack(members, "oof")
    test, x_test = stack(members, "test")
    if (train["fold"].astype(int) == test_fold).any():
        raise ValueError(f"fold {test_fold}: out-of-fold rows include test-fold clips")
    if set(train["actor"]) & set(test["actor"]):
        raise ValueError(f"fold {test_fold}: an actor is in both fusion training and test rows")
    for col in [c_ for c_ in train.columns if c_.endswith(":trained_on")]:
        for folds in train[col].unique():
            if str(test_fold) in folds.split(","):
                raise ValueError(f"fold {test_fold}: {col} {folds} includes the test fold")
    present = sorted(set(train["label"].astype(int)))
    if len(present) < 2:
        raise ValueError(f"fold {test_fold}: fusion training rows hold one class only")
    fusion = fit_late_fusion(x_train, train["label"].to_numpy(int), c, seed)
    proba = np.zeros((len(test), len(class_names)))
    proba[:, fusion.model.classes_] = fusion.predict_proba(x_test)
    out = pd.DataFrame({"video_id": test["video_id"], "actor": test["actor"].astype(int),
                        "fold": test["fold"].astype(int), "label": test["label"].astype(int),
                        "predicted": proba.argmax(axis=1)})
    for i, name in enumerate(class_names):
        out[f"p_{name}"] = proba[:, i]
    return out, fusion
