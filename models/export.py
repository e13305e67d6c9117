"""Export a trained fold model (``data/models/fold_K/model.pt``) to ONNX for use outside PyTorch.

The exported graph is the whole prediction path of :mod:`models.folds`, so a runtime needs
nothing but the features:

* one input per modality, named after it (``lms``, ``kpd_face``, ...), float32
  ``(batch, frames, dims)``, raw feature values as stored in ``data/features``;
* the fold's standardisation ``(x - mean) / std`` with the training statistics stored in the
  checkpoint, non-finite values set to 0 (as :meth:`models.data.Standardiser.transform`);
* Multi-Net / TIM-Net in eval mode;
* one output ``probabilities`` ``(batch, classes)`` (softmax over the logits).

The batch axis is dynamic; frames are fixed to the training length (88 by default), since
TIM-Net's dilations were chosen for it. The class names, modalities and checkpoint format are
written as ONNX metadata (``class_names``, ``modalities``, ``source_format``).
Command line: ``python -m models.export data/models/fold_0/model.pt -o fold_0.onnx``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
from torch import nn

from models.data import Standardiser
from models.folds import load_checkpoint
from models.multinet import MultiNet

OUTPUT_NAME = "probabilities"


class PosteriorModel(nn.Module):
    """Standardise each modality's raw features, run the model, return softmax posteriors."""

    def __init__(self, model: MultiNet, standardisers: dict[str, Standardiser]):
        super().__init__()
        self.model = model.eval()
        self.modalities = list(model.modalities)
        for m in self.modalities:
            self.register_buffer(f"mean_{m}", torch.from_numpy(standardisers[m].mean.copy()))
            self.register_buffer(f"std_{m}", torch.from_numpy(standardisers[m].std.copy()))

    def forward(self, *features: torch.Tensor) -> torch.Tensor:
        inputs = {}
        for m, x in zip(self.modalities, features, strict=True):
            z = (x - getattr(self, f"mean_{m}")) / getattr(self, f"std_{m}")
            inputs[m] = torch.where(torch.isfinite(z), z, torch.zeros_like(z))
        return torch.softmax(self.model(inputs), dim=1)


def export_onnx(checkpoint: str | Path, out: str | Path, frames: int = 88,
                opset: int = 18) -> Path:
    """Write the ONNX model of one fold checkpoint to ``out``; returns ``out``.

    Raises ``ValueError`` naming the file for a checkpoint that is not a Multi-Net checkpoint
    of this project's format.
    """
    model, exp, stds = load_checkpoint(checkpoint)
    wrapped = PosteriorModel(model, stds).eval()
    dims = {m: int(model.trunks[m].in_dims) for m in wrapped.modalities}
    example = tuple(torch.zeros(2, frames, dims[m]) for m in wrapped.modalities)
    batch = torch.export.Dim("batch", min=1)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    program = torch.onnx.export(
        wrapped, example, input_names=wrapped.modalities, output_names=[OUTPUT_NAME],
        dynamic_shapes=(tuple({0: batch} for _ in wrapped.modalities),), opset_version=opset,
        dynamo=True, verbose=False)
    program.model.metadata_props.update({
        "class_names": json.dumps(list(exp.class_names)),
        "modalities": json.dumps(wrapped.modalities),
        "frames": str(frames),
        "source_format": "hmd-emotion/multinet-v1",
    })
    program.save(str(tmp))
    tmp.replace(out)
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m models.export",
                                 description="Export a fold's model.pt to ONNX (posteriors).")
    ap.add_argument("checkpoint", help="data/models/fold_K/model.pt")
    ap.add_argument("-o", "--out", required=True, help="output .onnx file")
    ap.add_argument("--frames", type=int, default=88, help="frames per clip (default 88)")
    args = ap.parse_args(argv)
    try:
        path = export_onnx(args.checkpoint, args.out, frames=args.frames)
    except (FileNotFoundError, ValueError) as err:
        raise SystemExit(f"error: {err}") from None
    print(f"{args.checkpoint} -> {path} ({path.stat().st_size / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
