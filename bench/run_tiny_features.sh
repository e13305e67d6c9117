#!/usr/bin/env bash
# Run demo (tiny), ingest, track, kpd, facs, audio of the checkout $1 in a fresh copy $2 (no DVC),
# so that two checkouts' feature bytes can be compared (issue 10: behaviour unchanged).
#   bench/run_tiny_features.sh /tmp/orig /tmp/run_orig [demo folder to reuse]
set -euo pipefail
src=$(realpath "$1"); dest=$2; demo=${3:-}
rm -rf "$dest"; mkdir -p "$dest"
(cd "$src" && git ls-files -co --exclude-standard | grep -v '^data/\|^reports/' | tar -cf - -T -) | tar -xf - -C "$dest"
cd "$dest"
python - <<'PY'
import yaml
from features.core.config import dump_params
p = yaml.safe_load(open("params.yaml"))
p["demo"].update(size="tiny", width=320, height=180, jobs=1)
p["dataset"]["actors"] = ["01", "02", "03", "04"]
p["compute"]["jobs"] = 1
open("params.yaml", "w").write(dump_params(p))
PY
export OMP_NUM_THREADS=1
if [ -n "$demo" ]; then mkdir -p data; cp -r "$demo" data/demo; else python -m stages.demo; fi
python -m stages.ingest
for a in 01 02 03 04; do
  python -m stages.track $a
  python -m stages.kpd face,eyes $a
  python -m stages.facs au,pose,gaze,gaze_stats $a
  python -m stages.audio lms,mfcc $a
done
