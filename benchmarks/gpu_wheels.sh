#!/usr/bin/env bash
# Builds .whl/: the wheels a lent GPU machine lacks for benchmarks/gpu_check.sh (Python 3.12 there,
# with CUDA torch, torchvision, numpy, Pillow, safetensors, tqdm and huggingface_hub already; no
# network). Run here, in the repository root, once per session: bash benchmarks/gpu_wheels.sh
# The folder is git-ignored through .git/info/exclude and travels with `carry: [".whl"]` (the tree
# that travels is limited to 64 MiB, so this checks it stays under 50 MiB).
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .git/info .whl
grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo /.whl/ >>.git/info/exclude
PIP="${PIP:-.venv/bin/python -m pip}"
PLATFORMS=(--platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64
  --platform manylinux2014_x86_64 --platform manylinux1_x86_64)
fetch() {  # NAME==VERSION ...: binary wheels for CPython 3.12 on x86_64 Linux, no dependencies
  $PIP download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp "${PLATFORMS[@]}" -d .whl "$@"
}
# What `python -m indexer build` and the tests import that the machine lacks. faiss: the CPU wheel
# (~25 MB); faiss-gpu is ~100 MB compressed and cannot travel (see BENCHMARKS.md, GPU section).
fetch "sqlalchemy==2.0.54" "greenlet==3.2.4" "faiss-cpu==1.15.1" "pillow-heif==1.1.1"
fetch "ruclip==0.0.2"  # the reference for the parity tests (pure Python; its pins are not installed)
# youtokentome 1.0.6 is sdist-only: build its cp312 wheel here with a Python 3.12 (pyenv's, if any).
if ! ls .whl/youtokentome-*-cp312-*.whl >/dev/null 2>&1; then
  PY312="${PY312:-$(PYENV_VERSION=3.12.1 pyenv which python3.12 2>/dev/null || command -v python3.12)}"
  VENV=/tmp/yttm-py312
  [ -x $VENV/bin/pip ] || "$PY312" -m venv $VENV
  $VENV/bin/pip install -q cython setuptools wheel
  $VENV/bin/pip wheel -q --no-deps --no-build-isolation -w .whl "youtokentome==1.0.6"
fi
ls -la .whl
SIZE=$(du -sb .whl | cut -f1)
echo ".whl: $((SIZE / 1048576)) MiB"
if [ "$SIZE" -gt $((50 * 1048576)) ]; then
  echo "too large to carry with the tree (64 MiB in all): drop a wheel" >&2
  exit 1
fi
