"""68 face landmarks with dlib's shape predictor, the tracking box, and the appearance check.

* Fitting: dlib's 68-point shape predictor (iBUG 300-W layout, the same 68 points as OpenFace) on
  the grayscale of a region of interest around the face only (the rest of the frame is never
  converted).
* Tracking: the box for frame t comes from the landmarks of frame t-1. The predictor was trained on
  the detector's boxes, so the box is rebuilt in the detector's frame of reference: at each
  detection the tracker records where the detector's box lies relative to the landmarks
  (:class:`BoxModel`, offsets in units of the landmarks' RMS radius), and reuses it.
* Fit quality: dlib's predictor always returns a face-shaped answer, even on a wall. The check is
  appearance: the normalised cross-correlation (NCC) between the face patch under the current
  landmarks and the patch stored at the last detection (both 32x32, in landmark-aligned boxes).
"""

from __future__ import annotations

import dataclasses

import cv2
import dlib
import numpy as np

from features.tracker.models import per_thread, shape_predictor_path

PATCH = 32  # side of the appearance patch (px)


@per_thread
def _predictor() -> dlib.shape_predictor:
    return dlib.shape_predictor(str(shape_predictor_path()))


def fit_landmarks(gray_roi: np.ndarray, box: tuple[float, float, float, float],
                  offset: tuple[int, int]) -> np.ndarray:
    """Landmarks ``(68, 2)`` px (full-frame coordinates) for ``box`` (full-frame coordinates).

    ``gray_roi`` is the grayscale crop whose top-left corner is at ``offset`` in the frame.
    """
    ox, oy = offset
    l, t, r, b = box
    rect = dlib.rectangle(int(round(l - ox)), int(round(t - oy)),
                          int(round(r - ox)) - 1, int(round(b - oy)) - 1)
    shape = _predictor()(gray_roi, rect)
    pts = np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float64)
    pts[:, 0] += ox
    pts[:, 1] += oy
    return pts


def shape_frame(lmk: np.ndarray) -> tuple[np.ndarray, float]:
    """Centroid ``(2,)`` px and RMS radius (px) of landmarks ``(68, 2)``."""
    c = lmk.mean(axis=0)
    return c, float(np.sqrt(np.mean(np.sum((lmk - c) ** 2, axis=1))))


@dataclasses.dataclass(frozen=True)
class BoxModel:
    """Detector box relative to the landmarks: centre offset and width, in RMS-radius units."""

    dx: float
    dy: float
    size: float

    @staticmethod
    def calibrate(box: tuple[float, float, float, float], lmk: np.ndarray) -> BoxModel:
        c, s = shape_frame(lmk)
        l, t, r, b = box
        return BoxModel(((l + r) / 2 - c[0]) / s, ((t + b) / 2 - c[1]) / s, (r - l) / s)

    def box(self, lmk: np.ndarray) -> tuple[float, float, float, float]:
        """The detector-like (square) box for landmarks ``(68, 2)``."""
        c, s = shape_frame(lmk)
        cx, cy, half = c[0] + self.dx * s, c[1] + self.dy * s, self.size * s / 2
        return (cx - half, cy - half, cx + half, cy + half)



def roi_bounds(box: tuple[float, float, float, float], shape: tuple[int, ...],
               margin: float = 0.25) -> tuple[int, int, int, int]:
    """Integer crop ``(x0, y0, x1, y1)`` around ``box`` widened by ``margin``, inside the frame."""
    h, w = shape[:2]
    l, t, r, b = box
    mw, mh = margin * (r - l), margin * (b - t)
    return (int(max(0, np.floor(l - mw))), int(max(0, np.floor(t - mh))),
            int(min(w, np.ceil(r + mw))), int(min(h, np.ceil(b + mh))))


def appearance(gray_roi: np.ndarray, offset: tuple[int, int], lmk: np.ndarray) -> np.ndarray | None:
    """Zero-mean, unit-norm ``(PATCH*PATCH,)`` patch of the face under landmarks ``(68, 2)``.

    The patch is the square spanning the brows-to-chin landmark extent, sampled with a similarity
    warp (so a moving, scaling face gives the same patch); ``None`` when it is flat or off-image.
    """
    c, s = shape_frame(lmk)
    half = 1.6 * s
    h, w = gray_roi.shape[:2]
    x0 = int(round(c[0] - half - offset[0]))
    y0 = int(round(c[1] - half - offset[1]))
    side = max(2, int(round(2 * half)))
    x1, y1 = x0 + side, y0 + side
    if x1 <= 0 or y1 <= 0 or x0 >= w or y0 >= h:
        return None
    crop = gray_roi[max(0, y0):min(h, y1), max(0, x0):min(w, x1)]
    pads = (max(0, -y0), max(0, y1 - h), max(0, -x0), max(0, x1 - w))
    if any(pads):
        crop = cv2.copyMakeBorder(crop, *pads, cv2.BORDER_REPLICATE)
    patch = cv2.resize(crop, (PATCH, PATCH), interpolation=cv2.INTER_AREA)
    patch = patch.astype(np.float32).ravel()
    patch -= patch.mean()
    norm = float(np.linalg.norm(patch))
    if norm < 1e-3 * PATCH:
        return None
    return patch / norm


def similarity(a: np.ndarray | None, b: np.ndarray | None) -> float:
    """Normalised cross-correlation of two :func:`appearance` patches (-1..1; 0 if either is None)."""
    if a is None or b is None:
        return 0.0
    return float(np.dot(a, b))
