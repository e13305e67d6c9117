"""Tracker accuracy against ground-truth landmarks: NME, detection rate, jitter.

* NME (normalised mean error): per frame, the mean Euclidean distance between predicted and true
  landmarks divided by the true inter-ocular distance (outer eye corners 36 and 45, the 300-W
  convention); averaged over the frames that have a face in the truth and were tracked.
* detection rate: tracked frames / frames that have a face in the truth.
* false tracks: frames tracked although the truth has no face there (NaN truth).
* jitter: frame-to-frame change of the error vector, ``|(p_t - g_t) - (p_t-1 - g_t-1)|``, averaged
  over points and consecutive tracked frame pairs and divided by the inter-ocular distance. True
  motion cancels, so this is the tracker's own frame-to-frame noise (0 for a perfectly steady
  tracker, also for one with a constant offset).
"""

from __future__ import annotations

import numpy as np


def score_landmarks(pred: np.ndarray, truth: np.ndarray, success: np.ndarray) -> dict[str, float]:
    """Scores of ``pred (n, 68, 2)`` against ``truth (n, 68, 2)`` px (NaN rows = no face) given
    the tracker's ``success (n,)``. Returns nme, nme_p95 (95th percentile of per-frame NME),
    detection_rate, false_tracks, jitter, frames, face_frames, tracked."""
    pred, truth = np.asarray(pred, float), np.asarray(truth, float)
    success = np.asarray(success, bool)
    if pred.shape != truth.shape or pred.shape[1:] != (68, 2) or success.shape != pred.shape[:1]:
        raise ValueError(f"shapes differ: pred {pred.shape}, truth {truth.shape}, "
                         f"success {success.shape}")
    has_face = ~np.isnan(truth).any(axis=(1, 2))
    iod = np.linalg.norm(truth[:, 36] - truth[:, 45], axis=1)
    ok = has_face & success
    err = np.full(len(pred), np.nan)
    err[ok] = np.linalg.norm(pred[ok] - truth[ok], axis=2).mean(axis=1) / iod[ok]
    pair = ok[1:] & ok[:-1]
    diff = (pred - truth)[1:] - (pred - truth)[:-1]
    jit = np.linalg.norm(diff, axis=2).mean(axis=1) / iod[1:]
    faces = int(has_face.sum())
    return {
        "nme": float(np.nanmean(err)) if ok.any() else float("nan"),
        "nme_p95": float(np.nanpercentile(err, 95)) if ok.any() else float("nan"),
        "detection_rate": float(ok.sum() / faces) if faces else float("nan"),
        "false_tracks": int((success & ~has_face).sum()),
        "jitter": float(jit[pair].mean()) if pair.any() else float("nan"),
        "frames": int(len(pred)),
        "face_frames": faces,
        "tracked": int(ok.sum()),
    }


def combine_scores(scores: list[dict[str, float]]) -> dict[str, float]:
    """Frame-weighted totals over several videos (nme and jitter weighted by tracked frames)."""
    tracked = sum(s["tracked"] for s in scores)
    faces = sum(s["face_frames"] for s in scores)

    def wmean(key: str) -> float:
        vals = [(s[key], s["tracked"]) for s in scores if s["tracked"] and np.isfinite(s[key])]
        w = sum(t for _, t in vals)
        return float(sum(v * t for v, t in vals) / w) if w else float("nan")

    return {"nme": wmean("nme"), "nme_p95": max((s["nme_p95"] for s in scores), default=float("nan")),
            "detection_rate": tracked / faces if faces else float("nan"),
            "false_tracks": sum(s["false_tracks"] for s in scores), "jitter": wmean("jitter"),
            "frames": sum(s["frames"] for s in scores), "face_frames": faces, "tracked": tracked,
            "videos": len(scores)}
