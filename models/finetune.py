"""ResNet-18 fine-tuned end to end with a TIM-Net head (Houmard's unimodal "ResNet" protocol).

Thesis (appendix on features): "In unimodal and binary experiments where fine-tuning was
performed, we selected 20 equally spaced samples from the full video. For multimodal
experiments, we employed the weights derived from the unimodal experiments, froze the ResNet
extractor and utilized the 88 middle frames of each video."

:class:`FineTuneNet`: each of a clip's 20 crops (eyes: both patches) goes through the ResNet-18
of ``features.resnet.checkpoint`` (loaded with the same ``from_pretrained`` path as the frozen
features, :func:`features.learnt.resnet.load_resnet`); the pooled 512-vectors (eyes averaged or
concatenated, ``features.resnet.eyes``) form a ``(20, dims)`` sequence for a TIM-Net head
(:class:`models.timnet.TIMNet`). Table C.1 settings for the ResNet rows: lr 2e-4, batch 8 clips,
60 epochs, 5 scales, 64 filters (32 for the multi-class eyes ResNet), resolved by
:func:`models.hparams.resolve_experiment` from the ``finetune`` params (``null`` = the paper's
value). Loss, label smoothing (0.1), Adam betas and the checkpoint selection (the epoch of lowest
mean training loss) are those of :mod:`models.training`.

Choices where the thesis is silent (``finetune`` params, docs/pipeline.md "Fine-tuning"):

* ``batch_norm: frozen`` (default): the ResNet's BatchNorm layers stay in eval mode, using and
  keeping their (ImageNet) running statistics, while their affine weights train. A batch is 8
  clips x 20 frames of the same few faces: batch statistics of such strongly correlated images
  are a poor estimate, and updating the running averages from them would drift the features
  the frozen multimodal extractor later computes. ``train`` updates them like any layer.
* ``frozen_stages: 0`` (default): everything trains, "end to end". ``n`` freezes the stem
  (``1``) and the first ``n - 1`` residual stages; ``5`` freezes the whole ResNet (head only).
* ``augmentation: none`` (default; the thesis mentions none). ``hflip``: each training clip is
  mirrored left-right with probability 0.5 (all its frames alike).
* Invalid frames (untracked: interpolated landmarks; repeated frames of very short clips) are
  used like the others, as the thesis' pipeline did not drop frames.
* Mixed precision (``precision: auto``): on CUDA, bf16 autocast when the GPU supports it, else
  fp16 autocast with a gradient scaler; full fp32 on CPU (CPU autocast is slower on most CPUs).
  BatchNorm and the loss run in fp32 under autocast (PyTorch's autocast lists).

Crops stay encoded in memory (:func:`features.visual.crops.decode_crops` per batch), so a fold of
full RAVDESS needs ~3 GB less RAM than decoded pixels would.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import time
from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch import nn

from features.learnt.resnet import EYES_MODES, preprocess
from features.visual.crops import decode_crops
from models.hparams import Experiment
from models.timnet import TIMNet
from models.training import class_weights, loss_fn, seed_everything

BATCH_NORM = ("frozen", "train")
AUGMENTATIONS = ("none", "hflip")
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
MAX_FROZEN_STAGES = 5      # stem + 4 residual stages


class FineTuneNet(nn.Module):
    """ResNet (HF ``ResNetModel``) per frame -> ``(batch, frames, dims)`` -> TIM-Net -> logits."""

    def __init__(self, resnet: nn.Module, head: TIMNet, eyes: str = "average",
                 batch_norm: str = "frozen", frozen_stages: int = 0):
        super().__init__()
        if eyes not in EYES_MODES:
            raise ValueError(f"features.resnet.eyes must be one of {EYES_MODES}, got {eyes!r}")
        if batch_norm not in BATCH_NORM:
            raise ValueError(f"finetune.batch_norm must be one of {BATCH_NORM}, got {batch_norm!r}")
        if not 0 <= int(frozen_stages) <= MAX_FROZEN_STAGES:
            raise ValueError(f"finetune.frozen_stages must be 0..{MAX_FROZEN_STAGES}, got {frozen_stages}")
        self.resnet, self.head = resnet, head
        self.eyes, self.batch_norm, self.frozen_stages = eyes, batch_norm, int(frozen_stages)
        for module in self.frozen_modules():
            for p in module.parameters():
                p.requires_grad_(False)

    def frozen_modules(self) -> list[nn.Module]:
        """The stem and the first ``frozen_stages - 1`` residual stages (none when 0)."""
        if self.frozen_stages == 0:
            return []
        return [self.resnet.embedder, *list(self.resnet.encoder.stages)[:self.frozen_stages - 1]]

    def train(self, mode: bool = True) -> FineTuneNet:
        super().train(mode)
        if mode:
            for module in self.resnet.modules():   # frozen BN: running statistics kept
                if isinstance(module, nn.BatchNorm2d) and self.batch_norm == "frozen":
                    module.eval()
            for module in self.frozen_modules():   # frozen layers behave as at inference
                module.eval()
        return self

    def frame_vectors(self, x: torch.Tensor) -> torch.Tensor:
        """``(batch, frames, [k,] 3, S, S)`` normalised images -> ``(batch, frames, dims)``."""
        lead = x.shape[:-3]
        pooled = self.resnet(pixel_values=x.reshape(-1, *x.shape[-3:])).pooler_output.flatten(1)
        vecs = pooled.reshape(*lead, -1).float()
        if vecs.ndim == 4:                         # (batch, frames, k, dims): the two eyes
            vecs = vecs.mean(dim=2) if self.eyes == "average" else vecs.flatten(2)
        return vecs

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.frame_vectors(x))


def build_finetune_net(resnet: nn.Module, exp: Experiment, part: str, eyes: str = "average",
                       batch_norm: str = "frozen", frozen_stages: int = 0) -> FineTuneNet:
    """:class:`FineTuneNet` with the TIM-Net head of ``exp`` (one modality, ``resnet_<part>``)."""
    spec = exp.trunks[exp.modalities[0]]
    dims = int(resnet.config.hidden_sizes[-1]) * (2 if part == "eyes" and eyes == "concat" else 1)
    head = TIMNet(dims, exp.n_classes, spec["filters"], spec["kernel_size"], spec["scales"],
                  spec["layers"], spec["dropout"], exp.bn_momentum, exp.bn_eps)
    return FineTuneNet(resnet, head, eyes, batch_norm, frozen_stages)


def autocast_settings(device: torch.device, precision: str = "auto") -> tuple[torch.dtype | None, bool]:
    """``(autocast dtype or None for fp32, use a GradScaler)`` for ``device`` and ``precision``."""
    if precision not in PRECISIONS:
        raise ValueError(f"finetune.precision must be one of {PRECISIONS}, got {precision!r}")
    if precision == "fp32" or (precision == "auto" and device.type != "cuda"):
        return None, False
    if precision == "auto":
        precision = "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    if precision == "fp16" and device.type != "cuda":
        raise ValueError("finetune.precision fp16 needs CUDA (use bf16 or fp32 on CPU)")
    return (torch.bfloat16, False) if precision == "bf16" else (torch.float16, True)


@dataclasses.dataclass
class Normalisation:
    """The checkpoint's image normalisation and resize (see :mod:`features.learnt.resnet`)."""

    mean: np.ndarray
    std: np.ndarray
    rescale: float = 1 / 255
    size: int = 224
    interpolation: str = "bilinear"


def batch_images(clips: Sequence[np.ndarray], norm: Normalisation, flip: np.ndarray | None = None
                 ) -> torch.Tensor:
    """Stored crops of ``b`` clips (encoded or raw) -> ``(b, frames, [k,] 3, S, S)`` float."""
    arrays = [decode_crops(c) for c in clips]
    shapes = {a.shape for a in arrays}
    if len(shapes) != 1:
        raise ValueError(f"clips of one batch have different crop shapes {sorted(shapes)}")
    x = np.stack(arrays)                                   # (b, frames, [k,] H, W, 3)
    if flip is not None and flip.any():
        x[flip] = x[flip][..., ::-1, :]
    lead = x.shape[:-3]
    imgs = preprocess(x.reshape(-1, *x.shape[-3:]), norm.mean, norm.std, norm.rescale, norm.size,
                      norm.interpolation)
    return imgs.reshape(*lead, *imgs.shape[1:])


@dataclasses.dataclass
class FineTuneResult:
    resnet_state: dict[str, torch.Tensor]   # the selected epoch's ResNet weights (CPU)
    head_state: dict[str, torch.Tensor]     # the selected epoch's TIM-Net head (CPU)
    history: list[dict[str, float]]         # epoch, train_loss, train_acc, seconds
    best_epoch: int                         # 1-based
    seconds: float


def fit_finetune(net: FineTuneNet, exp: Experiment, clips: Sequence[np.ndarray], labels: np.ndarray,
                 norm: Normalisation, device: torch.device, augmentation: str = "none",
                 precision: str = "auto", log: Callable[[str], None] = print,
                 progress: Callable[[int, int], None] | None = None) -> FineTuneResult:
    """Train ``net`` on the stored crops ``clips`` (one per training clip) with ``exp``'s recipe.

    Selection: ``exp.selection`` ``train_loss`` (the papers: lowest mean training loss) or
    ``last``. Returns the selected epoch's weights; ``net`` holds them on return.
    """
    if augmentation not in AUGMENTATIONS:
        raise ValueError(f"finetune.augmentation must be one of {AUGMENTATIONS}, got {augmentation!r}")
    if exp.selection not in ("train_loss", "last"):
        raise ValueError(f"finetune.selection must be train_loss or last, got {exp.selection!r}")
    t0 = time.perf_counter()
    seed_everything(exp.seed)
    net.to(device)
    amp_dtype, use_scaler = autocast_settings(device, precision)
    scaler = torch.amp.GradScaler("cuda") if use_scaler else None
    labels = np.asarray(labels, int)
    n = len(labels)
    weights_c = class_weights(labels, exp.n_classes) if exp.task == "binary" else \
        np.ones(exp.n_classes, np.float32)
    label_t = torch.from_numpy(labels.copy())
    class_w = torch.from_numpy(weights_c).to(device) if exp.task == "binary" else None
    params = [p for p in net.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=exp.lr, betas=exp.adam_betas, eps=exp.adam_eps)
    gen = torch.Generator().manual_seed(exp.seed)
    rng = np.random.default_rng(exp.seed)
    history: list[dict[str, float]] = []
    best, best_epoch, best_state = np.inf, 0, None
    steps = 0
    for epoch in range(1, exp.epochs + 1):
        te = time.perf_counter()
        net.train()
        total, correct = 0.0, 0
        order = torch.randperm(n, generator=gen)
        parts = list(torch.split(order, exp.batch_size))
        if len(parts) > 1 and len(parts[-1]) < 2:          # the head's BatchNorm needs 2+
            parts[-2] = torch.cat([parts[-2], parts.pop()])
        for idx in parts:
            i = idx.numpy()
            flip = rng.random(len(i)) < 0.5 if augmentation == "hflip" else None
            x = batch_images([clips[j] for j in i], norm, flip).to(device)
            ctx = torch.autocast(device.type, dtype=amp_dtype) if amp_dtype else contextlib.nullcontext()
            with ctx:
                logits = net(x)
            loss = loss_fn(logits.float(), label_t[idx].to(device), exp.label_smoothing, class_w)
            opt.zero_grad(set_to_none=True)
            if scaler is not None:
                scaler.scale(loss).backward()
                scaler.step(opt)
                scaler.update()
            else:
                loss.backward()
                opt.step()
            total += float(loss.detach()) * len(i)
            correct += int((logits.detach().argmax(1).cpu().numpy() == labels[i]).sum())
            steps += 1
            if progress is not None:
                progress(steps, exp.epochs * len(parts))
        row = {"epoch": epoch, "train_loss": total / n, "train_acc": correct / n,
               "seconds": time.perf_counter() - te}
        history.append(row)
        score = row["train_loss"] if exp.selection == "train_loss" else -epoch
        if score < best:
            best, best_epoch = score, epoch
            best_state = copy.deepcopy({k: v.detach().cpu() for k, v in net.state_dict().items()})
        log(" ".join(f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()))
    assert best_state is not None
    net.load_state_dict(best_state)
    split = {k.split(".", 1)[0] for k in best_state}
    assert split == {"resnet", "head"}, split
    return FineTuneResult({k[len("resnet."):]: v for k, v in best_state.items() if k.startswith("resnet.")},
                          {k[len("head."):]: v for k, v in best_state.items() if k.startswith("head.")},
                          history, best_epoch, time.perf_counter() - t0)


@torch.no_grad()
def predict_finetune(net: FineTuneNet, clips: Sequence[np.ndarray], norm: Normalisation,
                     device: torch.device, batch: int = 8, precision: str = "auto") -> np.ndarray:
    """Posteriors ``(n, C)`` float64 (softmax of the logits) in eval mode."""
    net.to(device).eval()
    amp_dtype, _ = autocast_settings(device, precision)
    out = []
    for start in range(0, len(clips), batch):
        x = batch_images(clips[start:start + batch], norm).to(device)
        ctx = torch.autocast(device.type, dtype=amp_dtype) if amp_dtype else contextlib.nullcontext()
        with ctx:
            out.append(torch.softmax(net(x).float(), dim=1).cpu())
    n_classes = net.head.head.out_features if net.head.head is not None else 0
    return torch.cat(out).numpy().astype(np.float64) if out else np.zeros((0, n_classes))
