#!/usr/bin/env bash
# The GPU check, for one call on a lent GPU machine (H100/H200), from the repository root,
# with build-gpu/bundle.tar.xz (tools/gpu-bundle.sh) and the CIFAR-10 archive carried over:
#
#   DATA=build-gpu/cifar10-jpg.tar.gz tools/gpu-check.sh          # device tool: timeout_s 420
#
# One deadline bounds the whole script (DEADLINE seconds, default 390: a call of 420 s less a
# margin). Steps run in order of what matters most; each gets the smaller of its own estimate
# and the time left before the deadline (less DEADLINE_MARGIN, 10 s), and a step that cannot
# get MIN_STEP (20) seconds is recorded as SKIPPED (deadline). Every step's output streams
# into $OUT/gpu-check.log, and $OUT/gpu-check-summary.txt is rewritten before each step starts
# (a RUNNING line) and after it ends (PASS, FAIL, TIMEOUT or SKIPPED with its time and the
# figures that matter), so a call killed from outside still returns both.
#
# The steps (STEPS selects and orders them; the estimate is the step's own limit, seconds):
#   preflight       nvidia-smi (20), where each CUDA library resolves (ldd; stops at once on
#                   one "not found"), the driver/runtime/cuDNN/cuBLAS versions (40), stops
#                   when no GPU answers
#   tests           every GPU test (180: parity at small and real shapes, graph lifetime,
#                   training and evaluation against the CPU, CKA; about 1-2 minutes expected)
#   memcheck-graph  compute-sanitizer memcheck over the CUDA-graph lifetime tests (90)
#   bench-d1        depth 1 / batch 128: eager with the per-op breakdown and the convolution
#                   routes, CUDA graph, bf16 NHWC with CUDA graph (30 each: 10-15 s needed)
#   train           one epoch of depth-1 v2 on the real data with --cuda-graph, data decode
#                   and cuDNN's algorithm timing included (150)
#   cka             self CKA of that checkpoint over the 10,000 test images, timed (60)
#   analysis-bench  convlab-bench --analysis: linear CKA, RSA and CKA + RSA, self and pair, 0
#                   and 200 bootstrap replicates, on synthetic features of All-CNN-C depth 1's
#                   widths (10,000 examples, batches of 1000) resident on the GPU (60); then
#                   linear CKA and CKA + RSA self on that checkpoint over the 10,000 test
#                   images, extraction included (60; needs DATA and the checkpoint); the table
#                   rows go to the summary, both JSONs into analysis-bench.json
#   diagnose        the tests that failed (or the one a timeout cut), again, with cuDNN's
#                   API log (CUDNN_LOGLEVEL_DBG=2) and CONVLAB_SYNC_EACH_OP=1 (60)
#   memcheck        memcheck over the bf16/NHWC conversions, elementwise, BatchNorm, pooling
#                   and batch assembly, and the small fp32 parity tests (120)
#   racecheck       racecheck over the BatchNorm, pooling, sum and loss reductions (90)
#   initcheck       initcheck over the same reductions' partial buffers (90)
#   bench           the rest: depth 1 bf16 eager with breakdown, depth 2 / batch 256 (eager,
#                   graph, bf16 graph), ResNet-20 / batch 128 (eager, graph) (30 each)
#   peers           tools/bench-peers.py at depth 1 (150) and depth 2 (100), on the machine's
#                   own Python with the environment it had before the bundle was added, each
#                   beside convlab's fastest step of this call as a ratio
#   memcheck-cka    memcheck over the small CKA, RSA, Procrustes and float64-measure tests (90)
#   analysis        CKA + RSA, Procrustes at two batch sizes, all three with a bootstrap, the
#                   five float64 measures with 100 permutations (60-90 each; needs the train
#                   step's checkpoint)
#   unit            every other unit test, on a machine with a GPU (240: --device auto takes
#                   it there; the tests find the source tree and convlab-train through
#                   $CONVLAB_SOURCE_DIR and $CONVLAB_TRAIN_EXE)
#
# $OUT receives at most 8 files (the device tool's limit): gpu-check-summary.txt,
# gpu-check.log, one-epoch-metrics.csv, cka-self-summary.json, analysis-bench.json,
# peers-depth1.json, peers-depth2.json (and the summary's temporary file for an instant).
# Run folders and the decoded-data cache go to $WORK. Exit status: 0 when every step that
# ran passed, 1 when one did not, 2 when the bundle is missing or the arguments are wrong, 3
# when a library is not found, 4 when no GPU answers.
set -uo pipefail
cd "$(dirname "$0")/.."
source tools/gpu-env.sh

all_steps="preflight tests memcheck-graph bench-d1 train cka analysis-bench diagnose memcheck racecheck initcheck bench peers memcheck-cka analysis unit"
bundle=${BUNDLE:-build-gpu/bundle}
out=${OUT:-gpu-check-out}                 # what comes back: the log, the summary, small results
work=${WORK:-/tmp/convlab-gpu-check}      # run folders, the decoded-data cache
steps=${STEPS:-$all_steps}
data=${DATA:-}
deadline=${DEADLINE:-390}
margin=${DEADLINE_MARGIN:-10}
min_step=${MIN_STEP:-20}
for number in "$deadline" "$margin" "$min_step"; do
  [[ $number =~ ^[0-9]+$ ]] || { echo "gpu-check: DEADLINE, DEADLINE_MARGIN and MIN_STEP are whole seconds, not '$number'" >&2; exit 2; }
done
for s in $steps; do
  [[ " $all_steps " == *" $s "* ]] || { echo "gpu-check: unknown step '$s' in STEPS; the steps: $all_steps" >&2; exit 2; }
done
mkdir -p "$out" "$work"
log="$out/gpu-check.log"
summary_file="$out/gpu-check-summary.txt"
: >"$log"
summary=()
running=""
failed=0
started="$(date -u '+%Y-%m-%d %H:%M:%S UTC')"
export PYTHONUNBUFFERED=1

write_summary() {
  {
    echo "convlab GPU check, started $started, deadline ${deadline} s, steps: $steps"
    printf '%s\n' "${summary[@]}"
    [[ -z $running ]] || echo "$running"
  } >"$summary_file.tmp" && mv -f "$summary_file.tmp" "$summary_file"
}
note() { summary+=("$1"); write_summary; }
want() { [[ " $steps " == *" $1 "* ]]; }
log() { echo "$*" >>"$log"; }

# The limit a step of ESTIMATE seconds gets now: the estimate, or the time left before the
# deadline less the margin when that is shorter.
limit_for() {
  local left=$((deadline - margin - SECONDS))
  echo $(($1 < left ? $1 : left))
}

# step NAME ESTIMATE COMMAND...: runs COMMAND under `timeout` for limit_for ESTIMATE seconds
# (skipped when that is under MIN_STEP), its output streaming into the log; records the
# outcome and the time, and keeps the output in $work/last-step.out for `quote`.
step() {
  local name=$1 estimate=$2 limit
  shift 2
  limit=$(limit_for "$estimate")
  if ((limit < min_step)); then
    note "SKIPPED  $name (deadline: $((deadline - SECONDS)) s left of ${deadline} s)"
    : >"$work/last-step.out"
    return 125
  fi
  running="RUNNING  $name (since $(date -u +%H:%M:%S), limit ${limit} s)"
  write_summary
  log "=== $name (limit ${limit} s): $*"
  local offset start=$SECONDS rc
  offset=$(stat -c %s "$log")
  timeout --kill-after=5 "$limit" "${CONVLAB_UNBUFFERED[@]}" "$@" >>"$log" 2>&1
  rc=$?
  running=""
  tail -c +$((offset + 1)) "$log" >"$work/last-step.out"
  local took=$((SECONDS - start))
  if ((rc == 0)); then
    note "PASS     $name (${took} s)"
  elif ((rc == 124 || (rc == 137 && took >= limit - 1))); then  # 137: it ignored SIGTERM
    note "TIMEOUT  $name (killed at its limit of ${limit} s)"
    failed=1
  else
    local how="exit $rc"
    ((rc > 128)) && how="killed by signal $(kill -l $((rc - 128)) 2>/dev/null || echo $((rc - 128)))"
    note "FAIL     $name ($how after ${took} s): $(grep -m1 -iE 'error|fail|not found|abort' "$work/last-step.out" | cut -c1-200)"
    failed=1
  fi
  tail -n 6 "$work/last-step.out"
  return $rc
}
# Quotes the lines of the last step's output that match $1 into the summary.
quote() { while IFS= read -r line; do note "           $line"; done < <(grep -E "$1" "$work/last-step.out" | cut -c1-200); }

if ! convlab_find_bundle "$bundle" || [[ ! -x $bundle/convlab_tests ]]; then
  note "FAIL     no $bundle: run tools/gpu-bundle.sh on the build machine and carry build-gpu/bundle.tar.xz"
  exit 2
fi
convlab_gpu_env "$bundle" "$work"
bin=$bundle
bin_dir=$(cd "$bin" && pwd)
log "LD_LIBRARY_PATH=$LD_LIBRARY_PATH"
# A polite stop from outside (SIGTERM) is recorded; a SIGKILL leaves the RUNNING line.
trap 'running="KILLED   ${running:+${running#RUNNING  } }by a signal from outside"; write_summary; exit 143' TERM INT
rerun_hint_given=0
rerun_hint() {  # once, after the first failure of a step that ran convlab's code on the GPU
  ((failed && !rerun_hint_given)) || return 0
  rerun_hint_given=1
  note "           (to rerun a failed step with cuDNN's API log and each op checked: STEPS=\"<step>\" CUDNN_LOGLEVEL_DBG=2 CUDNN_LOGDEST_DBG=stderr CONVLAB_SYNC_EACH_OP=1 tools/gpu-check.sh)"
}

# --- preflight ---
if want preflight; then
  step "nvidia-smi" 20 nvidia-smi
  quote "H100|H200|NVIDIA|Driver Version"
  libraries="$work/libraries.out"
  if convlab_cuda_libraries "$bin"/convlab_tests "$bin"/convlab-bench "$bin"/convlab-train "$bin"/convlab-analyze >"$libraries"; then
    note "PASS     ldd: every library of every binary found; the CUDA libraries:"
    lib_failed=0
  else
    note "FAIL     ldd: a library is not found, or a binary cannot be read (nothing else can run):"
    lib_failed=1
  fi
  cat "$libraries" >>"$log"
  while IFS= read -r line; do note "           $line"; done <"$libraries"
  if ((lib_failed)); then
    note "           (the folders searched: $(convlab_cuda_library_dirs | tr '\n' ' ')and $bin)"
    exit 3
  fi
  step "versions" 40 "$bin/convlab-bench" --versions
  quote "driver"
  if ! grep -q "GPU 0:" "$work/last-step.out"; then  # every GPU test would skip: stop here
    note "FAIL     no GPU answers convlab (see the versions line): nothing else can run"
    exit 4
  fi
  if command -v compute-sanitizer >/dev/null; then
    log "compute-sanitizer: $(compute-sanitizer --version 2>&1 | tail -n 1)"
  fi
fi

# --- the GPU tests ---
gpu_tests='Cuda*:*Cuda*:DeviceChoice.*'
if want tests; then
  step "GPU tests" 180 "$bin/convlab_tests" --gtest_filter="$gpu_tests" --gtest_color=no
  quote "^\[  (PASSED|FAILED|SKIPPED) |tests? ran"
  cp "$work/last-step.out" "$work/tests.out"
  rerun_hint
fi

# --- compute-sanitizer ---
# memory errors are what memcheck is for: API errors are left out (--report-api-errors no)
# because convlab checks every API call itself (CUDA_CHECK fails the test), while cuDNN and
# cuBLAS may meet and handle API errors of their own inside. The test that asks for 16 TiB
# on purpose is left out as well.
sanitizer_options=(--error-exitcode 1 --print-limit 30)
if command -v compute-sanitizer >/dev/null && compute-sanitizer --help 2>/dev/null | grep -q -- --report-api-errors; then
  sanitizer_options+=(--report-api-errors no)
fi
sanitize() {  # sanitize NAME ESTIMATE TOOL FILTER
  local name=$1 estimate=$2 tool=$3 filter=$4
  if ! command -v compute-sanitizer >/dev/null; then
    note "SKIPPED  $name: no compute-sanitizer on PATH"
    return 0
  fi
  step "$name" "$estimate" compute-sanitizer --tool "$tool" "${sanitizer_options[@]}" "$bin/convlab_tests" \
    --gtest_filter="$filter" --gtest_color=no
  quote "ERROR SUMMARY|RACECHECK SUMMARY|Device not supported|^\[  (PASSED|FAILED) "
}
if want memcheck-graph; then
  # First and alone: in one call with the wide CKA tests, the limit came before them.
  sanitize "memcheck: CUDA graph lifetime" 90 memcheck 'CudaGraph.*:-CudaGraph.OutOfMemoryWhileRecordingIsAClearError'
fi

# convlab-bench's fastest "training step: X ms" in the last step's output (it prints one per
# algorithm mode); the peers' ratios use the fastest of all convlab's settings in this call.
last_step_ms() { grep -oE '^training step: [0-9.]+ ms' "$work/last-step.out" | awk '{print $3}' | sort -g | head -n1; }
convlab_ms_d1="" convlab_ms_d2=""
bench() {  # bench NAME ARGS...
  local name=$1
  shift
  step "bench $name" 30 "$bin/convlab-bench" --device cuda --steps 50 "$@"
  quote "^(device|step graph|training step|evaluation)"
}
if want bench-d1; then
  # The BatchNorm rows of the fp32 NCHW and bf16 NHWC breakdowns go to the summary: the
  # bf16 NHWC ones must come out at most the fp32 ones (docs/gpu.md).
  bench "depth 1 batch 128" --depth 1 --batch 128 --breakdown --conv-choices
  quote "^  batchnorm"
  convlab_ms_d1+=" $(last_step_ms)"
  bench "depth 1 batch 128, CUDA graph" --depth 1 --batch 128 --cuda-graph
  convlab_ms_d1+=" $(last_step_ms)"
  bench "depth 1 batch 128, bf16 NHWC, CUDA graph" --depth 1 --batch 128 --precision bf16 --cuda-graph --breakdown \
    --conv-choices
  quote "^  batchnorm"
  convlab_ms_d1+=" $(last_step_ms)"
  rerun_hint
fi

# --- one epoch on the real data, and CKA on its checkpoint ---
checkpoint="$work/one-epoch/checkpoints/epoch_0001.safetensors"
if [[ -z $data ]]; then
  for s in train cka analysis; do want $s && note "SKIPPED  $s: no DATA=<CIFAR-10 archive> given"; done
fi
if [[ -n $data ]] && want train; then
  rm -rf "$work/one-epoch"
  step "train 1 epoch, depth 1 v2, --cuda-graph (data decode included)" 150 "$bin/convlab-train" \
    configs/all_cnn_depth_1_v2_seed_0.yaml --device cuda --cuda-graph --data "$data" --epochs 1 \
    --output "$work/one-epoch" --quiet
  quote "finished|test accuracy|img/s"
  [[ -f $work/one-epoch/metrics.csv ]] && cp "$work/one-epoch/metrics.csv" "$out/one-epoch-metrics.csv"
  rerun_hint
fi
if [[ -n $data ]] && want cka; then
  if [[ ! -f $checkpoint ]]; then
    note "SKIPPED  cka: no $checkpoint (the train step did not finish)"
  else
    start_ns=$(date +%s%N)
    step "CKA self, 10000 test images (target <= 1 s on an H200)" 60 "$bin/convlab-analyze" self "$checkpoint" \
      --device cuda --data "$data" --examples 10000 --output "$work/cka-self"
    note "           wall time of the whole command: $(( ($(date +%s%N) - start_ns) / 1000000 )) ms"
    quote "seconds|took|CKA"
    [[ -f $work/cka-self/summary.json ]] && cp "$work/cka-self/summary.json" "$out/cka-self-summary.json"
    rerun_hint
  fi
fi

# --- the analysis benchmark: the measures alone on features already on the GPU, then with the
# train step's network extracting them (the targets count extraction) ---
if want analysis-bench; then
  rm -f "$work"/analysis-bench-*.json
  # Each run starts no case after its --budget (the step's limit less a margin for the last
  # case); the cases left are listed as skipped in its JSON.
  analysis_budget() { local limit; limit=$(limit_for "$1"); echo $((limit > 35 ? limit - 20 : 15)); }
  step "analysis bench: CKA, RSA, CKA + RSA on synthetic depth-1 widths, 10000 examples, batches of 1000" 60 \
    "$bin/convlab-bench" --analysis --device cuda --measure cka,rsa,cka+rsa --kernel linear \
    --budget "$(analysis_budget 60)" --json "$work/analysis-bench-synthetic.json"
  quote "^(features|case |cka-|rsa)"
  if [[ -z $data ]]; then
    note "SKIPPED  analysis bench on the checkpoint: no DATA=<CIFAR-10 archive> given"
  elif [[ ! -f $checkpoint ]]; then
    note "SKIPPED  analysis bench on the checkpoint: no $checkpoint (the train step did not finish)"
  else
    step "analysis bench: the checkpoint, 10000 test images, extraction included (target on an H200: linear CKA <= 1 s, CKA + RSA <= 2 s)" 60 \
      "$bin/convlab-bench" --analysis --device cuda --checkpoint "$checkpoint" --data "$data" --measure cka,cka+rsa \
      --kernel linear --compare self --bootstrap 0 --budget "$(analysis_budget 60)" \
      --json "$work/analysis-bench-checkpoint.json"
    quote "^(case |cka-)"
  fi
  # Both runs' JSON in one returned file (null for a run that wrote none).
  {
    echo '{"synthetic":'
    cat "$work/analysis-bench-synthetic.json" 2>/dev/null || echo null
    echo ', "checkpoint":'
    cat "$work/analysis-bench-checkpoint.json" 2>/dev/null || echo null
    echo '}'
  } >"$out/analysis-bench.json"
  rerun_hint
fi

# --- the failed tests again, with cuDNN's log and every op checked ---
if want diagnose; then
  failed_tests=""
  if [[ -f $work/tests.out ]]; then
    # Each test that failed, and the one that was running when the step ended (a timeout or
    # a crash), if any.
    failed_tests=$(grep -oE '^\[  FAILED  \] [A-Za-z0-9_/.]+' "$work/tests.out" | awk '{print $4}' | grep -F . | sort -u)
    cut_short=$(awk '/^\[ RUN      \]/ {t=$4} /^\[       OK \]|^\[  FAILED  \]|^\[  SKIPPED \]/ {t=""} END {print t}' "$work/tests.out")
    failed_tests=$(printf '%s\n%s\n' "$failed_tests" "$cut_short" | grep -v '^$' | sort -u | head -n 8 | paste -sd: -)
  fi
  if [[ -z $failed_tests ]]; then
    note "SKIPPED  diagnose: no GPU test failed (or the tests step did not run)"
  else
    step "diagnose: $failed_tests with CUDNN_LOGLEVEL_DBG=2 and CONVLAB_SYNC_EACH_OP=1" 60 \
      env CUDNN_LOGLEVEL_DBG=2 CUDNN_LOGDEST_DBG=stderr CONVLAB_SYNC_EACH_OP=1 \
      "$bin/convlab_tests" --gtest_filter="$failed_tests" --gtest_color=no
    quote "^\[  (PASSED|FAILED) |CUDNN_STATUS|cuDNN error|CUDA error"
  fi
fi

if want memcheck; then
  # bf16 and NHWC storage, the elementwise ops, BatchNorm, pooling, the loss, the optimiser
  # and batch assembly, and the convolutions at small shapes (the real-shape ones take
  # minutes under the sanitizer).
  sanitize "memcheck: bf16/NHWC kernels and the small fp32 parity tests" 120 memcheck \
    'CudaStorageParity.ConvertBetweenDtypesAndFormatsIsExact:CudaStorageParity.ElementwiseBf16IsExact:CudaStorageParity.BatchNormAndPoolingInBf16ChannelsLast:CudaStorageParity.BatchAssemblyInBf16ChannelsLastIsExact:CudaParity.*:CudaConvParity.Tf32:CudaConvParity.StrictFp32:CudaConvParity.Asymmetric*:CudaLinearParity.*:CudaBatchNormLayouts.SmallAwkwardShapes:CudaBatchNormLayouts.AddChannelBiasInto*:-CudaParity.AllCnnCTrainingStepsMatchTheCpu'
fi
reductions='CudaParity.SumAndSumSquares:CudaParity.SgdSumsOverManyTensors:CudaParity.BatchNormTrainEvalBackward:CudaParity.GlobalAvgPool:CudaParity.SoftmaxCrossEntropyAndAccuracy:CudaStorageParity.BatchNormAndPoolingInBf16ChannelsLast:CudaBatchNormLayouts.SmallAwkwardShapes:CudaBatchNormLayouts.ConvBiasGradient:CudaBatchNormLayouts.AddChannelBiasIntoIsTheCpuBiasAdd'
want racecheck && sanitize "racecheck: the BatchNorm, pooling, sum and loss reductions" 90 racecheck "$reductions"
want initcheck && sanitize "initcheck: the reductions' partial buffers" 90 initcheck "$reductions"

if want bench; then
  bench "depth 1 batch 128, bf16 NHWC" --depth 1 --batch 128 --precision bf16 --breakdown
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
  peers() {  # peers DEPTH BATCH ESTIMATE [ARGS...] -- [CONVLAB_MS...]: without a convlab time, no ratio
    local depth=$1 batch=$2 limit ms args=() ratio=()
    limit=$(limit_for "$3")
    shift 3
    while (($#)) && [[ $1 != -- ]]; do args+=("$1"); shift; done
    (($#)) && shift
    ms=$(printf '%s\n' "$@" | grep -E '^[0-9]+(\.[0-9]+)?$' | sort -g | head -n1)
    [[ -n $ms ]] && ratio=(--convlab-ms "$ms")
    # Every variant's limit comes out of one budget that ends before the step's own limit.
    step "peers depth $depth batch $batch (convlab's fastest: ${ms:-not measured in this call} ms)" "$limit" \
      "${CONVLAB_BEFORE_BUNDLE[@]}" "$peer_python" tools/bench-peers.py --device cuda --depth "$depth" \
      --batch "$batch" --steps 50 --budget $((limit > 20 ? limit - 10 : limit)) \
      --json "$out/peers-depth$depth.json" "${args[@]}" "${ratio[@]}"
    quote "^PEER "
  }
  peers 1 128 150 -- $convlab_ms_d1
  # Depth 2 without torch.compile (the reference measured none there; it costs minutes cold).
  peers 2 256 100 --variants torch-eager-tf32,torch-eager-bf16-cl,flax-jit-tf32 -- $convlab_ms_d2
fi

if want memcheck-cka; then
  sanitize "memcheck: the small CKA, RSA, Procrustes and float64-measure tests" 90 memcheck \
    'CkaCuda.SelfSimilarityIsOneOnTheDiagonal:CkaCuda.ConstantLayerGivesNanAsOnTheCpu:CkaCuda.NonFiniteFeaturesThrowAndLeaveTheSumAlone:CkaCuda.RejectsMismatchedBatches:CkaCuda.SeveralKernelsShareEachLayersLinearGram:SimilarityCuda.*:CudaDeviceGrams.FeaturesOfAnyScale:CudaDeviceGrams.NonFiniteFeaturesAreNamedAsOnTheCpu:CudaDeviceGrams.FirstCopiesMatchTheCpu:CudaDeviceGrams.PairProductsMatchTheCpu:MeasuresCuda.NanFeaturesAreNamed'
fi

if [[ -n $data ]] && want analysis; then
  # Representation analysis on the GPU: CKA + RSA (target <= 2 s on an H200), Procrustes at two
  # batch sizes, and all three measures with a bootstrap. Each analysis writes its own time,
  # feature extraction included, into its summary.json.
  if [[ ! -f $checkpoint ]]; then
    note "SKIPPED  analysis: no $checkpoint (the train step did not finish)"
  else
    step "CKA + RSA self, 10000 test images (target <= 2 s on an H200)" 60 "$bin/convlab-analyze" self "$checkpoint" \
      --kernel linear --measure cka,rsa --device cuda --data "$data" --output "$work/cka-rsa-self"
    for k in 1000 500; do
      step "Procrustes self, 10000 test images, batches of $k" 60 "$bin/convlab-analyze" self "$checkpoint" \
        --measure procrustes --batch-size "$k" --device cuda --data "$data" --output "$work/procrustes-self-$k"
    done
    step "CKA + RSA + Procrustes self, 200 bootstrap replicates" 90 "$bin/convlab-analyze" self "$checkpoint" \
      --kernel both --measure cka,rsa,procrustes --bootstrap 200 --device cuda --data "$data" --output "$work/all-self"
    step "the five float64 measures self, 100 permutations" 90 "$bin/convlab-analyze" self "$checkpoint" \
      --measure mutual_knn,cknna,svcca,pwcca,ridge --permutations 100 --device cuda --data "$data" \
      --output "$work/float64-self"
    while IFS= read -r line; do note "           $line"; done < <(grep -h '"seconds"' "$work"/cka-rsa-self/summary.json \
      "$work"/procrustes-self-*/summary.json "$work"/float64-self/summary.json 2>/dev/null | head -n 7)
  fi
fi
if want unit; then
  step "unit tests, all but the GPU ones" 240 env CONVLAB_SOURCE_DIR="$PWD" CONVLAB_TRAIN_EXE="$bin_dir/convlab-train" \
    "$bin/convlab_tests" --gtest_filter="-$gpu_tests" --gtest_color=no
  quote "^\[  (PASSED|FAILED|SKIPPED) |tests? ran"
fi
note "done after ${SECONDS} s$( ((failed)) && echo ': a step did not pass, see above and gpu-check.log')"
cat "$summary_file"
exit $failed
