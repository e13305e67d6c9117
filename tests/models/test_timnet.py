"""TIM-Net port: shapes, causality of the forward branch, the reversed branch, fusion weights."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from models.timnet import CausalConv1d, TemporalAwareBlock, TIMNet


def _net(**kw) -> TIMNet:
    torch.manual_seed(0)
    defaults = dict(in_dims=6, n_classes=8, filters=8, kernel_size=2, scales=4, layers=2, dropout=0.1)
    return TIMNet(**{**defaults, **kw})


def test_output_shapes():
    net = _net().eval()
    x = torch.randn(5, 40, 6)
    assert net(x).shape == (5, 8)
    assert net.scale_vectors(x).shape == (5, 4, 8)
    assert net.embed(x).shape == (5, 8)
    fwd, bwd = net.branches(x)
    assert len(fwd) == len(bwd) == 4 and all(f.shape == (5, 8, 40) for f in fwd + bwd)
    assert net.dilations == [1, 2, 4, 8]
    # a clip shorter than the largest dilation still works (causal padding)
    assert _net(scales=6).eval()(torch.randn(2, 7, 6)).shape == (2, 8)
    with pytest.raises(ValueError, match=r"expects \(batch, frames, 6\)"):
        net(torch.randn(5, 40, 7))


def test_keras_defaults_are_explicit():
    net = _net(bn_momentum=0.01, bn_eps=1e-3)
    bns = [m for m in net.modules() if isinstance(m, nn.BatchNorm1d)]
    # 2 branches x 4 scales x 2 layers
    assert len(bns) == 16 and all(b.momentum == 0.01 and b.eps == 1e-3 for b in bns)
    assert any(isinstance(m, nn.Dropout1d) for m in net.modules())   # SpatialDropout1D
    assert net.scale_weights.abs().max() <= 0.05                      # Keras 'uniform' init
    conv = net.forward_blocks[0].body[0].conv
    assert float(conv.bias.detach().abs().max()) == 0.0


def test_causal_conv_pads_on_the_left_only():
    torch.manual_seed(1)
    conv = CausalConv1d(3, 4, kernel_size=2, dilation=4)
    x = torch.randn(1, 3, 20)
    y = conv(x)
    x2 = x.clone()
    x2[..., 10:] += 5.0
    y2 = conv(x2)
    assert y.shape == (1, 4, 20)
    assert torch.allclose(y[..., :10], y2[..., :10])
    assert not torch.allclose(y[..., 10:], y2[..., 10:])


def test_forward_branch_is_causal_and_backward_branch_sees_the_future():
    net = _net().eval()
    x = torch.randn(3, 30, 6)
    t = 17
    x2 = x.clone()
    x2[:, t, :] += 3.0
    with torch.no_grad():
        f1, b1 = net.branches(x)
        f2, b2 = net.branches(x2)
    for s in range(4):
        # forward branch: outputs before t unchanged, the output at t changes
        assert torch.allclose(f1[s][..., :t], f2[s][..., :t], atol=1e-6)
        assert not torch.allclose(f1[s][..., t], f2[s][..., t])
        # backward branch runs on reversed time: index i is original frame 29 - i, so frames
        # after t (indices < 29 - t) are unchanged, the frame t itself changes
        r = 29 - t
        assert torch.allclose(b1[s][..., :r], b2[s][..., :r], atol=1e-6)
        assert not torch.allclose(b1[s][..., r], b2[s][..., r])


def test_reversed_branch_equals_forward_branch_on_reversed_input():
    net = _net().eval()
    net.backward_in.load_state_dict(net.forward_in.state_dict())
    net.backward_blocks.load_state_dict(net.forward_blocks.state_dict())
    x = torch.randn(2, 25, 6)
    with torch.no_grad():
        _, bwd = net.branches(x)
        fwd_on_flipped, _ = net.branches(torch.flip(x, dims=(1,)))
    for b, f in zip(bwd, fwd_on_flipped):
        assert torch.allclose(b, f, atol=1e-5)


def test_input_projection_matches_two_1x1_convolutions():
    net = _net().eval()
    x = torch.randn(2, 12, 6)
    seq = x.transpose(1, 2)
    with torch.no_grad():
        fwd, bwd = net.branches(x)
        f0 = net.forward_blocks[0](net.forward_in(seq))
        b0 = net.backward_blocks[0](net.backward_in(torch.flip(seq, dims=(2,))))
    assert torch.allclose(fwd[0], f0, atol=1e-5) and torch.allclose(bwd[0], b0, atol=1e-5)


def test_block_gates_its_input():
    torch.manual_seed(2)
    block = TemporalAwareBlock(4, 2, dilation=2, layers=3, dropout=0.0).eval()
    x = torch.randn(2, 4, 10)
    with torch.no_grad():
        y = block(x)
        gate = torch.sigmoid(block.body(x))
    assert torch.allclose(y, x * gate)
    assert sum(isinstance(m, CausalConv1d) for m in block.body) == 3


def test_scale_weights_and_every_block_receive_gradients():
    net = _net().train()
    x = torch.randn(4, 20, 6)
    loss = nn.functional.cross_entropy(net(x), torch.tensor([0, 1, 2, 3]))
    loss.backward()
    assert net.scale_weights.grad is not None
    assert (net.scale_weights.grad.abs() > 0).all()
    for blocks in (net.forward_blocks, net.backward_blocks):
        for block in blocks:
            assert block.body[0].conv.weight.grad.abs().sum() > 0
    # the fused vector is the weighted sum of the scale vectors
    net.eval()
    with torch.no_grad():
        g = net.scale_vectors(x)
        assert torch.allclose(net.embed(x), (g * net.scale_weights[None, :, None]).sum(1), atol=1e-6)


def _pair(**kw) -> tuple[TIMNet, TIMNet]:
    import copy
    net = _net(**kw)
    ref = copy.deepcopy(net)
    ref.fused = False
    return net, ref


@pytest.mark.parametrize("kernel_size,scales,frames", [(2, 4, 30), (3, 3, 12), (2, 6, 20)])
def test_fused_path_equals_the_reference_modules(kernel_size, scales, frames):
    """The fast path (both branches, one batched GEMM per layer) is the same function with the
    same parameters: outputs, gradients and BatchNorm running statistics match the per-branch
    nn.Module path, in training (dropout 0) and eval mode. Dilations >= frames included."""
    net, ref = _pair(kernel_size=kernel_size, scales=scales, dropout=0.0, bn_momentum=0.1)
    assert net.fused and not ref.fused
    x = torch.randn(5, frames, 6)
    y = torch.tensor([0, 1, 2, 3, 4])
    for _ in range(2):                                     # two steps: running stats move
        for m in (net, ref):
            m.train()
            m.zero_grad()
            nn.functional.cross_entropy(m(x), y).backward()
    for (name, p), q in zip(net.named_parameters(), ref.parameters()):
        assert torch.allclose(p.grad, q.grad, atol=1e-6, rtol=1e-4), name
    for (name, b), c in zip(net.named_buffers(), ref.buffers()):
        assert torch.allclose(b.float(), c.float(), atol=1e-6), name
    assert int(net.forward_blocks[0].body[1].num_batches_tracked) == 2
    net.eval()
    ref.eval()
    with torch.no_grad():
        assert torch.allclose(net(x), ref(x), atol=1e-5)
        for a, b in zip(sum(net.branches(x), []), sum(ref.branches(x), [])):
            assert torch.allclose(a, b, atol=1e-5)


def test_fused_spatial_dropout_drops_whole_channels():
    """SpatialDropout1D: per (branch, sample, channel) the whole sequence is zeroed or scaled
    by 1 / (1 - p)."""
    from models.timnet import fused_causal_layer
    net = _net(dropout=0.5, scales=1, layers=1)
    h = torch.randn(2, 8, 6, 16)
    torch.manual_seed(3)
    dropped = fused_causal_layer(h, net.forward_blocks[0], net.backward_blocks[0], 0, True)
    for blocks in (net.forward_blocks, net.backward_blocks):
        blocks[0].body[3].p = 0.0
    plain = fused_causal_layer(h, net.forward_blocks[0], net.backward_blocks[0], 0, True)
    alive = plain > 0
    ratio = torch.where(alive, dropped / plain.clamp_min(1e-12), torch.nan)
    r = torch.nanmean(ratio, dim=3)                          # (2, filters, batch)
    assert set(torch.unique(r[~torch.isnan(r)].round(decimals=4)).tolist()) == {0.0, 2.0}
    assert torch.allclose(torch.nan_to_num(ratio, nan=0.0),
                          torch.where(alive, r[..., None].expand_as(ratio), 0.0), atol=1e-4)
