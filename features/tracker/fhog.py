"""Felzenszwalb HOG (FHOG) features, vectorised with numpy: dlib's ``extract_fhog_features``.

OpenFace computes its appearance AU features with dlib's FHOG on the 112x112 aligned face (8-pixel
cells): 12 x 12 cells x 31 channels = 4464 values per frame. This module follows the published
algorithm (Felzenszwalb et al., PAMI 2010) in the variant dlib implements, written from the
description, not from dlib's code:

1. gradient by central differences at every interior pixel; on a colour image the channel with
   the largest squared gradient is used (ties: the first of the BGR channels, which is what
   reproduces OpenFace's own ``.hog`` output to float precision);
2. orientation snapped to one of 18 signed directions (20 degree steps), magnitude = gradient
   length, spread bilinearly onto the 4 nearest cell centres (cell ``c`` centred at
   ``c * cell + (cell - 1) / 2``);
3. per cell, the energy of its 9 contrast-insensitive bins; each cell normalised by the 4 blocks of
   2x2 cells around it, each normalised value truncated at 0.2;
4. channels 0-17: half the sum over the 4 normalisations of the 18 signed bins; 18-26: the same for
   the 9 unsigned bins; 27-30: 0.2357 x the sum over the 18 signed bins of each normalisation
   (texture); the outermost ring of cells is dropped.

Why our own and not a wheel: the only wrapper of dlib's FHOG for Python on the registry
(``pyfhog``) is published under a non-commercial licence, which this MIT project cannot depend on;
``bench/bench_track_real.py`` compares this module with OpenFace's own ``.hog`` output.
"""

from __future__ import annotations

import numpy as np

CHANNELS = 31
# unit vectors of the 9 unsigned orientations (0, 20, ..., 160 degrees)
_ANGLES = np.arange(9) * np.pi / 9.0
_DIRS = np.stack([np.cos(_ANGLES), np.sin(_ANGLES)], axis=1)
_DIRS_T = np.ascontiguousarray(_DIRS.T, dtype=np.float32)          # (2, 9)
_EPS = 1e-4


def _gradient(img: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Central-difference gradient ``(gx, gy)`` of the interior pixels ``(H-2, W-2)`` each; colour
    ``(H, W, 3)`` BGR takes per pixel the channel of largest squared magnitude."""
    a = img.astype(np.int16)
    gx = a[1:-1, 2:] - a[1:-1, :-2]
    gy = a[2:, 1:-1] - a[:-2, 1:-1]
    if a.ndim == 2:
        return gx.astype(np.float32), gy.astype(np.float32)
    g32x, g32y = gx.astype(np.int32), gy.astype(np.int32)
    mag = g32x * g32x + g32y * g32y                  # (H-2, W-2, 3), channels B, G, R
    # ties: the first channel (B, then G), which reproduces OpenFace's .hog output
    use0 = (mag[..., 0] >= mag[..., 1]) & (mag[..., 0] >= mag[..., 2])
    use1 = ~use0 & (mag[..., 1] >= mag[..., 2])
    gx_out = np.where(use0, gx[..., 0], np.where(use1, gx[..., 1], gx[..., 2]))
    gy_out = np.where(use0, gy[..., 0], np.where(use1, gy[..., 1], gy[..., 2]))
    return gx_out.astype(np.float32), gy_out.astype(np.float32)


def fhog(img: np.ndarray, cell_size: int = 8) -> np.ndarray:
    """FHOG of a uint8 image ``(H, W)`` or BGR ``(H, W, 3)``: ``(rows, cols, 31)`` float32 with
    ``rows = round(H / cell) - 2`` (for 112x112 and cell 8: ``(12, 12, 31)``)."""
    h, w = img.shape[:2]
    cells_r = int(h / cell_size + 0.5)
    cells_c = int(w / cell_size + 0.5)
    if cells_r < 3 or cells_c < 3:
        return np.zeros((max(cells_r - 2, 0), max(cells_c - 2, 0), CHANNELS), np.float32)
    vis_r = min(cells_r * cell_size, h) - 1
    vis_c = min(cells_c * cell_size, w) - 1
    gx, gy = _gradient(img[: vis_r + 1, : vis_c + 1])
    # signed orientation: dlib scans (0, +), (0, -), (1, +), ... and keeps the first strictly
    # larger dot product: the first direction of largest |dot|, signed by that dot
    dots = np.stack([gx, gy], axis=-1) @ _DIRS_T                            # (r, c, 9)
    o = np.argmax(np.abs(dots), axis=-1)
    best = o + 9 * (np.take_along_axis(dots, o[..., None], axis=-1)[..., 0] < 0)
    v = np.sqrt(gx * gx + gy * gy)
    ys = np.arange(1, vis_r, dtype=np.float32)
    xs = np.arange(1, vis_c, dtype=np.float32)
    yp, xp = (ys + 0.5) / cell_size - 0.5, (xs + 0.5) / cell_size - 0.5
    iy, ix = np.floor(yp).astype(np.int64), np.floor(xp).astype(np.int64)
    wy0, wx0 = yp - iy, xp - ix                      # weight of the next cell
    hr, hc = cells_r + 2, cells_c + 2                # one padding cell all round
    cell = ((iy + 1)[:, None] * hc + (ix + 1)[None, :]) * 18 + best
    idx = np.concatenate([cell.ravel(), (cell + hc * 18).ravel(), (cell + 18).ravel(),
                          (cell + hc * 18 + 18).ravel()])
    wy1, wx1 = 1.0 - wy0, 1.0 - wx0
    wts = np.concatenate([(wy1[:, None] * wx1 * v).ravel(), (wy0[:, None] * wx1 * v).ravel(),
                          (wy1[:, None] * wx0 * v).ravel(), (wy0[:, None] * wx0 * v).ravel()])
    hist = np.bincount(idx, wts, minlength=hr * hc * 18)
    hist = hist.reshape(hr, hc, 18)[1:-1, 1:-1]      # (cells_r, cells_c, 18)
    unsigned = hist[..., :9] + hist[..., 9:]
    energy = (unsigned * unsigned).sum(axis=-1)      # (cells_r, cells_c)
    block = energy[:-1, :-1] + energy[:-1, 1:] + energy[1:, :-1] + energy[1:, 1:]
    n = 1.0 / np.sqrt(block + _EPS)                  # block (y, x) covers cells y..y+1, x..x+1
    out_r, out_c = cells_r - 2, cells_c - 2
    # the 4 blocks holding cell (y+1, x+1): below-right, above-right, below-left, above-left
    norms = [n[1:1 + out_r, 1:1 + out_c], n[0:out_r, 1:1 + out_c],
             n[1:1 + out_r, 0:out_c], n[0:out_r, 0:out_c]]
    h_in = hist[1:-1, 1:-1]
    u_in = unsigned[1:-1, 1:-1]
    feats = np.zeros((out_r, out_c, CHANNELS), np.float64)
    for k, nk in enumerate(norms):
        hs = np.minimum(h_in * nk[..., None], 0.2)
        feats[..., :18] += 0.5 * hs
        feats[..., 18:27] += 0.5 * np.minimum(u_in * nk[..., None], 0.2)
        feats[..., 27 + k] = 0.2357 * hs.sum(axis=-1)
    return feats.astype(np.float32)


def fhog_vector(img: np.ndarray, cell_size: int = 8) -> np.ndarray:
    """FHOG flattened in OpenFace's order (row, column, channel): ``(rows * cols * 31,)`` float64
    (4464 for a 112x112 aligned face)."""
    return fhog(img, cell_size).astype(np.float64).ravel()
