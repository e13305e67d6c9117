"""Multi-Net: one TIM-Net trunk per modality, MLP head, modality dropout."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from models.multinet import MultiNet, TrunkSpec
from models.timnet import TIMNet

SPECS = {"lms": TrunkSpec(24, filters=8, scales=3, layers=2),
         "kpd_face": TrunkSpec(50, filters=12, scales=4, layers=3),
         "pose": TrunkSpec(6, filters=4, scales=2, layers=1)}


def _inputs(mods, batch=6, frames=20):
    torch.manual_seed(3)
    return {m: torch.randn(batch, frames, SPECS[m].in_dims) for m in mods}


@pytest.mark.parametrize("mods", [["lms"], ["lms", "kpd_face"], ["lms", "kpd_face", "pose"]])
def test_one_two_three_modalities(mods):
    torch.manual_seed(0)
    net = MultiNet({m: SPECS[m] for m in mods}, n_classes=8, mlp_hidden=(16, 8)).eval()
    out = net(_inputs(mods))
    assert out.shape == (6, 8)
    assert list(net.trunks) == mods
    # each trunk keeps its own scales and filters
    for m in mods:
        assert net.trunks[m].scales == SPECS[m].scales and net.trunks[m].filters == SPECS[m].filters
    if len(mods) == 1:
        assert net.mlp is None and net.trunks["lms"].head is not None   # it is TIM-Net
    else:
        linears = [l for l in net.mlp if isinstance(l, nn.Linear)]
        assert len(linears) == 3
        assert linears[0].in_features == sum(SPECS[m].filters for m in mods)
        kinds = [type(l) for l in net.mlp][:4]
        assert kinds == [nn.Linear, nn.ReLU, nn.BatchNorm1d, nn.Dropout]
        assert all(net.trunks[m].head is None for m in mods)
    with pytest.raises(KeyError, match="lack modalities"):
        net({mods[0]: _inputs(mods)[mods[0]]} if len(mods) > 1 else {})


def test_single_modality_equals_timnet():
    torch.manual_seed(0)
    net = MultiNet({"lms": SPECS["lms"]}).eval()
    torch.manual_seed(0)
    tim = TIMNet(24, 8, filters=8, scales=3, layers=2).eval()
    x = _inputs(["lms"])["lms"]
    with torch.no_grad():
        assert torch.allclose(net({"lms": x}), tim(x), atol=1e-6)


def test_modality_dropout_in_training_only():
    mods = ["lms", "kpd_face", "pose"]
    torch.manual_seed(0)
    net = MultiNet({m: SPECS[m] for m in mods}, modality_dropout=1.0)
    x = _inputs(mods, batch=64)
    net.train()
    torch.manual_seed(1)
    vecs = net.embeddings(x)
    zero = torch.stack([(v == 0).all(dim=1) for v in vecs], dim=1)      # (batch, modalities)
    assert (zero.sum(dim=1) == 1).all()          # exactly one modality dropped per sample
    assert zero.any(dim=0).all()                 # each modality dropped for some samples
    net.eval()
    assert all((v != 0).any(dim=1).all() for v in net.embeddings(x))
    ref = MultiNet({m: SPECS[m] for m in mods}, modality_dropout=0.0)
    ref.load_state_dict(net.state_dict())
    ref.eval()
    with torch.no_grad():
        assert torch.allclose(net(x), ref(x))
    # with p = 0.25 about a quarter of the samples lose a modality
    net.modality_dropout = 0.25
    net.train()
    torch.manual_seed(2)
    keep = net.drop_mask(4000, torch.device("cpu"))
    assert 0.2 < float((keep.sum(1) < 3).float().mean()) < 0.3


def test_modality_dropout_is_off_for_one_modality_and_validated():
    net = MultiNet({"lms": SPECS["lms"]}, modality_dropout=1.0).train()
    assert net.drop_mask(5, torch.device("cpu")).all()
    with pytest.raises(ValueError, match="modality_dropout"):
        MultiNet({"lms": SPECS["lms"]}, modality_dropout=1.5)


def test_end_to_end_gradients_reach_every_trunk():
    mods = ["lms", "kpd_face"]
    net = MultiNet({m: SPECS[m] for m in mods}, mlp_hidden=(16, 8)).train()
    loss = nn.functional.cross_entropy(net(_inputs(mods)), torch.arange(6))
    loss.backward()
    for m in mods:
        assert net.trunks[m].scale_weights.grad.abs().sum() > 0
        assert net.trunks[m].forward_in.conv.weight.grad.abs().sum() > 0
