#!/usr/bin/env bash
# Every path that takes a --device, run on one device, then SAE training throughput against SAELens there.
#
#   bash bench/gpu.sh [--device cuda|cpu] [--work DIR] [--results FILE]     (or: make bench-gpu DEVICE=cuda)
#
# Why one script: the device and dtype flags exist on every stage, and a path nobody runs on CUDA rots. Each
# step below runs one command with --device DEVICE on a tiny run folder this script builds itself (the demo's
# --quick sliver, made on DEVICE too), prints one JSON line with its wall time, and the first step that fails
# stops the script with its name, its exit status and the end of its log (set -euo pipefail; exit 1).
# Steps: demo, train-model (2 layers), harvest fp32, harvest bf16 autocast (on cpu: its refusal, checked), train-sae
# for every registered architecture, a skip transcoder, train-online, DDP train-sae under torchrun
# --nproc_per_node 1 (NCCL on cuda, gloo on cpu), analyze, steer, serve's live view (POST /api/activations), then
# bench/train_throughput.py: on cuda its GPU cases (d_in 2,304: TopK 65,536 latents k 64 at batches 8,192 and
# 16,384, ReLU 16,384), on cpu its --quick shapes, which is what tests/bench/test_gpu_script.py runs.
# Figures are printed and appended to --results (default bench/results.jsonl). Scratch goes to --work (default
# a temporary folder, removed at the end unless a step failed).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DEVICE=cuda
WORK=""
RESULTS="$ROOT/bench/results.jsonl"
while [ $# -gt 0 ]; do
  case "$1" in
    --device) DEVICE="$2"; shift 2 ;;
    --work) WORK="$2"; shift 2 ;;
    --results) RESULTS="$2"; shift 2 ;;
    -h|--help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "gpu.sh: error: unknown argument $1 (expected --device, --work, --results)" >&2; exit 2 ;;
  esac
done
case "$DEVICE" in
  cpu|cuda|cuda:[0-9]*) ;;
  *) echo "gpu.sh: error: --device must be cpu, cuda or cuda:N, got $DEVICE" >&2; exit 2 ;;
esac

if [ -z "${PYTHON:-}" ]; then
  if [ -x "$ROOT/.venv/bin/python" ]; then PYTHON="$ROOT/.venv/bin/python"; else PYTHON=python3; fi
fi
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}" TQDM_DISABLE=1
# the device check of every CLI command, before anything is built: no CUDA here is one line and exit 2
"$PYTHON" -c "
import sys
from monoscope.errors import MonoscopeError
from monoscope.precision import check_device
try:
    check_device(sys.argv[1])
except MonoscopeError as e:
    sys.exit(f'gpu.sh: error: {e}')
" "$DEVICE"

KEEP=1
if [ -z "$WORK" ]; then WORK="$(mktemp -d "${TMPDIR:-/tmp}/monoscope_gpu_XXXXXX")"; KEEP=0; fi
mkdir -p "$WORK/logs" "$(dirname "$RESULTS")"
RUN="$WORK/run"
CLI=("$PYTHON" -m monoscope)
STAMP=$("$PYTHON" -c "
import json, sys
sys.path.insert(0, sys.argv[1])
import common, torch
d = {'commit': common.git_commit(), 'device': common.device_name(sys.argv[2]), 'threads': torch.get_num_threads()}
print(json.dumps(d)[1:-1])" \
  "$ROOT/bench" "$DEVICE")
SERVER_PID=""
STEP=""

cleanup() {
  local rc=$?
  if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
  if [ "$rc" -ne 0 ] && [ -n "$STEP" ]; then
    echo "gpu.sh: FAILED at step '$STEP' on $DEVICE (exit $rc); its log, $WORK/logs/$STEP.log, ends:" >&2
    tail -n 25 "$WORK/logs/$STEP.log" >&2 2>/dev/null || true
    echo "gpu.sh: the work folder is kept: $WORK" >&2
  elif [ "$KEEP" = 0 ]; then
    rm -rf "$WORK"
  fi
}
trap cleanup EXIT

figure() {  # figure NAME VALUE UNIT [EXTRA_JSON_FIELDS]: one JSON line, printed and appended to $RESULTS
  local line
  line="{\"bench\": \"gpu\", \"figure\": \"$1\", \"value\": $2, \"unit\": \"$3\", \"peer\": null, \"peer_value\": null, \"ratio\": null, \"date\": \"$(date -u +%Y-%m-%dT%H:%M:%S+00:00)\", $STAMP${4:+, $4}}"
  echo "$line"
  echo "$line" >>"$RESULTS"
}

step() {  # step NAME COMMAND...: run it with its output in logs/NAME.log; its wall time is a figure
  STEP="$1"
  shift
  local t0 t1
  t0=$(date +%s.%N)
  "$@" >"$WORK/logs/$STEP.log" 2>&1
  t1=$(date +%s.%N)
  figure "$STEP" "$(awk "BEGIN {printf \"%.2f\", $t1 - $t0}")" "s"
}

refused_bf16() {  # on CPU, bf16 autocast must be refused with its reason, before any work
  if "${CLI[@]}" harvest --model "$RUN/model" --data "$RUN/data" --max-tokens 4096 --model-dtype bfloat16 \
    --out "$WORK/acts_bf16" --device cpu --quiet; then
    echo "bf16 on cpu was not refused" >&2
    return 1
  fi
  [ ! -e "$WORK/acts_bf16" ] || { echo "the refused harvest wrote $WORK/acts_bf16" >&2; return 1; }
}

serve_live() {  # serve's live view: start the server on DEVICE, POST a text to /api/activations, stop it
  local port
  port=$("$PYTHON" -c "import socket; s = socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])")
  "${CLI[@]}" serve --sae "$WORK/sae_topk" --store "$WORK/analysis/features.db" --model "$RUN/model" \
    --data "$RUN/data" --port "$port" --device "$DEVICE" &
  SERVER_PID=$!
  "$PYTHON" - "$port" "$SERVER_PID" <<'EOF'
import os, sys, time
import httpx

url = f"http://127.0.0.1:{sys.argv[1]}"
for _ in range(1200):
    try:
        httpx.get(url + "/", timeout=2)
        break
    except httpx.TransportError:
        os.kill(int(sys.argv[2]), 0)  # the server exited: ProcessLookupError, and the step fails
        time.sleep(0.1)
r = httpx.post(url + "/api/activations", json={"text": "def main():\n    return 1\n"}, timeout=60)
r.raise_for_status()
print(r.text[:300])
EOF
  kill "$SERVER_PID"
  wait "$SERVER_PID" 2>/dev/null || true
  SERVER_PID=""
}

# the sizes: tiny paths everywhere (what is proven is that each path runs on DEVICE); realistic ones only in
# train_throughput on cuda
VEC=20000
BATCH=256
D_SAE=256
K=8

step demo "${CLI[@]}" demo --quick --out "$RUN" --device "$DEVICE" --quiet
step train-model "${CLI[@]}" train-model --data "$RUN/data" --layers 2 --d-model 32 --d-mlp 64 --heads 2 \
  --steps 20 --batch-size 8 --out "$WORK/model2" --device "$DEVICE" --quiet
step harvest-fp32 "${CLI[@]}" harvest --model "$RUN/model" --data "$RUN/data" --max-tokens "$VEC" \
  --out "$WORK/acts" --device "$DEVICE" --quiet
if [ "$DEVICE" = cpu ]; then
  step harvest-bf16-refused-on-cpu refused_bf16
else
  step harvest-bf16 "${CLI[@]}" harvest --model "$RUN/model" --data "$RUN/data" --max-tokens "$VEC" \
    --model-dtype bfloat16 --out "$WORK/acts_bf16" --device "$DEVICE" --quiet
fi
ARCHS=$("$PYTHON" -c "
from monoscope.sae import ARCHITECTURES
print(' '.join(f'{n}:{int(c.needs_k)}' for n, c in sorted(ARCHITECTURES.items())))")
for spec in $ARCHS; do
  arch=${spec%%:*}
  kflag=()
  if [ "${spec##*:}" = 1 ]; then kflag=(--k "$K"); fi
  step "train-sae-$arch" "${CLI[@]}" train-sae --acts "$WORK/acts" --arch "$arch" "${kflag[@]}" --d-sae "$D_SAE" \
    --vectors "$VEC" --batch-size "$BATCH" --dead-window 10000 --out "$WORK/sae_$arch" --device "$DEVICE" --quiet
done
step harvest-transcoder "${CLI[@]}" harvest --model "$RUN/model" --data "$RUN/data" --hook blocks.0.mlp.hook_in \
  --target-hook blocks.0.hook_mlp_out --max-tokens "$VEC" --out "$WORK/acts_tc" --device "$DEVICE" --quiet
step train-transcoder "${CLI[@]}" train-sae --acts "$WORK/acts_tc" --arch topk --k "$K" --skip --d-sae "$D_SAE" \
  --vectors "$VEC" --batch-size "$BATCH" --out "$WORK/transcoder" --device "$DEVICE" --quiet
step train-online "${CLI[@]}" train-online --model "$RUN/model" --data "$RUN/data" --hook blocks.0.mlp.hook_post \
  --arch topk --k "$K" --d-sae "$D_SAE" --vectors "$VEC" --batch-size "$BATCH" --buffer 4096 \
  --out "$WORK/online" --device "$DEVICE" --quiet
step ddp-torchrun "$PYTHON" -m torch.distributed.run --standalone --nproc_per_node 1 -m monoscope train-sae \
  --acts "$WORK/acts" --distributed --arch topk --k "$K" --d-sae "$D_SAE" --vectors "$VEC" --batch-size "$BATCH" \
  --out "$WORK/sae_ddp" --device "$DEVICE" --quiet
step analyze "${CLI[@]}" analyze --sae "$WORK/sae_topk" --model "$RUN/model" --data "$RUN/data" --tokens 4096 \
  --out "$WORK/analysis" --device "$DEVICE" --quiet
FEATURE=$("$PYTHON" -c "
import sys
sys.path.insert(0, sys.argv[1])
import common
print(common.live_features(sys.argv[2], 1)[0])" "$ROOT/bench" "$WORK/sae_topk")
step steer "${CLI[@]}" steer --sae "$WORK/sae_topk" --model "$RUN/model" --data "$RUN/data" --feature "$FEATURE" \
  --clamp 10x --max-act-contexts 16 --prompt "def main():" --max-new-tokens 8 --json --device "$DEVICE" --quiet
step serve-live-view serve_live
QUICK=()
if [ "$DEVICE" = cpu ]; then QUICK=(--quick); fi
STEP=train-throughput
"$PYTHON" "$ROOT/bench/train_throughput.py" --run "$RUN" --device "$DEVICE" "${QUICK[@]}" --results "$RESULTS" \
  --out "$WORK/throughput" 2>"$WORK/logs/$STEP.log"
STEP=""
echo "gpu.sh: every path ran on $DEVICE" >&2
