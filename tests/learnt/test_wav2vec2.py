"""Wav2Vec2 features with a tiny local checkpoint built here (the real conv stack: 140 800 -> 146)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from features.core.config import dump_params
from features.core.devices import resolve_device
from features.core.manifest import actor_manifest_path
from features.core.problems import read_problems
from features.core.store import list_ids, read_file_attrs, read_record
from features.learnt.checkpoints import CheckpointError, resolve_checkpoint
from features.learnt.wav2vec2 import (
    frame_centres,
    load_wav2vec2,
    normalise,
    output_frames,
    parse_output,
    resample,
    resampled_length,
    wav2vec2_batch,
)
from features.media.audio import write_audio

REPO = Path(__file__).resolve().parents[2]
HIDDEN, CONV = 32, 8


def tiny_config():
    from transformers import Wav2Vec2Config

    # Tiny widths, but the real conv kernels/strides (defaults) so 46 934 samples -> 146 frames.
    return Wav2Vec2Config(hidden_size=HIDDEN, num_hidden_layers=2, num_attention_heads=2,
                          intermediate_size=64, conv_dim=(CONV,) * 7, num_conv_pos_embeddings=16,
                          num_conv_pos_embedding_groups=2, codevector_dim=16,
                          proj_codevector_dim=16, num_codevectors_per_group=8)


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory) -> Path:
    """A Wav2Vec2ForPreTraining checkpoint (like facebook/wav2vec2-large) + its feature extractor."""
    from transformers import Wav2Vec2FeatureExtractor, Wav2Vec2ForPreTraining

    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("w2v") / "tiny-wav2vec2"
    Wav2Vec2ForPreTraining(tiny_config()).save_pretrained(folder)
    Wav2Vec2FeatureExtractor(feature_size=1, sampling_rate=16000, padding_value=0.0,
                             do_normalize=True, return_attention_mask=False).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def loaded(tiny_checkpoint):
    return load_wav2vec2(tiny_checkpoint, "cpu")


def speechlike(n: int = 140800, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(n) / 48000
    return (0.3 * np.sin(2 * np.pi * (150 + 400 * t) * t) + 0.02 * rng.standard_normal(n)
            + 0.1).astype(np.float32)


def test_resampling_length_and_frequency():
    x = (0.5 * np.sin(2 * np.pi * 1000 * np.arange(140800) / 48000)).astype(np.float32)
    y = resample(x)
    assert y.shape == (46934,) == (resampled_length(140800),)          # ceil(140800 / 3)
    assert np.argmax(np.abs(np.fft.rfft(y[:16000]))) == 1000          # the tone stays at 1 kHz
    assert resampled_length(48000) == 16000 and np.array_equal(resample(x, 16000, 16000), x)


def test_checkpoint_loads_its_weights_and_extractor(tiny_checkpoint, loaded):
    from transformers import Wav2Vec2ForPreTraining

    fe, model, fallback = loaded
    assert not fallback and fe.sampling_rate == 16000 and fe.do_normalize
    saved = Wav2Vec2ForPreTraining.from_pretrained(tiny_checkpoint)
    w = model.feature_extractor.conv_layers[0].conv.weight
    torch.testing.assert_close(w, saved.wav2vec2.feature_extractor.conv_layers[0].conv.weight)
    assert output_frames(model, 46934) == 146 and output_frames(model, 46933) == 146


def test_normalisation_is_the_extractors_zero_mean_unit_variance(loaded):
    from transformers import Wav2Vec2FeatureExtractor

    fe, _, _ = loaded
    x = resample(speechlike())
    got = normalise(fe, [x, 2 * x + 1])["input_values"].numpy()
    want = (x - x.mean()) / np.sqrt(x.var() + 1e-7)
    np.testing.assert_allclose(got[0], want, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(got[1], want, rtol=1e-4, atol=1e-4)     # per-clip statistics
    assert abs(got[0].mean()) < 1e-4 and abs(got[0].std() - 1) < 1e-3
    raw = Wav2Vec2FeatureExtractor(do_normalize=False)                 # a checkpoint without it
    np.testing.assert_allclose(normalise(raw, [x])["input_values"].numpy()[0], x)


def test_output_shapes_and_what_each_output_is(loaded):
    fe, model, _ = loaded
    clips = [resample(speechlike(seed=s)) for s in range(3)]
    last = wav2vec2_batch(fe, model, clips, "last")
    assert last.shape == (3, 146, HIDDEN) and last.dtype == np.float32
    cnn = wav2vec2_batch(fe, model, clips, "cnn")
    assert cnn.shape == (3, 146, CONV)
    layer1 = wav2vec2_batch(fe, model, clips, 1)
    assert layer1.shape == (3, 146, HIDDEN)
    with torch.inference_mode():
        ref = model(normalise(fe, clips)["input_values"], output_hidden_states=True)
    np.testing.assert_allclose(last, ref.last_hidden_state.numpy(), atol=1e-5)
    np.testing.assert_allclose(cnn, ref.extract_features.numpy(), atol=1e-5)
    np.testing.assert_allclose(layer1, ref.hidden_states[1].numpy(), atol=1e-5)
    # batching does not change a clip's features (all clips have the same length, no padding)
    np.testing.assert_allclose(wav2vec2_batch(fe, model, clips[1:2], "last")[0], last[1], atol=1e-4)


def test_frame_centres_follow_the_conv_stack(loaded):
    _, model, _ = loaded
    c = frame_centres(model, 146)
    assert c[0] == 199.5 and c[1] - c[0] == 320       # receptive field 400, stride 320 (20 ms)


def test_parse_output():
    assert parse_output("wav2vec2") == "last" and parse_output("wav2vec2_cnn") == "cnn"
    assert parse_output("wav2vec2_layer12") == 12
    with pytest.raises(ValueError, match="unknown Wav2Vec2 feature"):
        parse_output("wav2vec2_last")


# --- checkpoints ----------------------------------------------------------------------------


@pytest.fixture
def empty_hub_cache(tmp_path, monkeypatch):
    import huggingface_hub.constants as constants

    cache = tmp_path / "hub"
    cache.mkdir()
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    return cache


def test_missing_checkpoint_is_a_clear_error(empty_hub_cache, tmp_path):
    with pytest.raises(CheckpointError) as err:
        resolve_checkpoint("facebook/wav2vec2-large", "features.wav2vec2.checkpoint", "wav2vec2",
                           "enabled.wav2vec2: []")
    msg = str(err.value)
    for part in ("'facebook/wav2vec2-large'", "features.wav2vec2.checkpoint", "local Hugging Face cache",
                 "hf download facebook/wav2vec2-large", "dvc pull data/features/wav2vec2",
                 "enabled.wav2vec2: []"):
        assert part in msg
    with pytest.raises(CheckpointError, match="does not exist"):
        resolve_checkpoint(str(tmp_path / "nowhere"), "k", "wav2vec2", "off")
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "config.json").write_text("{}")
    with pytest.raises(CheckpointError, match="has no weights"):
        resolve_checkpoint(str(empty), "k", "wav2vec2", "off")


def test_hub_id_found_in_the_local_cache(empty_hub_cache, tiny_checkpoint):
    """A hub id resolves offline when its snapshot is in the cache (as `hf download` leaves it)."""
    commit = "0" * 40
    repo = empty_hub_cache / "models--someorg--tiny-w2v"
    snap = repo / "snapshots" / commit
    snap.mkdir(parents=True)
    for f in tiny_checkpoint.iterdir():
        (snap / f.name).write_bytes(f.read_bytes())
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    folder = resolve_checkpoint("someorg/tiny-w2v", "k", "wav2vec2", "off")
    assert folder == snap
    fe, model, _ = load_wav2vec2(folder)
    assert model.config.hidden_size == HIDDEN


def test_device_auto_is_cpu_without_cuda():
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert resolve_device("cpu").type == "cpu"


# --- the stage, end to end ------------------------------------------------------------------


def make_project(root: Path, checkpoint: str) -> None:
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["compute"]["jobs"] = 1
    params["features"]["wav2vec2"].update(checkpoint=checkpoint, batch_size=2)
    (root / "params.yaml").write_text(dump_params(params))
    stereo = np.stack([speechlike(160000), speechlike(160000, 1)], 1)
    clips = {"01-01-03-01-01-01-02": write_audio(root / "m" / "a.mp4", stereo, video_size="32x24"),
             "01-01-04-01-01-01-02": write_audio(root / "m" / "b.wav", stereo[:150000]),
             "01-01-05-01-01-01-02": write_audio(root / "m" / "short.wav", stereo[:96000])}
    broken = root / "m" / "broken.wav"
    broken.write_bytes(b"RIFF0000WAVEjunk")                   # unreadable: reported, skipped
    clips["01-01-06-01-01-01-02"] = broken
    rows = [{"video_id": v, "path": str(p), "actor": 2, "audio_channels": 2, "audio_rate": 48000,
             "fingerprint": f"fp{i}"} for i, (v, p) in enumerate(clips.items())]
    out = actor_manifest_path(2, root / "data" / "manifest_by_actor")
    out.parent.mkdir(parents=True)
    pd.DataFrame(rows).to_parquet(out, index=False)


def test_stage_end_to_end_with_a_local_checkpoint(tmp_path, monkeypatch, tiny_checkpoint):
    from stages.wav2vec2 import main

    make_project(tmp_path, str(tiny_checkpoint))
    monkeypatch.chdir(tmp_path)
    main(["02"])                                    # default feature: wav2vec2
    h5 = Path("data/features/wav2vec2/Actor_02.h5")
    ids = list_ids(h5)
    assert ids == ["01-01-03-01-01-01-02", "01-01-04-01-01-01-02", "01-01-05-01-01-01-02"]
    rec = read_record(h5, ids[0])
    assert rec.data.shape == (146, HIDDEN) and rec.data.dtype == np.float16
    assert rec.valid.all() and rec.source == "fp0"
    short = read_record(h5, ids[2])               # 96000 of 140800 samples: 22400 pad each side
    c48 = (np.arange(146) * 320 + 199.5) * 3        # frame centres in 48 kHz samples
    assert short.valid.sum() == ((c48 >= 22400) & (c48 < 118400)).sum() < 146
    assert not short.valid[0] and not short.valid[-1] and short.valid[73]
    attrs = read_file_attrs(h5)
    assert attrs["params"]["hidden_size"] == HIDDEN and attrs["params"]["output"] == "last"
    # the stored features are what the model computes on the same audio
    from features.media.audio import middle_audio
    fe, model, _ = load_wav2vec2(tiny_checkpoint)
    want = wav2vec2_batch(fe, model, [resample(middle_audio(tmp_path / "m" / "a.mp4").mono)])[0]
    np.testing.assert_allclose(rec.data.astype(np.float32), want, rtol=2e-2, atol=2e-3)
    problems = {r["action"]: r for r in read_problems("reports/problems/wav2vec2/Actor_02.csv")}
    assert set(problems) == {"skipped", "padded"}
    assert "broken.wav" in problems["skipped"]["path"]
    assert problems["padded"]["video_id"] == ids[2]

    main(["wav2vec2_cnn", "02"])
    cnn = read_record("data/features/wav2vec2_cnn/Actor_02.h5", ids[1])
    assert cnn.data.shape == (146, CONV)
    main(["wav2vec2_layer2", "02"])
    assert read_record("data/features/wav2vec2_layer2/Actor_02.h5", ids[1]).data.shape == (146, HIDDEN)
    with pytest.raises(ValueError, match="hidden states 0..2"):
        main(["wav2vec2_layer3", "02"])


def test_stage_stops_before_any_work_without_weights(tmp_path, monkeypatch, empty_hub_cache):
    from stages.wav2vec2 import main

    make_project(tmp_path, "facebook/wav2vec2-large")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(CheckpointError, match="facebook/wav2vec2-large"):
        main(["02"])
    assert not Path("data/features").exists() and not Path("reports").exists()
