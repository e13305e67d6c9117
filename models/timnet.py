"""TIM-Net (Ye et al., ICASSP 2023): a PyTorch port of the official Keras model.

Input ``(batch, frames, dims)`` (channels last, as in the Keras code) -> logits ``(batch, classes)``.

Structure (official ``TIMNET.py`` / ``Model.py``):

* two branches, forward and time-reversed (``flip`` over frames), each with its own 1x1 causal
  convolution ``dims -> filters``;
* per branch, ``scales`` Temporal-Aware Blocks applied in sequence (block s feeds block s+1) with
  dilations 2^0 .. 2^(scales-1). A block is ``layers`` x [causal dilated Conv1D (kernel
  ``kernel_size``) -> BatchNorm -> ReLU -> SpatialDropout1D], and its output is
  ``input * sigmoid(block(input))``;
* at every scale the forward and backward outputs are added and averaged over time (the backward
  sequence is added in its own, reversed, time order exactly as the official code does; after the
  time average the order does not matter), giving ``(batch, scales, filters)``;
* dynamic fusion: one learned weight per scale, ``sum_s w_s * g_s`` (no normalisation of the
  weights, as in the official ``WeightLayer``), giving ``(batch, filters)``;
* a linear classification head (softmax is applied by the loss / at prediction time).

Keras defaults kept for fidelity (the choices the port has to make explicit):

* Conv1D and Dense weights Glorot-uniform, biases zero; the scale weights uniform in
  [-0.05, 0.05] (Keras ``'uniform'`` initializer).
* BatchNormalization momentum 0.99 in Keras = ``momentum=0.01`` in PyTorch (the weight of the new
  batch), ``eps=1e-3`` (PyTorch's default is 1e-5). Both are constructor arguments.
* SpatialDropout1D drops whole channels: ``nn.Dropout1d`` on ``(batch, filters, frames)``.
* ``layers`` (L) is 2 in the official code and 3 in Houmard's Multi-Net; it is a parameter.
"""

from __future__ import annotations

import torch
from torch import nn
import torch.nn.functional as F


def _glorot(module: nn.Module) -> None:
    """Keras defaults: Glorot-uniform weights, zero biases (fan computed as Keras does)."""
    nn.init.xavier_uniform_(module.weight)
    if module.bias is not None:
        nn.init.zeros_(module.bias)


class CausalConv1d(nn.Module):
    """Conv1D with Keras ``padding='causal'``: left zero padding of ``(kernel-1)*dilation``.

    Output at time t depends on inputs at times <= t only. ``(batch, in, frames) -> (batch, out,
    frames)``.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, dilation: int = 1):
        super().__init__()
        self.pad = (kernel_size - 1) * dilation
        self.conv = nn.Conv1d(in_channels, out_channels, kernel_size, dilation=dilation)
        _glorot(self.conv)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.pad(x, (self.pad, 0)))


class TemporalAwareBlock(nn.Module):
    """``x * sigmoid(f(x))`` with f = ``layers`` x [causal dilated conv, BN, ReLU, spatial dropout].

    ``(batch, filters, frames) -> (batch, filters, frames)``.
    """

    def __init__(self, filters: int, kernel_size: int, dilation: int, layers: int = 2,
                 dropout: float = 0.1, bn_momentum: float = 0.01, bn_eps: float = 1e-3):
        super().__init__()
        mods: list[nn.Module] = []
        for _ in range(layers):
            mods += [CausalConv1d(filters, filters, kernel_size, dilation),
                     nn.BatchNorm1d(filters, eps=bn_eps, momentum=bn_momentum),
                     nn.ReLU(),
                     nn.Dropout1d(dropout)]
        self.body = nn.Sequential(*mods)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(self.body(x))


class TIMNet(nn.Module):
    """TIM-Net: ``(batch, frames, in_dims)`` -> logits ``(batch, n_classes)``.

    ``head=False`` builds the trunk only (used by Multi-Net); :meth:`embed` gives the fused
    ``(batch, filters)`` vector either way.
    """

    def __init__(self, in_dims: int, n_classes: int = 8, filters: int = 64, kernel_size: int = 2,
                 scales: int = 7, layers: int = 2, dropout: float = 0.1,
                 bn_momentum: float = 0.01, bn_eps: float = 1e-3, head: bool = True):
        super().__init__()
        if scales < 1 or layers < 1 or filters < 1 or kernel_size < 1:
            raise ValueError(f"TIMNet: scales, layers, filters and kernel_size must be >= 1 "
                             f"(got {scales}, {layers}, {filters}, {kernel_size})")
        self.in_dims, self.filters, self.scales = in_dims, filters, scales
        self.dilations = [2 ** s for s in range(scales)]
        self.forward_in = CausalConv1d(in_dims, filters, 1)
        self.backward_in = CausalConv1d(in_dims, filters, 1)

        def blocks() -> nn.ModuleList:
            return nn.ModuleList(TemporalAwareBlock(filters, kernel_size, d, layers, dropout,
                                                    bn_momentum, bn_eps) for d in self.dilations)

        self.forward_blocks = blocks()
        self.backward_blocks = blocks()
        # Dynamic fusion: one weight per scale (Keras 'uniform' init = U(-0.05, 0.05)).
        self.scale_weights = nn.Parameter(torch.empty(scales).uniform_(-0.05, 0.05))
        self.head = nn.Linear(filters, n_classes) if head else None
        if self.head is not None:
            _glorot(self.head)

    def branches(self, x: torch.Tensor) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """Per-scale sequences of both branches, each ``(batch, filters, frames)``.

        The backward list is in reversed time (index 0 = the clip's last frame).
        """
        if x.ndim != 3 or x.shape[-1] != self.in_dims:
            raise ValueError(f"TIMNet expects (batch, frames, {self.in_dims}); got {tuple(x.shape)}")
        # Both 1x1 input convolutions as one matrix product on the channels-last input: a 1x1
        # convolution commutes with the time reversal, so flipping its output equals running it
        # on the reversed input (same result as two Conv1D calls, much faster for wide inputs).
        w = torch.cat([self.forward_in.conv.weight[:, :, 0], self.backward_in.conv.weight[:, :, 0]])
        b = torch.cat([self.forward_in.conv.bias, self.backward_in.conv.bias])
        proj = F.linear(x, w, b).transpose(1, 2)                 # (batch, 2 * filters, frames)
        fwd = proj[:, :self.filters].contiguous()
        bwd = torch.flip(proj[:, self.filters:], dims=(2,))
        fwd_out, bwd_out = [], []
        for fblock, bblock in zip(self.forward_blocks, self.backward_blocks):
            fwd, bwd = fblock(fwd), bblock(bwd)
            fwd_out.append(fwd)
            bwd_out.append(bwd)
        return fwd_out, bwd_out

    def scale_vectors(self, x: torch.Tensor) -> torch.Tensor:
        """``(batch, scales, filters)``: forward + backward per scale, averaged over time."""
        fwd, bwd = self.branches(x)
        return torch.stack([(f + b).mean(dim=2) for f, b in zip(fwd, bwd)], dim=1)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Fused vector ``(batch, filters)`` = sum over scales of weight * scale vector."""
        return torch.einsum("bsf,s->bf", self.scale_vectors(x), self.scale_weights)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.head is None:
            raise RuntimeError("TIMNet built with head=False: use embed()")
        return self.head(self.embed(x))
