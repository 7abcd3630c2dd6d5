#!/usr/bin/env bash
# The analytics worker is a container image, and these machines have no Docker to build it. Instead:
# 1. its requirements resolve and install as wheels for the image's platform (Lambda's Python 3.12 on
#    manylinux x86_64): what the Dockerfile's `pip install` will do;
# 2. the analytics worker's handler and every analysis module import from a folder holding only those
#    requirements (the same pins, for this machine's Python) and the gateway's code: no missing dependency.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
python=${PYTHON:-python3}
image="$root/build/analytics-image"
local_copy="$root/build/analytics-local"
for target in "$image" "$local_copy"; do
  if [ ! -f "$target/.complete" ] || [ "$root/requirements-analytics.txt" -nt "$target/.complete" ]; then
    rm -rf "$target"
    kind=$([ "$target" = "$image" ] && echo lambda || echo here)
    PYTHON="$python" "$root/infra/install_target.sh" "$target" "$kind" "$root/requirements-analytics.txt"
    touch "$target/.complete"
  fi
done
echo "analytics image requirements for Python 3.12 manylinux x86_64: $(du -sm "$image" | cut -f1) MB installed"
cd "$root"
"$python" -S -c "
import sys
sys.path[:0] = ['$local_copy', '$root']
import entrypoints.lambda_worker, services.analytics.drift, services.analytics.uplift, services.analytics.metrics
import services.analytics.charts, numpy, scipy, sklearn, pandas, pyarrow, matplotlib
print('analytics worker handler imports from its requirements alone:', entrypoints.lambda_worker.handler.__name__)
"
