"""Key-point distances: pairwise distances, reference normalisation, graph-path normalisation."""

import numpy as np
import pytest

from features.core.config import ParamsError, validate
from features.visual.kpd import (
    EYELID,
    EYES_DIMS,
    FACE_LANDMARKS_40,
    GRAPH_EDGES_18,
    GRAPH_NODES_18,
    INTER_EYE_LANDMARKS,
    face_distances,
    face_landmarks,
    graph_normalised,
    graph_path_lengths,
    kpd_dims,
    kpd_distances,
    kpd_features,
    normalise,
    pair_indices,
    pairwise_distances,
)


def _face(frames: int = 5, seed: int = 0) -> np.ndarray:
    """Random but non-degenerate 68 3D landmarks (frames, 68, 3) mm."""
    rng = np.random.default_rng(seed)
    base = rng.uniform(-60, 60, size=(68, 3))
    return base[None] + rng.normal(scale=2.0, size=(frames, 68, 3))


def test_pairwise_distances_of_a_known_triangle():
    pts = np.array([[[0, 0, 0], [3, 0, 0], [0, 4, 0]]], float)
    np.testing.assert_allclose(pairwise_distances(pts), [[3.0, 4.0, 5.0]])   # (0,1) (0,2) (1,2)
    i, j = pair_indices(4)
    assert list(zip(i, j)) == [(0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3)]


def test_face_distances_have_780_dims_in_documented_order():
    lmk = _face()
    d = face_distances(lmk)
    assert d.shape == (5, 780)
    a, b = FACE_LANDMARKS_40[0], FACE_LANDMARKS_40[1]
    np.testing.assert_allclose(d[:, 0], np.linalg.norm(lmk[:, a] - lmk[:, b], axis=1))
    last = np.linalg.norm(lmk[:, FACE_LANDMARKS_40[-2]] - lmk[:, FACE_LANDMARKS_40[-1]], axis=1)
    np.testing.assert_allclose(d[:, -1], last)
    assert len(set(FACE_LANDMARKS_40)) == 40 and max(FACE_LANDMARKS_40) <= 67


def test_normalising_by_a_frame_gives_ones_on_that_frame():
    lmk = _face(frames=6, seed=1)
    for kind in ("face", "eyes"):
        eye = _face(frames=6, seed=2)[:, :56]
        gaze = np.tile([[0.1, -0.2]], (6, 1))
        ref = kpd_distances(kind, lmk[[3]], eye[[3]])[0]
        out = kpd_features(kind, "neutral_video", lmk, eye, gaze, ref)
        assert out.dtype == np.float32
        assert out.shape == (6, 780 if kind == "face" else 179)
        dist_dims = 780 if kind == "face" else 177
        np.testing.assert_allclose(out[3, :dist_dims], 1.0, rtol=1e-6)
        assert not np.allclose(out[0, :dist_dims], 1.0)
        raw = kpd_features(kind, "none", lmk, eye, gaze)
        np.testing.assert_allclose(out[:, :dist_dims], raw[:, :dist_dims] / ref, rtol=1e-5)
        if kind == "eyes":   # gaze angles appended, not normalised
            np.testing.assert_allclose(out[:, 177:], gaze, rtol=1e-6)


def test_eyes_distances_use_eyelid_points_and_ten_inter_eye_points():
    lmk = _face(frames=2, seed=3)
    eye = _face(frames=2, seed=4)[:, :56]
    d = kpd_distances("eyes", lmk, eye)
    assert d.shape == (2, 177) and EYES_DIMS == 179
    np.testing.assert_allclose(d[:, :66], pairwise_distances(eye[:, 8:20]))
    np.testing.assert_allclose(d[:, 66:132], pairwise_distances(eye[:, 36:48]))
    np.testing.assert_allclose(d[:, 132:], pairwise_distances(lmk[:, list(INTER_EYE_LANDMARKS)]))
    assert EYELID == tuple(range(8, 20)) and len(INTER_EYE_LANDMARKS) == 10


def test_graph_path_on_a_small_graph():
    square = np.array([[[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0]]], float)
    chain = np.array([[0, 1], [1, 2], [2, 3]])
    # pairs (0,1) (0,2) (0,3) (1,2) (1,3) (2,3)
    np.testing.assert_allclose(graph_path_lengths(square, chain), [[1, 2, 3, 1, 2, 1]])
    np.testing.assert_allclose(graph_normalised(square, chain),
                               [[1, np.sqrt(2) / 2, 1 / 3, 1, np.sqrt(2) / 2, 1]])
    ring = np.vstack([chain, [[3, 0]]])      # closing the loop shortens 0 -> 3 to one edge
    np.testing.assert_allclose(graph_path_lengths(square, ring), [[1, 2, 1, 1, 2, 1]])
    with pytest.raises(ValueError, match="not connected"):
        graph_path_lengths(square, np.array([[0, 1], [2, 3]]))


def test_face_graph_has_153_dims_and_edges_give_one():
    lmk = _face(frames=3, seed=5)
    g = kpd_features("face", "graph_path", lmk)
    assert g.shape == (3, 153) and kpd_dims("face", "graph_path") == 153
    assert (g > 0).all() and (g <= 1 + 1e-6).all()
    i, j = pair_indices(18)
    pos = {n: k for k, n in enumerate(GRAPH_NODES_18)}
    edge_cols = [c for c, (a, b) in enumerate(zip(i, j))
                 if (GRAPH_NODES_18[a], GRAPH_NODES_18[b]) in GRAPH_EDGES_18
                 or (GRAPH_NODES_18[b], GRAPH_NODES_18[a]) in GRAPH_EDGES_18]
    assert len(edge_cols) == len(GRAPH_EDGES_18) and len(pos) == 18
    np.testing.assert_allclose(g[:, edge_cols], 1.0, rtol=1e-6)


def test_eyelid_ring_graph_on_a_regular_polygon():
    r = 10.0
    ang = np.arange(12) * 2 * np.pi / 12
    lid = np.stack([r * np.cos(ang), r * np.sin(ang), np.zeros(12)], 1)
    eye = np.zeros((1, 56, 3))
    eye[0, 8:20] = lid
    eye[0, 36:48] = lid * 2
    lmk = _face(frames=1, seed=6)
    g = kpd_features("eyes", "graph_path", lmk, eye, np.zeros((1, 2)))
    assert g.shape == (1, 179)
    i, j = pair_indices(12)
    opposite = [c for c, (a, b) in enumerate(zip(i, j)) if b - a == 6]
    # diameter 2r over six sides of 2 r sin(15 deg): scale-free, so both eyes agree
    expected = 1.0 / (6 * np.sin(np.pi / 12))
    np.testing.assert_allclose(g[0, opposite], expected, rtol=1e-5)
    np.testing.assert_allclose(g[0, [66 + c for c in opposite]], expected, rtol=1e-5)


def test_bad_reference_and_landmark_lists_raise():
    d = np.ones((2, 3))
    with pytest.raises(ValueError, match="zero"):
        normalise(d, np.array([1.0, 0.0, 2.0]))
    with pytest.raises(ValueError, match="reference"):
        kpd_features("face", "same_video", _face(2))
    assert face_landmarks("default") == FACE_LANDMARKS_40
    assert face_landmarks([1, 2, 3]) == (1, 2, 3) and kpd_dims("face", "none", (1, 2, 3)) == 3
    # bad lists and normalisations are rejected by the params schema, naming key and value
    for bad in ([1, 1], [70, 2], "abc", [5]):
        with pytest.raises(ParamsError, match=r"kpd\.face_landmarks: .* not allowed; expected 'default' or"):
            validate({"kpd": {"face_landmarks": bad}})
    with pytest.raises(ParamsError, match="kpd.normalisation: 'median' is not allowed; expected one of "
                                          "neutral_video | same_video | graph_path | none"):
        validate({"kpd": {"normalisation": "median"}})
