#!/usr/bin/env bash
# Runs every libFuzzer harness of tests/fuzz for SECONDS each (default 60), one after the
# other, over a scratch copy of its corpus, and prints executions, time and result per fuzzer.
#
#   tools/fuzz.sh [SECONDS] [BUILD_DIR]
#
# BUILD_DIR (default build-asan) is configured and built first if it has no fuzzers: CPU-only,
# clang, -fsanitize=address,undefined, -DCONVLAB_FUZZ=ON. The seed corpora in
# tests/fuzz/corpus/<parser>/ are only read; what a run learns stays in
# BUILD_DIR/fuzz-work/<parser>/. A crash, leak, sanitizer report, timeout or escaped exception
# is saved as BUILD_DIR/fuzz-artifacts/<parser>-crash-<hash> (or -leak-, -timeout-, -oom-)
# and this script exits non-zero.
#
# To keep a finding as a regression input, once it is fixed:
#   cp BUILD_DIR/fuzz-artifacts/<parser>-crash-<hash> tests/fuzz/corpus/<parser>/<what-it-was>
#   BUILD_DIR/tests/fuzz/fuzz_<parser> tests/fuzz/corpus/<parser>/<what-it-was>   # runs it once
# and add a unit test (tests/test_*.cpp) that reads it from the corpus and expects the error.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-60}
build=${2:-build-asan}
parsers=(safetensors npy config tar cifar_binary image)

export ASAN_OPTIONS=${ASAN_OPTIONS:-halt_on_error=1:abort_on_error=1:detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$PWD/tests/sanitizers/lsan.supp:print_suppressions=0}
export OMP_NUM_THREADS=1  # the parsers are serial; OpenMP threads only cost here

if [[ ! -x "$build/tests/fuzz/fuzz_${parsers[0]}" ]]; then
  echo "== building the fuzzers in $build"
  CC=clang CXX=clang++ cmake -S . -B "$build" -DCONVLAB_CUDA=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    "-DCMAKE_CXX_FLAGS=-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined" \
    -DCONVLAB_FUZZ=ON
  cmake --build "$build" -j2
fi
if [[ ! -x "$build/tests/fuzz/fuzz_${parsers[0]}" ]]; then
  echo "tools/fuzz.sh: no fuzzers in $build (see the 'fuzzers skipped' line of its configure step)" >&2
  exit 1
fi

mkdir -p "$build/fuzz-artifacts" "$build/fuzz-logs"
summary=()
failed=0
for parser in "${parsers[@]}"; do
  work="$build/fuzz-work/$parser"
  log="$build/fuzz-logs/$parser.log"
  mkdir -p "$work"
  echo "== fuzz_$parser: ${seconds} s over tests/fuzz/corpus/$parser"
  start=$SECONDS
  status=0
  "$build/tests/fuzz/fuzz_$parser" -max_total_time="$seconds" -timeout=20 -rss_limit_mb=2048 -max_len=262144 \
    -print_final_stats=1 -artifact_prefix="$build/fuzz-artifacts/$parser-" \
    "$work" "tests/fuzz/corpus/$parser" >"$log" 2>&1 || status=$?
  took=$((SECONDS - start))
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  corpus=$(find "$work" -type f | wc -l)
  if ((status == 0)); then
    result="no finding"
  else
    result="FINDING (exit $status): $(grep -m1 -E 'ERROR|SUMMARY|escaped|violated|deadly|Timeout|out-of-memory' "$log" || echo "see $log")"
    failed=1
    tail -40 "$log"
  fi
  summary+=("$(printf '%-22s %6s s %12s runs %8s/s %6s inputs  %s' "fuzz_$parser" "$took" "${runs:-?}" "${rate:-?}" "$corpus" "$result")")
  echo "${summary[-1]}"
done

echo "== fuzzing summary (${seconds} s per fuzzer; logs in $build/fuzz-logs, findings in $build/fuzz-artifacts)"
printf '%s\n' "${summary[@]}"
if ((failed)); then
  echo "A fuzzer found a problem. Reproduce with: $build/tests/fuzz/fuzz_<parser> $build/fuzz-artifacts/<file>"
  echo "Once fixed, add the input to tests/fuzz/corpus/<parser>/ (see the top of tools/fuzz.sh)."
  exit 1
fi
