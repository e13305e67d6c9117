"""Audio decoding, the 140 800 middle samples, mono averaging, and the lms/mfcc stage end to end."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from features.core.config import dump_params
from features.core.manifest import actor_manifest_path
from features.core.problems import StageFailure, read_problems
from features.core.store import list_ids, read_file_attrs, read_record
from features.media.audio import (
    MIDDLE_SAMPLES,
    AudioError,
    centre_segment,
    decode_audio,
    middle_audio,
    to_mono,
    valid_frames,
    write_audio,
)

REPO = Path(__file__).resolve().parents[2]


def ramp_stereo(n: int) -> np.ndarray:
    """(n, 2): left = sample index, right = -3 x index + 1 (distinct channels, exact in float32)."""
    i = np.arange(n, dtype=np.float32)
    return np.stack([i, -3 * i + 1], axis=1)


def test_decode_is_exact_and_keeps_both_channels(tmp_path):
    x = ramp_stereo(50000)
    got = decode_audio(write_audio(tmp_path / "a.wav", x))
    assert got.dtype == np.float32 and got.shape == (50000, 2)
    np.testing.assert_array_equal(got, x)


def test_middle_samples_of_a_ramp_are_centred_and_averaged(tmp_path):
    n = 153600  # 3.2 s at 48 kHz: start (153600 - 140800) // 2 = 6400
    clip = middle_audio(write_audio(tmp_path / "a.wav", ramp_stereo(n)))
    assert clip.mono.shape == (MIDDLE_SAMPLES,) and clip.padded == 0
    assert clip.decoded_samples == n and clip.channels == 2
    i = np.arange(6400, 6400 + MIDDLE_SAMPLES, dtype=np.float64)
    np.testing.assert_allclose(clip.mono, (i + (-3 * i + 1)) / 2)   # mono = mean of L and R
    assert clip.mono[0] == (6400 - 3 * 6400 + 1) / 2


def test_centre_segment_odd_lengths_and_padding():
    ramp = np.arange(140803, dtype=np.float32)
    seg, before, after = centre_segment(ramp, 140800)
    assert (before, after) == (0, 0) and seg[0] == 1 and seg[-1] == 140800  # start (3 // 2) = 1
    short = np.arange(1, 120002, dtype=np.float32)                           # 120001 samples
    seg, before, after = centre_segment(short[:, None], 140800)
    assert seg.shape == (140800, 1)
    assert (before, after) == (10399, 10400)                                # 20799 pad, floor first
    assert not seg[:before].any() and not seg[before + 120001:].any()
    np.testing.assert_array_equal(seg[before:before + 120001, 0], short)


def test_short_clip_reports_its_padding(tmp_path):
    clip = middle_audio(write_audio(tmp_path / "short.wav", ramp_stereo(120000) + 1))
    assert (clip.pad_before, clip.pad_after) == (10400, 10400) and clip.padded == 20800
    assert clip.mono.shape == (MIDDLE_SAMPLES,)
    assert clip.mono[:10400].max() == 0 and clip.mono[10400] != 0


def test_mono_passthrough_and_average():
    assert to_mono(np.array([1.0, 2.0], np.float32)).tolist() == [1.0, 2.0]
    assert to_mono(np.array([[1, 3], [2, 6]], np.float32)).tolist() == [2.0, 4.0]


def test_aac_mp4_decodes_to_48k_stereo(tmp_path):
    t = np.arange(int(3.3 * 48000)) / 48000
    x = 0.3 * np.stack([np.sin(2 * np.pi * 440 * t), np.sin(2 * np.pi * 880 * t)], 1)
    path = write_audio(tmp_path / "clip.mp4", x, video_size="32x24")
    audio = decode_audio(path)
    assert audio.shape[1] == 2 and abs(audio.shape[0] - x.shape[0]) < 2048
    # the channels stay distinct (440 Hz left, 880 Hz right): their spectra peak apart
    peaks = [np.argmax(np.abs(np.fft.rfft(audio[:48000, c]))) for c in range(2)]
    assert peaks == [440, 880]


def test_clip_without_audio_is_a_clear_error(tmp_path, clip_factory):
    path = clip_factory(tmp_path / "silent.mp4", seconds=1.0, audio_channels=None)
    with pytest.raises(AudioError, match=r"silent\.mp4: no audio stream"):
        middle_audio(path)
    with pytest.raises(AudioError, match=r"silent\.mp4: no audio stream"):
        decode_audio(path, channels=2)          # the manifest claims audio: ffmpeg finds none


def test_unreadable_file_names_the_file(tmp_path):
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"this is not a video" * 100)
    with pytest.raises(AudioError, match="broken.mp4"):
        middle_audio(bad)
    with pytest.raises(AudioError, match="missing.wav: file not found"):
        middle_audio(tmp_path / "missing.wav")


def test_valid_frames_marks_frames_centred_in_padding():
    centres = np.arange(88) * 1600 + 800
    valid = valid_frames(centres, 10400, 10400, 140800)
    # centre k * 1600 + 800 in [10400, 130400): k = 6 .. 80
    assert valid.sum() == 75 and not valid[:6].any() and valid[6:81].all() and not valid[81:].any()
    assert valid_frames(centres, 0, 0, 140800).all()


# --- the stage, end to end ------------------------------------------------------------------


def make_project(root: Path, clip_factory, jobs: int = 1, on_error: str = "skip") -> dict[str, Path]:
    """params.yaml (the repository's, with compute.jobs / dataset.on_error set) and a manifest
    slice for actor 01 with a normal mp4, a short wav and an mp4 without audio."""
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["compute"]["jobs"] = jobs
    params["dataset"]["on_error"] = on_error
    (root / "params.yaml").write_text(dump_params(params))
    media = root / "media"
    t = np.arange(int(3.4 * 48000)) / 48000
    chirp = 0.2 * np.sin(2 * np.pi * (300 + 2000 * t) * t)
    clips = {
        "01-01-03-01-01-01-01": write_audio(media / "a.mp4", np.stack([chirp, 0.5 * chirp], 1),
                                            video_size="32x24"),
        "01-01-04-02-01-01-01": write_audio(media / "short.wav", np.stack([chirp, chirp], 1)[:96000]),
        "01-01-05-01-02-02-01": clip_factory(media / "silent.mp4", seconds=1.0, audio_channels=None),
    }
    rows = [{"video_id": vid, "path": str(path), "actor": 1, "audio_rate": 0 if "silent" in
             path.name else 48000, "audio_channels": 0 if "silent" in path.name else 2,
             "fingerprint": f"sha-{i}"} for i, (vid, path) in enumerate(clips.items())]
    out = actor_manifest_path(1, root / "data" / "manifest_by_actor")
    out.parent.mkdir(parents=True)
    pd.DataFrame(rows).to_parquet(out, index=False)
    return clips


@pytest.mark.parametrize("feature,dims,jobs", [("lms", 24, 2), ("mfcc", 39, 1)])
def test_stage_writes_features_and_problems(tmp_path, monkeypatch, clip_factory, feature, dims, jobs):
    from stages.audio import main

    clips = make_project(tmp_path, clip_factory, jobs=jobs)
    monkeypatch.chdir(tmp_path)
    main([feature, "01"])
    h5 = Path(f"data/features/{feature}/Actor_01.h5")
    assert list_ids(h5) == ["01-01-03-01-01-01-01", "01-01-04-02-01-01-01"]   # silent one skipped
    full = read_record(h5, "01-01-03-01-01-01-01")
    assert full.data.shape == (88, dims) and full.data.dtype == np.float32
    assert full.valid.all() and full.source == "sha-0" and np.isfinite(full.data).all()
    short = read_record(h5, "01-01-04-02-01-01-01")        # 96000 samples: 22400 pad each side
    assert short.data.shape == (88, dims)
    assert short.valid.sum() == 60 and not short.valid[:14].any() and short.valid[14:74].all()
    attrs = read_file_attrs(h5)
    assert attrs["feature"] == feature and attrs["actor"] == 1
    assert attrs["params"]["features"]["audio"]["samples"] == 140800
    rows = read_problems(f"reports/problems/{feature}/Actor_01.csv")
    by_action = {r["action"]: r for r in rows}
    assert set(by_action) == {"skipped", "padded"}
    assert "no audio stream" in by_action["skipped"]["problem"]
    assert by_action["skipped"]["path"] == str(clips["01-01-05-01-02-02-01"])
    assert by_action["padded"]["video_id"] == "01-01-04-02-01-01-01"
    assert "22400 before and 22400 after" in by_action["padded"]["problem"]


def test_stage_fails_on_missing_audio_with_on_error_fail(tmp_path, monkeypatch, clip_factory):
    from stages.audio import main

    make_project(tmp_path, clip_factory, on_error="fail")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(StageFailure, match=r"silent\.mp4: no audio stream"):
        main(["lms", "01"])
    assert not Path("data/features/lms/Actor_01.h5").exists()
