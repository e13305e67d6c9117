"""Stage facs: ``python -m stages.facs au,pose,gaze,gaze_stats <actor>`` (any subset).

OpenFace CSVs of one actor -> ``data/features/<feature>/Actor_XX.h5`` and
``reports/problems/<feature>/Actor_XX.csv``: ``au`` (88, 35), ``pose`` (88, 6), ``gaze``
(88, 4) per frame, ``gaze_stats`` (72,) per clip. Each CSV is read once for all of them; the
recipes are in :mod:`features.visual.facs_recipe`.
"""

from __future__ import annotations

from features.core.cli import parse_names_actor, run_stage
from features.core.config import load_params
from features.core.runner import run_actor
from features.visual.facs_recipe import FACS, facs_features, facs_source


def main(argv: list[str] | None = None) -> int:
    names, actor = parse_names_actor(argv, "python -m stages.facs", __doc__, FACS)
    params = load_params()
    run_actor("facs", actor, params, facs_source(actor, names), facs_features(params, names))
    return 0


if __name__ == "__main__":
    run_stage(main)
