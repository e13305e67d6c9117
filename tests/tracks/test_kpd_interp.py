"""Frame matching, interpolation of untracked frames, missing-block errors (features.tracks.frames)."""

import numpy as np
import pytest

from features.tracks.frames import (
    Selection,
    TrackError,
    clip_notes,
    csv_blocks,
    interpolate,
    missing_message,
    require_blocks,
    select_tracked,
)
from features.tracks.openface import BLOCKS, OpenFaceError, OpenFaceTrack


def _track(n=100, fail=(), drop=()):
    """Rows for frames 1..n (minus ``drop``); value = 2 * frame index, zeros on failed rows."""
    frame = np.array([f for f in range(1, n + 1) if f - 1 not in drop])
    success = ~np.isin(frame - 1, list(fail))
    v = np.stack([2.0 * (frame - 1), -1.0 * (frame - 1)], 1)[:, :, None] * np.ones((1, 1, 3))
    v[~success] = 0.0
    return OpenFaceTrack(path="clip.csv", frame=frame, timestamp=(frame - 1) / 30.0,
                         confidence=success.astype(float), success=success, lmk_3d=v,
                         blocks=("lmk_3d",))


def test_selection_matches_csv_frames_one_based():
    t = _track(100, fail=(10, 50), drop=(60,))
    sel = select_tracked(t, 100, 88)
    assert sel.indices[0] == 6 and sel.indices[-1] == 93 and not sel.padded.any()
    assert not sel.tracked[10 - 6] and not sel.tracked[50 - 6] and not sel.tracked[60 - 6]
    assert sel.tracked.sum() == 85 and sel.valid.sum() == 85
    assert sel.missing_fraction == pytest.approx(3 / 88)
    short = select_tracked(_track(60), 60, 88)
    assert short.padded.sum() == 28 and short.valid.sum() == 60
    assert select_tracked(None, 60, 88).tracked.all()


def test_interpolation_recovers_linear_values_and_holds_edges():
    t = _track(100, fail=(10, 11, 12, 50, 0, 1, 99), drop=(60,))
    idx = np.arange(100)
    out = interpolate(t.lmk_3d, t, idx)
    assert out.shape == (100, 2, 3)
    truth = np.stack([2.0 * idx, -1.0 * idx], 1)[:, :, None] * np.ones((1, 1, 3))
    inner = np.arange(2, 99)
    np.testing.assert_allclose(out[inner], truth[inner])              # gaps 10-12, 50, 60 filled
    np.testing.assert_allclose(out[[0, 1]], truth[[2, 2]])            # held before the first
    np.testing.assert_allclose(out[99], truth[98])                    # held after the last
    t.success[:] = False
    with pytest.raises(TrackError, match="clip.csv"):
        interpolate(t.lmk_3d, t, idx)


def test_notes_for_short_and_poorly_tracked_clips():
    sel = Selection(np.arange(88), np.zeros(88, bool), np.arange(88) % 2 == 0)
    assert missing_message(sel, 0.5) is None and "50%" in clip_notes(sel, 88, 0.5)[0][0]
    sel = Selection(np.arange(88), np.zeros(88, bool), np.arange(88) % 4 == 0)
    assert "75%" in missing_message(sel, 0.5)
    assert clip_notes(sel, 88, 0.5)[0][1].startswith("kept")
    sel = Selection(np.arange(88), np.arange(88) < 10, np.ones(88, bool))
    assert clip_notes(sel, 78, 0.5)[0][1].startswith("padded")


def test_missing_blocks_error_names_feature_blocks_and_files(tmp_path):
    partial = BLOCKS["basic"] + BLOCKS["au_r"] + BLOCKS["au_c"]
    for k in range(3):
        (tmp_path / f"clip{k}.csv").write_text(", ".join(partial) + "\n" + ", ".join(["1"] * len(partial)) + "\n")
    full = tmp_path / "full.csv"
    full.write_text(",".join(c for cols in BLOCKS.values() for c in cols) + "\n")
    assert csv_blocks(tmp_path / "clip0.csv") == ("au_r", "au_c")
    require_blocks([full, tmp_path / "absent.csv"], ["lmk_3d", "au_r"], "kpd_face", "Actor_03")
    with pytest.raises(OpenFaceError) as err:
        require_blocks(sorted(tmp_path.glob("clip*.csv")) + [full], ["lmk_3d", "au_r", "au_c"],
                       "kpd_face", "Actor_03")
    msg = str(err.value)
    assert "kpd_face needs lmk_3d" in msg and "Actor_03's CSVs have au_r, au_c only" in msg
    assert "clip0.csv" in msg and "3 file(s)" in msg
