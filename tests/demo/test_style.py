"""The demo's difficulty: per-actor emotion mixtures, confusable pairs, intensity, nuisance."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from features.demo import face as face_mod
from features.demo import voice as voice_mod
from features.demo.corpus import ClipSpec, render_clip
from features.demo.style import EMOTIONS, PARTNER, Difficulty, actor_mix, clip_mix, mix_table

ACTORS = range(1, 25)


def _mixes(d: Difficulty, emotion: int, modality: str = "face") -> np.ndarray:
    return np.stack([actor_mix(7, a, emotion, modality, d) for a in ACTORS])


def test_params_section():
    d = Difficulty.from_params({"confusion": 0.2, "face_clarity": {"happy": 2.0}})
    assert d.confusion == 0.2 and d.leak == Difficulty().leak
    assert d.face_clarity["happy"] == 2.0 and d.face_clarity["sad"] == Difficulty().face_clarity["sad"]
    assert Difficulty.from_params({"preset": "clean"}) == Difficulty.clean()
    assert Difficulty.from_params(None) == Difficulty()
    with pytest.raises(ValueError, match="unknown demo.difficulty keys"):
        Difficulty.from_params({"confusoin": 0.2})
    with pytest.raises(ValueError, match="unknown emotions"):
        Difficulty.from_params({"voice_clarity": {"joy": 1.0}})
    with pytest.raises(ValueError, match=">= 0"):
        Difficulty.from_params({"leak": -1})


def test_clean_mixture_is_the_emotion_alone():
    for e in range(2, 9):
        w = _mixes(Difficulty.clean(), e)
        assert np.all(w[:, e] == 1.0) and np.all(np.delete(w, e, axis=1) == 0)
    assert np.all(_mixes(Difficulty.clean(), 1) == 0)          # neutral: no deviation


def test_actors_differ_and_confusable_pairs_share_their_recipes():
    d = Difficulty()
    for e in range(2, 9):
        w = _mixes(d, e)
        assert np.array_equal(w, _mixes(d, e))                  # deterministic
        gains = w.sum(1)
        assert gains.max() > 1.5 * gains.min()                  # per-actor expressiveness
        if e in PARTNER and PARTNER[e] != 1:
            share = w[:, PARTNER[e]] / gains
            assert share.max() > 0.3 and share.min() >= 0       # some actors mix the pair
    # neutral borrows from calm only (a slightly calm face), never from other emotions
    w = _mixes(d, 1)
    assert w[:, 2].max() > 0 and np.all(np.delete(w, 2, axis=1) == 0)
    # face and voice are drawn apart: an actor unclear in one can be clear in the other
    assert not np.allclose(_mixes(d, 6, "face") / 0.8, _mixes(d, 6, "voice") / 0.8)


def test_modality_clarity_follows_the_thesis():
    d = Difficulty()
    face = {e: _mixes(d, e, "face")[:, e].mean() for e in range(2, 9)}
    voice = {e: _mixes(d, e, "voice")[:, e].mean() for e in range(2, 9)}
    names = dict(zip(EMOTIONS, range(1, 9)))
    for e in ("angry", "surprised"):                            # clearer in the voice
        assert voice[names[e]] > face[names[e]]
    assert face[names["happy"]] > voice[names["happy"]]         # clearer in the face


def test_intensity_scales_the_mixture_and_the_total_is_capped():
    d = Difficulty()
    base = actor_mix(7, 3, 5, "voice", d)
    normal = clip_mix(base, 1, 1.5, d, np.random.default_rng(0))
    strong = clip_mix(base, 2, 1.5, d, np.random.default_rng(0))
    on = normal != 0
    assert on.sum() >= 2 and np.allclose(strong[on] / normal[on], 1.5 / d.normal_intensity)
    huge = clip_mix(base * 10, 2, 1.5, d, np.random.default_rng(0))
    assert np.abs(huge).sum() == pytest.approx(2.2)


def test_mixed_prosody_interpolates_the_recipes():
    w = np.zeros(9)
    w[5] = 1.0
    angry = voice_mod.prosody_mix(w)
    ref = voice_mod.PROSODY[5]
    assert angry.level_st == pytest.approx(ref.level_st) and angry.gain_db == pytest.approx(ref.gain_db)
    assert angry.tempo == pytest.approx(ref.tempo) and angry.contour == ref.contour
    w[7] = 1.0                                                  # half angry, half disgust (sum 2)
    both = voice_mod.prosody_mix(w * 0.5)
    assert both.gain_db == pytest.approx(0.5 * (ref.gain_db + voice_mod.PROSODY[7].gain_db))
    assert both.tempo == pytest.approx(np.sqrt(ref.tempo * voice_mod.PROSODY[7].tempo))
    assert mix_table({1: 0.8, 5: 1.2}, np.eye(9)[5] * 0.5) == pytest.approx(1.0)


def test_lighting_changes_pixels_not_landmarks(tmp_path):
    spec = ClipSpec(2, 8, 2, 1, 1)
    dark = dataclasses.replace(Difficulty(), lighting=0.0)
    p = render_clip(spec, tmp_path / "a", tmp_path / "ta", width=160, height=90, difficulty=dark)
    q = render_clip(spec, tmp_path / "b", tmp_path / "tb", width=160, height=90)
    assert p.read_bytes() != q.read_bytes()
    ta = np.load(tmp_path / "ta" / "Actor_02" / f"{p.stem}.npy")
    tb = np.load(tmp_path / "tb" / "Actor_02" / f"{p.stem}.npy")
    assert np.array_equal(ta, tb)
    face = face_mod.build_actor(7, 2, 160, 90)
    lit = face_mod.lit(face, np.random.default_rng(1), 0.4)
    assert lit.photo.shape == face.photo.shape and not np.array_equal(lit.photo, face.photo)
    assert face_mod.lit(face, np.random.default_rng(1), 0.0) is face
    f = face_mod.flicker(np.random.default_rng(0), 300, 30, 0.2)
    assert 0.9 < f.min() < 1 < f.max() < 1.1


def test_head_motion_scales_the_random_head_motion():
    face = face_mod.build_actor(7, 1, 320, 180)
    n = 90
    moves = []
    for k in (1.0, 3.0):
        m = face_mod.animate(face, 1, 1, np.zeros(n), np.zeros(n), 30, np.random.default_rng(5),
                             mix=np.zeros(9), head_motion=k)
        moves.append(np.std(np.degrees(np.arctan2(m.head[:, 1, 0], m.head[:, 0, 0]))))  # roll
    assert moves[1] == pytest.approx(3 * moves[0], rel=1e-6)
