"""Applying trained models to new recordings: windows, features per window, outputs, live mode.

Modules: ``windows`` (which stretches of a recording are scored), ``recording`` (features of
those stretches with the training recipes and settings), ``outputs`` (CSV, summary, timeline
picture), ``batch`` (the offline run over a folder of recordings: models, neutral policy,
outputs), ``live`` (incremental scoring of a camera, stream or file played in real time).
"""
