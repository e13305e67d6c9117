"""Gaze per frame (``gaze``, 4 dims) and per clip (``gaze_stats``, 72 named statistics).

Per frame: ``[gaze_x, gaze_y, dgaze_x, dgaze_y]``: OpenFace's ``gaze_angle_x/y`` (rad, averaged
over both eyes, x positive = looking left in OpenFace's camera frame, y positive = down) and their
frame-to-frame differences (rad/frame; the first frame's difference is 0).

Per clip: a fixed vector whose names are :data:`GAZE_STAT_NAMES` (also stored in the file's
``params`` attribute under ``names``). It follows the functionals of the gaze feature set in
Nie (2023, Table 3.2, after O'Dwyer et al. and Abdou et al.) for the signals OpenFace gives
directly; pupil diameter, pupil dilation/constriction and "gaze approach" are not computed.

* For each signal ``gaze_x``, ``gaze_y`` (rad), ``dgaze_x``, ``dgaze_y`` (rad/frame) and
  ``au45`` (``AU45_r``, blink intensity 0..5), 12 functionals (:data:`FUNCTIONALS`): ``min``,
  ``max``, ``mean``, ``median``, ``q1``, ``q3`` (25th/75th percentiles, linear), ``std``
  (population), ``iqr12 = median - q1``, ``iqr23 = q3 - median``, ``iqr13 = q3 - q1`` (signal
  units) and a least-squares line over time in seconds from the first selected frame:
  ``lr_intercept`` (signal units at t = 0) and ``lr_slope`` (signal units per second).
  They use the valid frames only (selected, not padded, tracked); a difference is valid when
  both of its frames are. An empty set gives zeros; fewer than 2 points give slope 0.
* Events, on the non-padded selected frames (untracked ones interpolated, since events need
  contiguous time): ``blink`` = runs of ``AU45_r > gaze.blink_threshold``; ``fixation`` = runs
  of difference frames with ``hypot(dgaze_x, dgaze_y) < gaze.fixation_threshold`` (rad/frame).
  For each: ``time_ratio`` (fraction of frames in the event), ``rate_per_s`` (runs per second
  of clip), ``min_s``, ``max_s``, ``mean_s``, ``median_s`` (run durations in seconds; 0 when
  there is no run). ``blink_rate_per_s`` is the blink rate and ``blink_mean_s`` the mean blink
  duration.

12 x 5 + 6 x 2 = 72 values, float32.
"""

from __future__ import annotations

import numpy as np

SIGNALS: tuple[str, ...] = ("gaze_x", "gaze_y", "dgaze_x", "dgaze_y", "au45")
FUNCTIONALS: tuple[str, ...] = ("min", "max", "mean", "median", "q1", "q3", "std", "iqr12",
                                "iqr23", "iqr13", "lr_intercept", "lr_slope")
EVENTS: tuple[str, ...] = ("blink", "fixation")
EVENT_STATS: tuple[str, ...] = ("time_ratio", "rate_per_s", "min_s", "max_s", "mean_s", "median_s")
GAZE_STAT_NAMES: tuple[str, ...] = (
    tuple(f"{s}_{f}" for s in SIGNALS for f in FUNCTIONALS)
    + tuple(f"{e}_{s}" for e in EVENTS for s in EVENT_STATS))
GAZE_FRAME_NAMES: tuple[str, ...] = ("gaze_x", "gaze_y", "dgaze_x", "dgaze_y")


def gaze_frames(gaze_angle: np.ndarray) -> np.ndarray:
    """``(frames, 4)`` float32: angles ``(frames, 2)`` rad and their differences (rad/frame)."""
    g = np.asarray(gaze_angle, dtype=np.float64)
    if g.ndim != 2 or g.shape[1] != 2:
        raise ValueError(f"expected gaze angles (frames, 2), got {g.shape}")
    d = np.zeros_like(g)
    d[1:] = np.diff(g, axis=0)
    return np.concatenate([g, d], axis=1).astype(np.float32)


def functionals(x: np.ndarray, t: np.ndarray) -> np.ndarray:
    """The 12 :data:`FUNCTIONALS` of values ``x (n,)`` observed at times ``t (n,)`` s."""
    x = np.asarray(x, dtype=np.float64)
    if x.size == 0:
        return np.zeros(len(FUNCTIONALS))
    q1, med, q3 = np.percentile(x, [25, 50, 75])
    if x.size >= 2 and np.ptp(t) > 0:
        slope, intercept = np.polyfit(np.asarray(t, np.float64), x, 1)
    else:
        slope, intercept = 0.0, float(x.mean())
    return np.array([x.min(), x.max(), x.mean(), med, q1, q3, x.std(), med - q1, q3 - med,
                     q3 - q1, intercept, slope])


def run_lengths(mask: np.ndarray) -> np.ndarray:
    """Lengths ``(runs,)`` of the runs of True in a bool sequence."""
    m = np.concatenate([[False], np.asarray(mask, bool), [False]]).astype(np.int8)
    edges = np.diff(m)
    return np.flatnonzero(edges == -1) - np.flatnonzero(edges == 1)


def event_stats(mask: np.ndarray, fps: float) -> np.ndarray:
    """The 6 :data:`EVENT_STATS` of a per-frame event mask ``(n,)`` at ``fps`` frames/s."""
    mask = np.asarray(mask, bool)
    if mask.size == 0:
        return np.zeros(len(EVENT_STATS))
    runs = run_lengths(mask) / float(fps)
    ratio = mask.mean()
    rate = len(runs) / (mask.size / float(fps))
    if len(runs) == 0:
        return np.array([ratio, rate, 0.0, 0.0, 0.0, 0.0])
    return np.array([ratio, rate, runs.min(), runs.max(), runs.mean(), np.median(runs)])


def gaze_stats(gaze_angle: np.ndarray, au45_r: np.ndarray, valid: np.ndarray, padded: np.ndarray,
               fps: float, blink_threshold: float = 1.0,
               fixation_threshold: float = 0.01) -> np.ndarray:
    """The clip vector ``(72,)`` float32 named by :data:`GAZE_STAT_NAMES` (see module docstring).

    ``gaze_angle (frames, 2)`` rad and ``au45_r (frames,)`` on the selected frames (untracked
    ones interpolated), ``valid``/``padded`` ``(frames,)`` bool masks, ``fps`` frames/s.
    """
    if fps <= 0:
        raise ValueError(f"fps must be positive, got {fps}")
    g4 = gaze_frames(gaze_angle).astype(np.float64)
    au45 = np.asarray(au45_r, dtype=np.float64)
    valid = np.asarray(valid, bool)
    real = ~np.asarray(padded, bool)
    t = np.arange(len(g4)) / float(fps)
    dvalid = np.zeros_like(valid)
    dvalid[1:] = valid[1:] & valid[:-1]
    parts = [functionals(g4[valid, 0], t[valid]), functionals(g4[valid, 1], t[valid]),
             functionals(g4[dvalid, 2], t[dvalid]), functionals(g4[dvalid, 3], t[dvalid]),
             functionals(au45[valid], t[valid])]
    parts.append(event_stats(au45[real] > blink_threshold, fps))
    dreal = real.copy()
    dreal[0] = False
    dreal[1:] &= real[:-1]
    speed = np.hypot(g4[dreal, 2], g4[dreal, 3])
    parts.append(event_stats(speed < fixation_threshold, fps))
    out = np.concatenate(parts).astype(np.float32)
    assert out.shape == (len(GAZE_STAT_NAMES),)
    return out
