"""Face detection: dlib's HOG frontal face detector on a downscaled grayscale frame.

dlib's detector scans 80x80 px windows, so a face must be at least ~80 px wide in the image it
sees. Detection runs on the frame scaled by ``detect_scale`` (fast); when that finds nothing it
may retry at full resolution, and small frames (longest side <= 720 px) also upsampled 2x (small
faces in small videos; the tracker does so on the first attempt and then on every
``detect_every``-th consecutive failed attempt, which bounds the cost of long stretches without a
face). Only the
highest-scoring face is kept (RAVDESS clips show one actor; OpenFace's FeatureExtraction tracks one
face as well).
"""

from __future__ import annotations

import dataclasses
import functools

import cv2
import dlib
import numpy as np

# dlib's detection threshold (0 = its default). Slightly below 0 finds faces that dlib's default
# misses at small scales; false positives are rejected by the landmark/appearance checks.
DETECT_THRESHOLD = -0.2
# Frames no larger than this (px, longest side) are also searched upsampled 2x in the fallback
# pass, for faces under dlib's 80 px window.
UPSAMPLE_MAX_SIDE = 720


@dataclasses.dataclass(frozen=True)
class Detection:
    """A face box in full-frame pixels ``(left, top, right, bottom)`` and dlib's score."""

    box: tuple[float, float, float, float]
    score: float

    @property
    def width(self) -> float:
        return self.box[2] - self.box[0]


@functools.lru_cache(maxsize=1)
def _detector() -> "dlib.fhog_object_detector":
    return dlib.get_frontal_face_detector()


def _gray(image: np.ndarray) -> np.ndarray:
    return image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)


def detect_in(image: np.ndarray, scale: float, offset: tuple[float, float] = (0.0, 0.0),
              threshold: float = DETECT_THRESHOLD) -> Detection | None:
    """Best face in ``image`` (BGR or gray, any crop) scaled by ``scale`` before detection.

    The box is returned in the coordinates of the frame the crop came from (``offset`` = the crop's
    top-left corner). Resizing happens before the grayscale conversion so only the small image is
    converted.
    """
    if scale != 1.0:
        h, w = image.shape[:2]
        size = (max(1, int(round(w * scale))), max(1, int(round(h * scale))))
        image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    gray = _gray(image)
    if min(gray.shape[:2]) < 40:
        return None
    rects, scores, _ = _detector().run(gray, 0, threshold)
    if not rects:
        return None
    i = int(np.argmax(scores))
    r = rects[i]
    ox, oy = offset
    box = (r.left() / scale + ox, r.top() / scale + oy, (r.right() + 1) / scale + ox,
           (r.bottom() + 1) / scale + oy)
    return Detection(box, float(scores[i]))


def detect_face(frame: np.ndarray, detect_scale: float, full_fallback: bool = True) -> Detection | None:
    """Best face in a whole frame at ``detect_scale``; then at full resolution when that finds
    nothing and ``full_fallback`` (the caller rations the expensive full-resolution pass)."""
    found = detect_in(frame, detect_scale)
    if found is None and full_fallback:
        if detect_scale < 1.0:
            found = detect_in(frame, 1.0)
        if found is None and max(frame.shape[:2]) <= UPSAMPLE_MAX_SIDE:
            found = detect_in(frame, 2.0)
    return found


def detect_near(frame: np.ndarray, box: tuple[float, float, float, float],
                margin: float = 0.6, target_px: float = 120.0) -> Detection | None:
    """Best face in the region around ``box`` (widened by ``margin`` of its size on each side).

    The crop is scaled so the face is about ``target_px`` wide (never enlarged): the detector's
    cost then depends on neither the frame size nor the face size.
    """
    h, w = frame.shape[:2]
    l, t, r, b = box
    bw, bh = r - l, b - t
    x0, y0 = int(max(0, l - margin * bw)), int(max(0, t - margin * bh))
    x1, y1 = int(min(w, r + margin * bw)), int(min(h, b + margin * bh))
    if x1 - x0 < 40 or y1 - y0 < 40:
        return None
    scale = min(1.0, target_px / max(bw, 1.0))
    return detect_in(frame[y0:y1, x0:x1], scale, (x0, y0))
