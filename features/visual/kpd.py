"""Key-point distances (KPD) of the face (780 dims) and of the eyes (179 dims), with normalisation.

All distances are Euclidean distances between OpenFace **3D** landmarks (mm), pair ``(i, j)``
with ``i < j`` in row-major upper-triangle order (``numpy.triu_indices``) of the landmark list.

Face KPD (``kpd_face``)
    The papers keep "40 of the 68" landmarks without listing them. :data:`FACE_LANDMARKS_40`
    drops points that nearly duplicate a neighbour on a rigid contour and keeps every point that
    moves with an expression: jaw 3, 8, 13 (the 14 other jaw-contour points lie on a rigid line
    and OpenFace's 3D contour is the least reliable part of the model); all 10 brow points 17-26
    (AU1/2/4); nose 27, 30, 31, 33, 35 (28 and 29 lie on the straight bridge between 27 and 30,
    32 and 34 between 31, 33, 35); all 12 eye points 36-47 (lid opening, AU5/7/45); outer lip
    48, 50, 51, 52, 54, 56, 57, 58 (49, 53, 55, 59 sit next to the corners and the centre
    points) and inner lip 62, 66 (mouth opening; 60/64 nearly coincide with 48/54 and 61, 63,
    65, 67 with their outer neighbours). 40 points -> 40 * 39 / 2 = 780 distances. Parameter
    ``kpd.face_landmarks``: ``default`` or an explicit list of landmark numbers (N -> N(N-1)/2).

Eyes KPD (``kpd_eyes``)
    OpenFace's 56 eye landmarks are two blocks of 28 (``eye_lmk 0-27`` and ``28-55``); within a
    block 0-7 is the iris contour (OpenFace's gaze code averages rows 0-7 as the pupil centre),
    8-19 the eyelid contour (12 points, 8 and 14 the corners) and 20-27 the pupil. Per eye the
    12 eyelid points give 66 distances (132), 10 points of the 68 on both eyes and brows
    (:data:`INTER_EYE_LANDMARKS`: eye corners 36, 39, 42, 45 and brows 17, 19, 21, 22, 24, 26)
    give 45 inter-eye distances, and the 2 gaze angles (rad, averaged over both eyes by
    OpenFace) are appended unnormalised: 66 + 66 + 45 + 2 = 179, in that order.

Normalisation (``kpd.normalisation``)
    ``neutral_video`` (the paper's results): distances divided element-wise by the distances of
    the most neutral frame (:mod:`features.tracks.neutral`) of the actor's first-repetition neutral clip
    with the same statement (manifest ``neutral_ref``). ``same_video``: the most neutral frame of
    the clip itself. ``none``: raw distances (mm). ``graph_path`` (Chanthaphan et al. 2015, whose
    Kinect wire-frame is not published): each pairwise distance divided by the length of the
    shortest path between the two points along the edges of a connected landmark graph, measured
    in the same frame (scale-free, needs no reference frame; pairs joined by an edge give 1).
    The face graph :data:`GRAPH_NODES_18`/:data:`GRAPH_EDGES_18` has 18 nodes (brows 17, 19, 21,
    22, 24, 26; eye corners 36, 39, 42, 45; nose 27, 30, 33; mouth 48, 51, 54, 57; chin 8)
    joined like a face wire-frame (brow chains, brow to eye corner, eye corners, inner corners
    and inner brows to the nose bridge, the nasal line, the mouth diamond hung from the nose
    base, outer eye corner to mouth corner, lower lip to chin) -> 153 dims instead of 780. For
    the eyes the graphs are each eyelid's closed contour (a ring of 12) and
    :data:`INTER_EYE_EDGES` on the 10 inter-eye points, so ``kpd_eyes`` keeps 179 dims.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

FACE_LANDMARKS_40: tuple[int, ...] = (
    3, 8, 13,                                   # jaw sides and chin
    17, 18, 19, 20, 21, 22, 23, 24, 25, 26,     # brows
    27, 30, 31, 33, 35,                         # nose bridge top, tip, base
    36, 37, 38, 39, 40, 41, 42, 43, 44, 45, 46, 47,  # eyes
    48, 50, 51, 52, 54, 56, 57, 58,             # outer lip
    62, 66,                                     # inner lip centre top / bottom
)
assert len(FACE_LANDMARKS_40) == 40 and len(set(FACE_LANDMARKS_40)) == 40

GRAPH_NODES_18: tuple[int, ...] = (17, 19, 21, 22, 24, 26, 36, 39, 42, 45, 27, 30, 33,
                                   48, 51, 54, 57, 8)
GRAPH_EDGES_18: tuple[tuple[int, int], ...] = (
    (17, 19), (19, 21), (22, 24), (24, 26), (21, 27), (22, 27),      # brows, glabella
    (17, 36), (21, 39), (22, 42), (26, 45),                          # brow to eye corner
    (36, 39), (42, 45), (39, 27), (42, 27),                          # eyes, bridge
    (27, 30), (30, 33),                                              # nose
    (33, 51), (51, 48), (51, 54), (48, 57), (54, 57),                # mouth
    (36, 48), (45, 54), (57, 8),                                     # cheeks, chin
)

EYE_BLOCKS = (0, 28)                         # first eye_lmk of each eye's 28
EYELID: tuple[int, ...] = tuple(range(8, 20))  # eyelid contour within a block (12 points)
EYELID_RING_EDGES: tuple[tuple[int, int], ...] = tuple(
    (EYELID[k], EYELID[(k + 1) % 12]) for k in range(12))
INTER_EYE_LANDMARKS: tuple[int, ...] = (17, 19, 21, 22, 24, 26, 36, 39, 42, 45)
INTER_EYE_EDGES: tuple[tuple[int, int], ...] = (
    (17, 19), (19, 21), (22, 24), (24, 26), (21, 22),
    (17, 36), (21, 39), (22, 42), (26, 45), (36, 39), (42, 45), (39, 42),
)
EYES_DIMS = 66 * 2 + 45 + 2


def face_landmarks(spec: Any = "default") -> tuple[int, ...]:
    """The face KPD landmark list from ``kpd.face_landmarks`` (``default`` or a list of 0..67,
    checked by the params schema)."""
    if spec in (None, "default"):
        return FACE_LANDMARKS_40
    return tuple(int(v) for v in spec)


def pair_indices(n: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``n(n-1)/2`` pairs ``(i, j)``, ``i < j``, in row-major upper-triangle order."""
    return np.triu_indices(n, 1)


def pairwise_distances(points: np.ndarray) -> np.ndarray:
    """Euclidean distances ``(frames, N(N-1)/2)`` of ``points (frames, N, dims)``."""
    points = np.asarray(points, dtype=np.float64)
    i, j = pair_indices(points.shape[-2])
    return np.linalg.norm(points[..., i, :] - points[..., j, :], axis=-1)


def _positions(nodes: Sequence[int], edges: Sequence[tuple[int, int]]) -> np.ndarray:
    where = {n: k for k, n in enumerate(nodes)}
    try:
        return np.array([(where[a], where[b]) for a, b in edges], dtype=np.int64)
    except KeyError as exc:
        raise ValueError(f"graph edge uses node {exc.args[0]} which is not in {tuple(nodes)}") from exc


def graph_path_lengths(points: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Shortest-path lengths ``(frames, N(N-1)/2)`` between every pair of ``points (frames, N, d)``
    along ``edges (E, 2)`` (positions into the N points), each edge weighted by its Euclidean
    length in the same frame (batched Floyd-Warshall). Raises if the graph is not connected."""
    points = np.asarray(points, dtype=np.float64)
    f, n = points.shape[0], points.shape[1]
    d = np.full((f, n, n), np.inf)
    d[:, np.arange(n), np.arange(n)] = 0.0
    a, b = edges[:, 0], edges[:, 1]
    w = np.linalg.norm(points[:, a] - points[:, b], axis=-1)
    d[:, a, b] = np.minimum(d[:, a, b], w)
    d[:, b, a] = np.minimum(d[:, b, a], w)
    for k in range(n):
        d = np.minimum(d, d[:, :, k, None] + d[:, None, k, :])
    i, j = pair_indices(n)
    out = d[:, i, j]
    if np.isinf(out).any():
        raise ValueError("landmark graph is not connected: some pairs have no path")
    return out


def graph_normalised(points: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Pairwise distances divided by graph path lengths, ``(frames, N(N-1)/2)``, values in (0, 1].

    A pair whose path has zero length (coincident points) gets 1.
    """
    dist = pairwise_distances(points)
    path = graph_path_lengths(points, edges)
    return np.divide(dist, path, out=np.ones_like(dist), where=path > 0)


def normalise(dist: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """``dist (frames, D) / reference (D,)`` element-wise; a zero reference distance is an error."""
    reference = np.asarray(reference, dtype=np.float64)
    if dist.shape[-1] != reference.shape[-1]:
        raise ValueError(f"reference has {reference.shape[-1]} distances, features have {dist.shape[-1]}")
    zero = reference <= 1e-9
    if zero.any():
        raise ValueError(f"{int(zero.sum())} reference distance(s) are zero (coincident landmarks "
                         f"in the reference frame); cannot normalise")
    return dist / reference


def face_distances(lmk_3d: np.ndarray, landmarks: Sequence[int] = FACE_LANDMARKS_40,
                   graph_path: bool = False) -> np.ndarray:
    """Face distances ``(frames, D)`` of 68 landmarks ``(frames, 68, 3)`` mm: pairwise distances
    of ``landmarks`` (780 with the default 40), or with ``graph_path`` the 153 graph-normalised
    distances of the 18 graph nodes."""
    lmk_3d = np.asarray(lmk_3d, dtype=np.float64)
    if graph_path:
        return graph_normalised(lmk_3d[:, list(GRAPH_NODES_18)],
                                _positions(GRAPH_NODES_18, GRAPH_EDGES_18))
    return pairwise_distances(lmk_3d[:, list(landmarks)])


def eyes_distances(eye_lmk_3d: np.ndarray, lmk_3d: np.ndarray, graph_path: bool = False) -> np.ndarray:
    """Eye distances ``(frames, 177)``: eyelid pairs of eye block 0 (66), of eye block 1 (66),
    then the 45 pairs of :data:`INTER_EYE_LANDMARKS`; with ``graph_path`` each is divided by
    its path along the eyelid ring / the inter-eye graph."""
    eye_lmk_3d = np.asarray(eye_lmk_3d, dtype=np.float64)
    lmk_3d = np.asarray(lmk_3d, dtype=np.float64)
    parts = []
    for start in EYE_BLOCKS:
        lids = eye_lmk_3d[:, [start + k for k in EYELID]]
        parts.append(graph_normalised(lids, _positions(EYELID, EYELID_RING_EDGES)) if graph_path
                     else pairwise_distances(lids))
    inter = lmk_3d[:, list(INTER_EYE_LANDMARKS)]
    parts.append(graph_normalised(inter, _positions(INTER_EYE_LANDMARKS, INTER_EYE_EDGES))
                 if graph_path else pairwise_distances(inter))
    return np.concatenate(parts, axis=1)


def kpd_distances(kind: str, lmk_3d: np.ndarray, eye_lmk_3d: np.ndarray | None = None,
                  landmarks: Sequence[int] = FACE_LANDMARKS_40, graph_path: bool = False) -> np.ndarray:
    """Distances ``(frames, D)`` of ``kind`` ``face`` or ``eyes`` (before reference normalisation)."""
    if kind == "face":
        return face_distances(lmk_3d, landmarks, graph_path)
    if kind == "eyes":
        if eye_lmk_3d is None:
            raise ValueError("eyes KPD needs the 3D eye landmarks (eye_lmk_3d)")
        return eyes_distances(eye_lmk_3d, lmk_3d, graph_path)
    raise ValueError(f"unknown KPD kind {kind!r} (face | eyes)")


def kpd_dims(kind: str, normalisation: str, landmarks: Sequence[int] = FACE_LANDMARKS_40) -> int:
    """Feature width: 780 (face, default list), 153 (face, graph_path), 179 (eyes)."""
    if kind == "eyes":
        return EYES_DIMS
    n = len(GRAPH_NODES_18) if normalisation == "graph_path" else len(landmarks)
    return n * (n - 1) // 2


def kpd_features(kind: str, normalisation: str, lmk_3d: np.ndarray,
                 eye_lmk_3d: np.ndarray | None = None, gaze_angle: np.ndarray | None = None,
                 reference: np.ndarray | None = None,
                 landmarks: Sequence[int] = FACE_LANDMARKS_40) -> np.ndarray:
    """The stored KPD feature ``(frames, dims)`` float32.

    ``reference (D,)``: the reference frame's distances (from :func:`kpd_distances` on that one
    frame), required for ``neutral_video`` and ``same_video``. For ``eyes`` the gaze angles
    ``(frames, 2)`` rad are appended after normalisation.
    """
    dist = kpd_distances(kind, lmk_3d, eye_lmk_3d, landmarks, normalisation == "graph_path")
    return kpd_finish(kind, normalisation, dist, gaze_angle, reference)


def kpd_finish(kind: str, normalisation: str, dist: np.ndarray, gaze_angle: np.ndarray | None,
               reference: np.ndarray | None) -> np.ndarray:
    """Distances ``(frames, D)`` from :func:`kpd_distances` -> the stored feature: divided by the
    reference frame's distances for ``neutral_video``/``same_video``, gaze angles appended for
    ``eyes``, float32. (Split from :func:`kpd_features` so that the neutral reference clip's
    distances can be applied once every clip of an actor is read.)"""
    if normalisation in ("neutral_video", "same_video"):
        if reference is None:
            raise ValueError(f"normalisation {normalisation} needs the reference frame's distances")
        dist = normalise(dist, reference)
    if kind == "eyes":
        if gaze_angle is None:
            raise ValueError("eyes KPD needs the gaze angles")
        dist = np.concatenate([dist, np.asarray(gaze_angle, dtype=np.float64)], axis=1)
    return dist.astype(np.float32)
