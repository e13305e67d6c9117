"""Action units (35 dims) and head pose (6 dims) per frame, from OpenFace.

AU (``au``): the 17 intensities ``AU*_r`` (0..5) divided by 5, so that both halves lie in 0..1,
then the 18 presences ``AU*_c`` (0/1): ``(frames, 35)``, names in :data:`AU_NAMES`.

Head pose (``pose``): ``Tx, Ty, Tz`` (mm) and ``Rx, Ry, Rz`` (rad, pitch, yaw, roll) minus the
clip's mean over its valid frames (selected, not padded, tracked): ``(frames, 6)``, names in
:data:`POSE_NAMES`. The thesis removes "the mean vector of each video"; using the valid selected
frames keeps padding and interpolated frames from shifting the mean.
"""

from __future__ import annotations

import numpy as np

from features.tracks.openface import AU_C, AU_R

AU_INTENSITY_MAX = 5.0
AU_NAMES: tuple[str, ...] = tuple(f"AU{a}_r" for a in AU_R) + tuple(f"AU{a}_c" for a in AU_C)
POSE_NAMES: tuple[str, ...] = ("Tx", "Ty", "Tz", "Rx", "Ry", "Rz")


def au_features(au_r: np.ndarray, au_c: np.ndarray) -> np.ndarray:
    """``(frames, 35)`` float32: ``au_r (frames, 17) / 5`` then ``au_c (frames, 18)``."""
    au_r = np.asarray(au_r, dtype=np.float64)
    au_c = np.asarray(au_c, dtype=np.float64)
    if au_r.shape[1:] != (17,) or au_c.shape[1:] != (18,) or len(au_r) != len(au_c):
        raise ValueError(f"expected AU_r (frames, 17) and AU_c (frames, 18), got {au_r.shape}, {au_c.shape}")
    return np.concatenate([au_r / AU_INTENSITY_MAX, au_c], axis=1).astype(np.float32)


def pose_features(pose_t: np.ndarray, pose_r: np.ndarray, valid: np.ndarray | None = None) -> np.ndarray:
    """``(frames, 6)`` float32: ``[T (mm), R (rad)]`` minus their mean over ``valid`` frames
    (all frames when None or when no frame is valid)."""
    pose = np.concatenate([np.asarray(pose_t, np.float64), np.asarray(pose_r, np.float64)], axis=1)
    if pose.shape[1] != 6:
        raise ValueError(f"expected pose T (frames, 3) and R (frames, 3), got {pose.shape}")
    use = np.ones(len(pose), bool) if valid is None else np.asarray(valid, bool)
    if not use.any():
        use = np.ones(len(pose), bool)
    return (pose - pose[use].mean(axis=0)).astype(np.float32)
