"""Stage crops: ``python -m stages.crops <actor>``.

Videos + OpenFace CSVs of one actor -> ``data/features/crops_eyes/Actor_XX.h5``
((88, 2, 128, 128, 3) uint8 RGB per clip), ``crops_mouth`` ((88, 110, 180, 3)), ``crops_face``
((88, 224, 224, 3)), the same three at 20 spaced frames (``crops_spaced_<part>``, fine-tuning),
stored as JPEG (``crops.codec``), and ``reports/problems/crops/Actor_XX.csv``. Each video is decoded once, for
the selected frames only, and all three crops are cut from the same frames (recipe in
:mod:`features.visual.crop_recipe`, patch maths in :mod:`features.visual.crops`). A clip whose CSV is
missing or has no tracked frame at all is skipped for all three crops (reported), so the three
files always hold the same clips. Workers spill each clip's patches to ``.npy`` files that the
HDF5 writer reads memory-mapped, to keep memory flat.
"""

from __future__ import annotations

from features.core.cli import actor_parser, run_stage
from features.core.config import load_params
from features.core.runner import run_actor
from features.visual.crop_recipe import crops_feature, crops_source


def main(argv: list[str] | None = None) -> int:
    actor = actor_parser("python -m stages.crops", __doc__).parse_args(argv).actor
    params = load_params()
    run_actor("crops", actor, params, crops_source(actor), [crops_feature(params)], spill=True,
              prefer="processes")
    return 0


if __name__ == "__main__":
    run_stage(main)
