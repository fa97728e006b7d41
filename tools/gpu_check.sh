#!/usr/bin/env bash
# The GPU check, one command: `bash tools/gpu_check.sh` (needs the gpu extra: pip install -e ".[dev,gpu]").
#   1. the exactness tests of the Triton kernels (nbs/03a_triton.ipynb) and of the layer's notebook, whose Triton
#      tests check that the layer runs the kernels and matches the torch path (nbs/03b_layer.ipynb): on CUDA where
#      there is a device, else in Triton's CPU interpreter;
#   2. a compile check: the kernels compiled to sm_80 and sm_90 machine code by Triton and ptxas (no GPU needed),
#      with registers, stack (spills) and shared memory per kernel;
#   3. on a GPU only: the benchmark `orthomlstm.triton_scan.bench_triton` (fused Triton scan vs composed torch path
#      vs the study's quadratic form at the paper's sizes, peak memory at B64 T1023, the plain read vs
#      mlstm_kernels, the paper regime's projected wall-clock), printed and written to data/bench/gpu/<gpu>.json.
# Without a CUDA device, part 3 is skipped with a message; parts 1 and 2 run.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -x .venv/bin/python ]; then export PATH="$PWD/.venv/bin:$PATH"; fi
export TRITON_DEFAULT_FP_FUSION="${TRITON_DEFAULT_FP_FUSION:-1}"   # Triton 3.9 warns unless this is set
start=$SECONDS
if ! python -c "import triton" 2>/dev/null; then
  echo "triton is not importable: install the gpu extra (pip install -e '.[gpu]')"; exit 1
fi
if python -c "import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)"; then gpu=1; else gpu=0; fi
python -c "import torch, triton; print('torch', torch.__version__, '| triton', triton.__version__, '| CUDA device:',
           torch.cuda.get_device_name() if torch.cuda.is_available() else 'none')"

if [ "$gpu" = 1 ]; then
  echo "== 1/3 exactness tests of the Triton kernels and the layer's Triton path on CUDA (03a_triton, 03b_layer)"
  for nb in 03a_triton 03b_layer; do env -u TRITON_INTERPRET nbdev-test "nbs/$nb.ipynb" --verbose --timing; done
else
  echo "== 1/3 exactness tests of the Triton kernels and the layer's Triton path in Triton's CPU interpreter (no CUDA)"
  for nb in 03a_triton 03b_layer; do TRITON_INTERPRET=1 nbdev-test "nbs/$nb.ipynb" --verbose --timing; done
fi

echo "== 2/3 compile check: the kernels as sm_80 / sm_90 machine code (Triton + ptxas, no GPU needed)"
python - <<'EOF'
import json
from orthomlstm.triton_scan import compile_report
rows = [r for dt in ("float32", "bfloat16", "float64")
        for r in compile_report(archs=(80, 90), dtypes=(dt,), head_dims=(48,) if dt != "float32" else (16, 24, 48))]
print(f"{'kernel':<9}{'arch':<7}{'dtype':<10}{'d':>3}{'tile':>5}{'warps':>6}{'regs':>6}{'stack B':>9}{'smem KB':>9}")
for r in rows:
    if r["ok"]:
        print(f"{r['kernel']:<9}{r['arch']:<7}{r['dtype']:<10}{r['head_dim']:>3}{r['tile']:>5}{r['num_warps']:>6}"
              f"{r['registers']:>6}{r['stack_bytes']:>9}{r['shared_bytes'] / 1024:>9.1f}")
    else: print(f"{r['kernel']:<9}{r['arch']:<7}{r['dtype']:<10}{r['head_dim']:>3}  FAILED: {r['error']}")
print(json.dumps({"compile_report": rows}))
if not all(r["ok"] for r in rows): raise SystemExit("some kernels did not compile")
EOF

echo "== 3/3 GPU benchmark"
if [ "$gpu" = 1 ]; then
  env -u TRITON_INTERPRET python -c "from orthomlstm.triton_scan import bench_triton
from orthomlstm.reproduce import project_regime
bench_triton(extra={'projection': lambda: project_regime('paper')})"
else
  echo "skipped: no CUDA device here (torch.cuda.is_available() is False). Run this script on a machine with a"
  echo "CUDA GPU to time the kernels and write data/bench/gpu/<gpu>.json."
fi
echo "gpu_check done in $((SECONDS - start)) s"
