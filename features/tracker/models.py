"""Model files the embedded tracker loads, and the camera model it assumes.

* dlib's 68-point shape predictor ships in the ``face-recognition-models`` package. Its
  ``__init__`` imports the removed ``pkg_resources``, so the package is located with
  ``importlib.util.find_spec`` and never imported.
* The 68-point 3D mean face (``features/assets/face-model-68-3d/model.txt``, MIT, see the LICENSE
  beside it): x of the 68 points, then y, then z, in mm, centred on its centroid. Its axes are
  already OpenFace's camera axes for a face looking at the camera: X towards the image's right
  (point 36, the subject's right outer eye corner, has x = -46), Y down (chin y = +77, brows
  y = -62), Z away from the camera (nose tip z = -37, i.e. nearer the camera than the eyes), so a
  frontal face has rotation ~0 as in OpenFace.
"""

from __future__ import annotations

import functools
import importlib.util
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import numpy as np

ASSETS = Path(__file__).resolve().parents[1] / "assets"
FACE_MODEL_3D = ASSETS / "face-model-68-3d" / "model.txt"
SHAPE_PREDICTOR_NAME = "shape_predictor_68_face_landmarks.dat"
# The mean face is tilted by this much about X (chin towards the camera) so that a head OpenFace
# calls frontal is frontal here too: without it, pitch sat 3.6 deg above OpenFace's on the shared
# reference clip (default.wmv; the issue measured 3.6-4.9 deg on other clips). Calibrated on that
# one clip: a documented calibration, bench/bench_track_real.py shows the remaining bias.
MODEL_PITCH_DEG = 3.6


T = TypeVar("T")


def per_thread(factory: Callable[[], T]) -> Callable[[], T]:
    """Cache ``factory()`` once per thread: dlib's detector, shape predictor and face-recognition
    network are not safe to call from several threads at once (heap corruption when predict's
    worker threads shared them), so each thread gets its own; a single-threaded process loads
    each model once, as before."""
    local = threading.local()

    @functools.wraps(factory)
    def get() -> T:
        obj = getattr(local, "obj", None)
        if obj is None:
            obj = local.obj = factory()
        return obj

    return get


class TrackerModelError(RuntimeError):
    """A model file the embedded tracker needs is missing (message says how to get it)."""


def shape_predictor_path() -> Path:
    """Path of dlib's 68-point predictor inside the installed ``face_recognition_models``."""
    return model_path(SHAPE_PREDICTOR_NAME)


def model_path(name: str) -> Path:
    """Path of the model file ``name`` inside the installed ``face_recognition_models``."""
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise TrackerModelError("face_recognition_models is not installed; "
                                "`pip install face-recognition-models` (track.backend: embedded)")
    path = Path(list(spec.submodule_search_locations)[0]) / "models" / name
    if not path.exists():
        raise TrackerModelError(f"{path}: dlib model missing from face_recognition_models")
    return path


@functools.lru_cache(maxsize=1)
def mean_face_3d() -> np.ndarray:
    """The 68-point 3D mean face ``(68, 3)`` mm in camera axes (X right, Y down, Z away)."""
    if not FACE_MODEL_3D.exists():
        raise TrackerModelError(f"{FACE_MODEL_3D}: bundled 3D face model missing")
    values = np.loadtxt(FACE_MODEL_3D)
    if values.shape != (204,):
        raise TrackerModelError(f"{FACE_MODEL_3D}: expected 204 numbers, got {values.shape}")
    model = values.reshape(3, 68).T.astype(np.float64)
    model -= model.mean(axis=0)
    t = np.radians(MODEL_PITCH_DEG)
    rx = np.array([[1.0, 0.0, 0.0], [0.0, np.cos(t), -np.sin(t)], [0.0, np.sin(t), np.cos(t)]])
    model = model @ rx.T
    model.setflags(write=False)
    return model


def camera_matrix(width: int, height: int) -> np.ndarray:
    """Pinhole intrinsics ``(3, 3)`` OpenFace assumes when none are given.

    OpenFace's ``SequenceCapture::SetCameraIntrinsics``: ``fx = 500 * width / 640``,
    ``fy = 500 * height / 480``, then both set to their mean; ``cx = width / 2``,
    ``cy = height / 2``. (For 1280x720: f = 875 px.) Using OpenFace's own default keeps pose_T and
    the 3D landmarks on the same scale as real OpenFace output.
    """
    f = (500.0 * width / 640.0 + 500.0 * height / 480.0) / 2.0
    return np.array([[f, 0.0, width / 2.0], [0.0, f, height / 2.0], [0.0, 0.0, 1.0]])
