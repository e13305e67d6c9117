"""Multi-Net (Houmard): one TIM-Net trunk per modality, concatenated, then a 3-layer MLP.

Inputs are a dict ``{modality: (batch, frames_m, dims_m)}``; output logits ``(batch, classes)``.

* Each modality has its own TIM-Net trunk (own filters, scales, kernel, depth) producing its fused
  ``(batch, filters_m)`` vector; the vectors are concatenated in the order of ``trunks``.
* MLP with three linear layers: ``[Linear -> ReLU -> BatchNorm -> Dropout] x 2 -> Linear``
  (the thesis names the layer types and their order, not the widths: ``mlp_hidden`` is a
  parameter). Softmax is applied by the loss / at prediction time.
* With one modality the model *is* TIM-Net: trunk + its linear head, no MLP (as the papers say).
* Modality dropout (Chumachenko et al., cited by Houmard as future work): during training, with
  probability ``modality_dropout`` per sample, one modality chosen uniformly is zeroed. We zero
  that modality's *fused vector* (not its input): a zero input would still pass the trunk's
  biases and BatchNorm shifts, so the MLP would see a constant rather than "nothing". Never
  applied in eval mode, and only with two or more modalities.
"""

from __future__ import annotations

import dataclasses

import torch
from torch import nn

from models.timnet import TIMNet, _glorot


@dataclasses.dataclass(frozen=True)
class TrunkSpec:
    """One modality's TIM-Net trunk; ``in_dims`` = the feature's per-frame dimension."""

    in_dims: int
    filters: int = 64
    kernel_size: int = 2
    scales: int = 7
    layers: int = 3
    dropout: float = 0.1


class MultiNet(nn.Module):
    """Joint (feature-level) fusion of per-modality TIM-Net trunks; see the module docstring."""

    def __init__(self, trunks: dict[str, TrunkSpec], n_classes: int = 8,
                 mlp_hidden: tuple[int, int] = (128, 64), mlp_dropout: float = 0.3,
                 modality_dropout: float = 0.0, bn_momentum: float = 0.01, bn_eps: float = 1e-3):
        super().__init__()
        if not trunks:
            raise ValueError("MultiNet needs at least one modality")
        if len(mlp_hidden) != 2:
            raise ValueError(f"mlp_hidden must hold two widths (3 linear layers); got {mlp_hidden}")
        if not 0.0 <= modality_dropout <= 1.0:
            raise ValueError(f"modality_dropout must be in [0, 1]; got {modality_dropout}")
        self.modalities = list(trunks)
        self.modality_dropout = float(modality_dropout)
        single = len(trunks) == 1
        self.trunks = nn.ModuleDict({
            m: TIMNet(s.in_dims, n_classes, s.filters, s.kernel_size, s.scales, s.layers,
                      s.dropout, bn_momentum, bn_eps, head=single)
            for m, s in trunks.items()})
        self.mlp: nn.Sequential | None = None
        if not single:
            width = sum(s.filters for s in trunks.values())
            layers: list[nn.Module] = []
            for hidden in mlp_hidden:
                layers += [nn.Linear(width, hidden), nn.ReLU(),
                           nn.BatchNorm1d(hidden, eps=bn_eps, momentum=bn_momentum),
                           nn.Dropout(mlp_dropout)]
                width = hidden
            layers.append(nn.Linear(width, n_classes))
            for layer in layers:
                if isinstance(layer, nn.Linear):
                    _glorot(layer)
            self.mlp = nn.Sequential(*layers)

    def _check(self, inputs: dict[str, torch.Tensor]) -> None:
        missing = [m for m in self.modalities if m not in inputs]
        if missing:
            raise KeyError(f"MultiNet: inputs lack modalities {missing} (have {sorted(inputs)})")

    def drop_mask(self, batch: int, device: torch.device) -> torch.Tensor:
        """``(batch, modalities)`` of 0/1 keep flags: per sample, with prob p, one modality -> 0."""
        keep = torch.ones(batch, len(self.modalities), device=device)
        if not self.training or self.modality_dropout <= 0 or len(self.modalities) < 2:
            return keep
        hit = torch.rand(batch, device=device) < self.modality_dropout
        which = torch.randint(len(self.modalities), (batch,), device=device)
        keep[hit, which[hit]] = 0.0
        return keep

    def embeddings(self, inputs: dict[str, torch.Tensor]) -> list[torch.Tensor]:
        """Per-modality fused vectors ``(batch, filters_m)`` after modality dropout."""
        self._check(inputs)
        vecs = [self.trunks[m].embed(inputs[m]) for m in self.modalities]
        keep = self.drop_mask(vecs[0].shape[0], vecs[0].device)
        return [v * keep[:, i:i + 1] for i, v in enumerate(vecs)]

    def forward(self, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        if self.mlp is None:
            self._check(inputs)
            m = self.modalities[0]
            return self.trunks[m](inputs[m])
        return self.mlp(torch.cat(self.embeddings(inputs), dim=1))
