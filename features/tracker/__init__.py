"""The offline face tracker behind ``track.backend: embedded`` and the other track backends.

Modules: ``models`` (bundled model files, camera intrinsics), ``detect`` (dlib HOG face
detector on a downscaled frame), ``landmarks`` (dlib 68-point shape predictor, tracking box,
appearance check), ``pose`` (3D mean face fit: head pose and 3D landmarks), ``eyes`` (OpenFace's
28-point eye layout, pupil locator, gaze), ``aus`` (geometric action-unit estimates),
``identity`` (same-person check on re-acquisition), ``openface_models`` (finding and reading
OpenFace 2.2's model files a user supplies), ``pdm`` (OpenFace's PDM fitted per frame: shape,
pose, 3D landmarks), ``fhog`` (Felzenszwalb HOG), ``openface_aus`` (OpenFace's appearance AUs:
aligned face, features, linear models, per-video post-processing), ``fetch_openface`` (downloads
the model files after showing their licence), ``embedded`` (the per-video tracker
producing OpenFace's schema and its companion report), ``__main__`` (the standalone
``python -m features.tracker`` command), ``external`` (the ``openface``
and ``precomputed`` backends), ``jobs`` (one video through one backend, for the track stage),
``score`` (accuracy against ground-truth landmarks) and ``synthetic`` (clips with known landmarks
for tests and benchmarks).
"""
