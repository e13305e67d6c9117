"""The one params loader: every stage reads ``params.yaml`` through :func:`load_params`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

PARAMS_FILE = Path("params.yaml")


class ParamsError(ValueError):
    """A value in params.yaml is missing or invalid (the message names the key)."""


def load_params(path: str | Path = PARAMS_FILE) -> dict[str, Any]:
    """Load params.yaml as a nested dict and validate the keys every stage relies on."""
    path = Path(path)
    if not path.exists():
        raise ParamsError(f"{path}: params file not found (run stages from the repository root)")
    with path.open() as fh:
        params = yaml.safe_load(fh) or {}
    if not isinstance(params, dict):
        raise ParamsError(f"{path}: expected a mapping at the top level")
    actors = params.get("dataset", {}).get("actors", [])
    for actor in actors:
        if not (isinstance(actor, str) and len(actor) == 2 and actor.isdigit()
                and 1 <= int(actor) <= 24):
            raise ParamsError(
                f"{path}: dataset.actors must hold two-digit strings '01'..'24' "
                f"(they name the Actor_XX folders in DVC paths); got {actor!r}")
    return params


def get(params: dict[str, Any], dotted: str, default: Any = ...) -> Any:
    """Read ``a.b.c`` from nested params; raise ParamsError naming the key if absent."""
    node: Any = params
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            if default is not ...:
                return default
            raise ParamsError(f"params.yaml: missing key {dotted!r}")
        node = node[part]
    return node


def actor_ids(params: dict[str, Any]) -> list[int]:
    """The selected actors as integers (1..24)."""
    return [int(a) for a in get(params, "dataset.actors")]
