"""LMS and MFCC: the paper's shapes on real decoded audio, framing, frequency range, MFCC recipe."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.fft
import torch
import torchaudio

from features.audio.spectral import FRAMINGS, frame_centres, log_mel, mfcc, spectral_feature
from features.media.audio import middle_audio, write_audio

SR = 48000


def tone(freq: float, n: int = 140800, amp: float = 0.5) -> np.ndarray:
    return (amp * np.sin(2 * np.pi * freq * np.arange(n) / SR)).astype(np.float32)


@pytest.fixture(scope="module")
def decoded(tmp_path_factory) -> np.ndarray:
    """140 800 mono samples decoded from a real AAC mp4 (3.3 s stereo speech-like chirp)."""
    t = np.arange(int(3.3 * SR)) / SR
    x = 0.3 * np.sin(2 * np.pi * (200 + 1500 * t) * t) * (1 + np.sin(2 * np.pi * 3 * t)) / 2
    path = write_audio(tmp_path_factory.mktemp("sp") / "c.mp4", np.stack([x, 0.7 * x], 1),
                       video_size="32x24")
    return middle_audio(path).mono


@pytest.mark.parametrize("framing", FRAMINGS)
def test_paper_shapes_on_decoded_audio(decoded, framing):
    lms = log_mel(decoded, framing=framing)
    assert lms.shape == (88, 24) and lms.dtype == np.float32 and np.isfinite(lms).all()
    m = mfcc(decoded, framing=framing)
    assert m.shape == (88, 39) and m.dtype == np.float32 and np.isfinite(m).all()
    assert mfcc(decoded, n_mfcc=13, framing=framing).shape == (88, 13)


def test_torchaudio_frame_counts_and_drop_last(decoded):
    """torchaudio alone gives 89 (center) or 86 (no center) frames; center_drop_last keeps 88 of 89."""
    kw = dict(sample_rate=SR, n_fft=4800, win_length=4800, hop_length=1600, f_max=17000, n_mels=24)
    x = torch.from_numpy(decoded)
    centred = torchaudio.transforms.MelSpectrogram(center=True, **kw)(x)
    assert centred.shape == (24, 89)
    assert torchaudio.transforms.MelSpectrogram(center=False, **kw)(x).shape == (24, 86)
    db = torchaudio.transforms.AmplitudeToDB("power")(centred)[:, :88].T.numpy()
    np.testing.assert_allclose(log_mel(decoded, framing="center_drop_last"), db, rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("framing,k", [("video_aligned", 30), ("video_aligned", 61),
                                       ("center_drop_last", 30)])
def test_a_burst_lands_in_its_video_frame(framing, k):
    """A 20 ms burst centred on frame k's window centre peaks in LMS frame k."""
    x = np.zeros(140800, np.float32)
    centre = int(frame_centres(88, 4800, 1600, framing)[k])
    x[centre - 480:centre + 480] = tone(3000, 960)
    energy = log_mel(x, framing=framing).max(axis=1)
    assert int(np.argmax(energy)) == k
    if framing == "video_aligned":
        assert centre == k * 1600 + 800          # the middle of video frame k's 1600 samples


def test_f_max_limits_the_bands():
    """17 kHz upper edge: a 10 kHz tone fills a band, a 20 kHz tone (above f_max) barely registers."""
    inside = log_mel(tone(10000)).max()
    outside = log_mel(tone(20000)).max()
    assert inside - outside > 40                 # dB
    band = np.argmax(log_mel(tone(1000)).mean(axis=0))
    fb = torchaudio.functional.melscale_fbanks(2401, 0.0, 17000.0, 24, SR)   # (freqs, mels)
    assert band == int(np.argmax(fb[100].numpy()))                          # 1 kHz = bin 100


def test_mfcc_is_db_mel_then_orthonormal_dct():
    """Recompute the librosa-style MFCC independently: numpy STFT, Slaney mel, dB (top 80), DCT-II."""
    rng = np.random.default_rng(0)
    x = (tone(700) + 0.05 * rng.standard_normal(140800)).astype(np.float32)
    got = mfcc(x, framing="video_aligned")
    padded = np.pad(x, 1600, mode="reflect")
    window = np.hanning(4801)[:-1]               # periodic Hann, like torch.hann_window
    frames = np.stack([padded[k * 1600:k * 1600 + 4800] for k in range(88)])
    power = np.abs(np.fft.rfft(frames * window, axis=1)) ** 2                   # (88, 2401)
    fb = torchaudio.functional.melscale_fbanks(2401, 0.0, 17000.0, 40, SR, norm="slaney",
                                               mel_scale="slaney").numpy()
    db = 10 * np.log10(np.maximum(power @ fb, 1e-10))
    db = np.maximum(db, db.max() - 80)
    want = scipy.fft.dct(db, type=2, norm="ortho", axis=1)[:, :39]
    np.testing.assert_allclose(got, want, rtol=1e-3, atol=1e-2)


def test_dispatch_reads_params_sections_and_rejects_bad_settings():
    x = tone(440)
    np.testing.assert_array_equal(spectral_feature("lms", x, SR, {"n_mels": 24, "hop": 1600}),
                                  log_mel(x))
    assert spectral_feature("mfcc", x, SR, {"n_mfcc": 20, "n_mels": 40}).shape == (88, 20)
    with pytest.raises(ValueError, match="n_mfcc"):
        mfcc(x, n_mfcc=41, n_mels=40)
    with pytest.raises(ValueError, match="framing"):
        log_mel(x, framing="centre")
    with pytest.raises(ValueError, match="unknown spectral feature"):
        spectral_feature("cqt", x, SR, {})


def test_db_reference_per_clip_and_top_db(decoded):
    """db_ref max = librosa power_to_db(ref=np.max): the absolute LMS minus the clip's peak dB,
    so a louder copy of the clip gives the same features; top_db floors at peak - top_db."""
    absolute = log_mel(decoded)
    rel = log_mel(decoded, db_ref="max")
    assert np.isclose(rel.max(), 0.0)
    assert np.allclose(rel, absolute - absolute.max(), atol=1e-4)
    louder = log_mel(decoded * 4.0, db_ref="max")
    assert np.allclose(louder, rel, atol=1e-3)                      # gain cancels
    assert np.allclose(log_mel(decoded * 4.0) - absolute, 20 * np.log10(4.0), atol=1e-3)
    # librosa's definition by hand: 10 log10(max(amin, S)) - 10 log10(max(amin, max S)), floor -top_db
    mel = torchaudio.transforms.MelSpectrogram(SR, n_fft=4800, hop_length=1600, n_mels=24,
                                               f_max=17000, center=True)(torch.from_numpy(decoded))
    db = 10 * np.log10(np.maximum(1e-10, mel.numpy()))
    ref = np.maximum(db - db.max(), -30.0)[:, :88].T
    ours = log_mel(decoded, db_ref="max", top_db=30, framing="center_drop_last")
    assert np.allclose(ours, ref, atol=1e-3) and np.isclose(ours.min(), -30.0)
    assert spectral_feature("lms", decoded, SR, {"db_ref": "max"}).max() == 0.0
    with pytest.raises(ValueError, match="db_ref"):
        log_mel(decoded, db_ref="peak")
