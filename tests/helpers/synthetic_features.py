"""Synthetic feature files with a class-dependent signal, for tests and timing runs.

Writes real ``data/features/<feature>/Actor_XX.h5`` files through ``features.core.store`` and a
manifest with the columns the model stages read (video_id, label, emotion, actor, fold, ...), so
the training, fusion and report code runs unchanged on them before real features exist.

Signal: for each feature, class c adds ``amplitude * pattern_c(t, d)`` to Gaussian noise, where
``pattern_c`` is a fixed random mixture of a per-dimension offset and a class-specific temporal
sinusoid; each actor adds its own offset (so actor-independent folds matter).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from features.core.paths import feature_file
from features.core.ravdess import EMOTION_NAMES, PAPER_FOLDS, fold_of_actor, parse_name
from features.core.store import FeatureRecord, write_feature_file


def clip_ids(actor: int, clips: int = 16) -> list[str]:
    """RAVDESS ids of one actor: 16 = 8 emotions x 2 statements (normal intensity, rep 1);
    60 = the full corpus layout."""
    ids = []
    for e in range(1, 9):
        for i in ((1,) if e == 1 or clips <= 16 else (1, 2)):
            for s in (1, 2):
                for r in ((1,) if clips <= 16 else (1, 2)):
                    ids.append(f"01-01-{e:02d}-{i:02d}-{s:02d}-{r:02d}-{actor:02d}")
    return ids


def synthetic_manifest(actors: list[int], clips: int = 16,
                       folds: list[list[int]] = PAPER_FOLDS) -> pd.DataFrame:
    """Manifest rows (subset of the ingest columns) for the synthetic clips."""
    rows = []
    for a in actors:
        for vid in clip_ids(a, clips):
            c = parse_name(vid)
            rows.append({**c.as_row(), "label": c.emotion - 1, "actor_dir": f"Actor_{a:02d}",
                         "fold": fold_of_actor(a, folds), "frames": 100, "path": f"{vid}.mp4"})
    return pd.DataFrame(rows).sort_values("video_id").reset_index(drop=True)


def write_synthetic_features(root: Path, manifest: pd.DataFrame, dims: dict[str, tuple[int, int]],
                             amplitude: float = 0.6, seed: int = 0,
                             invalid_fraction: float = 0.0) -> None:
    """For each ``feature -> (frames, dims)`` write one HDF5 file per actor under ``root``."""
    for f_i, (feature, (frames, d)) in enumerate(sorted(dims.items())):
        rng = np.random.default_rng(seed * 1000 + f_i)
        t = np.linspace(0.0, 1.0, frames)[:, None]
        offsets = rng.normal(size=(8, d))
        freqs = rng.uniform(1.0, 4.0, size=(8, 1))
        phases = rng.uniform(0, 2 * np.pi, size=(8, d))
        patterns = 0.5 * offsets[:, None, :] + np.sin(2 * np.pi * freqs[:, None, :] * t[None] +
                                                       phases[:, None, :])
        for actor, rows in manifest.groupby("actor"):
            a_rng = np.random.default_rng(seed * 100_000 + f_i * 100 + int(actor))
            actor_offset = a_rng.normal(scale=0.5, size=d)
            recs = []
            for vid, label in zip(rows["video_id"], rows["label"]):
                x = a_rng.normal(size=(frames, d)) + actor_offset + amplitude * patterns[int(label)]
                valid = a_rng.random(frames) >= invalid_fraction
                recs.append(FeatureRecord(vid, x.astype(np.float32), valid,
                                          np.arange(frames), "synthetic"))
            write_feature_file(feature_file(feature, int(actor), Path(root)), feature, recs,
                               {"synthetic": True, "amplitude": amplitude}, actor=int(actor))


def class_names() -> list[str]:
    return list(EMOTION_NAMES)
