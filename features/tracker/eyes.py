"""OpenFace's 56 eye landmarks and gaze, from the 68 face landmarks, the image and the head pose.

Layout (OpenFace's eye model, see ``features.tracks.openface``): eye 0 = columns 0-27 (the eye on the
image's left, face landmarks 36-41), eye 1 = columns 28-55 (42-47); per eye 0-7 iris contour,
8-19 eyelid contour, 20-27 pupil contour.

Method, per eye and frame:

* eyelid (8-19): the 6 dlib eye points at 8, 10, ..., 18 (OpenFace's own correspondence) and,
  between them, the midpoints of a closed Catmull-Rom curve through the 6 points (follows the lid's
  curvature rather than the chord).
* pupil centre (2D): image-based. Inside the eyelid polygon, the darkness ``max - gray`` is summed
  over an iris-sized box (``0.4 x`` eye width) and the best box wins ("darkest iris-sized blob":
  thin dark lashes and shadowed corners score lower than the iris); the centre is refined to
  sub-pixel by the centroid of the response around the peak. A closed eye (lid opening below
  :data:`CLOSED_EYE_RATIO` of the eye width) uses the centre of the lid contour instead.
* eyeball (3D): centre = midpoint of the two eye-corner 3D landmarks + ``R @ (0, -3.5, 7)`` mm,
  radius 12 mm (OpenFace's ``GazeAnalysis::EstimateGaze``).
* pupil (3D): the camera ray through the 2D pupil meets the eyeball sphere (nearest hit; when the
  ray misses, the sphere point closest to it), as OpenFace intersects the ray to its pupil.
* gaze vector: unit vector from the eyeball centre to the 3D pupil (camera axes); gaze angles from
  the two eyes' mean vector as OpenFace (``features.tracks.openface.gaze_angles``).
* iris / pupil contours (0-7, 20-27): circles of radius :data:`IRIS_RADIUS_MM` and
  :data:`PUPIL_RADIUS_MM` on the eyeball sphere, centred on the gaze axis, 8 points each starting
  towards the image's right and turning counter-clockwise as seen in the image; 2D = projection.
  (OpenFace fits these contours to the image; here their size is anatomical, their position
  follows the located pupil.)
* eyelid 3D: each lid point back-projected to the depth of its face landmark (odd points: mean of
  the two neighbours' depths).
"""

from __future__ import annotations

import cv2
import numpy as np

from features.tracker.pose import back_project, project

EYEBALL_RADIUS_MM = 12.0
EYEBALL_OFFSET_MM = np.array([0.0, -3.5, 7.0])
IRIS_RADIUS_MM = 6.0     # human iris diameter ~11.8 mm
PUPIL_RADIUS_MM = 2.0    # ~4 mm pupil in indoor light
IRIS_WIDTH_RATIO = 0.4   # iris diameter / eye-corner distance in the image
CLOSED_EYE_RATIO = 0.12  # lid opening / eye width below which the eye counts as closed

EYE_FACE_POINTS = (np.arange(36, 42), np.arange(42, 48))
_RING = np.stack([np.cos(np.arange(8) * np.pi / 4), np.sin(np.arange(8) * np.pi / 4)], 1)


_CYCLE = np.arange(6)
_PREV, _NEXT, _NEXT2 = (_CYCLE - 1) % 6, (_CYCLE + 1) % 6, (_CYCLE + 2) % 6


def eyelid_points(lmk2d: np.ndarray) -> np.ndarray:
    """Eyelid contours ``(2, 12, 2)`` px (eye-model points 8-19 of each eye) from ``lmk2d (68, 2)``."""
    p = lmk2d[36:48].reshape(2, 6, 2)
    out = np.empty((2, 12, 2))
    out[:, 0::2] = p
    out[:, 1::2] = (9.0 * (p + p[:, _NEXT]) - p[:, _PREV] - p[:, _NEXT2]) / 16.0
    return out


def locate_pupil(gray: np.ndarray, offset: tuple[int, int], lid: np.ndarray) -> tuple[np.ndarray, bool]:
    """Pupil centre ``(2,)`` px (frame coordinates) inside the eyelid contour ``lid (12, 2)``.

    ``gray`` is a grayscale crop whose top-left corner is at ``offset`` in the frame. Returns the
    centre and whether it was located in the image (False: closed or tiny eye, lid centre used).
    """
    centre = lid.mean(axis=0)
    width = float(np.linalg.norm(lid[0] - lid[6]))
    opening = float(np.linalg.norm(lid[2] - lid[10]) + np.linalg.norm(lid[4] - lid[8])) / 2
    if width < 6 or opening < CLOSED_EYE_RATIO * width:
        return centre, False
    ox, oy = offset
    pts = lid - (ox, oy)
    x0, y0 = np.floor(pts.min(axis=0)).astype(int) - 1
    x1, y1 = np.ceil(pts.max(axis=0)).astype(int) + 2
    h, w = gray.shape[:2]
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
    if x1 - x0 < 4 or y1 - y0 < 3:
        return centre, False
    crop = gray[y0:y1, x0:x1].astype(np.float32)
    mask = np.zeros(crop.shape, np.uint8)
    poly = np.round((pts - (x0, y0)) * 16).astype(np.int32)
    cv2.fillPoly(mask, [poly], 1, lineType=cv2.LINE_8, shift=4)
    if int(mask.sum()) < 6:
        return centre, False
    inside = crop[mask > 0]
    dark = (float(inside.max()) - crop) * mask
    k = max(3, int(round(IRIS_WIDTH_RATIO * width)) | 1)
    resp = cv2.boxFilter(dark, -1, (k, k), normalize=False, borderType=cv2.BORDER_CONSTANT)
    resp *= mask
    peak = float(resp.max())
    if peak <= 0:
        return centre, False
    sel = resp >= 0.9 * peak
    ys, xs = np.nonzero(sel)
    wts = resp[ys, xs]
    cx = float(np.dot(xs, wts) / wts.sum()) + x0 + ox
    cy = float(np.dot(ys, wts) / wts.sum()) + y0 + oy
    return np.array([cx, cy]), True


def _ray_sphere(direction: np.ndarray, centre: np.ndarray, radius: float) -> np.ndarray:
    """Nearest point where the camera ray ``direction (3,)`` (unit) meets the sphere, or the
    sphere point closest to the ray when it misses."""
    dc = float(direction @ centre)
    disc = dc * dc - float(centre @ centre) + radius * radius
    if disc >= 0:
        return direction * (dc - np.sqrt(disc))
    closest = direction * dc - centre
    return centre + radius * closest / (np.linalg.norm(closest) + 1e-12)


def _ring(centre: np.ndarray, axis: np.ndarray, radius: float) -> np.ndarray:
    """8 points ``(8, 3)`` of a circle of ``radius`` mm around ``axis`` at ``centre``."""
    u = np.array([1.0, 0.0, 0.0]) - axis * axis[0]
    u /= np.sqrt(u @ u) + 1e-12
    v = np.array([axis[1] * u[2] - axis[2] * u[1], axis[2] * u[0] - axis[0] * u[2],
                  axis[0] * u[1] - axis[1] * u[0]])
    return centre + radius * (_RING[:, 0:1] * u + _RING[:, 1:2] * v)


def eye_geometry(lmk2d: np.ndarray, lmk3d: np.ndarray, R: np.ndarray, K: np.ndarray,
                 pupils2d: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Eye landmarks and gaze for one frame.

    ``lmk2d (68, 2)`` px, ``lmk3d (68, 3)`` mm, ``R (3, 3)`` head rotation, ``K (3, 3)``,
    ``pupils2d (2, 2)`` px. Returns ``eye_lmk_2d (56, 2)`` px, ``eye_lmk_3d (56, 3)`` mm and
    ``gaze (2, 3)`` unit vectors (eye 0, eye 1).
    """
    lids = eyelid_points(lmk2d)
    out2, out3 = np.empty((56, 2)), np.empty((56, 3))
    gaze = np.empty((2, 3))
    offset = R @ EYEBALL_OFFSET_MM
    for e, idx in enumerate(EYE_FACE_POINTS):
        depth = lmk3d[idx, 2]
        lid_depth = np.empty(12)
        lid_depth[0::2] = depth
        lid_depth[1::2] = (depth + depth[_NEXT]) / 2
        centre = (lmk3d[idx[0]] + lmk3d[idx[3]]) / 2 + offset
        ray = np.array([(pupils2d[e, 0] - K[0, 2]) / K[0, 0], (pupils2d[e, 1] - K[1, 2]) / K[1, 1], 1.0])
        ray /= np.sqrt(ray @ ray)
        pupil3d = _ray_sphere(ray, centre, EYEBALL_RADIUS_MM)
        g = pupil3d - centre
        g /= np.sqrt(g @ g) + 1e-12
        gaze[e] = g
        iris = _ring(centre + g * np.sqrt(EYEBALL_RADIUS_MM ** 2 - IRIS_RADIUS_MM ** 2), g,
                     IRIS_RADIUS_MM)
        pupil = _ring(centre + g * np.sqrt(EYEBALL_RADIUS_MM ** 2 - PUPIL_RADIUS_MM ** 2), g,
                      PUPIL_RADIUS_MM)
        base = 28 * e
        out3[base:base + 8] = iris
        out3[base + 8:base + 20] = back_project(lids[e], lid_depth, K)
        out3[base + 20:base + 28] = pupil
        out2[base:base + 8] = project(iris, K)
        out2[base + 8:base + 20] = lids[e]
        out2[base + 20:base + 28] = project(pupil, K)
    return out2, out3, gaze
