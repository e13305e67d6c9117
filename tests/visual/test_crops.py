"""Crop centring, padding at the frame edge, face crops (pure functions on generated frames)."""

import numpy as np
import pytest

from features.visual.crops import (box_centre, centre_square, crop_patch, eye_patches, face_image,
                            mouth_patch, patch_origin)


def _frame(h=240, w=320):
    rng = np.random.default_rng(0)
    return rng.integers(0, 100, size=(h, w, 3), dtype=np.uint8)


def _ring(cx, cy, rx, ry, k):
    a = np.linspace(0, 2 * np.pi, k, endpoint=False)
    return np.stack([cx + rx * np.cos(a), cy + ry * np.sin(a)], 1)


def test_marker_at_the_landmark_midpoint_lands_at_the_patch_centre():
    frame = _frame()
    frame[100, 150] = (255, 0, 0)              # eye 0 centre (x=150, y=100), red
    frame[104, 230] = (0, 255, 0)              # eye 1 centre, green
    frame[180, 160] = (0, 0, 255)              # mouth centre, blue
    eye = np.concatenate([_ring(150, 100, 20, 8, 28), _ring(230, 104, 18, 7, 28)])
    lmk = np.zeros((68, 2))
    lmk[48:68] = _ring(160, 180, 30, 12, 20)
    eyes, inside = eye_patches(frame, eye, (128, 128))
    assert inside and eyes.shape == (2, 128, 128, 3)
    assert tuple(eyes[0, 64, 64]) == (255, 0, 0) and tuple(eyes[1, 64, 64]) == (0, 255, 0)
    assert (eyes[0] == (255, 0, 0)).all(-1).sum() == 1
    mouth, inside = mouth_patch(frame, lmk, (110, 180))
    assert inside and mouth.shape == (110, 180, 3)
    assert tuple(mouth[55, 90]) == (0, 0, 255)
    # the min/max midpoint, not the mean: an uneven spread of points does not move it
    pts = np.array([[0, 0], [1, 0], [2, 0], [10, 4]], float)
    assert box_centre(pts) == (5.0, 2.0)
    assert patch_origin((150.0, 100.0), (128, 128)) == (86, 36)


def test_patches_leaving_the_frame_are_padded_and_flagged():
    frame = _frame(60, 80)
    patch, inside = crop_patch(frame, (5.0, 10.0), (32, 32), "zeros")
    assert not inside and patch.shape == (32, 32, 3)
    # origin (-11, -6): rows 0..5 and cols 0..10 lie outside -> black
    assert (patch[:6] == 0).all() and (patch[:, :11] == 0).all()
    np.testing.assert_array_equal(patch[6:, 11:], frame[0:26, 0:21])
    edge, inside = crop_patch(frame, (5.0, 10.0), (32, 32), "edge")
    assert not inside
    np.testing.assert_array_equal(edge[0, 11:], frame[0, 0:21])        # top row replicated
    np.testing.assert_array_equal(edge[6:, 0], frame[0:26, 0])         # left column replicated
    far, inside = crop_patch(frame, (500.0, 500.0), (8, 8), "zeros")
    assert not inside and (far == 0).all()
    with pytest.raises(ValueError):
        crop_patch(frame, (5.0, 5.0), (4, 4), "mirror")


def test_face_centre_square_and_tracked_modes():
    frame = np.zeros((360, 640, 3), np.uint8)
    frame[:, :140] = 200                       # left border, outside the centre square
    frame[170:190, 310:330] = 255              # marker at the frame centre
    sq = centre_square(frame)
    assert sq.shape == (360, 360, 3) and (sq[:, :] != 200).all()
    face, inside = face_image(frame, 224, "centre")
    assert inside and face.shape == (224, 224, 3)
    ys, xs = np.nonzero(face[..., 0] > 128)
    assert abs(ys.mean() - 111.5) < 1.0 and abs(xs.mean() - 111.5) < 1.0
    lmk = _ring(320, 180, 40, 50, 68)          # face box 80 x 100 around the marker
    tracked, inside = face_image(frame, 224, "tracked", lmk, margin=1.4)
    assert inside and tracked.shape == (224, 224, 3)
    ys, xs = np.nonzero(tracked[..., 0] > 128)
    assert abs(ys.mean() - 111.5) < 2.0 and abs(xs.mean() - 111.5) < 2.0
    assert (tracked[..., 0] > 128).sum() > (face[..., 0] > 128).sum()   # zoomed in
    with pytest.raises(ValueError):
        face_image(frame, 224, "tracked")
