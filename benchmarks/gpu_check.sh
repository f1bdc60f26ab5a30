#!/usr/bin/env bash
# Issue 14's checks on a lent GPU machine, in one command, logged under $OUT (~8 minutes at most).
#
# Prepare here first (CPU machine, repository root): bash benchmarks/gpu_wheels.sh   (.whl/, ~28 MiB)
# Then one call of the device tool `run` (kind left out: an H100, or an H200 if none opens):
#   command:   bash benchmarks/gpu_check.sh
#   carry:     [".whl"]
#   timeout_s: 540
# The log comes back as $OUT/gpu_check.log, the nvidia-smi samples as $OUT/smi.csv. Each step has
# its own limit and is skipped (said in the log) when too little of BUDGET_S is left for it, so the
# call ends inside its timeout with what it measured; rerun with STEPS="engine12 index" to redo some.
#
# What it runs: the GPU tests (fp16/bf16 parity with the reference fp32 on random B/32-384 and
# L/14-336, the device square, the GPU engine vs the CPU engine) and the CPU tests of the engine
# there; the encoder alone on device squares (fp16, B/32-384); the GPU engine on 1,024 12-MP JPEGs
# and 4,096 1024x768 JPEGs; nvJPEG's square against the CPU build's; benchmarks/index.py --device
# cuda on 512 12-MP JPEGs (the CLI, whichever engine build.py picks); benchmarks/encode.py --device
# cuda; exact search on the GPU (torch) against faiss-cpu.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-/tmp/gpu_check_out}"
mkdir -p "$OUT"
LOG="$OUT/gpu_check.log"
BUDGET_S="${BUDGET_S:-480}"
STEPS="${STEPS:-tests encoder engine12 engine1024 preprocess index encode search}"
exec > >(tee -a "$LOG") 2>&1
export PYTHONUNBUFFERED=1

echo "== setup $(date -u +%FT%TZ)"
if [ -z "${SKIP_WHEELS:-}" ] && ls .whl/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl ||
    { echo "installing .whl failed"; exit 1; }
fi
export PYTHONPATH="/tmp/site:$PWD"
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv
python3 - <<'EOF'
import os, torch, torchvision, numpy, PIL, faiss
print(f"python ok: torch {torch.__version__}, torchvision {torchvision.__version__}, numpy {numpy.__version__}, "
      f"Pillow {PIL.__version__}, faiss {faiss.__version__}, {os.cpu_count()} CPUs, {torch.cuda.get_device_name()}")
EOF
nvidia-smi --query-gpu=timestamp,utilization.gpu,utilization.memory,memory.used,power.draw --format=csv \
  -lms 250 >"$OUT/smi.csv" 2>/dev/null &
SMI=$!
trap 'kill $SMI 2>/dev/null' EXIT

step() {  # NAME LIMIT_S COMMAND...: run when asked for and when the budget still holds it
  local name=$1 limit=$2
  shift 2
  case " $STEPS " in *" $name "*) ;; *) return ;; esac
  if ((SECONDS + limit > BUDGET_S)); then
    echo "== $name: skipped, ${SECONDS}s of ${BUDGET_S}s used and it may take ${limit}s"
    return
  fi
  echo "== $name (limit ${limit}s) at ${SECONDS}s: $*"
  echo "smi-mark $name $(date -u +%T)" >>"$OUT/smi.csv"
  local started=$SECONDS
  timeout "$limit" "$@"
  echo "== $name: exit $?, $((SECONDS - started))s"
}

step tests 150 python3 -m pytest -q -s -p no:cacheprovider tests/test_gpu.py tests/test_gpu_engine.py -rs
step encoder 60 python3 benchmarks/gpu_pipeline.py encoder --device cuda --precision fp16 --batches 256 512 1024
step engine12 120 python3 benchmarks/gpu_pipeline.py engine --device cuda --precision fp16 --count 1024 --size 4000x3000
step engine1024 60 python3 benchmarks/gpu_pipeline.py engine --device cuda --precision fp16 --count 4096 --size 1024x768
step preprocess 60 python3 benchmarks/gpu_pipeline.py preprocess --device cuda --count 16
step index 120 python3 benchmarks/index.py --device cuda --count 512 --distinct --skip-reference
step encode 60 python3 benchmarks/encode.py --device cuda --image-batch 256 --rounds 1 --skip-tuned-reference
step search 60 python3 benchmarks/gpu_search.py --device cuda
kill $SMI 2>/dev/null
python3 - "$OUT/smi.csv" <<'EOF'
import sys
# GPU utilisation per step: the mean of the samples between one step's mark and the next.
step, samples = None, {}
for line in open(sys.argv[1]):
    if line.startswith("smi-mark"):
        step = line.split()[1]
        continue
    parts = [p.strip() for p in line.split(",")]
    if step and len(parts) >= 2 and parts[1].endswith("%"):
        samples.setdefault(step, []).append(float(parts[1].rstrip(" %")))
for name, values in samples.items():
    busy = sum(values) / len(values)
    print(f"GPU utilisation during {name}: mean {busy:.0f} %, max {max(values):.0f} % ({len(values)} samples)")
EOF
echo "== done in ${SECONDS}s"
