#!/usr/bin/env bash
# Builds a zip function for `sam build` (BuildMethod: makefile; see the build-* targets in the Makefile):
# the runtime requirements as Lambda's Python 3.12 on x86_64 needs them, then the gateway's code.
#   infra/build_lambda.sh ingress|worker ARTIFACTS_DIR
# The ingress leaves out boto3/botocore (Lambda's Python runtime provides them, and the ingress calls only
# SQS, DynamoDB and Secrets Manager): that keeps it under 50 MB unzipped. Workers keep the pinned boto3
# for the newest Bedrock and Q Business APIs.
set -euo pipefail
kind=$1
out=$2
root=$(cd "$(dirname "$0")/.." && pwd)
python=${PYTHON:-python3}
deps="$root/build/lambda-deps"
if [ ! -f "$deps/.complete" ] || [ "$root/requirements.txt" -nt "$deps/.complete" ]; then
  rm -rf "$deps"
  PYTHON="$python" "$root/infra/install_target.sh" "$deps" lambda "$root/requirements.txt"
  touch "$deps/.complete"
fi
mkdir -p "$out"
cp -R "$deps"/. "$out"/
rm -f "$out/.complete"
if [ "$kind" = ingress ]; then
  rm -rf "$out"/boto3 "$out"/boto3-* "$out"/botocore "$out"/botocore-* "$out"/s3transfer "$out"/s3transfer-*
  # The local backend's retrieval libraries: only a worker answers questions (bench/lambda_package.py checks
  # that the ingress never imports them).
  rm -rf "$out"/rapidfuzz* "$out"/selectolax* "$out"/Stemmer* "$out"/PyStemmer* "$out"/pystemmer*
fi
for folder in bot handlers services entrypoints docs; do
  cp -R "$root/$folder" "$out/"
done
find "$out" -name __pycache__ -prune -exec rm -rf {} +
# Sources and type stubs that compiled wheels carry along; nothing imports them.
find "$out" \( -name '*.pyx' -o -name '*.pxd' -o -name '*.c' -o -name '*.h' -o -name '*.pyi' \) -delete
rm -rf "$out"/bot/emulator "$out"/bin
# The Sentry release tag (version and git commit): the package carries neither git nor pyproject.toml.
"$python" "$root/infra/stamp_release.py" "$out/services/observability/release.txt" --root "$root"
