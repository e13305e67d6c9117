"""ResNet-18 frame embeddings of the face, mouth and eye crops (512 per frame, pooled output).

Recipe (Houmard): every crop resized to 224 x 224, scaled to 0..1, normalised with the ImageNet
mean/std (read from the checkpoint's image processor config, so a checkpoint with other values is
honoured), fed to ResNet-18 without its classification head; the pooled output of the last stage
(512) is the frame's vector. The crops come from the crops stage as uint8 RGB ``(frames, H, W, 3)``
(face 224 x 224, mouth 110 x 180) or, for the eyes, ``(frames, 2, H, W, 3)`` (one patch per eye)
or a single ``(frames, H, W, 3)`` patch.

Choices where the papers are silent (parameters under ``features.resnet``):

* resizing is a plain 224 x 224 resize of the whole crop (no aspect-preserving centre crop, which
  the checkpoint's processor would apply: it would cut away part of the eye and mouth patches),
  bilinear with antialiasing like torchvision's ``Resize`` that the papers' PyTorch code used
  (``interpolation``);
* eyes: the two eyes' vectors are averaged (``eyes: average``, 512) as in the paper, or
  concatenated (``concat``, 1024).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch

import features.learnt.checkpoints  # noqa: F401  (sets HF_HUB_OFFLINE before transformers loads)

log = logging.getLogger(__name__)

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
EYES_MODES = ("average", "concat")


def image_normalisation(folder: str | Path) -> tuple[np.ndarray, np.ndarray, float, bool]:
    """``(mean (3,), std (3,), rescale_factor, fallback)`` from the checkpoint's image processor config.

    A checkpoint without ``preprocessor_config.json`` gets the ImageNet values and 1/255 with
    ``fallback=True`` (the stage reports it).
    """
    cfg_path = Path(folder) / "preprocessor_config.json"
    if not cfg_path.is_file():
        log.warning("%s has no preprocessor_config.json: using ImageNet mean/std", folder)
        return np.array(IMAGENET_MEAN), np.array(IMAGENET_STD), 1 / 255, True
    cfg = json.loads(cfg_path.read_text())
    mean = np.array(cfg.get("image_mean", IMAGENET_MEAN), dtype=np.float64)
    std = np.array(cfg.get("image_std", IMAGENET_STD), dtype=np.float64)
    if not cfg.get("do_normalize", True):
        mean, std = np.zeros(3), np.ones(3)
    rescale = float(cfg.get("rescale_factor", 1 / 255)) if cfg.get("do_rescale", True) else 1.0
    return mean, std, rescale, False


def load_resnet(folder: str | Path, device: torch.device | str = "cpu") -> torch.nn.Module:
    """``ResNetModel`` (no classification head) in eval mode on ``device`` from a local folder."""
    from transformers import ResNetModel

    model = ResNetModel.from_pretrained(Path(folder), local_files_only=True)
    return model.eval().to(device)


def preprocess(images: np.ndarray, mean: np.ndarray, std: np.ndarray, rescale: float = 1 / 255,
               size: int = 224, interpolation: str = "bilinear") -> torch.Tensor:
    """uint8 RGB ``(n, H, W, 3)`` -> normalised float ``(n, 3, size, size)`` model input."""
    if images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(f"expected (n, H, W, 3) RGB images, got shape {images.shape}")
    x = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float() * rescale
    if x.shape[-2:] != (size, size):
        x = torch.nn.functional.interpolate(x, size=(size, size), mode=interpolation,
                                            align_corners=False, antialias=True)
    m = torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1)
    s = torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1)
    return (x - m) / s


def embed_images(model: torch.nn.Module, images: np.ndarray, mean: np.ndarray, std: np.ndarray,
                 rescale: float = 1 / 255, batch_size: int = 32, size: int = 224,
                 interpolation: str = "bilinear") -> np.ndarray:
    """Pooled ResNet vectors ``(n, dims)`` float32 (dims 512 for ResNet-18) of uint8 RGB ``(n, H, W, 3)``."""
    device = next(model.parameters()).device
    out = []
    with torch.inference_mode():
        for start in range(0, len(images), max(1, int(batch_size))):
            x = preprocess(images[start:start + batch_size], mean, std, rescale, size,
                           interpolation).to(device)
            pooled = model(pixel_values=x).pooler_output       # (b, dims, 1, 1)
            out.append(pooled.flatten(1).float().cpu().numpy())
    dims = int(model.config.hidden_sizes[-1])
    return np.concatenate(out) if out else np.zeros((0, dims), np.float32)


def clip_vectors(model: torch.nn.Module, crops: np.ndarray, mean: np.ndarray, std: np.ndarray,
                 rescale: float = 1 / 255, eyes: str = "average", batch_size: int = 32,
                 size: int = 224, interpolation: str = "bilinear") -> np.ndarray:
    """One clip's crops -> ``(frames, dims)`` float32.

    ``crops`` is ``(frames, H, W, 3)`` (one patch per frame) or ``(frames, k, H, W, 3)`` (k
    patches per frame, the two eyes): their vectors are averaged (``eyes="average"``, dims) or
    concatenated (``"concat"``, k * dims).
    """
    kw: dict[str, Any] = dict(rescale=rescale, batch_size=batch_size, size=size,
                              interpolation=interpolation)
    if crops.ndim == 4:
        return embed_images(model, crops, mean, std, **kw)
    if crops.ndim != 5:
        raise ValueError(f"expected crops (frames, H, W, 3) or (frames, k, H, W, 3), got {crops.shape}")
    if eyes not in EYES_MODES:
        raise ValueError(f"features.resnet.eyes must be one of {EYES_MODES}, got {eyes!r}")
    frames, k = crops.shape[:2]
    vecs = embed_images(model, crops.reshape(frames * k, *crops.shape[2:]), mean, std, **kw)
    vecs = vecs.reshape(frames, k, -1)
    return vecs.mean(axis=1) if eyes == "average" else vecs.reshape(frames, -1)
