#!/usr/bin/env bash
# On a GPU machine (H100/H200), from the repository root, after tools/gpu-bundle.sh was run
# on the build machine and build-gpu/bundle carried over: runs the GPU tests,
# compute-sanitizer's memcheck on them, the training-step, evaluation and CKA benchmarks and,
# with FULL_RUN=1 and DATA=<CIFAR-10>, the full 350-epoch depth-1 v2 run. Everything goes to
# one log, $OUT/gpu-check.log (OUT defaults to ./gpu-check-out), ending in a short summary.
# FULL_RUN_RESNET=1 (with DATA) adds the 160-epoch ResNet-20 run of configs/resnet20.yaml.
set -uo pipefail
cd "$(dirname "$0")/.."
bundle=${BUNDLE:-build-gpu/bundle}
if [[ ! -d $bundle && -f build-gpu/bundle.tar.xz ]]; then
  tar -C build-gpu -xJf build-gpu/bundle.tar.xz
fi
[[ -x $bundle/convlab_tests ]] || { echo "no $bundle: run tools/gpu-bundle.sh on the build machine first" >&2; exit 2; }
out=${OUT:-gpu-check-out}       # only the log (and small result files) go here
work=${WORK:-/tmp/convlab-gpu-check}  # run folders, checkpoints, the decoded-data cache
mkdir -p "$out" "$work"
log="$out/gpu-check.log"
# cuDNN 9.19 (the version built against) ships in PyTorch's wheel on the device machines;
# the system's 9.14 is older.
for d in /opt/torch/.venv/lib/python3.12/site-packages/nvidia/cudnn/lib; do
  [[ -d $d ]] && export LD_LIBRARY_PATH="$d:${LD_LIBRARY_PATH:-}"
done
export LD_LIBRARY_PATH="$PWD/$bundle:${LD_LIBRARY_PATH:-}"
export CONVLAB_CACHE_DIR="$work/cache"
summary=()
step() {  # step NAME COMMAND...: runs, logs, records pass/fail
  local name=$1; shift
  echo "=== $name: $*" | tee -a "$log"
  local start=$SECONDS
  if "$@" >>"$log" 2>&1; then summary+=("PASS  $name ($((SECONDS - start)) s)"); else summary+=("FAIL  $name (exit $?)"); fi
  tail -n 25 "$log"
}
{ date; nvidia-smi; } >>"$log" 2>&1
step "GPU tests" "$bundle/convlab_tests" --gtest_filter='Cuda*:*Cuda*:DeviceChoice.*'
if command -v compute-sanitizer >/dev/null; then
  step "memcheck" compute-sanitizer --tool memcheck --error-exitcode 1 "$bundle/convlab_tests" --gtest_filter='Cuda*:*Cuda*'
else
  summary+=("SKIP  memcheck (no compute-sanitizer on PATH)")
fi
step "bench depth 1 batch 128" "$bundle/convlab-bench" --device cuda --depth 1 --batch 128 --steps 50 --breakdown
step "bench depth 1 batch 128, CUDA graph" "$bundle/convlab-bench" --device cuda --depth 1 --batch 128 --steps 50 --cuda-graph
step "bench depth 2 batch 256" "$bundle/convlab-bench" --device cuda --depth 2 --batch 256 --steps 30 --breakdown
step "bench depth 2 batch 256, CUDA graph" "$bundle/convlab-bench" --device cuda --depth 2 --batch 256 --steps 30 --cuda-graph
step "bench ResNet-20 batch 128" "$bundle/convlab-bench" --device cuda --model resnet20 --batch 128 --steps 50 --breakdown
step "bench ResNet-20 batch 128, CUDA graph" "$bundle/convlab-bench" --device cuda --model resnet20 --batch 128 --steps 50 --cuda-graph
if [[ -n ${DATA:-} ]]; then
  step "train 1 epoch (a checkpoint for CKA)" "$bundle/convlab-train" configs/smoke.yaml --device cuda --data "$DATA" \
    --epochs 1 --output "$work/cka-run" --quiet
  step "CKA self, 10000 test images (target <= 1 s on an H200)" "$bundle/convlab-analyze" self "$work/cka-run/checkpoints/epoch_0001.safetensors" \
    --device cuda --data "$DATA" --output "$work/cka-self"
  if [[ ${FULL_RUN:-0} == 1 ]]; then
    step "full run: depth 1 v2, 350 epochs" "$bundle/convlab-train" configs/all_cnn_depth_1_v2_seed_0.yaml \
      --device cuda --data "$DATA" --output "$work/full-run" --quiet
    tail -n 3 "$work/full-run/metrics.csv" >>"$log"
  fi
  if [[ ${FULL_RUN_RESNET:-0} == 1 ]]; then  # target: >= 91 % test accuracy
    step "full run: ResNet-20, 160 epochs" "$bundle/convlab-train" configs/resnet20.yaml \
      --device cuda --data "$DATA" --output "$work/resnet20-run" --quiet
    tail -n 3 "$work/resnet20-run/metrics.csv" >>"$log"
  fi
fi
{ echo; echo "=== summary"; printf '%s\n' "${summary[@]}"; } | tee -a "$log"
