"""Crop centring, padding at the frame edge, face crops (pure functions on generated frames)."""

import numpy as np
import pytest

from features.visual.crops import (
    box_centre,
    centre_square,
    crop_patch,
    eye_patches,
    face_image,
    mouth_patch,
    patch_origin,
)


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


# --- compact storage (issue 14) ------------------------------------------------------------


def _face_like(n=6, h=64, w=80, seed=1):
    """Smooth image content (gradients + a moving disc + mild noise), like a face crop."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    out = np.empty((n, h, w, 3), np.uint8)
    for t in range(n):
        disc = ((xx - 20 - 4 * t) ** 2 + (yy - h / 2) ** 2) < 150
        img = np.stack([xx * 2.5, yy * 3.0, 120 + 60 * disc], -1) + rng.normal(0, 3, (h, w, 3))
        out[t] = np.clip(img, 0, 255).astype(np.uint8)
    return out


def test_lossless_codecs_round_trip_exactly_and_jpeg_is_close():
    from features.visual.crops import decode_crops, encode_crops, is_encoded

    faces = _face_like()
    eyes = np.stack([_face_like(seed=2), _face_like(seed=3)], axis=1)     # (6, 2, h, w, 3)
    for arr in (faces, eyes):
        for codec, quality in (("png", 0), ("webp", 101)):
            enc = encode_crops(arr, codec, quality)
            assert is_encoded(enc) and enc.ndim == 1
            np.testing.assert_array_equal(decode_crops(enc), arr)
        enc = encode_crops(arr, "jpeg", 90)
        dec = decode_crops(enc)
        assert dec.shape == arr.shape and dec.dtype == np.uint8
        assert enc.size < arr.size / 3                                   # compresses
        err = np.abs(dec.astype(int) - arr.astype(int)).mean()
        assert 0 < err < 4                                               # lossy but close
        # channel order survives (RGB in, RGB out): the blue disc stays in channel 2
        assert dec[..., 2].mean() > dec[..., 0].mean() - 60
        np.testing.assert_array_equal(decode_crops(enc, slice(2, 4)), dec[2:4])
    assert encode_crops(faces, "raw") is faces and decode_crops(faces) is faces


def test_bad_codec_settings_and_corrupt_containers_are_named():
    from features.visual.crops import decode_crops, encode_crops

    faces = _face_like(2)
    with pytest.raises(ValueError, match="crops.codec must be one of"):
        encode_crops(faces, "gif")
    with pytest.raises(ValueError, match="crops.quality must be 0..100"):
        encode_crops(faces, "jpeg", 120)
    enc = encode_crops(faces, "png")
    with pytest.raises(ValueError, match="corrupt crops container"):
        decode_crops(enc[:-10])
    with pytest.raises(ValueError, match="expected uint8"):
        decode_crops(np.zeros((4, 8), np.float32))


def test_encoded_crops_give_identical_hdf5_bytes(tmp_path):
    """Same pixels + settings -> byte-identical actor files (the remote and run-cache agree)."""
    from features.core.store import FeatureRecord, read_record, write_feature_file
    from features.visual.crops import decode_crops, encode_crops

    faces = _face_like(8, 96, 96)
    paths = []
    for run in range(2):
        recs = [FeatureRecord("01-01-03-01-01-01-03", encode_crops(faces.copy(), "jpeg", 90),
                              np.ones(8, bool), np.arange(8), "video")]
        paths.append(write_feature_file(tmp_path / f"run{run}" / "Actor_03.h5", "crops_face",
                                        recs, {"crops": {"codec": "jpeg"}}, actor=3))
    assert paths[0].read_bytes() == paths[1].read_bytes()
    back = decode_crops(read_record(paths[0], "01-01-03-01-01-01-03").data)
    assert back.shape == faces.shape
    other = write_feature_file(tmp_path / "q80" / "Actor_03.h5", "crops_face",
                               [FeatureRecord("01-01-03-01-01-01-03", encode_crops(faces, "jpeg", 80),
                                              np.ones(8, bool), np.arange(8), "video")], actor=3)
    assert other.read_bytes() != paths[0].read_bytes()                 # the setting matters
