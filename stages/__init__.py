"""Thin DVC stage entry points: read params.yaml, loop, write the declared outputs."""
