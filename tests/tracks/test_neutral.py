"""The most neutral frame (Houmard eq. 5.2/5.3)."""

import numpy as np
import pytest

from features.tracks.frames import TrackError
from features.tracks.neutral import most_neutral_frame, most_neutral_row, neutral_scores
from features.tracks.openface import OpenFaceTrack


def test_score_formula_on_hand_computed_frames():
    au_r = np.zeros((3, 17))
    au_c = np.zeros((3, 18))
    au_r[0, 0] = 1.5            # 1.5 + [>1] = 2.5
    au_r[1, 3] = 2.5            # 2.5 + [>1] + 3*[>2] = 6.5
    au_c[1, 17] = 1             # + 1 = 7.5
    au_r[2, :] = 0.5            # 17 * 0.5 = 8.5
    au_c[2, :4] = 1             # + 4 = 12.5
    np.testing.assert_allclose(neutral_scores(au_r, au_c), [2.5, 7.5, 12.5])
    with pytest.raises(ValueError):
        neutral_scores(au_r[:, :16], au_c)


def test_most_neutral_frame_argmin_ties_and_usable_mask():
    rng = np.random.default_rng(0)
    au_r = rng.uniform(0.5, 3.0, size=(10, 17))
    au_c = np.ones((10, 18))
    au_r[6] = 0.1
    au_c[6] = 0
    assert most_neutral_frame(au_r, au_c) == 6
    au_r[2], au_c[2] = au_r[6], au_c[6]                    # tie: earliest wins
    assert most_neutral_frame(au_r, au_c) == 2
    usable = np.ones(10, bool)
    usable[2] = False                                      # e.g. a failed frame
    assert most_neutral_frame(au_r, au_c, usable) == 6
    with pytest.raises(ValueError):
        most_neutral_frame(au_r, au_c, np.zeros(10, bool))


def test_untracked_zero_au_frames_are_never_chosen():
    n = 8
    au_r = np.full((n, 17), 1.2)
    au_c = np.ones((n, 18))
    au_r[5] = 0.2
    success = np.ones(n, bool)
    success[1] = False
    au_r[1], au_c[1] = 0.0, 0.0           # OpenFace writes zeros on failed frames
    t = OpenFaceTrack(path="x.csv", frame=np.arange(1, n + 1), timestamp=np.arange(n) / 30,
                      confidence=np.ones(n), success=success, au_r=au_r, au_c=au_c,
                      blocks=("au_r", "au_c"))
    assert most_neutral_row(t) == 5
    t.success[:] = False
    with pytest.raises(TrackError, match="x.csv"):
        most_neutral_row(t)
