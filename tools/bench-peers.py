#!/usr/bin/env python3
"""Times the peers of convlab's training step: our own straightforward PyTorch and JAX/flax
implementations of the same All-CNN-C step (BatchNorm, no dropout, XLA-style SAME padding,
mean cross-entropy + L2 penalty 1e-4 sum(p^2), gradient clipped to global norm 2, SGD with
Nesterov momentum 0.9, lr 0.1), each with the batch gathered from synthetic uint8 images
resident on the device and augmented there (normalise, crop from the zero-padded image,
flip, cutout) inside the timed step, as convlab-bench does.

  tools/bench-peers.py [--depth 1] [--batch 128] [--steps 50] [--warmup 10]
                       [--variants torch-eager-tf32,...] [--device cuda|cpu]
                       [--json FILE] [--convlab-ms MS] [--check]
                       [--timeout S] [--budget S]

Variants: torch-eager-tf32, torch-eager-bf16-cl (bf16 autocast, channels_last),
torch-compile-tf32 (mode default; compile time excluded), flax-jit-tf32 (jax.jit of the
whole step). Each runs in its own process under a time limit, so a framework that is missing,
fails or hangs is reported as skipped and the others still run: --timeout seconds, or with
--budget (the seconds all variants together may take) at most an equal share of what is
left of the budget for each variant still to run, so the whole ends within the budget.
Each variant's PEER line is printed, and the JSON file rewritten, as soon as it finishes:
a run killed from outside keeps the variants that finished. Per variant: the median of
--steps synchronised steps after --warmup steps (the first step, which compiles, is timed
apart), and the mean of --steps steps back to back (pipelined). One line per variant:

  PEER depth=1 batch=128 variant=torch-eager-tf32 status=ok ms=5.640 images_per_s=22695 ...
  PEER depth=1 batch=128 variant=flax-jit-tf32 status=skipped reason="..."

With --convlab-ms (convlab-bench's step time from the same call) each line also has
convlab_ms=, convlab_speedup= (the peer's median over convlab's time) and
convlab_speedup_pipelined= (the peer's pipelined mean over it; convlab-bench times blocks
of steps with one synchronisation each, so this is the like-for-like ratio).

--check times nothing: it runs three steps of every variant from the same weights on the
same batch (no augmentation, TF32 off), in float32 and (but for bf16) in float64, compares
the losses and, in float64, the weights with those of the first variant, and checks each
variant's augmentation image by image on coded images. Exit status: 0 when some variant
ran (and, with --check, all agreed), 1 when none ran, 2 for a bad option, 3 when the check
found a mismatch.
"""
import argparse
import importlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import traceback

sys.dont_write_bytecode = True  # nothing written into the checkout
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

try:
    from peers import common
    CANNOT_RUN = None
except ImportError as e:  # numpy missing: every variant is skipped
    common, CANNOT_RUN = None, f"the peers need numpy ({e})"

VARIANTS = {  # name: (module, runner class, framework)
    "torch-eager-tf32": ("peers.torch_peer", "TorchRunner", "PyTorch"),
    "torch-eager-bf16-cl": ("peers.torch_peer", "TorchRunner", "PyTorch"),
    "torch-compile-tf32": ("peers.torch_peer", "TorchRunner", "PyTorch"),
    "flax-jit-tf32": ("peers.flax_peer", "FlaxRunner", "JAX/flax"),
}
CHECK_STEPS = 3        # losses before the first update, after one, after two (momentum)
# Largest |loss difference| and relative weight difference (None: not compared) from the reference.
CHECK_TOLERANCE = {"float32": (1e-4, None), "bf16": (1e-2, None), "float64": (1e-6, 1e-5)}


MIN_VARIANT_SECONDS = 5  # a variant needs a few seconds to import its framework at all


def variant_timeout(timeout, ends, variants_left):
    """A variant's time limit: --timeout, or with a budget ending at `ends` (time.monotonic())
    an equal share of what is left of it among the variants still to run (at least
    MIN_VARIANT_SECONDS while that much is left), never past the budget's end."""
    if ends is None:
        return timeout
    left = max(0.0, ends - time.monotonic())
    return min(timeout, max(left / variants_left, MIN_VARIANT_SECONDS), left)


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--depth", type=int, default=1, choices=range(1, 9), metavar="N", help="All-CNN-C depth (1)")
    p.add_argument("--batch", type=int, help="batch size (128 at depth 1, 256 deeper, as the reference)")
    p.add_argument("--steps", type=int, default=50, help="timed steps (50)")
    p.add_argument("--warmup", type=int, default=10,
                   help="untimed steps first, at least 3: torch.compile compiles in the first two (10)")
    p.add_argument("--variants", default=",".join(VARIANTS), help="comma-separated subset of: " + ", ".join(VARIANTS))
    p.add_argument("--device", default="cuda", choices=("cuda", "cpu"), help="cuda (default) or cpu (smoke test)")
    p.add_argument("--seed", type=int, default=0, help="weights, data and random streams (0)")
    p.add_argument("--json", metavar="FILE", help="write the results as JSON to FILE")
    p.add_argument("--convlab-ms", type=float, metavar="MS", help="convlab's step time, for the ratio")
    p.add_argument("--check", action="store_true", help="compare the variants' losses instead of timing them")
    p.add_argument("--timeout", type=float, default=600, help="seconds per variant before it is killed (600)")
    p.add_argument("--budget", type=float, metavar="S",
                   help="seconds for all variants together: each gets at most an equal share of what is left")
    p.add_argument("--worker", help=argparse.SUPPRESS)  # internal: run one variant in this process
    p.add_argument("--result", help=argparse.SUPPRESS)  # internal: where the worker writes its result
    p.add_argument("--check-dtype", default="float32", help=argparse.SUPPRESS)  # internal: the check's precision
    args = p.parse_args(argv)
    if args.batch is None:
        args.batch = 128 if args.depth == 1 else 256
    args.variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    unknown = [v for v in args.variants if v not in VARIANTS]
    if unknown or not args.variants:
        p.error(f"unknown variant(s) {', '.join(unknown) or '(none given)'}; known: {', '.join(VARIANTS)}")
    for name, value, low in (("--batch", args.batch, 1), ("--steps", args.steps, 1), ("--warmup", args.warmup, 3),
                             ("--timeout", args.timeout, 1), ("--budget", args.budget or 1, 1)):
        if value < low:
            p.error(f"{name} must be at least {low}, not {value}")
    if args.convlab_ms is not None and not args.convlab_ms > 0:
        p.error(f"--convlab-ms must be a positive time in ms, not {args.convlab_ms}")
    if args.json and not os.path.isdir(os.path.dirname(os.path.abspath(args.json))):
        p.error(f"--json {args.json}: its folder does not exist")
    return args


def write_json(path, data):
    """Atomically: a reader never sees half a file."""
    folder = os.path.dirname(os.path.abspath(path))
    with tempfile.NamedTemporaryFile("w", dir=folder, suffix=".tmp", delete=False) as f:
        json.dump(data, f, indent=2)
        f.write("\n")
    os.replace(f.name, path)


# ---- worker: one variant in this process ----

def save_weights(path, layers):
    import numpy as np
    np.savez(path, **{f"{i}.{name}": a for i, layer in enumerate(layers) for name, a in layer.items()})


def load_weights(path):
    import numpy as np
    with np.load(path) as f:
        return {key: f[key] for key in f.files}


def run_worker(args):
    variant = args.worker
    module_name, class_name, framework = VARIANTS[variant]
    result = {"variant": variant, "framework": framework, "dtype": args.check_dtype if args.check else None}
    try:
        cfg = common.RunConfig(depth=args.depth, batch=args.batch, device=args.device, seed=args.seed,
                               augment=not args.check, strict_fp32=args.check, dtype=args.check_dtype,
                               params=common.init_params(args.depth, args.seed))
        cfg.images, cfg.labels = common.synthetic_data(args.batch, args.seed)
        try:
            runner_class = getattr(importlib.import_module(module_name), class_name)
        except ImportError as e:
            raise common.Skip(f"{framework} is not installed ({e})") from e
        runner = runner_class(variant, cfg)
        if args.check:
            result["losses"] = [runner.value(runner.step()) for _ in range(CHECK_STEPS)]
            save_weights(args.result + ".npz", runner.weights())
            if args.check_dtype == "float32":
                try:
                    result["augmentation"] = common.check_augmentation(*runner.augmented_sample(*common.coded_images()))
                except RuntimeError as e:
                    result["augmentation"] = {"error": str(e)}
        else:
            result.update(common.time_steps(runner, args.warmup, args.steps))
            result["images_per_s"] = args.batch / (result["ms"] / 1e3)
        result.update(status="ok", description=runner.description, versions=runner.versions())
    except common.Skip as e:
        result.update(status="skipped", reason=str(e))
    except Exception as e:  # any failure of one peer is its own; the others still run
        traceback.print_exc()
        first_line = (str(e).strip().splitlines() or [""])[0][:300]
        result.update(status="skipped", reason=f"error: {type(e).__name__}: {first_line}")
    write_json(args.result, result)


# ---- parent: every variant in its own process ----

def run_variant(variant, args, timeout, check_dtype=None):
    forwarded = ["--depth", str(args.depth), "--batch", str(args.batch), "--steps", str(args.steps),
                 "--warmup", str(args.warmup), "--device", args.device, "--seed", str(args.seed)]
    forwarded += ["--check", "--check-dtype", check_dtype] if check_dtype else []
    skipped = {"variant": variant, "dtype": check_dtype, "status": "skipped"}
    with tempfile.TemporaryDirectory(prefix="bench-peers-") as tmp:
        result_path = os.path.join(tmp, "result.json")
        command = [sys.executable, os.path.abspath(__file__), "--worker", variant, "--result", result_path] + forwarded
        env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
        # Its own process group, so a timeout also ends the compiler processes it started.
        proc = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, env=env, start_new_session=True)
        try:
            _, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            _, err = proc.communicate()
            sys.stderr.write(err)
            return dict(skipped, reason=f"timed out after {timeout:.0f} s")
        sys.stderr.write(err)
        if os.path.exists(result_path):
            with open(result_path) as f:
                result = json.load(f)
            if os.path.exists(result_path + ".npz"):  # --check: the weights after the steps
                result["weights"] = load_weights(result_path + ".npz")
            return result
        last = (err.strip().splitlines() or ["no message"])[-1][:300]
        how = f"killed by signal {-proc.returncode}" if proc.returncode < 0 else f"exit {proc.returncode}"
        return dict(skipped, reason=f"the worker died ({how}): {last}")


def peer_line(args, r):
    head = f"PEER depth={args.depth} batch={args.batch} variant={r['variant']} status={r['status']}"
    if r["status"] != "ok":
        return head + ' reason="' + r["reason"].replace('"', "'") + '"'
    line = f"{head} ms={r['ms']:.3f} images_per_s={r['images_per_s']:.0f} pipelined_ms={r['pipelined_ms']:.3f}"
    if args.convlab_ms:
        line += (f" convlab_ms={args.convlab_ms:.3f} convlab_speedup={r['ms'] / args.convlab_ms:.2f}"
                 f" convlab_speedup_pipelined={r['pipelined_ms'] / args.convlab_ms:.2f}")
    return line


def report_timing(args, results):
    """The table of every variant (their PEER lines were printed as each finished)."""
    print()
    for r in results:
        if r["status"] != "ok":
            print(f"{r['variant']:<20} skipped: {r['reason']}")
            continue
        print(f"{r['variant']:<20} {r['ms']:8.3f} ms/step (median of {args.steps})  {r['images_per_s']:7.0f} images/s"
              f"  pipelined {r['pipelined_ms']:.3f} ms  first step {r['first_step_s']:.2f} s"
              f"  warm-up {r['warmup_s']:.2f} s   {r['description']}")
    if any(r["variant"] == "torch-compile-tf32" and r["status"] == "ok" for r in results):
        print(f"torch-compile-tf32: compile time excluded (the first step compiles, the second recompiles the "
              f"optimiser step once it has state; both are in the {args.warmup} warm-up steps)")


def norm_of_difference(a, b):
    """The L2 norm of a - b over every weight (float64)."""
    return sum(float(((a[key].astype("float64") - b[key]) ** 2).sum()) for key in a) ** 0.5


def report_check(args, results):
    """Compares every variant's losses (and, in float64, its final weights: the norm of the
    difference over the norm of the reference's change) with those of the first non-bf16
    variant that ran in the same precision. fp32 results can only agree to rounding: a ReLU
    input within rounding of zero in one framework and not the other changes a gradient
    element, and at lr 0.1 such differences grow over the steps; float64 shows whether the
    arithmetic is the same (a missing penalty gradient gives ~2e-3 there). Returns whether
    all agree."""
    initial = {f"{i}.{name}": a for i, layer in enumerate(common.init_params(args.depth, args.seed))
               for name, a in layer.items()}
    print(f"\ncheck: {CHECK_STEPS} steps of each variant from the same weights on the same batch (no augmentation, "
          f"TF32 off): the loss before the first update, then after each; in float64 also the weights after them")
    agree, compared = True, 0
    for dtype in ("float32", "float64"):
        rows = [r for r in results if r["dtype"] == dtype]
        reference = next((r for r in rows if r["status"] == "ok" and "bf16" not in r["variant"]), None)
        for r in rows:
            head = f"CHECK dtype={dtype} variant={r['variant']}"
            if r["status"] != "ok":
                print(f"{head} status=skipped reason=\"{r['reason']}\"")
                continue
            losses = " ".join(f"{x:.9f}" for x in r["losses"])
            if r is reference:
                print(f"{head} losses={losses} (the reference)")
                continue
            if reference is None:
                print(f"{head} losses={losses} (no fp32 variant ran to compare with)")
                continue
            loss_diff = max(abs(a - b) for a, b in zip(r["losses"], reference["losses"]))
            loss_tol, weight_tol = CHECK_TOLERANCE["bf16" if "bf16" in r["variant"] else dtype]
            ok = loss_diff <= loss_tol
            line = f"{head} losses={losses} loss_diff={loss_diff:.2e} (<= {loss_tol:g})"
            if weight_tol is not None:
                weight_diff = (norm_of_difference(r["weights"], reference["weights"])
                               / norm_of_difference(reference["weights"], initial))
                ok &= weight_diff <= weight_tol
                line += f" relative_weight_diff={weight_diff:.2e} (<= {weight_tol:g})"
            print(f"{line} vs={reference['variant']} {'PASS' if ok else 'FAIL'}")
            agree &= ok
            compared += 1
    for r in results:
        if r["status"] == "ok" and "augmentation" in r:
            agree &= report_augmentation(r["variant"], r["augmentation"])
    if compared == 0:
        print("check: fewer than two variants ran: nothing was compared")
    return agree


def report_augmentation(variant, seen):
    """A batch of coded images, augmented by the variant's code, checked image by image
    (common.check_augmentation); over 256 images every crop offset shows and about half flip."""
    head = f"AUGMENT variant={variant}"
    if "error" in seen:
        print(f"{head} FAIL: {seen['error']}")
        return False
    ok = seen["offsets"] == list(range(2 * common.CROP_PAD + 1)) and 0.35 <= seen["flipped"] <= 0.65
    print(f"{head} images={seen['images']} crop_offsets={seen['offsets'][0]}..{seen['offsets'][-1]} "
          f"flipped={seen['flipped']:.2f} {'PASS' if ok else 'FAIL'}")
    return ok


def main(argv):
    args = parse_args(argv)
    if args.worker:
        run_worker(args)
        return 0
    if CANNOT_RUN:
        results = [{"variant": v, "status": "skipped", "reason": CANNOT_RUN} for v in args.variants]
        print("\n".join(peer_line(args, r) for r in results))
        if args.json:
            write_json(args.json, {"depth": args.depth, "batch": args.batch, "device": args.device, "complete": True,
                                   "results": results})
        print("bench-peers: failed: no variant ran (each was skipped, see why above)", file=sys.stderr)
        return 1
    params = common.count_params(common.init_params(args.depth, args.seed))
    expected = common.REFERENCE_PARAMS.get(args.depth)
    note = "" if expected is None else (" (as the reference)" if params == expected else f" (the reference: {expected:,})")
    mode = ("numerical check in float32 and float64" if args.check else
            f"median of {args.steps} steps after {args.warmup} warm-up steps; the batch gathered from synthetic "
            f"uint8 images on the device and augmented there inside each step")
    print(f"bench-peers: All-CNN-C depth {args.depth}, {params:,} trainable parameters{note}, batch {args.batch}, "
          f"device {args.device}; {mode}", flush=True)
    runs = [(v, None) for v in args.variants]
    if args.check:  # bf16 autocast has no float64 form
        runs = [(v, "float32") for v in args.variants] + [(v, "float64") for v in args.variants if "bf16" not in v]
    results = []
    ends = time.monotonic() + args.budget if args.budget else None

    def save(complete):
        if args.json:
            write_json(args.json, {"depth": args.depth, "batch": args.batch, "device": args.device,
                                   "steps": args.steps, "warmup": args.warmup, "check": args.check,
                                   "convlab_ms": args.convlab_ms, "trainable_params": params, "complete": complete,
                                   "results": [{k: v for k, v in r.items() if k != "weights"} for r in results]})

    for i, (variant, dtype) in enumerate(runs):
        timeout = variant_timeout(args.timeout, ends, len(runs) - i)
        print(f"-- {variant}{f' ({dtype})' if dtype else ''} (limit {timeout:.0f} s)", flush=True)
        if timeout < 1:
            result = {"variant": variant, "dtype": dtype, "status": "skipped",
                      "reason": f"the --budget of {args.budget:g} s was spent"}
        else:
            result = run_variant(variant, args, timeout, dtype)
        results.append(result)
        if not args.check:
            print(peer_line(args, result), flush=True)
        save(complete=False)
    if args.check:
        agree = report_check(args, results)
    else:
        report_timing(args, results)
        agree = True
    save(complete=True)
    if not any(r["status"] == "ok" for r in results):
        print("bench-peers: failed: no variant ran (each was skipped, see why above)", file=sys.stderr)
        return 1
    return 0 if agree else 3


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
