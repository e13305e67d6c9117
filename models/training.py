"""Training and prediction of one Multi-Net / TIM-Net model on in-memory arrays.

Recipe (Houmard, official TIM-Net): Adam with beta = (0.93, 0.98), eps = 1e-8; label smoothing
eps = 0.1 (targets (1 - eps) * onehot + eps / C: 0.9125 / 0.0125 for 8 classes); categorical
cross-entropy on the smoothed targets, each sample weighted by its class weight (binary task:
w_c = N / (2 N_c), Keras ``class_weight`` semantics: weighted per-sample losses, averaged over
the batch). Checkpoint selection:

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
from typing import Callable

import numpy as np
import torch

from features.core.devices import resolve_device
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


def smoothed_loss(logits: torch.Tensor, targets: torch.Tensor,
                  weights: torch.Tensor | None = None) -> torch.Tensor:
    """Mean over the batch of ``w_i * sum_c -t_ic log softmax(z_i)_c``."""
    per_sample = -(targets * torch.log_softmax(logits, dim=1)).sum(dim=1)
    if weights is not None:
        per_sample = per_sample * weights
    return per_sample.mean()


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
def predict_proba(model: nn.Module, inputs: Inputs, batch: int = 256,
                  device: torch.device | None = None) -> np.ndarray:
    """Posteriors ``(n, C)`` (softmax of the logits) in eval mode."""
    device = device or next(model.parameters()).device
    model.eval()
    n = len(next(iter(inputs.values())))
    out = [torch.softmax(model(_to(inputs, idx, device)), dim=1).cpu()
           for idx in _batches(n, batch, None)] if n else []
    return torch.cat(out).numpy().astype(np.float64) if out else np.zeros((0, 0))


@torch.no_grad()
def _eval_loss(model: nn.Module, inputs: Inputs, targets: np.ndarray, weights: np.ndarray,
               device: torch.device) -> tuple[float, float]:
    probs = predict_proba(model, inputs, device=device)
    logp = np.log(np.clip(probs, 1e-12, None))
    loss = float(np.mean(weights * -(targets * logp).sum(axis=1)))
    return loss, float(np.mean(probs.argmax(1) == targets.argmax(1)))


def fit(model: nn.Module, exp: Experiment, train_x: Inputs, train_y: np.ndarray,
        val: tuple[Inputs, np.ndarray] | None = None, device: torch.device | None = None,
        log: Callable[[str], None] = print) -> TrainResult:
    """Train ``model`` with the experiment's recipe and return the selected checkpoint."""
    t0 = time.perf_counter()
    device = device or torch.device("cpu")
    model.to(device)
    if exp.selection == "val_loss" and val is None:
        raise ValueError("selection 'val_loss' needs an inner validation split")
    n = len(train_y)
    weights_c = class_weights(train_y, exp.n_classes) if exp.task == "binary" else \
        np.ones(exp.n_classes, np.float32)
    targets = smooth_targets(train_y, exp.n_classes, exp.label_smoothing)
    t_all = torch.from_numpy(targets)
    w_all = torch.from_numpy(weights_c[np.asarray(train_y, int)])
    y_all = torch.from_numpy(np.array(train_y, dtype=np.int64))
    opt = torch.optim.Adam(model.parameters(), lr=exp.lr, betas=exp.adam_betas, eps=exp.adam_eps)
    gen = torch.Generator().manual_seed(exp.seed)
    history: list[dict[str, float]] = []
    best_score, best_epoch, best_state, waited, stopped = np.inf, 0, None, 0, False
    if val is not None:
        val_targets = smooth_targets(val[1], exp.n_classes, exp.label_smoothing)
        val_w = weights_c[np.asarray(val[1], int)]
    for epoch in range(1, exp.epochs + 1):
        te = time.perf_counter()
        model.train()
        total, correct = 0.0, 0
        for idx in _batches(n, exp.batch_size, gen):
            xb = _to(train_x, idx, device)
            logits = model(xb)
            loss = smoothed_loss(logits, t_all[idx].to(device), w_all[idx].to(device))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(idx)
            correct += int((logits.detach().argmax(1).cpu() == y_all[idx]).sum())
        row = {"epoch": epoch, "train_loss": total / n, "train_acc": correct / n}
        if val is not None:
            row["val_loss"], row["val_acc"] = _eval_loss(model, val[0], val_targets, val_w, device)
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
