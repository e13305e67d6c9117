"""Wav2Vec2 context representations of the 140 800 middle samples (Houmard: 146 x 1024 large / 768 base).

Recipe: mono 48 kHz segment -> resample to the feature extractor's rate (16 kHz) with torchaudio
-> the checkpoint's own feature extractor (``do_normalize``: zero-mean unit-variance per clip)
-> ``Wav2Vec2Model`` in ``torch.inference_mode``. 140 800 samples at 48 kHz resample to
ceil(140 800 / 3) = 46 934 samples at 16 kHz, which the conv stack (strides 5, 2 x 6; kernels 10,
3 x 4, 2 x 2) turns into 146 frames of 20 ms.

Outputs, one feature file each (chosen by the feature name, so each is a declared DVC output):

* ``wav2vec2``: the transformer output ``last_hidden_state`` ``(146, hidden)`` (the paper's feature);
* ``wav2vec2_layer<N>``: ``hidden_states[N]`` ``(146, hidden)``, N = 0 (transformer input) ..
  num_hidden_layers (for stable-layer-norm checkpoints such as large-lv60 the last entry is the
  layer-normed output, i.e. ``last_hidden_state``);
* ``wav2vec2_cnn``: the CNN encoder output after its layer norm (``extract_features``, ``(146, 512)``);
  only the conv stack runs.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torchaudio

import features.learnt.checkpoints  # noqa: F401  (sets HF_HUB_OFFLINE before transformers loads)

log = logging.getLogger(__name__)

TARGET_RATE = 16000
_LAYER = re.compile(r"^wav2vec2_layer(\d+)$")


def parse_output(feature: str) -> str | int:
    """``wav2vec2`` -> ``"last"``, ``wav2vec2_cnn`` -> ``"cnn"``, ``wav2vec2_layer12`` -> ``12``."""
    if feature == "wav2vec2":
        return "last"
    if feature == "wav2vec2_cnn":
        return "cnn"
    m = _LAYER.match(feature)
    if m:
        return int(m.group(1))
    raise ValueError(f"unknown Wav2Vec2 feature {feature!r} "
                     "(wav2vec2 | wav2vec2_cnn | wav2vec2_layer<N>)")


def resample(mono: np.ndarray, orig_rate: int = 48000, new_rate: int = TARGET_RATE) -> np.ndarray:
    """Band-limited resampling (torchaudio sinc) ``(samples,)`` -> ``(ceil(samples * new / orig),)`` float32."""
    if orig_rate == new_rate:
        return np.asarray(mono, dtype=np.float32)
    x = torch.from_numpy(np.ascontiguousarray(mono, dtype=np.float32))
    return torchaudio.functional.resample(x, int(orig_rate), int(new_rate)).numpy()


def resampled_length(samples: int, orig_rate: int = 48000, new_rate: int = TARGET_RATE) -> int:
    """Length :func:`resample` returns: ``ceil(samples * new_rate / orig_rate)`` (46 934 for 140 800)."""
    g = math.gcd(int(orig_rate), int(new_rate))
    return math.ceil(int(samples) * (new_rate // g) / (orig_rate // g))


def load_wav2vec2(folder: str | Path, device: torch.device | str = "cpu"
                  ) -> tuple[Any, torch.nn.Module, bool]:
    """``(feature_extractor, Wav2Vec2Model in eval mode on device, fallback)`` from a local folder.

    The feature extractor is the checkpoint's own (``preprocessor_config.json``); a checkpoint
    without one gets ``Wav2Vec2FeatureExtractor()`` defaults (16 kHz, do_normalize=True, the
    paper's normalisation) and ``fallback=True`` so the stage reports it.
    """
    from transformers import AutoFeatureExtractor, Wav2Vec2FeatureExtractor, Wav2Vec2Model

    folder = Path(folder)
    model = Wav2Vec2Model.from_pretrained(folder, local_files_only=True)
    model.eval().to(device)
    if (folder / "preprocessor_config.json").is_file():
        return AutoFeatureExtractor.from_pretrained(folder, local_files_only=True), model, False
    log.warning("%s has no preprocessor_config.json: using Wav2Vec2FeatureExtractor defaults "
                "(16 kHz, do_normalize=True)", folder)
    return Wav2Vec2FeatureExtractor(), model, True


def check_output(model: torch.nn.Module, output: str | int) -> None:
    """Raise ValueError if ``output`` names a hidden layer the model does not have."""
    if isinstance(output, int):
        n = int(model.config.num_hidden_layers)
        if not 0 <= output <= n:
            raise ValueError(f"wav2vec2_layer{output}: the checkpoint has hidden states 0..{n}")


def output_frames(model: torch.nn.Module, samples_16k: int) -> int:
    """Frames the conv stack makes of ``samples_16k`` input samples (146 for 46 934)."""
    n = int(samples_16k)
    for k, s in zip(model.config.conv_kernel, model.config.conv_stride):
        n = (n - k) // s + 1
    return n


def frame_centres(model: torch.nn.Module, n_frames: int) -> np.ndarray:
    """``(n_frames,)`` centre of each output frame's receptive field, in input samples (16 kHz)."""
    stride, field = 1, 1
    for k, s in zip(model.config.conv_kernel, model.config.conv_stride):
        field += (k - 1) * stride
        stride *= s
    return np.arange(n_frames) * stride + (field - 1) / 2


def normalise(feature_extractor: Any, batch: Sequence[np.ndarray]) -> dict[str, torch.Tensor]:
    """The feature extractor's model inputs for ``batch`` of ``(samples,)`` arrays at its rate."""
    return feature_extractor(list(batch), sampling_rate=feature_extractor.sampling_rate,
                             return_tensors="pt", padding=True)


def wav2vec2_batch(feature_extractor: Any, model: torch.nn.Module, batch: Sequence[np.ndarray],
                   output: str | int = "last") -> np.ndarray:
    """Features ``(n, frames, dims)`` float32 for ``batch`` of mono ``(samples,)`` arrays at 16 kHz."""
    device = next(model.parameters()).device
    inputs = normalise(feature_extractor, batch)
    values = inputs["input_values"].to(device)
    mask = inputs.get("attention_mask")
    with torch.inference_mode():
        if output == "cnn":
            feats = model.feature_extractor(values).transpose(1, 2)
            out = model.feature_projection.layer_norm(feats)
        else:
            res = model(values, attention_mask=None if mask is None else mask.to(device),
                        output_hidden_states=isinstance(output, int))
            out = res.last_hidden_state if output == "last" else res.hidden_states[output]
    return out.float().cpu().numpy()
