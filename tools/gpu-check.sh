#!/usr/bin/env bash
# The GPU check, for one call on a lent GPU machine (H100/H200), from the repository root,
# with build-gpu/bundle.tar.xz (tools/gpu-bundle.sh) and the CIFAR-10 archive carried over.
# It fits in about 6 minutes of wall time and leaves a useful log whatever fails:
#
#   preflight  nvidia-smi; driver, runtime, cuDNN and cuBLAS versions; ldd of every binary
#              (stops at once on a library "not found")
#   tests      every GPU test (parity, graph lifetime, training and evaluation against the CPU)
#   memcheck   compute-sanitizer on the small GPU tests (a bounded subset, under 90 s)
#   bench      training steps, eager and CUDA graph, at depth 1 / batch 128, depth 2 /
#              batch 256 and ResNet-20 / batch 128, each with deterministic and with all
#              cuDNN algorithms, plus evaluation images/s and the per-op breakdown; and the
#              depth-1 step in bf16 (NHWC), eager and CUDA graph
#   peers      the same All-CNN-C steps in PyTorch (eager TF32, eager bf16 channels_last,
#              torch.compile) and JAX/flax (jit), tools/bench-peers.py, each beside
#              convlab's fastest time from the bench step of the same call, as a ratio
#              (ratios count only from one call: run it with bench)
#   train      one epoch of depth-1 v2 on the real data with --cuda-graph
#   cka        self CKA of that checkpoint over the 10,000 test images, timed
#   analysis   CKA + RSA, Procrustes and a bootstrap over the same images, timed
#
# Every step runs under its own timeout; $OUT/gpu-check-summary.txt is rewritten after each
# step (so a killed call keeps it) and $OUT/gpu-check.log holds everything. The default
# steps fit a first call of about 6 minutes; STEPS selects others, e.g. the second call,
# STEPS="preflight bench peers analysis". The full 350-epoch run is tools/gpu-full-run.sh,
# in separate calls (docs/gpu.md).
#
#   DATA=build-gpu/cifar10-jpg.tar.gz tools/gpu-check.sh
set -uo pipefail
cd "$(dirname "$0")/.."
bundle=${BUNDLE:-build-gpu/bundle}
out=${OUT:-gpu-check-out}                 # what comes back: the log, the summary, small results
work=${WORK:-/tmp/convlab-gpu-check}      # run folders, the decoded-data cache
steps=${STEPS:-preflight tests memcheck bench train cka}
data=${DATA:-}
mkdir -p "$out" "$work"
log="$out/gpu-check.log"
summary_file="$out/gpu-check-summary.txt"
: >"$log"
summary=()

write_summary() {
  { echo "convlab GPU check, $(date -u '+%Y-%m-%d %H:%M:%S UTC'), steps: $steps"; printf '%s\n' "${summary[@]}"; } \
    >"$summary_file.tmp" && mv "$summary_file.tmp" "$summary_file"
}
note() { summary+=("$1"); write_summary; }
want() { [[ " $steps " == *" $1 "* ]]; }

# step NAME SECONDS COMMAND...: runs under `timeout`, logs, records the outcome and time;
# the step's own output is kept in $work/last-step.out for the figures the summary quotes.
step() {
  local name=$1 limit=$2
  shift 2
  echo "=== $name (limit ${limit} s): $*" | tee -a "$log"
  local start=$SECONDS rc
  timeout --kill-after=10 "$limit" "$@" >"$work/last-step.out" 2>&1
  rc=$?
  cat "$work/last-step.out" >>"$log"
  local took=$((SECONDS - start))
  if ((rc == 0)); then
    note "PASS     $name (${took} s)"
  elif ((rc == 124 || rc == 137)); then
    note "TIMEOUT  $name (killed after ${took} s)"
  else
    note "FAIL     $name (exit $rc after ${took} s): $(grep -m1 -iE 'error|fail|not found' "$work/last-step.out" | cut -c1-160)"
  fi
  tail -n 8 "$work/last-step.out"
  return $rc
}
# Quotes the lines of the last step's output that match $1 into the summary.
quote() { while IFS= read -r line; do note "           $line"; done < <(grep -E "$1" "$work/last-step.out" | cut -c1-200); }

if [[ ! -d $bundle && -f build-gpu/bundle.tar.xz ]]; then tar -C build-gpu -xJf build-gpu/bundle.tar.xz; fi
if [[ ! -x $bundle/convlab_tests ]]; then
  note "FAIL     no $bundle: run tools/gpu-bundle.sh on the build machine and carry build-gpu/bundle.tar.xz"
  exit 2
fi
# cuDNN 9.19 (the version built against) ships in PyTorch's wheel on the device machines.
for d in /opt/torch/.venv/lib/python3.12/site-packages/nvidia/cudnn/lib; do
  [[ -d $d ]] && export LD_LIBRARY_PATH="$d:${LD_LIBRARY_PATH:-}"
done
export LD_LIBRARY_PATH="$PWD/$bundle:${LD_LIBRARY_PATH:-}"
export CONVLAB_CACHE_DIR="$work/cache"
[[ -f $PWD/$bundle/DejaVuSans.ttf ]] && export CONVLAB_FONT="$PWD/$bundle/DejaVuSans.ttf"  # figures' font
export OMP_WAIT_POLICY=PASSIVE
bin=$bundle

if want preflight; then
  step "nvidia-smi" 30 nvidia-smi
  quote "H100|H200|Driver Version"
  step "versions" 30 "$bin/convlab-bench" --versions
  quote "driver"
  if grep -q "no GPU" "$work/last-step.out"; then  # every GPU test would skip: stop here
    note "FAIL     no GPU answers convlab (see the versions line): nothing else can run"
    exit 4
  fi
  missing=$(for b in "$bin"/convlab_tests "$bin"/convlab-bench "$bin"/convlab-train "$bin"/convlab-analyze; do
    ldd "$b" | sed "s|^|$(basename "$b"): |" | grep "not found"
  done)
  if [[ -n $missing ]]; then
    echo "$missing" | tee -a "$log"
    note "FAIL     ldd: libraries not found (nothing else can run):"
    while IFS= read -r line; do note "           $line"; done <<<"$missing"
    exit 3
  fi
  note "PASS     ldd: every library of every binary found"
fi

if want tests; then
  step "GPU tests" 240 "$bin/convlab_tests" --gtest_filter='Cuda*:*Cuda*:DeviceChoice.*' --gtest_color=no
  quote "^\[  (PASSED|FAILED|SKIPPED) |tests? ran"
fi

if want memcheck; then
  # The small GPU tests only (the real-shape parity and the full-width training tests would
  # take many minutes under the sanitizer); the graph-lifetime test is among them.
  memcheck_filter='CudaGraph.*:CudaParity.*:CudaConvParity.Tf32:CudaConvParity.StrictFp32:CudaConvParity.Asymmetric*:CudaLinearParity.*:CkaCuda.*'
  if ! command -v compute-sanitizer >/dev/null; then
    note "SKIP     memcheck: no compute-sanitizer on PATH"
  else
    step "memcheck (small GPU tests)" 90 compute-sanitizer --tool memcheck --error-exitcode 1 \
      "$bin/convlab_tests" --gtest_filter="$memcheck_filter" --gtest_color=no
    quote "ERROR SUMMARY|Device not supported"
  fi
fi

# convlab-bench's fastest "training step: X ms" in the last step's output (it prints one per
# algorithm mode); the peers' ratios use the fastest of all convlab's settings in this call.
last_step_ms() { grep -oE '^training step: [0-9.]+ ms' "$work/last-step.out" | awk '{print $3}' | sort -g | head -n1; }
convlab_ms_d1="" convlab_ms_d2=""
if want bench; then
  bench() {  # bench NAME ARGS...
    local name=$1
    shift
    step "bench $name" 90 "$bin/convlab-bench" --device cuda --steps 50 "$@"
    quote "^(device|step graph|training step|evaluation)"
  }
  bench "depth 1 batch 128" --depth 1 --batch 128 --breakdown --conv-choices
  convlab_ms_d1+=" $(last_step_ms)"
  bench "depth 1 batch 128, CUDA graph" --depth 1 --batch 128 --cuda-graph
  convlab_ms_d1+=" $(last_step_ms)"
  bench "depth 1 batch 128, bf16 NHWC" --depth 1 --batch 128 --precision bf16 --breakdown
  convlab_ms_d1+=" $(last_step_ms)"
  bench "depth 1 batch 128, bf16 NHWC, CUDA graph" --depth 1 --batch 128 --precision bf16 --cuda-graph --conv-choices
  convlab_ms_d1+=" $(last_step_ms)"
  bench "depth 2 batch 256" --depth 2 --batch 256 --breakdown
  convlab_ms_d2+=" $(last_step_ms)"
  bench "depth 2 batch 256, CUDA graph" --depth 2 --batch 256 --cuda-graph
  convlab_ms_d2+=" $(last_step_ms)"
  bench "depth 2 batch 256, bf16 NHWC, CUDA graph" --depth 2 --batch 256 --precision bf16 --cuda-graph
  convlab_ms_d2+=" $(last_step_ms)"
  bench "ResNet-20 batch 128" --model resnet20 --batch 128 --breakdown
  bench "ResNet-20 batch 128, CUDA graph" --model resnet20 --batch 128 --cuda-graph
fi

if want peers; then
  peer_python=${PEER_PYTHON:-/opt/torch/.venv/bin/python3}
  [[ -x $peer_python ]] || peer_python=python3
  peers() {  # peers DEPTH BATCH LIMIT [ARGS...] -- [CONVLAB_MS...]: without a convlab time, no ratio
    local depth=$1 batch=$2 limit=$3 ms args=() ratio=()
    shift 3
    while (($#)) && [[ $1 != -- ]]; do args+=("$1"); shift; done
    (($#)) && shift
    ms=$(printf '%s\n' "$@" | grep -E '^[0-9]+(\.[0-9]+)?$' | sort -g | head -n1)
    [[ -n $ms ]] && ratio=(--convlab-ms "$ms")
    step "peers depth $depth batch $batch (convlab's fastest: ${ms:-not measured in this call} ms)" "$limit" \
      "$peer_python" tools/bench-peers.py --device cuda --depth "$depth" --batch "$batch" --steps 50 \
      --timeout $((limit / 2)) --json "$out/peers-depth$depth.json" "${args[@]}" "${ratio[@]}"
    quote "^PEER "
  }
  peers 1 128 300 -- $convlab_ms_d1
  # Depth 2 without torch.compile (the reference measured none there; it costs minutes cold).
  peers 2 256 200 --variants torch-eager-tf32,torch-eager-bf16-cl,flax-jit-tf32 -- $convlab_ms_d2
fi

if [[ -z $data ]] && { want train || want cka; }; then
  note "SKIP     train, cka: no DATA=<CIFAR-10 archive> given"
else
  if want train; then
    rm -rf "$work/one-epoch"
    step "train 1 epoch, depth 1 v2, --cuda-graph (data decode included)" 180 "$bin/convlab-train" \
      configs/all_cnn_depth_1_v2_seed_0.yaml --device cuda --cuda-graph --data "$data" --epochs 1 \
      --output "$work/one-epoch" --quiet
    quote "finished|test accuracy"
    [[ -f $work/one-epoch/metrics.csv ]] && cp "$work/one-epoch/metrics.csv" "$out/one-epoch-metrics.csv"
  fi
  if want cka; then
    checkpoint="$work/one-epoch/checkpoints/epoch_0001.safetensors"
    if [[ ! -f $checkpoint ]]; then
      note "SKIP     cka: no $checkpoint (the train step did not finish)"
    else
      start_ns=$(date +%s%N)
      step "CKA self, 10000 test images (target <= 1 s on an H200)" 120 "$bin/convlab-analyze" self "$checkpoint" \
        --device cuda --data "$data" --examples 10000 --output "$work/cka-self"
      note "           wall time of the whole command: $(( ($(date +%s%N) - start_ns) / 1000000 )) ms"
      quote "seconds|took|CKA"
      [[ -f $work/cka-self/summary.json ]] && cp "$work/cka-self/summary.json" "$out/cka-self-summary.json"
    fi
  fi
fi
if want analysis; then
  # Representation analysis on the GPU: CKA + RSA (target <= 2 s on an H200), Procrustes at two
  # batch sizes, and all three measures with a bootstrap. Each analysis writes its own time,
  # feature extraction included, into its summary.json.
  checkpoint="$work/one-epoch/checkpoints/epoch_0001.safetensors"
  if [[ -z $data || ! -f $checkpoint ]]; then
    note "SKIP     analysis: needs DATA and the checkpoint of the train step"
  else
    step "CKA + RSA self, 10000 test images (target <= 2 s on an H200)" 120 "$bin/convlab-analyze" self "$checkpoint" \
      --kernel linear --measure cka,rsa --device cuda --data "$data" --output "$work/cka-rsa-self"
    for k in 1000 500; do
      step "Procrustes self, 10000 test images, batches of $k" 120 "$bin/convlab-analyze" self "$checkpoint" \
        --measure procrustes --batch-size "$k" --device cuda --data "$data" --output "$work/procrustes-self-$k"
    done
    step "CKA + RSA + Procrustes self, 200 bootstrap replicates" 180 "$bin/convlab-analyze" self "$checkpoint" \
      --kernel both --measure cka,rsa,procrustes --bootstrap 200 --device cuda --data "$data" --output "$work/all-self"
    while IFS= read -r line; do note "           $line"; done < <(grep -h '"seconds"' "$work"/cka-rsa-self/summary.json \
      "$work"/procrustes-self-*/summary.json 2>/dev/null | head -n 6)
  fi
fi
note "done"
cat "$summary_file"
