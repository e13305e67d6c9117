"""Head pose and 3D landmarks from 2D landmarks: the 3D mean face fitted with ``cv2.solvePnP``.

Conventions are OpenFace's: camera coordinates in mm (X right, Y down, Z away from the camera),
``pose_T`` = position of the face model's origin (its centroid), ``pose_R`` = Euler angles
``(Rx pitch, Ry yaw, Rz roll)`` rad of the rotation matrix ``R = Rx @ Ry @ Rz`` that maps model to
camera axes, extracted through a quaternion exactly as OpenFace's ``RotationMatrix2Euler``.

The rigid fit uses the points that expressions move least (:data:`RIGID_POINTS`: the upper jaw
contour, nose, eye corners); brows, lids and mouth would otherwise tilt the head when the face
smiles or frowns. 3D landmarks keep the expression: each 2D landmark is back-projected through the
pinhole camera to the depth of its rigid model point (so non-rigid motion shows in X and Y; depth
follows the rigid model, which is what a 2D tracker can observe).
"""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np

# Landmarks used for the rigid fit: jaw contour near the ears, nose bridge and base, eye corners.
RIGID_POINTS = np.array([0, 1, 2, 14, 15, 16, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 39, 42, 45])


@dataclasses.dataclass(frozen=True)
class PoseFit:
    """One frame's rigid fit: ``rvec (3,)`` Rodrigues, ``tvec (3,)`` mm, ``R (3, 3)``,
    ``euler (3,)`` rad (OpenFace's Rx, Ry, Rz) and ``rms_px``, the RMS reprojection error of the
    rigid points in pixels."""

    rvec: np.ndarray
    tvec: np.ndarray
    R: np.ndarray
    euler: np.ndarray
    rms_px: float


def matrix_from_euler(euler: np.ndarray) -> np.ndarray:
    """``R = Rx @ Ry @ Rz`` ``(3, 3)`` from ``(Rx, Ry, Rz)`` rad (OpenFace's Euler2RotationMatrix)."""
    s1, s2, s3 = np.sin(euler)
    c1, c2, c3 = np.cos(euler)
    return np.array([
        [c2 * c3, -c2 * s3, s2],
        [c1 * s3 + c3 * s1 * s2, c1 * c3 - s1 * s2 * s3, -c2 * s1],
        [s1 * s3 - c1 * c3 * s2, c3 * s1 + c1 * s2 * s3, c1 * c2],
    ])


def euler_from_matrix(R: np.ndarray) -> np.ndarray:
    """``(Rx, Ry, Rz)`` rad from a rotation matrix, via the quaternion as OpenFace does."""
    q0 = np.sqrt(max(1.0 + R[0, 0] + R[1, 1] + R[2, 2], 1e-12)) / 2.0
    q1 = (R[2, 1] - R[1, 2]) / (4.0 * q0)
    q2 = (R[0, 2] - R[2, 0]) / (4.0 * q0)
    q3 = (R[1, 0] - R[0, 1]) / (4.0 * q0)
    yaw = np.arcsin(np.clip(2.0 * (q0 * q2 + q1 * q3), -1.0, 1.0))
    pitch = np.arctan2(2.0 * (q0 * q1 - q2 * q3), q0 * q0 - q1 * q1 - q2 * q2 + q3 * q3)
    roll = np.arctan2(2.0 * (q0 * q3 - q1 * q2), q0 * q0 + q1 * q1 - q2 * q2 - q3 * q3)
    return np.array([pitch, yaw, roll])


def project(points: np.ndarray, K: np.ndarray) -> np.ndarray:
    """Pinhole projection of camera-space points ``(..., 3)`` mm to pixels ``(..., 2)``."""
    z = points[..., 2:3]
    return np.concatenate([points[..., 0:1] / z * K[0, 0] + K[0, 2],
                           points[..., 1:2] / z * K[1, 1] + K[1, 2]], -1)


def fit_pose(lmk2d: np.ndarray, model: np.ndarray, K: np.ndarray,
             prev: PoseFit | None = None) -> PoseFit:
    """Fit the rigid 3D mean face ``model (68, 3)`` to ``lmk2d (68, 2)`` px.

    Iterative PnP (Levenberg-Marquardt) started from the previous frame's pose when there is one,
    else from SQPnP's global solution; the face must lie in front of the camera.
    """
    obj = np.ascontiguousarray(model[RIGID_POINTS], dtype=np.float64)
    img = np.ascontiguousarray(lmk2d[RIGID_POINTS], dtype=np.float64)
    if prev is not None:
        ok, rvec, tvec = cv2.solvePnP(obj, img, K, None, prev.rvec.copy().reshape(3, 1),
                                      prev.tvec.copy().reshape(3, 1), True, cv2.SOLVEPNP_ITERATIVE)
    else:
        ok, rvec, tvec = cv2.solvePnP(obj, img, K, None, flags=cv2.SOLVEPNP_SQPNP)
        if ok:
            ok, rvec, tvec = cv2.solvePnP(obj, img, K, None, rvec, tvec, True,
                                          cv2.SOLVEPNP_ITERATIVE)
    rvec = np.asarray(rvec, dtype=np.float64).reshape(3)
    tvec = np.asarray(tvec, dtype=np.float64).reshape(3)
    if not ok or tvec[2] <= 0:
        return PoseFit(rvec, tvec, np.eye(3), np.zeros(3), float("inf"))
    R = cv2.Rodrigues(rvec)[0]
    rep = project(obj @ R.T + tvec, K)
    rms = float(np.sqrt(np.mean(np.sum((rep - img) ** 2, axis=1))))
    return PoseFit(rvec, tvec, R, euler_from_matrix(R), rms)


def lift_landmarks(lmk2d: np.ndarray, fit: PoseFit, model: np.ndarray, K: np.ndarray) -> np.ndarray:
    """3D landmarks ``(68, 3)`` mm: each 2D point back-projected to its rigid model point's depth."""
    depth = (model @ fit.R.T + fit.tvec)[:, 2]
    x = (lmk2d[:, 0] - K[0, 2]) / K[0, 0] * depth
    y = (lmk2d[:, 1] - K[1, 2]) / K[1, 1] * depth
    return np.stack([x, y, depth], axis=1)


def back_project(points2d: np.ndarray, depth: np.ndarray, K: np.ndarray) -> np.ndarray:
    """Pixels ``(..., 2)`` at depths ``(...)`` mm to camera-space points ``(..., 3)`` mm."""
    x = (points2d[..., 0] - K[0, 2]) / K[0, 0] * depth
    y = (points2d[..., 1] - K[1, 2]) / K[1, 1] * depth
    return np.stack([x, y, depth], axis=-1)


def to_head_frame(lmk3d: np.ndarray, R: np.ndarray, tvec: np.ndarray) -> np.ndarray:
    """Camera-space landmarks ``(n, 68, 3)`` into the head's own axes ``(n, 68, 3)`` mm.

    ``R (n, 3, 3)``, ``tvec (n, 3)``: removes head rotation and translation so that what remains
    is expression (used by the action-unit estimates).
    """
    return np.einsum("nji,nkj->nki", R, lmk3d - tvec[:, None, :])


def pdm_rigid(fit: PoseFit, K: np.ndarray) -> np.ndarray:
    """OpenFace's 6 rigid PDM parameters ``(6,)``: scale, rx, ry, rz, tx, ty.

    Weak-perspective equivalent of the fit: ``p_scale = f / Tz`` (px per mm at the face),
    rotation = ``pose_R``, ``(p_tx, p_ty)`` = the model origin projected to pixels.
    """
    t = fit.tvec
    uv = project(t[None, :], K)[0]
    return np.array([K[0, 0] / t[2], *fit.euler, uv[0], uv[1]])
