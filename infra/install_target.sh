#!/usr/bin/env bash
# Installs a requirements file into a folder, as wheels only:
#   infra/install_target.sh TARGET lambda|here REQUIREMENTS
# `lambda`: wheels for Lambda's Python 3.12 on manylinux x86_64 (what the function or image will run);
# `here`: wheels for $PYTHON. With the uv that `make` installs beside $PYTHON (several times faster: the
# deploy check installs the analytics stack twice), else with pip.
set -euo pipefail
target=$1
kind=$2
requirements=$3
python=${PYTHON:-python3}
uv="$(dirname "$python")/uv"
if [ -x "$uv" ]; then
  if [ "$kind" = lambda ]; then
    where=(--python-platform x86_64-manylinux_2_28 --python-version 3.12)
  else
    where=(--python "$python")
  fi
  "$uv" pip install --quiet --target "$target" "${where[@]}" --only-binary :all: -r "$requirements"
else
  if [ "$kind" = lambda ]; then
    where=(--platform manylinux_2_28_x86_64 --platform manylinux2014_x86_64 --implementation cp --python-version 3.12 --only-binary=:all:)
  else
    where=()
  fi
  "$python" -m pip install --quiet --disable-pip-version-check --no-compile --target "$target" "${where[@]}" \
    -r "$requirements"
fi
