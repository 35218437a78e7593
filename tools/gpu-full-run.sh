#!/usr/bin/env bash
# A long training run on a lent GPU machine, in calls of at most ~9 minutes: each call
# restores the run folder from $STATE (what the previous call returned, carried back; empty
# or absent for the first call), trains until EPOCHS_PER_CALL more epochs are done or the
# time limit nears, and puts what the next call needs into $OUT (at most 8 files of at most
# 16 MiB come back): resume.safetensors, metrics.csv, metrics.jsonl, config.yaml, the
# learning curve and the last checkpoint. docs/gpu.md gives the device-tool calls.
#
#   DATA=build-gpu/cifar10-jpg.tar.gz STATE=gpu-run EPOCHS_PER_CALL=350 \
#     tools/gpu-full-run.sh configs/all_cnn_depth_1_v2_seed_0.yaml
#
# resume.safetensors holds the weights and the momentum: 11 MB for depth 1, 24 MB for
# depth 2 (over the 16 MiB a returned file may have: depth-2 runs must finish in one call).
set -uo pipefail
cd "$(dirname "$0")/.."
config=${1:?usage: tools/gpu-full-run.sh CONFIG.yaml}
bundle=${BUNDLE:-build-gpu/bundle}
out=${OUT:-gpu-run-out}
work=${WORK:-/tmp/convlab-gpu-run}
state=${STATE:-}
epochs_per_call=${EPOCHS_PER_CALL:-350}
limit=${TIME_LIMIT:-510}  # seconds of training per call, leaving time to copy the results
data=${DATA:?DATA=<CIFAR-10 archive> is required}
mkdir -p "$out" "$work"
if [[ ! -d $bundle && -f build-gpu/bundle.tar.xz ]]; then tar -C build-gpu -xJf build-gpu/bundle.tar.xz; fi
for d in /opt/torch/.venv/lib/python3.12/site-packages/nvidia/cudnn/lib; do
  [[ -d $d ]] && export LD_LIBRARY_PATH="$d:${LD_LIBRARY_PATH:-}"
done
export LD_LIBRARY_PATH="$PWD/$bundle:${LD_LIBRARY_PATH:-}"
export CONVLAB_CACHE_DIR="$work/cache"
[[ -f $PWD/$bundle/DejaVuSans.ttf ]] && export CONVLAB_FONT="$PWD/$bundle/DejaVuSans.ttf"  # figures' font
run="$work/run"
rm -rf "$run" && mkdir -p "$run/checkpoints"
resume=()
last=0
if [[ -n $state && -f $state/resume.safetensors ]]; then
  cp "$state"/resume.safetensors "$state"/metrics.csv "$state"/metrics.jsonl "$state"/config.yaml "$run/"
  last=$(tail -n 1 "$run/metrics.csv" | cut -d, -f1)
  resume=(--resume)
  echo "resuming after epoch $last"
fi
stop=$((last + epochs_per_call))
start=$SECONDS
# The epoch is the unit that survives: a kill at the time limit loses at most the epoch in
# flight, and the next call resumes after the last finished one.
timeout --signal=KILL "$limit" "$bundle/convlab-train" "$config" --device cuda --cuda-graph --data "$data" \
  --output "$run" --quiet --stop-after-epoch "$stop" "${resume[@]}"
rc=$?
echo "convlab-train exited with $rc after $((SECONDS - start)) s"
for f in resume.safetensors metrics.csv metrics.jsonl config.yaml learning_curve.png; do
  [[ -f $run/$f ]] && cp "$run/$f" "$out/"
done
latest=$(ls "$run"/checkpoints/epoch_*.safetensors 2>/dev/null | sort | tail -n 1)
[[ -n $latest ]] && cp "$latest" "$out/"
echo "epochs done: $(tail -n 1 "$run/metrics.csv" 2>/dev/null | cut -d, -f1) (last row of metrics.csv:)"
tail -n 1 "$run/metrics.csv" 2>/dev/null
ls -la "$out"
