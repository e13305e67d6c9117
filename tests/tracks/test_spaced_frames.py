"""spaced_frames: the 20 equally spaced frames of the ResNet fine-tuning (issue 14)."""

import numpy as np
import pytest


def test_spaced_frames_cover_the_whole_clip():
    from features.tracks.frames import select_tracked, spaced_frames

    idx, valid = spaced_frames(100, 20)
    assert idx[0] == 0 and idx[-1] == 99 and len(idx) == 20 and valid.all()
    assert np.all(np.diff(idx) >= 5) and np.all(np.diff(idx) <= 6)      # equal steps (99 / 19)
    idx, valid = spaced_frames(10, 20)                                  # short clip: repeats
    assert idx.min() == 0 and idx.max() == 9 and valid.sum() == 10
    assert spaced_frames(7, 1)[0].tolist() == [3]
    sel = select_tracked(None, 100, 20, "spaced")
    assert sel.indices.tolist() == spaced_frames(100, 20)[0].tolist() and sel.valid.all()
    with pytest.raises(ValueError, match="unknown frame selection"):
        select_tracked(None, 100, 20, "random")
