"""Stage kpd: ``python -m stages.kpd face,eyes <actor>`` (or one kind).

OpenFace CSVs of one actor -> ``data/features/kpd_<kind>/Actor_XX.h5`` ((88, 780) face or
(88, 179) eyes per clip, float32) and ``reports/problems/kpd_<kind>/Actor_XX.csv``. Each CSV is
read once for both kinds. Maths in :mod:`features.visual.kpd`; frame selection, the neutral
reference clip and its fallback (``kpd.neutral_fallback``) in :mod:`features.visual.kpd_recipe`.
"""

from __future__ import annotations

from features.core.cli import parse_names_actor, run_stage
from features.core.config import load_params
from features.core.runner import run_actor
from features.visual.kpd_recipe import KPD_KINDS, kpd_features, kpd_source


def main(argv: list[str] | None = None) -> int:
    kinds, actor = parse_names_actor(argv, "python -m stages.kpd", __doc__, KPD_KINDS)
    params = load_params()
    run_actor("kpd", actor, params, kpd_source(actor, params, kinds), kpd_features(params, kinds))
    return 0


if __name__ == "__main__":
    run_stage(main)
