"""Geometric action-unit estimates: landmark motion relative to a neutral baseline.

OpenFace predicts AUs from appearance (HOG) and shape with trained regressors; the embedded
tracker has no such models, so each AU is a documented geometric proxy measured on the 3D
landmarks in the head's own axes (``pose.to_head_frame``: head rotation and translation removed,
mm, X right, Y down). Per clip, each measure's linear dependence on head pitch and yaw is removed
(:func:`decorrelate_pose`), measures combine into raw AU values (:func:`au_values`, mm, larger =
more of the AU), and each AU is compared with a baseline (:func:`baseline`: a low percentile of
its raw value over the frames of the actor's neutral clip, or of the clip itself) and converted
to OpenFace's 0..5 scale with a mm-per-level unit (:data:`AU_RULES`; calibrated against real
OpenFace output on the shared ``default.wmv`` for the AUs the proxy follows there: 06, 07, 10,
12, 15, 25, 45; anatomical units otherwise), then clipped to 0..5. Presence ``AU*_c`` =
intensity >= :data:`PRESENCE_LEVEL` (AU28, which OpenFace only detects, has its own rule).
These are proxies, not FACS-calibrated intensities. :data:`UNFOLLOWED` AUs (cue not carried by
the 68 landmarks) are written as 0 by default; :data:`UNVALIDATED` ones did not follow OpenFace
on the reference clip. Measures are smoothed with a 3-frame running median (100 ms at 30 fps;
shorter than a blink) first. The table below is docs/tracker.md's; mm / level as in AU_RULES.

==========  ===============================================  ===========  ==========
AU          measure (mm unless stated)                       direction    mm / level
==========  ===============================================  ===========  ==========
AU01        inner brow height above the eye-corner line      raise        1.5
            (points 20, 21, 22, 23)
AU02        outer brow height (17, 18, 25, 26)               raise        1.5
AU04        inner brow height (lowering) + half the          lower        1.5
            inner-brow gap 21-22 narrowing
AU05        upper lid height above the eye-corner line       raise        0.8
            (37, 38, 43, 44)
AU06        lower lid depth below the eye-corner line        raise        1.8 cal.
            (40, 41, 46, 47): cheek raise lifts it
AU07        lid opening (37-41, 38-40, 43-47, 44-46)         narrowing    8.4 cal.
AU09        nose base 33 to inner eye corners 39/42,         shortening   1.0
            vertical (nose wrinkle): written as 0
AU10        upper lip 51 to nose base 33, vertical           shortening   7.8 cal.
AU12        lip corners 48/54 height relative to nose base   raise        6.2 cal.
            + half the mouth-width increase
AU14        mouth width 48-54 (dimpler): written as 0        narrowing    2.0
AU15        lip corners 48/54 height relative to nose base   lowering     14.9 cal.
AU17        chin 8 to lower lip 57, vertical: written as 0   shortening   1.5
AU20        mouth width increase + corner lowering           stretch      2.5
AU23        red-lip height (upper 50-52 to 61-63, lower      thinning     1.0
            65-67 to 56-58): written as 0
AU25        inner-lip gap 61-67, 62-66, 63-65                opening      6.1 cal.
AU26        chin 8 to nose base 33, vertical                 lengthening  3.0
AU45        lid opening narrowing (as AU07)                  closing      3.5 cal.
AU28 (_c)   red-lip height below 30 % of baseline (lip suck)  -            -
==========  ===============================================  ===========  ==========
"""

from __future__ import annotations

import numpy as np

from features.tracks.openface import AU_C, AU_R

PRESENCE_LEVEL = 1.0          # AU*_c = 1 when the intensity reaches this level
LIP_SUCK_FRACTION = 0.3       # AU28_c: red-lip height below this fraction of neutral
BASELINE_PERCENTILE = 10.0    # per-AU percentile of the raw value forming the baseline
POSE_RIDGE_DEG = 1.0          # ridge (deg) of the per-clip pose-leak regression

MEASURES = ["inner_brow", "outer_brow", "brow_gap", "upper_lid", "lower_lid", "lid_open",
            "nose_eye", "lip_nose", "corner", "mouth_width", "chin_lip", "lip_red", "lip_gap",
            "jaw"]
_M = {name: i for i, name in enumerate(MEASURES)}

# AU -> (terms [(measure, weight)], mm per level). The raw value of an AU is the weighted sum of
# its measures (larger = more of the AU); its intensity is (raw - baseline) / unit, clipped 0..5.
AU_RULES: dict[str, tuple[list[tuple[str, float]], float]] = {
    "01": ([("inner_brow", 1.0)], 1.5),
    "02": ([("outer_brow", 1.0)], 1.5),
    "04": ([("inner_brow", -1.0), ("brow_gap", -0.5)], 1.5),
    "05": ([("upper_lid", 1.0)], 0.8),
    "06": ([("lower_lid", -1.0)], 1.8),     # calibrated (default.wmv)
    "07": ([("lid_open", -1.0)], 8.4),      # calibrated
    "09": ([("nose_eye", -1.0)], 1.0),
    "10": ([("lip_nose", -1.0)], 7.8),      # calibrated
    "12": ([("corner", -1.0), ("mouth_width", 0.5)], 6.2),   # calibrated
    "14": ([("mouth_width", -1.0)], 2.0),
    "15": ([("corner", 1.0)], 14.9),        # calibrated
    "17": ([("chin_lip", -1.0)], 1.5),
    "20": ([("mouth_width", 1.0), ("corner", 1.0)], 2.5),
    "23": ([("lip_red", -1.0)], 1.0),
    "25": ([("lip_gap", 1.0)], 6.1),        # calibrated
    "26": ([("jaw", 1.0)], 3.0),
    "45": ([("lid_open", -1.0)], 3.5),      # calibrated
}

# AUs whose cue the 68 landmarks do not carry (nose wrinkles, dimples, chin-boss wrinkling, lip
# tightening are texture): written as 0 with track.au_unfollowed: zero, listed in every report.
UNFOLLOWED = ("09", "14", "17", "23")
# AUs measured from landmarks that did not agree with OpenFace on the reference clip
# (held-out r < 0.5 on default.wmv): written, listed in every report as not validated.
UNVALIDATED = ("01", "02", "04", "05", "20", "26")


def _y(h: np.ndarray, idx: list[int]) -> np.ndarray:
    return h[:, idx, 1].mean(axis=1)


def smooth3(values: np.ndarray) -> np.ndarray:
    """Running median over 3 frames ``(n, m)`` (edges repeat the end frames)."""
    if values.shape[0] < 3:
        return values.copy()
    padded = np.concatenate([values[:1], values, values[-1:]], axis=0)
    return np.median(np.stack([padded[:-2], padded[1:-1], padded[2:]]), axis=0)


def measurements(head: np.ndarray) -> np.ndarray:
    """Per-frame measures ``(n, len(MEASURES))`` mm from head-frame landmarks ``(n, 68, 3)``."""
    h = head
    eye_line = _y(h, [36, 39, 42, 45])
    nose = h[:, 33, 1]
    cols = {
        "inner_brow": eye_line - _y(h, [20, 21, 22, 23]),
        "outer_brow": eye_line - _y(h, [17, 18, 25, 26]),
        "brow_gap": np.abs(h[:, 22, 0] - h[:, 21, 0]),
        "upper_lid": eye_line - _y(h, [37, 38, 43, 44]),
        "lower_lid": _y(h, [40, 41, 46, 47]) - eye_line,
        "lid_open": ((h[:, 41, 1] - h[:, 37, 1]) + (h[:, 40, 1] - h[:, 38, 1])
                     + (h[:, 47, 1] - h[:, 43, 1]) + (h[:, 46, 1] - h[:, 44, 1])) / 4,
        "nose_eye": nose - _y(h, [39, 42]),
        "lip_nose": h[:, 51, 1] - nose,
        "corner": _y(h, [48, 54]) - nose,
        "mouth_width": np.linalg.norm(h[:, 54, :2] - h[:, 48, :2], axis=1),
        "chin_lip": h[:, 8, 1] - h[:, 57, 1],
        "lip_red": (_y(h, [61, 62, 63]) - _y(h, [50, 51, 52])) + (_y(h, [56, 57, 58]) - _y(h, [65, 66, 67])),
        "lip_gap": np.maximum(_y(h, [65, 66, 67]) - _y(h, [61, 62, 63]), 0.0),
        "jaw": h[:, 8, 1] - nose,
    }
    return np.stack([cols[m] for m in MEASURES], axis=1)


def decorrelate_pose(measures: np.ndarray, euler: np.ndarray, success: np.ndarray,
                     ridge_deg: float = POSE_RIDGE_DEG) -> np.ndarray:
    """Measures ``(n, m)`` with their linear dependence on head pitch and yaw removed.

    Head-frame measures still follow rigid head motion a little: dlib's 2D landmarks are biased
    under rotation (the brows slide towards the eyes as the head pitches) and the mean face's
    depths are not the person's. Per clip, each measure is regressed on (pitch, yaw) (rad) over the
    tracked frames with a ridge of ``ridge_deg`` (a clip whose head hardly moves gets almost no
    correction) and the fitted leak is removed relative to the frontal pose (pitch = yaw = 0), so
    clips with different mean poses stay comparable. Costs: expression that truly co-varies with
    head pitch in a clip is reduced as well.
    """
    out = measures.copy()
    idx = np.flatnonzero(success)
    if idx.size < 3:
        return out
    X = euler[idx][:, :2]
    Xc = X - X.mean(axis=0)
    Y = measures[idx] - measures[idx].mean(axis=0)
    lam = idx.size * np.radians(ridge_deg) ** 2
    beta = np.linalg.solve(Xc.T @ Xc + lam * np.eye(2), Xc.T @ Y)   # (2, m)
    out[idx] = measures[idx] - euler[idx][:, :2] @ beta
    return out


def au_values(measures: np.ndarray) -> np.ndarray:
    """Raw AU values ``(n, 17)`` mm (OpenFace's AU_R order) from measures ``(n, len(MEASURES))``."""
    return np.stack([sum(w * measures[:, _M[m]] for m, w in AU_RULES[au][0]) for au in AU_R],
                    axis=1)


def baseline(raw: np.ndarray, frames: np.ndarray,
             percentile: float = BASELINE_PERCENTILE) -> np.ndarray | None:
    """Per-AU baseline ``(17,)``: the ``percentile``-th percentile of each raw value over
    ``frames`` (indices of tracked frames; None when empty).

    A low percentile per AU, not the stillest frames: in a clip where a smile is held
    throughout, the stillest frames are the smile, while every AU still has its own least-active
    moments (the clip's start and end, pauses, blinks apart); OpenFace calibrates its dynamic
    AU models per person in the same spirit (shifting each prediction by a low percentile).
    """
    if frames.size == 0:
        return None
    return np.percentile(raw[frames], percentile, axis=0)


def estimate_aus(raw: np.ndarray, success: np.ndarray, base: np.ndarray | None,
                 unfollowed_zero: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """AU intensities ``(n, 17)`` 0..5 and presences ``(n, 18)`` 0/1 (OpenFace's AU order).

    Untracked frames (and every frame when there is no baseline) get 0; so do the
    :data:`UNFOLLOWED` AUs when ``unfollowed_zero``. AU28 (presence only): lip suck, the red-lip
    height below :data:`LIP_SUCK_FRACTION` of its baseline.
    """
    n = raw.shape[0]
    au_r = np.zeros((n, len(AU_R)))
    au_c = np.zeros((n, len(AU_C)))
    if base is None or n == 0:
        return au_r, au_c
    units = np.array([AU_RULES[au][1] for au in AU_R])
    au_r = np.clip((raw - base) / units, 0.0, 5.0)
    if unfollowed_zero:
        au_r[:, [AU_R.index(a) for a in UNFOLLOWED]] = 0.0
    au_r[~success] = 0.0
    red = AU_R.index("23")            # raw AU23 = -red-lip height
    for j, au in enumerate(AU_C):
        if au == "28":
            lip, lip0 = -raw[:, red], -base[red]
            au_c[:, j] = (lip < LIP_SUCK_FRACTION * lip0) if lip0 > 0 else 0.0
        else:
            au_c[:, j] = au_r[:, AU_R.index(au)] >= PRESENCE_LEVEL
    au_c[~success] = 0.0
    return au_r, au_c
