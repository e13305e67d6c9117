"""OpenFace's point distribution model (PDM) fitted to 68 2D landmarks: per-person shape and pose.

A PDM shape is ``mean + modes @ p_local`` (34 non-rigid parameters, mm) seen through a
weak-perspective camera: ``x_2d = s * R[:2] @ X + (tx, ty)`` with ``R = Rx @ Ry @ Rz`` of the Euler
angles ``(rx, ry, rz)``. :func:`fit` finds ``(s, rx, ry, rz, tx, ty)`` and ``p_local`` for one
frame's landmarks the way OpenFace's ``PDM::CalcParams`` does (Baltrusaitis' thesis; Saragih et al.
2011, eq. 36), so that its output feeds OpenFace's AU models as theirs does:

* start: no rotation, no deformation, scale from the landmarks' box against the mean shape's box,
  translation at the box centre;
* Gauss-Newton steps on the 136 residuals with Tikhonov regularisation of ``p_local`` by the
  inverse eigenvalues (a mode costs its own variance), the step damped to 0.75, the rotation
  updated multiplicatively through a small-angle rotation made orthonormal;
* stop after the error has failed to drop by 0.1 % three times (or 1000 steps).

:func:`head_pose` is OpenFace's ``GetPose``: iterative PnP of the fitted 3D shape (all 68 points) to
the 2D landmarks under the pinhole camera, started from the weak-perspective fit.
:func:`landmarks_3d` is ``CLNF::GetShape``: each 2D landmark back-projected to the depth of its
rotated shape point below ``fx / s``.
"""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np

from features.tracker.openface_models import PDM
from features.tracker.pose import euler_from_matrix, matrix_from_euler

MAX_STEPS = 1000
DAMPING = 0.75
STALL_RATIO = 0.999
STALLS = 3


@dataclasses.dataclass(frozen=True)
class PDMFit:
    """``params (6,)`` = OpenFace's ``p_scale, p_rx, p_ry, p_rz, p_tx, p_ty`` (px per mm, rad, px),
    ``local (34,)`` = ``p_0 .. p_33``, ``shape (68, 3)`` the fitted object-space shape (mm),
    ``rms_px`` the RMS 2D residual and ``steps`` the iterations taken."""

    params: np.ndarray
    local: np.ndarray
    shape: np.ndarray
    rms_px: float
    steps: int


def _orthonormal(R: np.ndarray) -> np.ndarray:
    u, _, vt = np.linalg.svd(R)
    w = np.eye(3)
    w[2, 2] = np.linalg.det(u @ vt)
    return u @ w @ vt


def fit(pdm: PDM, lmk2d: np.ndarray) -> PDMFit:
    """Fit ``pdm`` to ``lmk2d (68, 2)`` px (see the module docstring)."""
    pts = np.asarray(lmk2d, dtype=np.float64)
    target = np.concatenate([pts[:, 0], pts[:, 1]])             # x block, then y block
    n, m = pts.shape[0], pdm.n_modes
    mean, modes = pdm.mean, pdm.modes
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    mlo, mhi = mean[:, :2].min(axis=0), mean[:, :2].max(axis=0)
    scale = float(np.mean((hi - lo) / (mhi - mlo)))
    euler = np.zeros(3)
    trans = (lo + hi) / 2.0
    local = np.zeros(m)
    reg = np.zeros(6 + m)
    reg[6:] = 1.0 / pdm.eigen
    R = np.eye(3)

    def project(shape: np.ndarray) -> np.ndarray:
        xy = scale * shape @ R[:2].T + trans
        return np.concatenate([xy[:, 0], xy[:, 1]])

    shape = mean.copy()
    err = float(np.linalg.norm(project(shape) - target))
    stalls, steps = 0, 0
    modes_flat = modes.reshape(n * 3, m)
    for steps in range(1, MAX_STEPS + 1):                        # noqa: B007
        shape = mean + (modes_flat @ local).reshape(n, 3)
        resid = target - project(shape)
        X, Y, Z = shape[:, 0], shape[:, 1], shape[:, 2]
        J = np.empty((2 * n, 6 + m))
        for row, r in ((0, R[0]), (1, R[1])):
            blk = J[row * n:(row + 1) * n]
            blk[:, 0] = X * r[0] + Y * r[1] + Z * r[2]
            blk[:, 1] = scale * (Y * r[2] - Z * r[1])
            blk[:, 2] = -scale * (X * r[2] - Z * r[0])
            blk[:, 3] = scale * (X * r[1] - Y * r[0])
            blk[:, 4] = 1.0 - row
            blk[:, 5] = float(row)
            blk[:, 6:] = scale * np.einsum("k,nkm->nm", r, modes)
        g = J.T @ resid
        g[6:] -= reg[6:] * local
        H = J.T @ J + np.diag(reg)
        delta = DAMPING * np.linalg.solve(H, g)
        scale += delta[0]
        trans = trans + delta[4:6]
        w = delta[1:4]
        small = np.array([[1.0, -w[2], w[1]], [w[2], 1.0, -w[0]], [-w[1], w[0], 1.0]])
        euler = euler_from_matrix(matrix_from_euler(euler) @ _orthonormal(small))
        if not np.all(np.isfinite(euler)):
            euler = np.zeros(3)
        R = matrix_from_euler(euler)
        local = local + delta[6:]
        # OpenFace judges the step by the new rigid parameters on the step's starting shape
        new_err = float(np.linalg.norm(project(shape) - target))
        if STALL_RATIO * err < new_err:
            stalls += 1
            if stalls == STALLS:
                break
        err = new_err
    shape = mean + (modes_flat @ local).reshape(n, 3)
    rms = float(np.sqrt(np.mean((project(shape) - target) ** 2) * 2.0))
    params = np.array([scale, *euler, *trans])
    return PDMFit(params, local, shape, rms, steps)


def head_pose(fitted: PDMFit, lmk2d: np.ndarray, K: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """OpenFace's head pose: ``(T (3,) mm, euler (3,) rad, R (3, 3))`` from PnP of the fitted shape.

    Like OpenFace, the PnP starts at ``Z = fx / s`` below the weak-perspective translation, with the
    fit's Euler angles given as the starting rotation vector (close to the right rotation for the
    head poses of frontal footage; the iterations refine it).
    """
    s, rx, ry, rz, tx, ty = fitted.params
    fx, fy, cx, cy = K[0, 0], K[1, 1], K[0, 2], K[1, 2]
    Z = fx / s
    tvec = np.array([(tx - cx) / fx * Z, (ty - cy) / fy * Z, Z]).reshape(3, 1)
    rvec = np.array([rx, ry, rz], dtype=np.float64).reshape(3, 1)
    obj = np.ascontiguousarray(fitted.shape, dtype=np.float64)
    img = np.ascontiguousarray(lmk2d, dtype=np.float64)
    ok, rvec, tvec = cv2.solvePnP(obj, img, K, None, rvec, tvec, True, cv2.SOLVEPNP_ITERATIVE)
    R = cv2.Rodrigues(rvec)[0]
    return np.asarray(tvec, dtype=np.float64).reshape(3), euler_from_matrix(R), R


def landmarks_3d(fitted: PDMFit, lmk2d: np.ndarray, K: np.ndarray) -> np.ndarray:
    """OpenFace's 3D landmarks ``(68, 3)`` mm (``X_*, Y_*, Z_*``): each 2D landmark at the depth
    ``fx / s`` plus its rotated shape point's depth."""
    s = fitted.params[0]
    R = matrix_from_euler(fitted.params[1:4])
    z = K[0, 0] / s + (fitted.shape @ R.T)[:, 2]
    x = z * (lmk2d[:, 0] - K[0, 2]) / K[0, 0]
    y = z * (lmk2d[:, 1] - K[1, 2]) / K[1, 1]
    return np.stack([x, y, z], axis=1)
