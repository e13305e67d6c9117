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
import torch.nn.functional as F
from torch import nn


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
        self.layers, self.dilation, self.kernel_size = layers, dilation, kernel_size
        mods: list[nn.Module] = []
        for _ in range(layers):
            mods += [CausalConv1d(filters, filters, kernel_size, dilation),
                     nn.BatchNorm1d(filters, eps=bn_eps, momentum=bn_momentum),
                     nn.ReLU(),
                     nn.Dropout1d(dropout)]
        self.body = nn.Sequential(*mods)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(self.body(x))

    def layer(self, i: int) -> tuple[CausalConv1d, nn.BatchNorm1d, nn.Dropout1d]:
        """The convolution, batch norm and dropout modules of layer ``i`` (0-based)."""
        return self.body[4 * i], self.body[4 * i + 1], self.body[4 * i + 3]


def fused_causal_layer(z: torch.Tensor, fblock: TemporalAwareBlock, bblock: TemporalAwareBlock,
                       layer: int, training: bool) -> torch.Tensor:
    """Layer ``layer`` of two blocks (forward, backward branch) on ``z (2, filters, batch, frames)``.

    Causal dilated Conv1D -> BatchNorm -> ReLU -> SpatialDropout1D, with the parameters and
    running statistics of ``fblock`` (z[0]) and ``bblock`` (z[1]): the same maths as the two
    blocks' modules. Why it is faster on CPU: the kernel-``k`` causal convolution with dilation
    ``d`` is ``y[t] = b + sum_j W_j x[t - (k-1-j) d]``, i.e. one matrix product of the
    ``(filters, k * filters)`` reshaped kernel with the ``k`` time-shifted copies of the input
    stacked along channels; both branches go through one batched product (``baddbmm``, whose
    backward is two more batched GEMMs) instead of four dilated-convolution calls, and the
    result is already laid out ``(1, 2 * filters, batch * frames)`` for one native batch-norm
    call over both branches' channels. The running statistics of both modules are updated in
    place (same momentum/eps as the modules).
    """
    (fconv, fbn, fdrop), (bconv, bbn, _) = fblock.layer(layer), bblock.layer(layer)
    two, filters, batch, frames = z.shape
    k, d = fblock.kernel_size, fblock.dilation
    shifted = []
    for j in range(k):
        s = (k - 1 - j) * d
        if s == 0:
            shifted.append(z)
        elif s >= frames:
            shifted.append(torch.zeros_like(z))
        else:
            shifted.append(F.pad(z[..., :frames - s], (s, 0)))
    xk = torch.cat(shifted, dim=1).view(two, k * filters, batch * frames)
    # conv weight (out, in, k) -> (out, k * in), columns ordered like the concatenation above
    w = torch.stack([fconv.conv.weight, bconv.conv.weight]).permute(0, 1, 3, 2)
    w = w.reshape(two, filters, k * filters)
    bias = torch.stack([fconv.conv.bias, bconv.conv.bias]).unsqueeze(2)
    y = torch.baddbmm(bias, w, xk).view(1, two * filters, batch * frames)
    rm = torch.cat([fbn.running_mean, bbn.running_mean])
    rv = torch.cat([fbn.running_var, bbn.running_var])
    y = F.batch_norm(y, rm, rv, torch.cat([fbn.weight, bbn.weight]), torch.cat([fbn.bias, bbn.bias]),
                     training, fbn.momentum, fbn.eps)
    if training:
        with torch.no_grad():
            for i, bn in enumerate((fbn, bbn)):
                bn.running_mean.copy_(rm[i * filters:(i + 1) * filters])
                bn.running_var.copy_(rv[i * filters:(i + 1) * filters])
                bn.num_batches_tracked.add_(1)
    y = torch.relu(y).view(two, filters, batch, frames)
    p = fdrop.p
    if training and p > 0:
        keep = torch.empty(two, filters, batch, 1, device=y.device, dtype=y.dtype)
        y = y * keep.bernoulli_(1 - p).div_(1 - p)
    return y


class TIMNet(nn.Module):
    """TIM-Net: ``(batch, frames, in_dims)`` -> logits ``(batch, n_classes)``.

    ``head=False`` builds the trunk only (used by Multi-Net); :meth:`embed` gives the fused
    ``(batch, filters)`` vector either way.
    """

    def __init__(self, in_dims: int, n_classes: int = 8, filters: int = 64, kernel_size: int = 2,
                 scales: int = 7, layers: int = 2, dropout: float = 0.1,
                 bn_momentum: float = 0.01, bn_eps: float = 1e-3, head: bool = True,
                 fused: bool = True):
        super().__init__()
        self.fused = bool(fused)
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

        The backward list is in reversed time (index 0 = the clip's last frame). Runs the fused
        path when ``self.fused`` (the default), else the reference per-branch modules.
        """
        if self.fused:
            seqs = self._fused_sequences(x)
            return ([h[0].transpose(0, 1) for h in seqs], [h[1].transpose(0, 1) for h in seqs])
        return self._reference_branches(x)

    def _project(self, x: torch.Tensor) -> torch.Tensor:
        """Both 1x1 input convolutions as one matrix product on the channels-last input.

        ``(batch, frames, dims) -> (batch, frames, 2 * filters)`` (forward | backward channels,
        both still in forward time). A 1x1 convolution commutes with the time reversal, so
        flipping its output equals running it on the reversed input.
        """
        if x.ndim != 3 or x.shape[-1] != self.in_dims:
            raise ValueError(f"TIMNet expects (batch, frames, {self.in_dims}); got {tuple(x.shape)}")
        w = torch.cat([self.forward_in.conv.weight[:, :, 0], self.backward_in.conv.weight[:, :, 0]])
        b = torch.cat([self.forward_in.conv.bias, self.backward_in.conv.bias])
        return F.linear(x, w, b)

    def _reference_branches(self, x: torch.Tensor) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """The straightforward port: each branch through its own ``nn.Module`` blocks."""
        proj = self._project(x).transpose(1, 2)                  # (batch, 2 * filters, frames)
        fwd = proj[:, :self.filters].contiguous()
        bwd = torch.flip(proj[:, self.filters:], dims=(2,))
        fwd_out, bwd_out = [], []
        for fblock, bblock in zip(self.forward_blocks, self.backward_blocks):
            fwd, bwd = fblock(fwd), bblock(bwd)
            fwd_out.append(fwd)
            bwd_out.append(bwd)
        return fwd_out, bwd_out

    def _fused_sequences(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Per-scale outputs of both branches at once, each ``(2, filters, batch, frames)``.

        Index 0 is the forward branch, 1 the backward branch (in reversed time). Same maths and
        parameters as :meth:`_reference_branches`, with both branches stacked so that each
        causal dilated convolution of a layer is one batched matrix product
        (:func:`fused_causal_layer`).
        """
        batch, frames = x.shape[0], x.shape[1]
        proj = self._project(x).permute(2, 0, 1).reshape(2, self.filters, batch, frames)
        h = torch.stack([proj[0], torch.flip(proj[1], dims=(2,))])
        outs = []
        for fblock, bblock in zip(self.forward_blocks, self.backward_blocks):
            z = h
            for layer in range(fblock.layers):
                z = fused_causal_layer(z, fblock, bblock, layer, self.training)
            h = h * torch.sigmoid(z)
            outs.append(h)
        return outs

    def scale_vectors(self, x: torch.Tensor) -> torch.Tensor:
        """``(batch, scales, filters)``: forward + backward per scale, averaged over time."""
        if self.fused:
            # time average of each branch, then their sum (= average of the sum)
            return torch.stack([h.mean(dim=3).sum(dim=0).t() for h in self._fused_sequences(x)],
                               dim=1)
        fwd, bwd = self._reference_branches(x)
        return torch.stack([(f + b).mean(dim=2) for f, b in zip(fwd, bwd)], dim=1)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Fused vector ``(batch, filters)`` = sum over scales of weight * scale vector."""
        return torch.einsum("bsf,s->bf", self.scale_vectors(x), self.scale_weights)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.head is None:
            raise RuntimeError("TIMNet built with head=False: use embed()")
        return self.head(self.embed(x))
