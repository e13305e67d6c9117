"""Pure, importable logic of the pipeline: I/O, tracking, feature recipes, demo corpus."""
