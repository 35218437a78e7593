#!/usr/bin/env bash
# A long training run on a lent GPU machine, over as many calls as it needs: each call
# restores the run from $STATE (what the previous call returned, carried back; empty or
# absent for the first call), trains until the run ends, EPOCHS_PER_CALL more epochs are done
# or the call's time nears its end, and returns in $OUT what the next call needs. When the run
# has finished its epochs, and time is left, it analyses the run on the GPU as well:
# `convlab-analyze self` on the final checkpoint and `evolution` over every checkpoint.
#
#   DATA=build-gpu/cifar10-jpg.tar.gz STATE=gpu-run CALL_LIMIT=560 \
#     tools/gpu-full-run.sh configs/all_cnn_depth_1_v2_seed_0.yaml
#
# CALL_LIMIT is the call's own limit in seconds (the device tool's timeout_s; default 560):
# training stops MARGIN (30) seconds before it, so the last copies and the summary fit.
# Nothing waits for the end to return: after every finished epoch, resume.safetensors,
# metrics.csv and metrics.jsonl are copied into $OUT (each through a temporary name, so a
# file there is always whole), and training's output streams into $OUT/gpu-full-run.log. A
# kill from outside at any moment loses at most the epoch in flight.
#
# $OUT receives at most 8 files (7, and a temporary one for an instant): resume.safetensors
# (weights and momentum: 11 MB for depth 1; 24 MB for depth 2, over the 16 MiB a returned file
# may have, so depth-2 runs must finish within one call), metrics.csv, metrics.jsonl,
# gpu-full-run.log; at the end of the call the learning curve and the newest checkpoint; and,
# once the run is finished, analysis.tar.gz (the self and evolution results).
#
# Exit status: 0 when the call trained (or had nothing left to train) and everything it ran
# passed, 1 when training or an analysis failed, 2 for a missing bundle or argument.
set -uo pipefail
cd "$(dirname "$0")/.."
source tools/gpu-env.sh
config=${1:?usage: tools/gpu-full-run.sh CONFIG.yaml (with DATA=<CIFAR-10 archive>)}
bundle=${BUNDLE:-build-gpu/bundle}
out=${OUT:-gpu-run-out}
work=${WORK:-/tmp/convlab-gpu-run}
state=${STATE:-}
epochs_per_call=${EPOCHS_PER_CALL:-}  # empty: until the run's end
call_limit=${CALL_LIMIT:-560}
margin=${MARGIN:-30}
poll=${POLL:-1}            # seconds between looks at the run folder
analyze=${ANALYZE:-1}      # 0: no analysis after the last epoch
data=${DATA:?DATA=<CIFAR-10 archive> is required}
for number in "${epochs_per_call:-0}" "$call_limit" "$margin"; do
  [[ $number =~ ^[0-9]+$ ]] || { echo "gpu-full-run: EPOCHS_PER_CALL, CALL_LIMIT and MARGIN are whole numbers, not '$number'" >&2; exit 2; }
done
[[ -f $config ]] || { echo "gpu-full-run: no config $config" >&2; exit 2; }
mkdir -p "$out" "$work"
log="$out/gpu-full-run.log"
: >"$log"
say() { echo "$*" | tee -a "$log"; }
if ! convlab_find_bundle "$bundle" || [[ ! -x $bundle/convlab-train ]]; then
  say "gpu-full-run: no $bundle: run tools/gpu-bundle.sh on the build machine and carry build-gpu/bundle.tar.xz"
  exit 2
fi
convlab_gpu_env "$bundle" "$work"

# publish FILE: copies FILE into $OUT under its own name, through a temporary name there.
publish() {
  local name
  name=$(basename "$1")
  cp "$1" "$out/.$name.partial" && mv -f "$out/.$name.partial" "$out/$name"
}
# What the next call resumes from: the metrics first, the resume state last (as training
# writes them), each that exists.
publish_state() {
  local f
  for f in metrics.csv metrics.jsonl resume.safetensors; do [[ -f $run/$f ]] && publish "$run/$f"; done
  return 0
}
last_epoch() { tail -n 1 "$1" 2>/dev/null | cut -d, -f1; }

run="$work/run"
rm -rf "$run" && mkdir -p "$run/checkpoints"
resume=()
last=0
if [[ -n $state && -f $state/resume.safetensors ]]; then
  for f in resume.safetensors metrics.csv metrics.jsonl config.yaml; do
    [[ -f $state/$f ]] && cp "$state/$f" "$run/"
  done
  last=$(last_epoch "$run/metrics.csv")
  [[ $last =~ ^[0-9]+$ ]] || last=0
  resume=(--resume)
  say "resuming from $state (metrics.csv ends at epoch $last; resume.safetensors says where training goes on)"
  publish_state  # what this call returns too, until a newer epoch replaces it
fi
stop_after=()
if [[ -n $epochs_per_call ]]; then
  stop_after=(--stop-after-epoch $((last + epochs_per_call)))
fi

# After every finished epoch (resume.safetensors is rewritten last, atomically), the metrics
# and then the resume state go to $OUT. A resume state with metrics one epoch ahead or behind
# is still whole: resuming truncates or completes metrics.csv from the state's own row.
watch_epochs() {
  local seen="" now
  while :; do
    now=$(stat -c '%i %Y %s' "$run/resume.safetensors" 2>/dev/null)  # a new inode with each atomic write
    if [[ -n $now && $now != "$seen" ]]; then
      seen=$now
      publish_state
      echo "[gpu-full-run] epoch $(last_epoch "$run/metrics.csv") saved to $out at ${SECONDS} s" >>"$log"
    fi
    sleep "$poll"
  done
}
watch_epochs &
watcher=$!

train_limit=$((call_limit - margin - SECONDS))
say "training for at most ${train_limit} s (CALL_LIMIT $call_limit s less a margin of $margin s), until ${stop_after[1]:+epoch ${stop_after[1]} or }the run's end"
start=$SECONDS
if ((train_limit < 5)); then
  say "gpu-full-run: no time left to train"
  rc=1
else
  # The epoch is the unit that survives: a kill at the limit loses at most the epoch in flight.
  timeout --signal=KILL "$train_limit" "${CONVLAB_UNBUFFERED[@]}" "$bundle/convlab-train" "$config" --device cuda --cuda-graph \
    --data "$data" --output "$run" "${stop_after[@]}" "${resume[@]}" >>"$log" 2>&1
  rc=$?
fi
kill "$watcher" 2>/dev/null
wait "$watcher" 2>/dev/null
[[ -f $run/resume.safetensors ]] && publish_state
case $rc in
  0) say "convlab-train ended after $((SECONDS - start)) s" ;;
  137) say "convlab-train stopped at the call's time limit after $((SECONDS - start)) s (the epoch in flight is lost)" ;;
  *) say "convlab-train FAILED (exit $rc) after $((SECONDS - start)) s: $(grep -m1 -iE 'error|fail' "$log" | cut -c1-200)" ;;
esac
done_epochs=$(last_epoch "$run/metrics.csv")
total_epochs=$(grep -m1 -E '^[[:space:]]*num_epochs:' "$run/config.yaml" 2>/dev/null | awk '{print $2}')
say "epochs done: ${done_epochs:-none} of ${total_epochs:-?}"
[[ -f $run/learning_curve.png ]] && publish "$run/learning_curve.png"
latest=$(ls "$run"/checkpoints/epoch_*.safetensors 2>/dev/null | sort | tail -n 1)
[[ -n $latest ]] && publish "$latest"

status=$((rc == 0 || rc == 137 ? 0 : 1))
if ((rc == 0)) && [[ $analyze == 1 && -n $total_epochs && $done_epochs == "$total_epochs" ]]; then
  final="$run/checkpoints/epoch_$(printf '%04d' "$total_epochs").safetensors"
  analysis="$work/analysis"
  rm -rf "$analysis" && mkdir -p "$analysis"
  for what in self evolution; do
    left=$((call_limit - margin / 2 - SECONDS))
    if ((left < 20)); then
      say "analysis $what: SKIPPED (${left} s left)"
      continue
    fi
    input=$final
    [[ $what == evolution ]] && input=$run
    say "analysis $what (limit $left s):"
    astart=$SECONDS
    timeout --kill-after=5 "$left" "${CONVLAB_UNBUFFERED[@]}" "$bundle/convlab-analyze" "$what" "$input" --device cuda \
      --data "$data" --output "$analysis/$what" >>"$log" 2>&1
    arc=$?
    if ((arc == 0)); then say "analysis $what: PASS ($((SECONDS - astart)) s)"; else say "analysis $what: FAIL (exit $arc)"; status=1; fi
  done
  # One file for all of it; the matrices (.npy) stay behind when it would be too large.
  tar -C "$work" -czf "$work/analysis.tar.gz" analysis
  if (($(stat -c %s "$work/analysis.tar.gz") > 15 * 1024 * 1024)); then
    tar -C "$work" --exclude='*.npy' -czf "$work/analysis.tar.gz" analysis
  fi
  publish "$work/analysis.tar.gz"
fi
say "returned in $out:"
ls -la "$out" | tee -a "$log"
exit $status
