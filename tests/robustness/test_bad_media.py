"""Bad media through the real stages: every file ends in the manifest or in a problems report.

The corpus (:mod:`robustness.corpus`) holds a zero-byte mp4, an mp4 cut at 40 % with its index
(moov atom) at the end, a faststart mp4 cut at 70 % (its header claims 150 frames, 100 decode),
a video without audio, a mono clip, a clip shorter than 88 frames (kept: >= dataset.min_frames)
and one shorter than dataset.min_frames, a clip without a face, a mislabelled file name and a
duplicated actor folder. It goes through ingest, track, kpd, facs and audio; the tests check the
documented outcome of each case.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from features.core.problems import read_problems
from features.core.store import list_ids, read_record
from features.tracks.openface import read_openface
from tests.robustness.corpus import (
    CUT_FAST,
    CUT_FAST_HEADER_FRAMES,
    CUT_PLAIN,
    EMPTY,
    KEPT,
    MIN_FRAMES,
    MISLABELLED,
    MONO,
    NEUTRAL,
    NO_AUDIO,
    NO_FACE,
    SHORT,
    TOO_SHORT,
)
from tests.robustness.media import hidden_files

COPY = "Actor_01 copy"


def _problems(work: Path, name: str) -> list[dict[str, str]]:
    return read_problems(work / "reports" / "problems" / f"{name}.csv")


def _by_file(rows: list[dict[str, str]]) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    for r in rows:
        assert r["path"] not in out, f"two problems for {r['path']}"
        out[r["path"]] = r
    return out


def test_ingest_accounts_for_every_file(pipeline):
    df = pd.read_parquet(pipeline / "data" / "manifest.parquet")
    assert list(df["video_id"]) == KEPT
    assert len(pd.read_parquet(pipeline / "data" / "manifest_by_actor" / "Actor_02.parquet")) == 0
    probs = _by_file(_problems(pipeline, "ingest"))
    a1 = "corpus/Actor_01"
    expected = {
        f"{a1}/{EMPTY}.mp4": ("empty file (0 bytes)", "skipped"),
        f"{a1}/{NO_AUDIO}.mp4": ("no audio stream", "skipped"),
        f"{a1}/{TOO_SHORT}.mp4": (f"too short: 60 frames < dataset.min_frames {MIN_FRAMES}", "skipped"),
        f"{a1}/{MISLABELLED}.mp4": ("mislabelled: the name says actor 02 but the file is in "
                                    "Actor_01", "skipped"),
        # the copy of the mislabelled file, too: its folder is a copy of Actor_01
        f"corpus/{COPY}/{MISLABELLED}.mp4": ("mislabelled: the name says actor 02 but the file "
                                             "is in Actor_01", "skipped"),
    }
    for path, (problem, action) in expected.items():
        assert (probs[path]["problem"], probs[path]["action"]) == (problem, action), path
    # index at the end of the file, cut off: unreadable, named with ffmpeg's reason
    cut = probs[f"{a1}/{CUT_PLAIN}.mp4"]
    assert cut["problem"].startswith("ffmpeg cannot read the file (") and cut["action"] == "skipped"
    # index at the front: the header claims 150 frames, fewer decode; kept with what decodes
    n = int(df.set_index("video_id").loc[CUT_FAST, "frames"])
    assert MIN_FRAMES <= n < CUT_FAST_HEADER_FRAMES - 10
    fast = probs[f"{a1}/{CUT_FAST}.mp4"]
    assert fast["problem"] == f"truncated: {n} of {CUT_FAST_HEADER_FRAMES} frames decode"
    assert fast["action"] == "kept: the frames that decode are used"
    # the duplicated actor folder: every copy reported, the original kept
    dups = {p: r for p, r in probs.items() if r["problem"].startswith("duplicate video id")}
    copies = sorted(p.name for p in (pipeline / "corpus" / COPY).iterdir())
    assert sorted(Path(p).name for p in dups) == [c for c in copies if c != f"{MISLABELLED}.mp4"]
    for path, r in dups.items():
        assert Path(path).parent.name == COPY and r["action"] == "skipped"
        assert r["problem"].endswith(f"(kept corpus/Actor_01/{Path(path).name})")
    assert not any(COPY in p for p in df["path"])
    # nothing silently dropped: each media file is in the manifest or in the report
    files = {str(p.relative_to(pipeline)) for p in (pipeline / "corpus").rglob("*.mp4")}
    assert files == set(df["path"]) | {p for p in probs if p.endswith(".mp4")}
    assert set(df["path"]).isdisjoint(p for p, r in probs.items() if r["action"] == "skipped")
    # the mono clip is accepted as it is
    ch = df.set_index("video_id")["audio_channels"]
    assert ch[MONO] == 1 and ch[NEUTRAL] == 2
    assert int(df.set_index("video_id").loc[SHORT, "frames"]) == 84


def test_track_keeps_the_faceless_clip_as_untracked_rows(pipeline):
    out = pipeline / "data" / "openface" / "Actor_01"
    assert sorted(p.stem for p in out.glob("*.csv")) == KEPT
    assert sorted(p.name for p in out.glob("*.report.json")) == [f"{v}.report.json" for v in KEPT]
    df = pd.read_parquet(pipeline / "data" / "manifest.parquet").set_index("video_id")
    rows = _problems(pipeline, "track/Actor_01")
    baselines = [r for r in rows if r["problem"].startswith("AU baseline:")]   # one per clip
    assert len(baselines) == len(KEPT)
    probs = _by_file([r for r in rows if r not in baselines])
    noface = read_openface(out / f"{NO_FACE}.csv")
    assert noface.n == 96 and not noface.success.any()
    row = probs[f"corpus/Actor_01/{NO_FACE}.mp4"]
    assert (row["problem"], row["action"]) == ("no face found in any of the 96 frames",
                                               "written: every row success=0")
    for vid in (NEUTRAL, SHORT, MONO, CUT_FAST):
        track = read_openface(out / f"{vid}.csv")
        assert track.n == df.loc[vid, "frames"], vid          # every decodable frame, no more
        assert track.success.mean() > 0.9, vid
    assert len(probs) == 1
    # an actor without a usable clip: an empty folder and a header-only report
    assert list((pipeline / "data" / "openface" / "Actor_02").iterdir()) == []
    assert _problems(pipeline, "track/Actor_02") == []
    assert hidden_files(pipeline / "data") == []


def test_visual_features_skip_and_report_the_faceless_clip(pipeline):
    tracked = [v for v in KEPT if v != NO_FACE]
    for feature in ("kpd_face", "kpd_eyes", "au", "pose", "gaze_stats"):
        h5 = pipeline / "data" / "features" / feature / "Actor_01.h5"
        assert list_ids(h5) == tracked, feature
        probs = {r["video_id"]: r for r in _problems(pipeline, f"{feature}/Actor_01")}
        assert set(probs) == {SHORT, NO_FACE}, feature
        assert probs[NO_FACE]["action"] == "skipped"
        assert probs[NO_FACE]["problem"].endswith(
            f"data/openface/Actor_01/{NO_FACE}.csv: no frame has success == 1; nothing to "
            "interpolate from"), feature
        assert probs[SHORT]["problem"] == "clip has 84 frames < 88: selection edge-padded"
        assert probs[SHORT]["action"] == "padded: padded positions marked invalid"
        for vid in tracked:
            rec = read_record(h5, vid)
            assert np.isfinite(rec.data).all(), (feature, vid)
        if feature != "gaze_stats":
            short = read_record(h5, SHORT)
            assert short.data.shape[0] == 88 and (~short.valid).sum() == 4
            assert not short.valid[:2].any() and not short.valid[-2:].any()
            assert read_record(h5, CUT_FAST).valid.mean() > 0.9
    kpd = read_record(pipeline / "data" / "features" / "kpd_face" / "Actor_01.h5", NEUTRAL)
    assert kpd.data.shape == (88, 780)
    empty = pipeline / "data" / "features" / "kpd_face" / "Actor_02.h5"
    assert list_ids(empty) == [] and _problems(pipeline, "kpd_face/Actor_02") == []


def test_audio_accepts_mono_and_faceless_and_pads_the_short_clip(pipeline):
    h5 = pipeline / "data" / "features" / "lms" / "Actor_01.h5"
    assert list_ids(h5) == KEPT                      # the faceless clip still has its sound
    probs = {r["video_id"]: r for r in _problems(pipeline, "lms/Actor_01")}
    assert set(probs) == {SHORT}
    assert probs[SHORT]["action"] == "padded" and "zero-padded" in probs[SHORT]["problem"]
    mono, stereo = read_record(h5, MONO), read_record(h5, NEUTRAL)
    assert mono.data.shape == stereo.data.shape == (88, 24)
    assert np.isfinite(mono.data).all() and mono.valid.all()
    # a real spectrum (the test sound's harmonics), not silence or a constant
    assert mono.data.max() - mono.data.min() > 20 and mono.data.std(axis=1).min() > 1
    short = read_record(h5, SHORT)
    assert not short.valid[0] and not short.valid[-1] and short.valid[10:-10].all()
    assert list_ids(pipeline / "data" / "features" / "lms" / "Actor_02.h5") == []
