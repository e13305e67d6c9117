"""AU (35 dims) and head pose (6 dims) features."""

import numpy as np
import pytest

from features.visual.au_pose import AU_NAMES, POSE_NAMES, au_features, pose_features


def test_au_features_scale_intensities_and_append_presences():
    rng = np.random.default_rng(1)
    au_r = rng.uniform(0, 5, size=(88, 17))
    au_c = (rng.uniform(size=(88, 18)) > 0.5).astype(float)
    out = au_features(au_r, au_c)
    assert out.shape == (88, 35) and out.dtype == np.float32 and len(AU_NAMES) == 35
    np.testing.assert_allclose(out[:, :17], au_r / 5, rtol=1e-6)
    np.testing.assert_array_equal(out[:, 17:], au_c)
    assert AU_NAMES[16] == "AU45_r" and AU_NAMES[33] == "AU28_c"
    with pytest.raises(ValueError):
        au_features(au_r[:, :16], au_c)


def test_pose_minus_mean_of_valid_frames():
    t = np.stack([np.arange(88.0), np.full(88, 5.0), np.full(88, 600.0)], 1)
    r = np.stack([np.full(88, 0.1), np.zeros(88), np.linspace(-0.2, 0.2, 88)], 1)
    valid = np.ones(88, bool)
    valid[:8] = False                        # e.g. padding: excluded from the mean
    out = pose_features(t, r, valid)
    assert out.shape == (88, 6) and out.dtype == np.float32 and POSE_NAMES[0] == "Tx"
    np.testing.assert_allclose(out[valid].mean(0), 0.0, atol=1e-5)
    np.testing.assert_allclose(out[:, 0], np.arange(88.0) - np.arange(8, 88).mean(), atol=1e-4)
    np.testing.assert_allclose(out[:, 2], 0.0, atol=1e-4)
    np.testing.assert_allclose(out[0], [t[0, 0] - 47.5, 0, 0, 0, 0, r[0, 2] - r[8:, 2].mean()], atol=1e-5)
