"""Window planning: sliding windows cover the recording, short ones are the padded middle."""

from __future__ import annotations

import numpy as np
import pytest

from features.predict.windows import middle_window, plan_windows, window_starts
from features.tracks.frames import middle_frames


def test_window_starts_reach_the_end():
    assert window_starts(88, 88, 15) == [0]
    assert window_starts(110, 88, 15) == [0, 15, 22]     # last window ends at the last frame
    assert window_starts(118, 88, 15) == [0, 15, 30]
    assert window_starts(87, 88, 15) == []
    with pytest.raises(ValueError):
        window_starts(100, 88, 0)


def test_sliding_windows_are_contiguous_frames():
    ws = plan_windows(200, 88, 30)
    assert [w.start for w in ws] == [0, 30, 60, 90, 112]
    for w in ws:
        np.testing.assert_array_equal(w.frames, np.arange(w.start, w.start + 88))
        assert not w.padded.any() and w.kind == "window"
    assert ws[-1].seconds(30.0, 200) == (112 / 30, 200 / 30)


def test_short_recording_is_one_padded_middle_window():
    (w,) = plan_windows(60, 88, 15)
    idx, valid = middle_frames(60, 88)
    np.testing.assert_array_equal(w.frames, idx)
    np.testing.assert_array_equal(w.padded, ~valid)
    assert w.padded.sum() == 28 and w.seconds(30.0, 60) == (0.0, 2.0)


def test_middle_window_is_the_training_selection():
    w = middle_window(111, 88)
    idx, _ = middle_frames(111, 88)
    np.testing.assert_array_equal(w.frames, idx)
    assert w.start == 11 and not w.padded.any()
