"""Face detection: dlib's HOG frontal face detector on a downscaled grayscale frame.

dlib's detector scans 80x80 px windows, so a face must be at least ~80 px wide in the image it
sees. Detection runs on the frame scaled by ``detect_scale`` (fast); when that finds nothing it
may retry at full resolution, and small frames (longest side <= 720 px) also upsampled 2x (small
faces in small videos; the tracker does so on the first attempt and then on every
``detect_every``-th consecutive failed attempt, which bounds the cost of long stretches without a
face).

One person per video: when a frame shows several faces, :func:`pick_face` keeps the largest
(then, among faces within 10 % of the largest width, the one nearest the frame centre), not the
highest-scoring one: a background face can score higher than the person filmed.
:func:`face_score` scores a tracked face box with the same HOG detector (the confidence used by
the tracker: a hand over the mouth and nose lowers it).
"""

from __future__ import annotations

import dataclasses

import cv2
import dlib
import numpy as np

from features.tracker.models import per_thread

# dlib's detection threshold (0 = its default). Slightly below 0 finds faces that dlib's default
# misses at small scales; false positives are rejected by the landmark/appearance checks.
DETECT_THRESHOLD = -0.2
# dlib's default threshold: detections at or above it are preferred when picking the face.
CONFIDENT_SCORE = 0.0
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


@per_thread
def _detector() -> dlib.fhog_object_detector:
    return dlib.get_frontal_face_detector()


def _gray(image: np.ndarray) -> np.ndarray:
    return image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)


def detect_all(image: np.ndarray, scale: float, offset: tuple[float, float] = (0.0, 0.0),
               threshold: float = DETECT_THRESHOLD) -> list[Detection]:
    """Every face in ``image`` (BGR or gray, any crop) scaled by ``scale`` before detection.

    Boxes are returned in the coordinates of the frame the crop came from (``offset`` = the crop's
    top-left corner). Resizing happens before the grayscale conversion so only the small image is
    converted.
    """
    if scale != 1.0:
        h, w = image.shape[:2]
        size = (max(1, int(round(w * scale))), max(1, int(round(h * scale))))
        image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    gray = _gray(image)
    if min(gray.shape[:2]) < 40:
        return []
    rects, scores, _ = _detector().run(gray, 0, threshold)
    ox, oy = offset
    return [Detection((r.left() / scale + ox, r.top() / scale + oy, (r.right() + 1) / scale + ox,
                       (r.bottom() + 1) / scale + oy), float(sc)) for r, sc in zip(rects, scores)]


def pick_face(found: list[Detection], centre: tuple[float, float]) -> Detection | None:
    """The largest face; among faces within 10 % of the largest width, the one nearest
    ``centre`` (px; the frame centre on acquisition). Only detections at or above dlib's own
    threshold (:data:`CONFIDENT_SCORE`) compete when there is one: the weaker ones that
    :data:`DETECT_THRESHOLD` lets through (small or blurred faces, but also face-like badges and
    posters) are used only when nothing better is in the frame."""
    if not found:
        return None
    confident = [d for d in found if d.score >= CONFIDENT_SCORE]
    found = confident or found
    widest = max(d.width for d in found)
    big = [d for d in found if d.width >= 0.9 * widest]
    cx, cy = centre
    return min(big, key=lambda d: np.hypot((d.box[0] + d.box[2]) / 2 - cx,
                                           (d.box[1] + d.box[3]) / 2 - cy))


def detect_in(image: np.ndarray, scale: float, offset: tuple[float, float] = (0.0, 0.0),
              threshold: float = DETECT_THRESHOLD) -> Detection | None:
    """The face to track in ``image`` (:func:`pick_face` of :func:`detect_all`), or None."""
    h, w = image.shape[:2]
    return pick_face(detect_all(image, scale, offset, threshold),
                     (offset[0] + w / 2.0, offset[1] + h / 2.0))


def detect_face(frame: np.ndarray, detect_scale: float, full_fallback: bool = True) -> Detection | None:
    """The face to track (largest, then most central) in a whole frame at ``detect_scale``;
    then at full resolution when that finds nothing and ``full_fallback`` (the caller rations
    the expensive full-resolution pass)."""
    found = detect_in(frame, detect_scale)
    if found is None and full_fallback:
        if detect_scale < 1.0:
            found = detect_in(frame, 1.0)
        if found is None and max(frame.shape[:2]) <= UPSAMPLE_MAX_SIDE:
            found = detect_in(frame, 2.0)
    return found


def detect_near(frame: np.ndarray, box: tuple[float, float, float, float],
                margin: float = 0.6, target_px: float = 120.0) -> Detection | None:
    """The face nearest ``box``'s centre in the region around it (widened by ``margin`` of its
    size on each side): the tracked person, not a larger neighbour.

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
    found = detect_all(frame[y0:y1, x0:x1], scale, (x0, y0))
    if not found:
        return None
    cx, cy = (l + r) / 2, (t + b) / 2
    return min(found, key=lambda d: np.hypot((d.box[0] + d.box[2]) / 2 - cx,
                                             (d.box[1] + d.box[3]) / 2 - cy))


def face_score(frame: np.ndarray, centre: np.ndarray, radius: float, half: float = 1.6,
               target_px: float = 115.0, floor: float = -2.0) -> float:
    """dlib's HOG face score for the face tracked at ``centre`` (px) with landmark RMS ``radius``.

    The detector runs at threshold ``floor`` on a crop of half-side ``half x radius`` around the
    landmarks, scaled to ``target_px`` wide (the face then fills dlib's 80 px window, and the cost
    is ~3 ms whatever the frame size); the best detection whose centre lies within ``radius`` of
    ``centre`` gives the score, ``floor`` when there is none. A clear frontal face scores about
    1-2.5, a face with a hand over mouth and nose below 0.5 (measured on the shared real clips).
    """
    h, w = frame.shape[:2]
    side = half * radius
    x0, y0 = int(max(0, centre[0] - side)), int(max(0, centre[1] - side))
    x1, y1 = int(min(w, centre[0] + side)), int(min(h, centre[1] + side))
    if x1 - x0 < 20 or y1 - y0 < 20:
        return floor
    scale = min(1.0, target_px / (x1 - x0))
    crop = frame[y0:y1, x0:x1]
    if scale != 1.0:
        crop = cv2.resize(crop, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    gray = _gray(crop)
    if min(gray.shape[:2]) < 40:
        return floor
    rects, scores, _ = _detector().run(gray, 0, floor)
    best = floor
    for r, sc in zip(rects, scores):
        cx = (r.left() + r.right() + 1) / 2 / scale + x0
        cy = (r.top() + r.bottom() + 1) / 2 / scale + y0
        if np.hypot(cx - centre[0], cy - centre[1]) < radius:
            best = max(best, float(sc))
    return best
