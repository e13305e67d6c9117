"""Geometric action-unit estimates: landmark motion relative to a neutral baseline.

OpenFace predicts AUs from appearance (HOG) and shape with trained regressors; the embedded
tracker has no such models, so each AU is a documented geometric proxy measured on the 3D
landmarks in the head's own axes (``pose.to_head_frame``: head rotation and translation removed,
mm, X right, Y down). Every measure is compared with a neutral baseline (:func:`neutral_baseline`:
the median over the stillest frames of a reference video) and converted to OpenFace's 0..5
intensity scale with a fixed mm-per-level unit (:data:`AU_RULES`), then clipped to 0..5. Presence
``AU*_c`` = intensity >= :data:`PRESENCE_LEVEL` (AU28, which OpenFace only detects, has its own
rule). These are proxies, not FACS-calibrated intensities: they rise with the named movement and
stay near 0 on the neutral baseline. The units were set so that landmark jitter on a rigid moving
face (about 0.3-0.9 mm standard deviation per measure at 1280x720) stays below level 1. Measures
are smoothed with a 3-frame running median (100 ms at 30 fps; shorter than a blink) first.

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
AU06        lower lid depth below the eye-corner line        raise        0.6
            (40, 41, 46, 47): cheek raise lifts it
AU07        lid opening (37-41, 38-40, 43-47, 44-46)         narrowing    0.8
            narrowing, at most half the neutral opening
AU09        nose base 33 to inner eye corners 39/42,         shortening   1.0
            vertical (nose wrinkle)
AU10        upper lip 51 to nose base 33, vertical           shortening   1.0
AU12        lip corners 48/54 height relative to nose base   raise        1.5
            + half the mouth-width increase
AU14        mouth width 48-54                                narrowing    2.0
AU15        lip corners 48/54 height relative to nose base   lowering     1.0
AU17        chin 8 to lower lip 57, vertical                 shortening   1.5
AU20        mouth width increase minus corner raise          stretch      2.5
AU23        red-lip height (upper 50-52 to 61-63, lower      thinning     1.0
            65-67 to 56-58)
AU25        inner-lip gap 61-67, 62-66, 63-65                opening      2.0
AU26        chin 8 to nose base 33, vertical                 lengthening  3.0
AU45        lid closure, fraction of the neutral opening     closing      0.14
            (0.3 = level 0: squints stay out, 1.0 = fully    (fraction)
            closed = level 5)
AU28 (_c)   red-lip height below 30 % of neutral (lip suck)  -            -
==========  ===============================================  ===========  ==========
"""

from __future__ import annotations

import numpy as np

from features.tracks.openface import AU_C, AU_R

PRESENCE_LEVEL = 1.0          # AU*_c = 1 when the intensity reaches this level
LIP_SUCK_FRACTION = 0.3       # AU28_c: red-lip height below this fraction of neutral
NEUTRAL_FRACTION = 0.2        # share of a video's tracked frames used for its neutral baseline
BLINK_DEAD_ZONE = 0.3         # AU45: lid closure (fraction of neutral opening) below this is 0

MEASURES = ["inner_brow", "outer_brow", "brow_gap", "upper_lid", "lower_lid", "lid_open",
            "nose_eye", "lip_nose", "corner", "mouth_width", "chin_lip", "lip_red", "lip_gap",
            "jaw"]
_M = {name: i for i, name in enumerate(MEASURES)}

# AU -> (terms [(measure, sign, weight)], mm per level)
AU_RULES: dict[str, tuple[list[tuple[str, float]], float]] = {
    "01": ([("inner_brow", 1.0)], 1.5),
    "02": ([("outer_brow", 1.0)], 1.5),
    "04": ([("inner_brow", -1.0), ("brow_gap", -0.5)], 1.5),
    "05": ([("upper_lid", 1.0)], 0.8),
    "06": ([("lower_lid", -1.0)], 0.6),
    "07": ([("lid_open", -1.0)], 0.8),
    "09": ([("nose_eye", -1.0)], 1.0),
    "10": ([("lip_nose", -1.0)], 1.0),
    "12": ([("corner", -1.0), ("mouth_width", 0.5)], 1.5),
    "14": ([("mouth_width", -1.0)], 2.0),
    "15": ([("corner", 1.0)], 1.0),
    "17": ([("chin_lip", -1.0)], 1.5),
    "20": ([("mouth_width", 1.0)], 2.5),
    "23": ([("lip_red", -1.0)], 1.0),
    "25": ([("lip_gap", 1.0)], 2.0),
    "26": ([("jaw", 1.0)], 3.0),
}


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


def stillest_frames(head: np.ndarray, success: np.ndarray, fraction: float = NEUTRAL_FRACTION) -> np.ndarray:
    """Indices of the ``fraction`` of tracked frames with the least landmark motion.

    Motion of frame t = mean displacement (mm, head frame, points 17-67) from the previous
    tracked frame, averaged with the next one's; still frames are the silent, expressionless
    moments before and after speech in RAVDESS clips.
    """
    idx = np.flatnonzero(success)
    if idx.size == 0:
        return idx
    if idx.size < 3:
        return idx
    pts = head[idx][:, 17:68, :2]
    step = np.linalg.norm(np.diff(pts, axis=0), axis=2).mean(axis=1)
    motion = np.empty(idx.size)
    motion[0], motion[-1] = step[0], step[-1]
    motion[1:-1] = (step[:-1] + step[1:]) / 2
    k = max(1, int(round(fraction * idx.size)))
    return idx[np.argsort(motion, kind="stable")[:k]]


def neutral_baseline(measures: np.ndarray, head: np.ndarray, success: np.ndarray,
                     fraction: float = NEUTRAL_FRACTION) -> np.ndarray | None:
    """Baseline measures ``(len(MEASURES),)``: median over the stillest tracked frames (None if
    the video has no tracked frame)."""
    frames = stillest_frames(head, success, fraction)
    if frames.size == 0:
        return None
    return np.median(measures[frames], axis=0)


def estimate_aus(measures: np.ndarray, success: np.ndarray,
                 baseline: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """AU intensities ``(n, 17)`` 0..5 and presences ``(n, 18)`` 0/1 (OpenFace's AU order).

    Untracked frames (and every frame when there is no baseline) get 0.
    """
    n = measures.shape[0]
    au_r = np.zeros((n, len(AU_R)))
    au_c = np.zeros((n, len(AU_C)))
    if baseline is None or n == 0:
        return au_r, au_c
    delta = measures - baseline
    for j, au in enumerate(AU_R):
        if au == "45":
            closed = 1.0 - measures[:, _M["lid_open"]] / max(baseline[_M["lid_open"]], 1e-6)
            au_r[:, j] = 5.0 * (closed - BLINK_DEAD_ZONE) / (1.0 - BLINK_DEAD_ZONE)
            continue
        terms, unit = AU_RULES[au]
        value = sum(w * delta[:, _M[m]] for m, w in terms)
        if au == "07":
            value = np.minimum(value, 0.5 * baseline[_M["lid_open"]])
        if au == "20":
            value = value - np.maximum(0.0, -delta[:, _M["corner"]])
        au_r[:, j] = value / unit
    au_r = np.clip(au_r, 0.0, 5.0)
    au_r[~success] = 0.0
    for j, au in enumerate(AU_C):
        if au == "28":
            lip = measures[:, _M["lip_red"]]
            au_c[:, j] = lip < LIP_SUCK_FRACTION * max(baseline[_M["lip_red"]], 1e-6)
        else:
            au_c[:, j] = au_r[:, AU_R.index(au)] >= PRESENCE_LEVEL
    au_c[~success] = 0.0
    return au_r, au_c
