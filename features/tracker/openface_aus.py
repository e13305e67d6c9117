"""OpenFace 2.2's appearance action units, reimplemented from its papers and sources' description.

Per tracked frame (:class:`FrameFeatures`, :func:`frame_features`):

1. the PDM fit of the 68 landmarks (:mod:`features.tracker.pdm`);
2. the face aligned by a similarity transform to the PDM mean shape x 0.7 (112 x 112 px): scale
   and rotation from the rigid landmarks (jaw sides, nose, eye contours: :data:`RIGID`) by
   Procrustes, centred on the fit's translation; pixels outside the face are set to 0 (the mask is
   OpenFace's triangulation of the aligned landmarks with the brows and the two jaw corners raised
   by 30 px, so the forehead stays in);
3. FHOG of the aligned face (:mod:`features.tracker.fhog`, 12 x 12 x 31 = 4464 values) and the
   geometry features: the non-rigid shape ``modes @ p_local`` (204) and ``p_local`` (34).

Per video (:func:`predict`, Baltrusaitis et al., FG 2015 and OpenFace 2.0, FG 2018):

* static models score ``(features - means) @ w + b``; dynamic models subtract the video's
  person-specific median of the features too (a neutral estimate): medians over the tracked frames
  at every second frame, from histograms (HOG: 1000 bins on [-0.005, 1], clipped at 0; geometry:
  10000 bins on [-60, 60]); like OpenFace's offline mode, the first 3000 tracked frames use the
  median of the whole video and later frames the running median up to them;
* SVMs give presence 1/0 from the sign;
* offline post-processing (OpenFace's ``PostprocessOutputFile``): each dynamic intensity model
  subtracts its video's ``cutoff`` quantile of its predictions (a per-video neutral offset), every
  intensity is clipped to 0..5 and smoothed by a 3-frame mean; presence by a 7-frame majority;
  untracked frames are 0.
"""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np

from features.tracker import pdm as pdm_fit
from features.tracker.fhog import fhog_vector
from features.tracker.openface_models import AUModel, OpenFaceModels
from features.tracks.openface import AU_C, AU_R

ALIGN_SIZE = 112
ALIGN_SCALE = 0.7
# landmarks OpenFace aligns on: jaw sides, nose bridge and base, eye contours (not brows, mouth)
RIGID = np.array([1, 2, 3, 4, 12, 13, 14, 15, 27, 28, 29, 31, 32, 33, 34, 35, 36, 39, 40, 41, 42, 45,
                  46, 47])
RAISED = np.array([0, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26])   # lifted for the mask
RAISE_PX = 30.0                                     # at scale 0.7 (OpenFace: 30 / 0.7 x scale)
HOG_BINS, HOG_RANGE = 1000, (-0.005, 1.0)
GEOM_BINS, GEOM_RANGE = 10000, (-60.0, 60.0)
MAX_INIT_FRAMES = 3000
REG_WINDOW, CLASS_WINDOW = 3, 7


@dataclasses.dataclass(frozen=True)
class FrameFeatures:
    """One frame's AU input: ``features (4702,)`` float32 (HOG 4464 + geometry 238) and the PDM
    fit it came from."""

    features: np.ndarray
    fit: pdm_fit.PDMFit


def similarity(lmk2d: np.ndarray, mean2d: np.ndarray) -> np.ndarray:
    """Scale-rotation ``(2, 2)`` taking the rigid landmarks onto the scaled mean shape (Procrustes
    with scale; no reflection)."""
    src = lmk2d[RIGID] - lmk2d[RIGID].mean(axis=0)
    dst = mean2d[RIGID] - mean2d[RIGID].mean(axis=0)
    s_src = np.sqrt((src ** 2).sum() / len(src))
    s_dst = np.sqrt((dst ** 2).sum() / len(dst))
    u, _, vt = np.linalg.svd((src / s_src).T @ (dst / s_dst))
    corr = np.eye(2)
    corr[1, 1] = 1.0 if np.linalg.det(vt.T @ u.T) > 0 else -1.0
    return (s_dst / s_src) * (vt.T @ corr @ u.T)


def _in_triangles(px: np.ndarray, tri: np.ndarray) -> np.ndarray:
    """Whether each pixel ``px (k, 2)`` lies in any triangle ``tri (t, 3, 2)``, edges included:
    for each edge, the pixel and the opposite vertex are on the same side or on the line."""
    p = px[:, None, :]                               # (k, 1, 2)
    a, b, c = tri[:, 0], tri[:, 1], tri[:, 2]        # (t, 2) each
    inside = np.ones((len(px), len(tri)), bool)
    for v, e0, e1 in ((a, b, c), (b, a, c), (c, a, b)):
        d = e1 - e0
        s_p = d[:, 0] * (p[..., 1] - e0[:, 1]) - (p[..., 0] - e0[:, 0]) * d[:, 1]   # (k, t)
        s_v = d[:, 0] * (v[:, 1] - e0[:, 1]) - (v[:, 0] - e0[:, 0]) * d[:, 1]       # (t,)
        inside &= s_p * s_v >= 0
    return inside.any(axis=1)


def face_mask(points: np.ndarray, triangles: np.ndarray, size: int,
              outline: np.ndarray | None = None) -> np.ndarray:
    """``(size, size)`` uint8 mask, 1 on pixels (integer centres) inside any triangle of
    ``points (68, 2)``, edges included: rasterised by OpenCV, then the pixels near the outline
    decided exactly (OpenCV's fill also takes pixels the outline merely touches) against the
    triangles on the outline (``outline``, indices; default all)."""
    mask = np.zeros((size, size), np.uint8)
    tri = points[triangles]                                             # (t, 3, 2)
    cv2.fillPoly(mask, list(np.round(tri * 16).astype(np.int32)), 1, lineType=cv2.LINE_8, shift=4)
    band = mask & ~cv2.erode(mask, np.ones((3, 3), np.uint8))
    ys, xs = np.nonzero(band)
    if len(ys):
        px = np.stack([xs, ys], axis=1).astype(np.float64)
        mask[ys, xs] = _in_triangles(px, tri if outline is None else tri[outline]).astype(np.uint8)
    return mask


def align_face(frame: np.ndarray, lmk2d: np.ndarray, params: np.ndarray, models: OpenFaceModels,
               scale: float = ALIGN_SCALE, size: int = ALIGN_SIZE) -> np.ndarray:
    """The masked, similarity-aligned face ``(size, size, 3)`` uint8 (BGR, as the frame)."""
    A = similarity(lmk2d, models.pdm.mean[:, :2] * scale)
    T = A @ params[4:6]
    warp = np.hstack([A, (size / 2.0 - T)[:, None]])
    out = cv2.warpAffine(frame, warp, (size, size), flags=cv2.INTER_LINEAR)
    pts = lmk2d @ A.T + warp[:, 2]
    pts[RAISED, 1] -= RAISE_PX / ALIGN_SCALE * scale
    out *= face_mask(pts, models.triangulation, size, models.outline)[..., None]
    return out


def frame_features(frame: np.ndarray, lmk2d: np.ndarray, models: OpenFaceModels) -> FrameFeatures:
    """PDM fit, aligned face, FHOG and geometry of one tracked frame (see the module docstring)."""
    fitted = pdm_fit.fit(models.pdm, lmk2d)
    face = align_face(frame, lmk2d, fitted.params, models)
    nonrigid = (models.pdm.modes @ fitted.local).T.ravel()     # x block, y block, z block (204,)
    feats = np.concatenate([fhog_vector(face), nonrigid, fitted.local]).astype(np.float32)
    return FrameFeatures(feats, fitted)


def feature_size(models: OpenFaceModels) -> int:
    """Length of the per-frame AU input the models take (4702 for OpenFace 2.2's)."""
    return int(models.regressors[0].means.shape[0] if models.regressors else
               models.classifiers[0].means.shape[0])


def _bins(values: np.ndarray, n_bins: int, lo: float, hi: float) -> np.ndarray:
    conv = (values - lo) * n_bins / (hi - lo)
    return np.clip(conv, 0, n_bins - 1).astype(np.int64)


def _centre(bins: np.ndarray, n_bins: int, lo: float, hi: float) -> np.ndarray:
    width = (hi - lo) / n_bins
    return lo + bins * width + 0.5 * width


def running_medians(features: np.ndarray, success: np.ndarray, n_hog: int,
                    max_init: int = MAX_INIT_FRAMES) -> tuple[np.ndarray, np.ndarray]:
    """OpenFace's person-specific feature medians: ``(final (d,), late (k, d))``.

    The median is updated at every second frame (frames 1, 3, 5... counted from 1) that is tracked.
    ``final`` is the median after the last frame (what the first ``max_init`` tracked frames are
    scored with); ``late`` the running median at each tracked frame after those (``k`` = tracked
    frames beyond ``max_init``, usually 0), as OpenFace scores them.
    """
    n, d = features.shape
    odd_call = np.arange(n) % 2 == 0
    upd = np.flatnonzero(success & odd_call)
    spans = [(slice(0, n_hog), HOG_BINS, HOG_RANGE), (slice(n_hog, d), GEOM_BINS, GEOM_RANGE)]
    final = np.zeros(d)
    if len(upd) == 1:
        # OpenFace keeps the raw descriptor of the latest call while one frame has been counted
        final = features[np.flatnonzero(odd_call)[-1]].astype(np.float64)
    elif len(upd) > 1:
        k = (len(upd) + 1) // 2 - 1
        for sl, nb, (lo, hi) in spans:
            b = _bins(features[upd, sl].astype(np.float64), nb, lo, hi)
            final[sl] = _centre(np.partition(b, k, axis=0)[k], nb, lo, hi)
    final[:n_hog] = np.maximum(final[:n_hog], 0.0)
    rows = np.flatnonzero(success)
    late_rows = rows[max_init:]
    late = np.zeros((len(late_rows), d))
    if len(late_rows):
        for sl, nb, (lo, hi) in spans:
            cum = np.zeros((sl.stop - sl.start, nb), np.int32)     # cumulative histogram
            cols = np.arange(nb)
            count, med, j = 0, np.zeros(sl.stop - sl.start), 0
            for i in range(late_rows[-1] + 1):
                if odd_call[i]:
                    if success[i]:
                        b = _bins(features[i, sl].astype(np.float64), nb, lo, hi)
                        cum += cols[None, :] >= b[:, None]
                        count += 1
                    if count == 1:
                        med = features[i, sl].astype(np.float64)
                    elif count > 1:
                        med = _centre(np.argmax(cum >= (count + 1) // 2, axis=1), nb, lo, hi)
                if j < len(late_rows) and late_rows[j] == i:
                    late[j, sl] = med
                    j += 1
        late[:, :n_hog] = np.maximum(late[:, :n_hog], 0.0)
    return final, late


def _scores(models: tuple[AUModel, ...], features: np.ndarray, median: np.ndarray,
            late: np.ndarray, success: np.ndarray) -> np.ndarray:
    """Raw linear scores ``(n, len(models))`` on tracked frames (0 elsewhere); tracked frames after
    the first ``len(rows) - len(late)`` use their running median ``late``."""
    n = features.shape[0]
    out = np.zeros((n, len(models)))
    if not models:
        return out
    W = np.stack([m.weights for m in models], axis=1)
    b = np.array([m.bias for m in models])
    means = np.stack([m.means for m in models], axis=0)
    dyn = np.array([m.dynamic for m in models])
    rows = np.flatnonzero(success)
    x = features[rows].astype(np.float64)
    # static: (x - means) @ W + b; dynamic: (x - means - median) @ W + b
    base = x @ W - np.einsum("md,dm->m", means, W) + b
    med = np.tile(median, (len(rows), 1))
    if len(late):
        med[len(rows) - len(late):] = late
    base[:, dyn] -= med @ W[:, dyn]
    out[rows] = base
    return out


def _smooth(values: np.ndarray, window: int) -> np.ndarray:
    """Centred moving mean over ``window`` frames; the ``window // 2`` frames at each end keep
    their values (OpenFace's offline smoothing)."""
    half = window // 2
    out = values.copy()
    if len(values) > 2 * half:
        c = np.cumsum(np.vstack([np.zeros((1, values.shape[1])), values]), axis=0)
        out[half:len(values) - half] = (c[window:] - c[:-window]) / window
    return out


def predict(models: OpenFaceModels, features: np.ndarray, success: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """AU intensities ``(n, 17)`` and presences ``(n, 18)`` in the CSV's order (``AU_R``, ``AU_C``)
    from per-frame ``features (n, 4702)`` (zeros where untracked) and ``success (n,)``."""
    success = np.asarray(success, dtype=bool)
    n_hog = features.shape[1] - 3 * models.pdm.mean.shape[0] - models.pdm.n_modes
    median, late = running_medians(features, success, n_hog)
    reg = _scores(models.regressors, features, median, late, success)
    cls = _scores(models.classifiers, features, median, late, success)
    for j, m in enumerate(models.regressors):        # per-video neutral offset (dynamic models)
        good = np.sort(reg[success, j])
        if models.model_set == "dynamic" and m.dynamic and m.cutoff != -1 and len(good):
            reg[success, j] -= good[int(len(good) * m.cutoff)]
    reg = np.clip(reg, 0.0, 5.0)
    reg[~success] = 0.0
    reg = _smooth(reg, REG_WINDOW)
    pres = np.where(cls > 0, [m.labels[0] for m in models.classifiers],
                    [m.labels[1] for m in models.classifiers]) if models.classifiers else cls
    pres[~success] = 0.0
    pres = (_smooth(pres, CLASS_WINDOW) >= 0.5).astype(np.float64) if len(pres) > CLASS_WINDOW // 2 \
        else pres
    au_r = np.zeros((len(success), len(AU_R)))
    au_c = np.zeros((len(success), len(AU_C)))
    for j, m in enumerate(models.regressors):
        if m.name[2:] in AU_R:
            au_r[:, AU_R.index(m.name[2:])] = reg[:, j]
    for j, m in enumerate(models.classifiers):
        if m.name[2:] in AU_C:
            au_c[:, AU_C.index(m.name[2:])] = pres[:, j]
    return au_r, au_c
