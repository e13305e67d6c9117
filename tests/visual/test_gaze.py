"""Gaze per frame and per-clip statistics on known signals."""

import numpy as np
import pytest

from features.visual.gaze import (
    FUNCTIONALS,
    GAZE_STAT_NAMES,
    event_stats,
    functionals,
    gaze_frames,
    gaze_stats,
    run_lengths,
)


def _stat(vec, name):
    return float(vec[GAZE_STAT_NAMES.index(name)])


def test_gaze_frames_angles_and_deltas():
    g = np.stack([np.linspace(0, 0.87, 88), np.full(88, -0.1)], 1)
    out = gaze_frames(g)
    assert out.shape == (88, 4)
    np.testing.assert_allclose(out[0, 2:], 0.0)
    np.testing.assert_allclose(out[1:, 2], 0.01, rtol=1e-4)
    np.testing.assert_allclose(out[:, 3], 0.0)


def test_stats_of_a_linear_gaze_and_blinks():
    fps, n = 30.0, 90
    t = np.arange(n) / fps
    gx = 0.2 + 0.3 * t                      # rad, slope 0.3 rad/s
    gy = np.zeros(n)
    au45 = np.zeros(n)
    au45[10:13] = 2.0                       # blink of 3 frames
    au45[50:56] = 3.0                       # blink of 6 frames
    valid = np.ones(n, bool)
    padded = np.zeros(n, bool)
    s = gaze_stats(np.stack([gx, gy], 1), au45, valid, padded, fps, blink_threshold=1.0,
                   fixation_threshold=0.005)
    assert s.shape == (72,) and s.dtype == np.float32 and len(set(GAZE_STAT_NAMES)) == 72
    assert _stat(s, "gaze_x_lr_slope") == pytest.approx(0.3, rel=1e-4)
    assert _stat(s, "gaze_x_lr_intercept") == pytest.approx(0.2, rel=1e-4)
    assert _stat(s, "gaze_x_min") == pytest.approx(0.2) and _stat(s, "gaze_x_max") == pytest.approx(gx[-1])
    assert _stat(s, "gaze_x_median") == pytest.approx(np.median(gx))
    assert _stat(s, "gaze_x_iqr13") == pytest.approx(np.percentile(gx, 75) - np.percentile(gx, 25), rel=1e-5)
    assert _stat(s, "dgaze_x_mean") == pytest.approx(0.01, rel=1e-4)
    assert _stat(s, "dgaze_x_std") == pytest.approx(0.0, abs=1e-6)
    assert _stat(s, "blink_rate_per_s") == pytest.approx(2 / 3, rel=1e-5)     # 2 blinks in 3 s
    assert _stat(s, "blink_mean_s") == pytest.approx(4.5 / 30, rel=1e-5)
    assert _stat(s, "blink_max_s") == pytest.approx(0.2, rel=1e-5)
    assert _stat(s, "blink_time_ratio") == pytest.approx(9 / 90, rel=1e-5)
    assert _stat(s, "au45_max") == pytest.approx(3.0)
    # gaze moves 0.01 rad/frame: never below 0.005, so no fixation
    assert _stat(s, "fixation_time_ratio") == 0.0 and _stat(s, "fixation_mean_s") == 0.0
    s2 = gaze_stats(np.stack([gx, gy], 1), au45, valid, padded, fps, 1.0, fixation_threshold=0.02)
    assert _stat(s2, "fixation_time_ratio") == pytest.approx(1.0)


def test_padded_and_untracked_frames_are_left_out():
    fps, n = 30.0, 88
    gx = np.full(n, 0.1)
    gx[:10] = 5.0                           # padding with garbage values
    gx[40] = -5.0                           # an untracked frame
    valid = np.ones(n, bool)
    valid[:10] = False
    valid[40] = False
    padded = np.zeros(n, bool)
    padded[:10] = True
    s = gaze_stats(np.stack([gx, gx], 1), np.zeros(n), valid, padded, fps)
    assert _stat(s, "gaze_x_min") == pytest.approx(0.1) and _stat(s, "gaze_x_max") == pytest.approx(0.1)
    assert _stat(s, "dgaze_y_max") == pytest.approx(0.0, abs=1e-7)
    assert _stat(s, "blink_rate_per_s") == 0.0


def test_helpers_on_edge_cases():
    np.testing.assert_array_equal(run_lengths(np.array([1, 1, 0, 1, 0, 0, 1, 1, 1], bool)), [2, 1, 3])
    assert run_lengths(np.zeros(4, bool)).size == 0
    np.testing.assert_allclose(event_stats(np.ones(30, bool), 30.0), [1, 1, 1, 1, 1, 1])
    assert functionals(np.array([]), np.array([])).shape == (len(FUNCTIONALS),)
    f = functionals(np.array([2.0]), np.array([0.0]))
    assert f[FUNCTIONALS.index("lr_slope")] == 0 and f[FUNCTIONALS.index("lr_intercept")] == 2.0
    with pytest.raises(ValueError):
        gaze_stats(np.zeros((5, 2)), np.zeros(5), np.ones(5, bool), np.zeros(5, bool), 0.0)
