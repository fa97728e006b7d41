#!/usr/bin/env bash
# The whole test suite (the README's test command runs this inside the project venv).
set -euo pipefail
cd "$(dirname "$0")/.."
# Without a CUDA device, Triton kernels run in its CPU interpreter. nbdev-test runs every notebook in one process and
# Triton fixes the mode when it is first imported (03a_triton imports it, 03b_layer's Triton tests and torch.compile
# too), so set it for the whole run.
python -c "import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)" || export TRITON_INTERPRET=1
echo "== 1/6 nbdev-export leaves orthomlstm/ unchanged"
nbdev-export
if [ -n "$(git status --porcelain -- orthomlstm)" ]; then
  git status --porcelain -- orthomlstm; git --no-pager diff --stat -- orthomlstm
  echo "orthomlstm/ is out of sync with nbs/: run nbdev-export and commit"; exit 1
fi
echo "== 2/6 README.md in sync with nbs/index.ipynb"
python tools/readme.py --check
echo "== 3/6 the package's imports point downhill in reading order, without a cycle"
python tools/modgraph.py
echo "== 4/6 nbdev-test"
nbdev-test --n-workers 1 --timing
echo "== 5/6 pytest --nbval nbs/"
python -m pytest --nbval nbs/ -p no:cacheprovider -q
echo "== 6/6 every figure regenerates byte for byte from data/"
orthomlstm figures --check
