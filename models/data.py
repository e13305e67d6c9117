"""Model inputs: actor-independent fold splits, feature loading and per-dimension standardisation.

* Folds come from the manifest's ``fold`` column (the paper's actor-independent split written by
  ingest); the test set of fold K is every clip of the actors in fold K, the training set all
  other clips, so no actor is ever on both sides (checked).
* Clips that lack a feature a model needs are excluded and reported (the caller writes the
  problems CSV); nothing is dropped silently.
* Standardisation (``train.standardise``; the papers are silent, the official TIM-Net code feeds
  raw MFCCs): per feature dimension, over valid frames and finite values,

  - ``fold`` (default): mean and standard deviation of the fold's *training* clips, applied to
    train and test alike;
  - ``actor``: each actor's own statistics over all of that actor's clips, training and test
    actors alike (speaker normalisation, the usual speaker-independent practice). It uses the
    test actors' *unlabelled* features (transductive: a deployed model would need some audio
    of a new speaker first); labels are never used;
  - ``none``: raw values (as the official TIM-Net).

  Non-finite values and invalid (untracked/padded) frames become 0 afterwards, i.e. the mean.
  Constant dimensions keep std 1.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd

from features.core.paths import FEATURES_DIR, feature_file
from features.core.store import StoreError, list_ids, read_features


def fold_split(manifest: pd.DataFrame, fold: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(train, test) rows for test fold ``fold``; raises if an actor would be in both."""
    if fold not in set(manifest["fold"].astype(int)):
        raise ValueError(f"fold {fold}: no clip of the manifest is in this fold "
                         f"(folds present: {sorted(set(manifest['fold'].astype(int)))})")
    test = manifest[manifest["fold"].astype(int) == fold].reset_index(drop=True)
    train = manifest[manifest["fold"].astype(int) != fold].reset_index(drop=True)
    shared = set(train["actor"]) & set(test["actor"])
    if shared:
        raise ValueError(f"fold {fold}: actors {sorted(shared)} are in both train and test")
    return train, test


def inner_validation_actors(actors: list[int], count: int, seed: int) -> list[int]:
    """``count`` training actors held out for early stopping, alternating genders when possible.

    Odd actors are male, even female (RAVDESS); a seeded shuffle picks within each gender.
    """
    if count <= 0:
        return []
    if count >= len(actors):
        raise ValueError(f"val_actors={count} leaves no training actor (have {len(actors)})")
    rng = np.random.default_rng(seed)
    males = [a for a in sorted(actors) if a % 2 == 1]
    females = [a for a in sorted(actors) if a % 2 == 0]
    rng.shuffle(males)
    rng.shuffle(females)
    picked: list[int] = []
    while len(picked) < count:
        for pool in (males, females):
            if pool and len(picked) < count:
                picked.append(pool.pop())
    return sorted(picked)


PER_FOLD_SUFFIX = "_ft"   # per-fold features: data/features/<name>/fold_K/Actor_XX.h5


def stored_feature(feature: str, fold: int | None = None) -> str:
    """Folder of ``feature`` under data/features for test fold ``fold``.

    Per-fold features (names ending ``_ft``: a ResNet fine-tuned on fold K's training clips,
    stages/finetune.py) are stored per test fold, ``<feature>/fold_K``, and fold K's model
    reads fold K's values only; other features are shared by all folds.
    """
    if not feature.endswith(PER_FOLD_SUFFIX):
        return feature
    if fold is None:
        raise StoreError(f"feature {feature} is computed per test fold (fine-tuned extractor): "
                         "the test fold must be given to load it")
    return f"{feature}/fold_{int(fold)}"


def missing_clips(feature: str, video_ids: list[str], actors: list[int],
                  root: Path = FEATURES_DIR, fold: int | None = None) -> dict[str, tuple[str, str]]:
    """{video_id: (feature file, problem)} for clips without an entry (or file) for ``feature``."""
    stored = stored_feature(feature, fold)
    missing: dict[str, tuple[str, str]] = {}
    by_actor: dict[int, list[str]] = {}
    for vid, actor in zip(video_ids, actors):
        by_actor.setdefault(int(actor), []).append(vid)
    for actor, vids in sorted(by_actor.items()):
        path = feature_file(stored, actor, Path(root))
        try:
            have = set(list_ids(path))
        except StoreError as exc:
            missing.update({v: (str(path), f"feature {feature}: {exc}") for v in vids})
            continue
        missing.update({v: (str(path), f"feature {feature}: no entry for this clip")
                        for v in vids if v not in have})
    return missing


def load_feature(feature: str, video_ids: list[str], root: Path = FEATURES_DIR,
                 fold: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``(n, frames, dims)`` float32 and valid mask ``(n, frames)``; clear error if not a sequence.

    ``fold``: the test fold, for per-fold features (:func:`stored_feature`)."""
    x, mask = read_features(stored_feature(feature, fold), video_ids, root)
    if x.ndim != 3:
        kind = "images (crops are not model inputs)" if x.ndim > 3 else "per-clip vectors"
        raise StoreError(f"feature {feature}: entries of shape {x.shape[1:]} are {kind}; "
                         f"TIM-Net needs (frames, dims) time series")
    if mask.shape != x.shape[:2]:
        raise StoreError(f"feature {feature}: valid mask {mask.shape} does not match {x.shape[:2]}")
    return x.astype(np.float32, copy=False), mask.astype(bool)


@dataclasses.dataclass
class Standardiser:
    """Per-dimension ``(x - mean) / std``; fit on training clips only."""

    mean: np.ndarray   # (dims,)
    std: np.ndarray    # (dims,)

    @classmethod
    def fit(cls, x: np.ndarray, mask: np.ndarray | None = None) -> Standardiser:
        """Statistics over valid frames of ``x (n, frames, dims)``, ignoring NaN/inf."""
        flat = np.asarray(x, np.float64)
        if mask is not None:
            flat = flat[np.asarray(mask, bool)]
        flat = flat.reshape(-1, x.shape[-1])
        flat = np.where(np.isfinite(flat), flat, np.nan)
        count = np.sum(~np.isnan(flat), axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.where(count > 0, np.nansum(flat, axis=0) / np.maximum(count, 1), 0.0)
            var = np.where(count > 0, np.nansum((flat - mean) ** 2, axis=0) / np.maximum(count, 1), 1.0)
        std = np.sqrt(var)
        std = np.where(std > 1e-8, std, 1.0)
        return cls(mean.astype(np.float32), std.astype(np.float32))

    def transform(self, x: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
        """Standardised float32 copy; non-finite values and invalid frames set to 0."""
        z = (np.asarray(x, np.float32) - self.mean) / self.std
        z = np.where(np.isfinite(z), z, 0.0).astype(np.float32)
        if mask is not None:
            z[~np.asarray(mask, bool)] = 0.0
        return z


STANDARDISE_MODES = ("fold", "actor", "none")


def identity_standardiser(dims: int) -> Standardiser:
    """Mean 0, std 1: ``transform`` only zeroes non-finite values and invalid frames."""
    return Standardiser(np.zeros(dims, np.float32), np.ones(dims, np.float32))


def standardise_sets(mode: str, fit_x: np.ndarray, fit_mask: np.ndarray, fit_actors: np.ndarray,
                     others: list[tuple[np.ndarray, np.ndarray, np.ndarray]]
                     ) -> tuple[np.ndarray, list[np.ndarray], dict[str, Standardiser]]:
    """Standardise training arrays and ``others`` (each ``(x, mask, actors)``) by ``mode``.

    Returns the standardised training array, the standardised others and the statistics used:
    ``{"fold": s}`` for fold/none, ``{"actor_<A>": s}`` per actor for ``actor``.
    """
    if mode not in STANDARDISE_MODES:
        raise ValueError(f"standardise must be one of {STANDARDISE_MODES}; got {mode!r}")
    dims = fit_x.shape[-1]
    if mode != "actor":
        s = Standardiser.fit(fit_x, fit_mask) if mode == "fold" else identity_standardiser(dims)
        return (s.transform(fit_x, fit_mask), [s.transform(x, m) for x, m, _ in others],
                {"fold": s})
    stats: dict[str, Standardiser] = {}

    def per_actor(x: np.ndarray, mask: np.ndarray, actors: np.ndarray) -> np.ndarray:
        out = np.zeros(x.shape, np.float32)
        actors = np.asarray(actors).astype(int)
        for a in sorted(set(actors.tolist())):
            sel = actors == a
            s = stats.setdefault(f"actor_{a}", Standardiser.fit(x[sel], mask[sel]))
            out[sel] = s.transform(x[sel], mask[sel])
        return out

    return (per_actor(fit_x, fit_mask, fit_actors),
            [per_actor(x, m, a) for x, m, a in others], stats)
