"""Training and prediction of one Multi-Net / TIM-Net model on in-memory arrays.

Recipe (Houmard, official TIM-Net): Adam with beta = (0.93, 0.98), eps = 1e-8, constant learning
rate; label smoothing eps = 0.1 (targets (1 - eps) * onehot + eps / C: 0.9125 / 0.0125 for 8
classes); cross-entropy on the smoothed targets, ``F.cross_entropy(label_smoothing=eps)``.
Class weights (binary task, w_c = N / (2 N_c), Houmard eq. 6.3) weight each *sample's* smoothed
loss by the weight of its class and average over the batch: ``mean_i w_yi * CE_i`` (Keras
``class_weight`` semantics). That is not PyTorch's ``F.cross_entropy(weight=w,
label_smoothing=eps)``, which weights the smoothing term of class c by w_c (so a negative
sample's effective target moves to ~27 % positive with w = (0.57, 4)) and divides by
``sum_i w_yi``. We keep the per-sample definition because it is what the thesis writes: the
targets are exactly the smoothed 0.9125 / 0.0125 of eqs. 6.1-6.2 and the weight only scales
how much a sample's error costs (eq. 6.3); PyTorch's variant also scores worse on the synthetic
binary test. Without weights (the multi-class task) both are identical (tested).

Training-time options, all off by default (the papers use none): SpecAugment-style time and
feature-dimension masks on the chosen modalities (:func:`spec_augment`, masked values set to 0 =
the standardised mean) and mixup (:func:`mixup_batch`: inputs mixed with a permuted batch,
``lam ~ Beta(alpha, alpha)``, loss ``lam * CE(y) + (1 - lam) * CE(y_perm)``).

Checkpoint selection:

* ``train_loss`` (the papers): the epoch with the lowest mean training loss (measured during the
  epoch in training mode, as Keras reports it); the state saved is the one at the end of it;
* ``val_loss``: lowest loss on an inner validation split of training actors, with early stopping
  after ``patience`` epochs without improvement;
* ``last``: the final epoch.

Note: PyTorch's Adam adds eps to sqrt(v_hat) while Keras adds it to sqrt(v) before the bias
correction; with eps = 1e-8 the difference is negligible.
"""

from __future__ import annotations

import copy
import dataclasses
import random
import time
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from models.hparams import Experiment
from models.multinet import MultiNet, TrunkSpec

Inputs = dict[str, np.ndarray]   # modality -> (n, frames, dims) float32, already standardised


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (CPU and CUDA) RNGs."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def smooth_targets(labels: np.ndarray, n_classes: int, eps: float = 0.1) -> np.ndarray:
    """``(n, C)`` smoothed one-hot targets: ``(1 - eps) * onehot + eps / C``."""
    onehot = np.eye(n_classes, dtype=np.float32)[np.asarray(labels, int)]
    return onehot * (1.0 - eps) + eps / n_classes


def class_weights(labels: np.ndarray, n_classes: int) -> np.ndarray:
    """``w_c = N / (C * N_c)`` (balanced weights; Houmard eq. 6.3 with C = 2 for binary)."""
    counts = np.bincount(np.asarray(labels, int), minlength=n_classes).astype(np.float64)
    if (counts == 0).any():
        raise ValueError(f"class_weights: classes {np.flatnonzero(counts == 0).tolist()} have no "
                         f"training sample")
    return (counts.sum() / (n_classes * counts)).astype(np.float32)


def loss_fn(logits: torch.Tensor, labels: torch.Tensor, eps: float = 0.1,
            class_w: torch.Tensor | None = None) -> torch.Tensor:
    """Label-smoothed cross-entropy, each sample weighted by its class weight (module doc).

    ``mean_i w_yi * CE_eps(z_i, y_i)`` with ``F.cross_entropy(label_smoothing=eps)``; unweighted
    when ``class_w`` is None.
    """
    if class_w is None:
        return F.cross_entropy(logits, labels, label_smoothing=eps)
    per = F.cross_entropy(logits, labels, label_smoothing=eps, reduction="none")
    return (per * class_w[labels]).mean()


def keras_weighted_loss(logits: torch.Tensor, targets: torch.Tensor,
                        weights: torch.Tensor | None = None) -> torch.Tensor:
    """Reference: mean over the batch of ``w_i * sum_c -t_ic log p_ic`` on smoothed targets.

    The hand-rolled loss this module used before; kept for the tests that pin
    :func:`loss_fn` to it (``targets`` from :func:`smooth_targets`, ``weights`` per sample).
    """
    per_sample = -(targets * torch.log_softmax(logits, dim=1)).sum(dim=1)
    if weights is not None:
        per_sample = per_sample * weights
    return per_sample.mean()


def spec_augment(x: torch.Tensor, gen: torch.Generator, time_masks: int, time_width: int,
                 freq_masks: int, freq_width: int) -> torch.Tensor:
    """SpecAugment-style masking of ``x (batch, frames, dims)``: a masked copy.

    Per sample, ``time_masks`` spans of ``w ~ U{0..time_width}`` consecutive frames and
    ``freq_masks`` spans of ``U{0..freq_width}`` consecutive dimensions (mel bands for LMS) are
    set to 0, the training mean after standardisation (Park et al. 2019, without time warping).
    """
    batch, frames, dims = x.shape
    keep = torch.ones(batch, frames, dims, dtype=torch.bool)
    for count, width, size, axis in ((time_masks, time_width, frames, 1),
                                     (freq_masks, freq_width, dims, 2)):
        width = min(int(width), size)
        for _ in range(int(count)):
            w = torch.randint(0, width + 1, (batch,), generator=gen)
            start = (torch.rand(batch, generator=gen) * (size - w + 1)).long()
            pos = torch.arange(size)
            hit = (pos[None] >= start[:, None]) & (pos[None] < (start + w)[:, None])  # (batch, size)
            keep &= ~(hit[:, :, None] if axis == 1 else hit[:, None, :])
    return x * keep.to(x.device, x.dtype)


def mixup_batch(xb: dict[str, torch.Tensor], gen: torch.Generator, alpha: float
                ) -> tuple[dict[str, torch.Tensor], torch.Tensor, float]:
    """Mixup (Zhang et al. 2018): ``lam * x + (1 - lam) * x[perm]`` for every modality.

    Returns the mixed inputs, ``perm`` and ``lam ~ Beta(alpha, alpha)`` (seeded by ``gen``).
    """
    n = len(next(iter(xb.values())))
    g = torch.distributions.Beta(torch.tensor(float(alpha)), torch.tensor(float(alpha)))
    seed = int(torch.randint(0, 2**31 - 1, (1,), generator=gen))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        lam = float(g.sample())
    perm = torch.randperm(n, generator=gen)
    return {m: lam * x + (1 - lam) * x[perm.to(x.device)] for m, x in xb.items()}, perm, lam


def build_model(exp: Experiment, in_dims: dict[str, int]) -> MultiNet:
    """Multi-Net over ``exp.modalities`` (TIM-Net when there is one) for features of ``in_dims``."""
    trunks = {m: TrunkSpec(in_dims=int(in_dims[m]), **exp.trunks[m]) for m in exp.modalities}
    return MultiNet(trunks, exp.n_classes, exp.mlp_hidden, exp.mlp_dropout,
                    exp.modality_dropout, exp.bn_momentum, exp.bn_eps)


def _batches(n: int, batch: int, gen: torch.Generator | None) -> list[torch.Tensor]:
    order = torch.randperm(n, generator=gen) if gen is not None else torch.arange(n)
    parts = list(torch.split(order, batch))
    if len(parts) > 1 and len(parts[-1]) < 2:   # BatchNorm needs 2+ samples in training mode
        parts[-2] = torch.cat([parts[-2], parts[-1]])
        parts.pop()
    return parts


def _to(inputs: Inputs, idx: torch.Tensor, device: torch.device) -> dict[str, torch.Tensor]:
    i = idx.numpy()
    return {m: torch.from_numpy(np.ascontiguousarray(x[i])).to(device) for m, x in inputs.items()}


@dataclasses.dataclass
class TrainResult:
    state_dict: dict[str, torch.Tensor]   # the selected checkpoint (CPU tensors)
    history: list[dict[str, float]]       # per epoch: epoch, train_loss, train_acc, [val_loss, val_acc], seconds
    best_epoch: int                       # 1-based
    selection: str                        # train_loss | val_loss | last
    stopped_early: bool
    seconds: float


@torch.no_grad()
def predict_logits(model: nn.Module, inputs: Inputs, batch: int = 256,
                   device: torch.device | None = None) -> torch.Tensor:
    """Logits ``(n, C)`` (CPU) in eval mode, in batches of ``batch`` clips."""
    device = device or next(model.parameters()).device
    model.eval()
    n = len(next(iter(inputs.values())))
    out = [model(_to(inputs, idx, device)).float().cpu() for idx in _batches(n, batch, None)] \
        if n else []
    return torch.cat(out) if out else torch.zeros((0, 0))


def predict_proba(model: nn.Module, inputs: Inputs, batch: int = 256,
                  device: torch.device | None = None) -> np.ndarray:
    """Posteriors ``(n, C)`` (softmax of the logits) in eval mode."""
    logits = predict_logits(model, inputs, batch, device)
    if logits.numel() == 0:
        return np.zeros((0, 0))
    return torch.softmax(logits, dim=1).numpy().astype(np.float64)


@torch.no_grad()
def _eval_loss(model: nn.Module, inputs: Inputs, labels: np.ndarray, eps: float,
               class_w: torch.Tensor | None, device: torch.device) -> tuple[float, float]:
    logits = predict_logits(model, inputs, device=device)
    y = torch.from_numpy(np.array(labels, dtype=np.int64))
    loss = float(loss_fn(logits, y, eps, None if class_w is None else class_w.cpu()))
    return loss, float((logits.argmax(1) == y).float().mean())


def fit(model: nn.Module, exp: Experiment, train_x: Inputs, train_y: np.ndarray,
        val: tuple[Inputs, np.ndarray] | None = None, device: torch.device | None = None,
        log: Callable[[str], None] = print) -> TrainResult:
    """Train ``model`` with the experiment's recipe and return the selected checkpoint.

    The training arrays are moved to torch tensors on ``device`` once; each batch is an
    ``index_select`` of them. Batch order comes from a generator seeded with ``exp.seed``, the
    augmentation draws from a second one, so switching augmentation on keeps the batch order.
    """
    t0 = time.perf_counter()
    device = device or torch.device("cpu")
    model.to(device)
    if exp.selection == "val_loss" and val is None:
        raise ValueError("selection 'val_loss' needs an inner validation split")
    n = len(train_y)
    class_w = torch.from_numpy(class_weights(train_y, exp.n_classes)).to(device) \
        if exp.task == "binary" else None
    xs = {m: torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)).to(device)
          for m, x in train_x.items()}
    y_all = torch.from_numpy(np.array(train_y, dtype=np.int64)).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=exp.lr, betas=exp.adam_betas, eps=exp.adam_eps)
    gen = torch.Generator().manual_seed(exp.seed)
    aug_gen = torch.Generator().manual_seed(exp.seed + 7919)
    aug = exp.augment
    masked = [m for m in xs if m in aug["modalities"]] \
        if aug["time_masks"] > 0 or aug["freq_masks"] > 0 else []
    eps = exp.label_smoothing
    history: list[dict[str, float]] = []
    best_score, best_epoch, best_state, waited, stopped = np.inf, 0, None, 0, False
    for epoch in range(1, exp.epochs + 1):
        te = time.perf_counter()
        model.train()
        total = torch.zeros((), dtype=torch.float64, device=device)
        correct = torch.zeros((), dtype=torch.int64, device=device)
        for idx in _batches(n, exp.batch_size, gen):
            idx = idx.to(device)
            xb = {m: x.index_select(0, idx) for m, x in xs.items()}
            yb = y_all.index_select(0, idx)
            for m in masked:
                xb[m] = spec_augment(xb[m], aug_gen, aug["time_masks"], aug["time_width"],
                                     aug["freq_masks"], aug["freq_width"])
            if aug["mixup"] > 0:
                xb, perm, lam = mixup_batch(xb, aug_gen, aug["mixup"])
                logits = model(xb)
                loss = lam * loss_fn(logits, yb, eps, class_w) + \
                    (1 - lam) * loss_fn(logits, yb[perm.to(device)], eps, class_w)
            else:
                logits = model(xb)
                loss = loss_fn(logits, yb, eps, class_w)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += loss.detach() * len(idx)
            correct += (logits.detach().argmax(1) == yb).sum()
        row = {"epoch": epoch, "train_loss": float(total) / n, "train_acc": int(correct) / n}
        if val is not None:
            row["val_loss"], row["val_acc"] = _eval_loss(model, val[0], val[1], eps, class_w,
                                                         device)
        row["seconds"] = time.perf_counter() - te
        history.append(row)
        score = {"train_loss": row["train_loss"], "val_loss": row.get("val_loss", np.inf),
                 "last": -epoch}[exp.selection]
        if score < best_score:
            best_score, best_epoch, waited = score, epoch, 0
            best_state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
        else:
            waited += 1
        log(" ".join(f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()))
        if exp.selection == "val_loss" and waited >= exp.patience:
            stopped = True
            log(f"early stop: no val_loss improvement for {exp.patience} epochs")
            break
    assert best_state is not None
    model.load_state_dict(best_state)
    return TrainResult(copy.deepcopy(best_state), history, best_epoch, exp.selection, stopped,
                       time.perf_counter() - t0)
