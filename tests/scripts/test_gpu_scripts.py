#!/usr/bin/env python3
"""Tests of the GPU scripts without a GPU: tools/gpu-check.sh and tools/gpu-full-run.sh run
against stand-ins (tests/scripts/standins: small scripts named like the bundle's binaries
and the GPU machine's tools, which print canned output, sleep, fail, crash or hang), with a
small deadline, and are killed from outside as the device tool may kill them. What is
checked: the outcome of every step (PASS, FAIL, TIMEOUT, SKIPPED), that the whole run ends
within its deadline, that a kill leaves the summary and the output streamed so far, that
$OUT holds at most 8 files no deeper than one folder, the library search path, and that the
long run returns the last finished epoch whenever it is stopped. Also bench-peers.py's time
budget. Standard library only:

  python3 tests/scripts/test_gpu_scripts.py [-v] [TestClass.test_name ...]
"""
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import tarfile
import tempfile
import time
import unittest

SOURCE = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
STANDINS = os.path.join(SOURCE, "tests", "scripts", "standins")
BUNDLE_PROGRAMS = ["convlab_tests", "convlab-bench", "convlab-train", "convlab-analyze"]
MACHINE_PROGRAMS = ["nvidia-smi", "ldd", "compute-sanitizer", "peer-python"]
MAX_OUT_FILES = 8  # what the device tool returns from $OUT at most


def kill_session(session):
    """Kills every process left in `session` (a step's program outlives a SIGKILL of the
    script: `timeout` puts it in a process group of its own)."""
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            if int(fields[3]) == session:  # field 6 of stat, after pid and (comm)
                os.kill(int(pid), signal.SIGKILL)
        except (OSError, ValueError, IndexError):
            pass


class ScriptTest(unittest.TestCase):
    """A scratch machine: the bundle and the machine's tools as stand-ins, a venv holding the
    CUDA wheels' folders, $OUT, $WORK, a data file."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="convlab-gpu-scripts-")
        self.addCleanup(shutil.rmtree, self.tmp, ignore_errors=True)
        self.bundle = os.path.join(self.tmp, "build-gpu", "bundle")
        self.bin = os.path.join(self.tmp, "bin")
        for folder, names in ((self.bundle, BUNDLE_PROGRAMS), (self.bin, MACHINE_PROGRAMS)):
            os.makedirs(folder)
            for name in names + ["common.sh"]:
                shutil.copy(os.path.join(STANDINS, name), folder)
        self.venv = os.path.join(self.tmp, "venv")
        self.site = os.path.join(self.venv, "lib", "python3.12", "site-packages")
        for wheel in ("cudnn", "cu13", "cublas"):
            os.makedirs(os.path.join(self.site, "nvidia", wheel, "lib"))
        self.out = os.path.join(self.tmp, "out")
        self.calls = os.path.join(self.tmp, "calls.log")
        self.data = os.path.join(self.tmp, "cifar10-jpg.tar.gz")
        open(self.data, "w").close()
        self.env = dict(os.environ, PATH=self.bin + os.pathsep + os.environ["PATH"], BUNDLE=self.bundle,
                        OUT=self.out, WORK=os.path.join(self.tmp, "work"), STANDIN_CALLS=self.calls,
                        CONVLAB_TORCH_VENV=self.venv, CONVLAB_CUDA_ROOT=os.path.join(self.tmp, "no-cuda"),
                        PEER_PYTHON=os.path.join(self.bin, "peer-python"), LD_LIBRARY_PATH="/before/the/bundle",
                        DATA=self.data)
        for key in [k for k in self.env if k.startswith("STANDIN_") and k != "STANDIN_CALLS"]:
            del self.env[key]

    def run_script(self, script, *args, kill_after=None, **env):
        """Runs tools/SCRIPT; with kill_after, SIGKILLs it from outside after that many
        seconds as `timeout -s KILL` does. Returns (exit status, seconds taken, output)."""
        command = ["bash", os.path.join(SOURCE, "tools", script), *args]
        if kill_after is not None:
            command = ["timeout", "-s", "KILL", str(kill_after)] + command
        start = time.monotonic()
        proc = subprocess.Popen(command, env=dict(self.env, **env), stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, start_new_session=True)
        try:
            output, _ = proc.communicate(timeout=300)
        finally:
            kill_session(proc.pid)
        return proc.returncode, time.monotonic() - start, output

    def read(self, *path):
        with open(os.path.join(*path)) as f:
            return f.read()

    def summary(self):
        return self.read(self.out, "gpu-check-summary.txt")

    def calls_of(self, program):
        """The recorded calls of one stand-in: (command line, LD_LIBRARY_PATH, debug variables)."""
        if not os.path.exists(self.calls):
            return []
        lines = self.read(self.calls).splitlines()
        return [(lines[i][5:], lines[i + 1].strip(), lines[i + 2].strip())
                for i in range(0, len(lines) - 2, 3) if lines[i].startswith(f"CALL {program} ")]

    def assert_out_is_returnable(self, out=None):
        """At most 8 files, none more than one folder down, each named as the tool allows."""
        out = out or self.out
        files = []
        for folder, _, names in os.walk(out):
            files += [os.path.relpath(os.path.join(folder, n), out) for n in names]
        self.assertLessEqual(len(files), MAX_OUT_FILES, files)
        for f in files:
            self.assertLessEqual(f.count(os.sep), 1, f)
            self.assertRegex(os.path.basename(f), r"^[A-Za-z0-9._-]+$")
        return files


class GpuCheck(ScriptTest):
    def test_every_step_passes_in_order_within_the_deadline(self):
        rc, took, output = self.run_script("gpu-check.sh", DEADLINE="120")
        summary = self.summary()
        self.assertEqual(rc, 0, summary + output)
        self.assertLess(took, 120)
        for step in ("nvidia-smi", "ldd: every library", "versions", "GPU tests", "memcheck: CUDA graph lifetime",
                     "bench depth 1 batch 128 (", "bench depth 1 batch 128, CUDA graph", "train 1 epoch",
                     "CKA self", "analysis bench: CKA, RSA, CKA + RSA on synthetic", "analysis bench: the checkpoint",
                     "memcheck: bf16/NHWC", "racecheck:", "initcheck:", "bench depth 2 batch 256 (",
                     "bench ResNet-20 batch 128, CUDA graph", "peers depth 1", "peers depth 2",
                     "memcheck: the small CKA", "CKA + RSA self", "Procrustes self",
                     "CKA + RSA + Procrustes self, 200 bootstrap", "unit tests, all but the GPU ones"):
            self.assertRegex(summary, r"\nPASS     " + step.replace("(", r"\(").replace("+", r"\+"), step)
        self.assertIn("SKIPPED  diagnose: no GPU test failed", summary)
        self.assertNotIn("RUNNING", summary)
        self.assertIn("\ndone after", summary)
        # Where each CUDA library resolved, from ldd.
        self.assertIn("libcudnn.so.9 => /opt/torch/site-packages/nvidia/cudnn/lib/libcudnn.so.9", summary)
        # The search path: the wheels' folders, then the bundle, then what was there before.
        _, library_path, _ = self.calls_of("convlab-bench")[0]
        nvidia = os.path.join(self.site, "nvidia")
        self.assertEqual(library_path, "LD_LIBRARY_PATH=" + ":".join(
            [os.path.join(nvidia, "cudnn", "lib"), os.path.join(nvidia, "cu13", "lib"),
             os.path.join(nvidia, "cublas", "lib"), self.bundle, "/before/the/bundle"]))
        # The peers run in the environment from before the bundle.
        peers = self.calls_of("peer-python")
        self.assertEqual(len(peers), 2)
        for command, library_path, _ in peers:
            self.assertEqual(library_path, "LD_LIBRARY_PATH=/before/the/bundle")
            self.assertIn("--budget", command)
            self.assertIn("--convlab-ms 2.500", command)
        # memcheck: the graph tests first and alone, without the test that runs out of memory on
        # purpose, and without API errors.
        sanitizer = [c for c, _, _ in self.calls_of("compute-sanitizer") if "--tool" in c]
        self.assertEqual(len(sanitizer), 5)
        self.assertIn("--gtest_filter=CudaGraph.*:-CudaGraph.OutOfMemoryWhileRecordingIsAClearError", sanitizer[0])
        self.assertTrue(all("--report-api-errors no" in c for c in sanitizer))
        self.assertEqual([c.split("--tool ")[1].split()[0] for c in sanitizer],
                         ["memcheck", "memcheck", "racecheck", "initcheck", "memcheck"])
        self.assertIn("CudaStorageParity.ElementwiseBf16IsExact", sanitizer[1])
        unit = self.calls_of("convlab_tests")[-1][0]
        self.assertIn("--gtest_filter=-Cuda*:*Cuda*:DeviceChoice.*", unit)
        calls = self.read(self.calls)
        self.assertLess(calls.index("CudaGraph.*"), calls.index("CALL convlab-bench --device"))
        files = self.assert_out_is_returnable()
        self.assertEqual(sorted(files), ["analysis-bench.json", "cka-self-summary.json", "gpu-check-summary.txt",
                                         "gpu-check.log", "one-epoch-metrics.csv", "peers-depth1.json",
                                         "peers-depth2.json"])
        # The analysis benchmark: right after the CKA step, on the GPU, on synthetic features and
        # then on the train step's checkpoint; its table rows in the summary, both JSONs in one file.
        self.assertLess(summary.index("PASS     CKA self"), summary.index("PASS     analysis bench: CKA, RSA"))
        self.assertLess(summary.index("PASS     analysis bench: the checkpoint"),
                        summary.index("SKIPPED  diagnose"))
        analysis = [c for c, _, _ in self.calls_of("convlab-bench") if "--analysis" in c]
        self.assertEqual(len(analysis), 2)
        self.assertTrue(all("--device cuda" in c and "--budget" in c for c in analysis))
        self.assertNotIn("--checkpoint", analysis[0])
        self.assertIn("--checkpoint " + os.path.join(self.tmp, "work", "one-epoch", "checkpoints"), analysis[1])
        self.assertIn("           cka-linear+rsa         self", summary)
        with open(os.path.join(self.out, "analysis-bench.json")) as f:
            bench = json.load(f)
        self.assertEqual(bench["synthetic"]["cases"][0]["case"], "cka-linear")
        self.assertTrue(bench["checkpoint"]["complete"])
        # The log has every step's output, streamed.
        log = self.read(self.out, "gpu-check.log")
        self.assertIn("[       OK ] CudaParity.Axpy", log)
        self.assertIn("ERROR SUMMARY: 0 errors (racecheck)", log)

    def test_the_analysis_benchmark_runs_without_data_on_synthetic_features_alone(self):
        rc, _, output = self.run_script("gpu-check.sh", STEPS="preflight analysis-bench", DATA="")
        summary = self.summary()
        self.assertEqual(rc, 0, summary + output)
        self.assertIn("\nPASS     analysis bench: CKA, RSA, CKA + RSA on synthetic", summary)
        self.assertIn("\nSKIPPED  analysis bench on the checkpoint: no DATA=", summary)
        with open(os.path.join(self.out, "analysis-bench.json")) as f:
            bench = json.load(f)
        self.assertTrue(bench["synthetic"]["complete"])
        self.assertIsNone(bench["checkpoint"])
        self.assert_out_is_returnable()

    def test_a_hanging_step_times_out_and_the_deadline_skips_the_rest(self):
        rc, took, output = self.run_script("gpu-check.sh", DEADLINE="20", DEADLINE_MARGIN="3", MIN_STEP="5",
                                           STANDIN_CONVLAB_TESTS="hang")
        summary = self.summary()
        self.assertEqual(rc, 1, summary)
        self.assertLessEqual(took, 20 + 5, summary)
        self.assertRegex(summary, r"\nTIMEOUT  GPU tests \(killed at its limit of 1[0-9] s\)")
        self.assertRegex(summary, r"\nSKIPPED  memcheck: CUDA graph lifetime \(deadline")
        self.assertRegex(summary, r"\nSKIPPED  bench depth 1 batch 128 \(deadline")
        self.assertNotIn("\nPASS     bench", summary)
        self.assertNotIn("RUNNING", summary)
        self.assertIn("[ RUN      ] CudaParity.Axpy", self.read(self.out, "gpu-check.log"))
        self.assert_out_is_returnable()

    def test_a_kill_from_outside_leaves_the_summary_and_the_output_so_far(self):
        rc, took, _ = self.run_script("gpu-check.sh", kill_after=5, STANDIN_CONVLAB_TESTS="hang")
        self.assertEqual(rc, -signal.SIGKILL if rc < 0 else 137)
        self.assertLess(took, 15)
        summary = self.summary()
        self.assertIn("\nPASS     versions", summary)
        self.assertRegex(summary, r"\nRUNNING  GPU tests \(since [0-9:]+, limit 180 s\)")
        self.assertIn("[ RUN      ] CudaParity.Axpy", self.read(self.out, "gpu-check.log"))
        self.assert_out_is_returnable()

    def test_a_library_not_found_stops_the_check_at_once(self):
        rc, _, _ = self.run_script("gpu-check.sh", STANDIN_LDD="missing")
        summary = self.summary()
        self.assertEqual(rc, 3, summary)
        self.assertIn("FAIL     ldd: a library is not found", summary)
        self.assertIn("libcudnn.so.9 => not found (convlab_tests, convlab-bench, convlab-train, convlab-analyze)",
                      summary)
        self.assertIn(os.path.join(self.site, "nvidia", "cu13", "lib"), summary)  # the folders searched
        self.assertEqual(self.calls_of("convlab_tests"), [])

    def test_without_a_gpu_nothing_runs_after_the_preflight(self):
        rc, _, _ = self.run_script("gpu-check.sh", STANDIN_CONVLAB_BENCH="nogpu")
        self.assertEqual(rc, 4)
        self.assertIn("FAIL     no GPU answers convlab", self.summary())
        self.assertEqual(self.calls_of("convlab_tests"), [])

    def test_failed_tests_run_again_with_cudnn_logging(self):
        rc, _, _ = self.run_script("gpu-check.sh", STEPS="preflight tests diagnose", STANDIN_CONVLAB_TESTS="fail")
        summary = self.summary()
        self.assertEqual(rc, 1, summary)
        self.assertRegex(summary, r"\nFAIL     GPU tests \(exit 1 after [0-9]+ s\): .*Failure")
        self.assertIn("CUDNN_LOGLEVEL_DBG=2", summary)  # how to rerun a step by hand
        rerun = self.calls_of("convlab_tests")[1]
        self.assertIn("--gtest_filter=CudaParity.Axpy ", rerun[0] + " ")
        self.assertEqual(rerun[2], "CUDNN_LOGLEVEL_DBG=2 CONVLAB_SYNC_EACH_OP=1")
        self.assertRegex(summary, r"\nFAIL     diagnose: CudaParity.Axpy with CUDNN_LOGLEVEL_DBG=2")

    def test_the_test_a_crash_cut_short_is_diagnosed(self):
        rc, _, _ = self.run_script("gpu-check.sh", STEPS="tests diagnose", STANDIN_CONVLAB_TESTS="crash")
        summary = self.summary()
        self.assertEqual(rc, 1, summary)
        self.assertRegex(summary, r"\nFAIL     GPU tests \(killed by signal SEGV after")
        self.assertIn("--gtest_filter=CudaParity.Axpy", self.calls_of("convlab_tests")[1][0])

    def test_the_bundle_unpacks_without_xz(self):
        parent = os.path.dirname(self.bundle)
        try:
            with tarfile.open(os.path.join(parent, "bundle.tar.xz"), "w:xz") as archive:
                archive.add(self.bundle, arcname="bundle")
        except tarfile.CompressionError as e:
            self.skipTest(f"this Python cannot write .xz ({e})")
        shutil.rmtree(self.bundle)
        # A PATH of every program there is but xz.
        farm = os.path.join(self.tmp, "path-without-xz")
        os.makedirs(farm)
        for folder in [self.bin] + os.environ["PATH"].split(os.pathsep):
            if not os.path.isdir(folder):
                continue
            for name in os.listdir(folder):
                link = os.path.join(farm, name)
                if name in ("xz", "unxz", "xzcat", "xzdec", "lzma", "unlzma", "lzcat") or os.path.lexists(link):
                    continue
                os.symlink(os.path.join(folder, name), link)
        rc, _, output = self.run_script("gpu-check.sh", STEPS="preflight", PATH=farm)
        self.assertEqual(rc, 0, self.summary() + output)
        self.assertTrue(os.access(os.path.join(self.bundle, "convlab_tests"), os.X_OK))

    def test_unknown_steps_and_numbers_are_refused(self):
        rc, _, output = self.run_script("gpu-check.sh", STEPS="preflight tset")
        self.assertEqual(rc, 2)
        self.assertIn("unknown step 'tset'", output)
        rc, _, output = self.run_script("gpu-check.sh", DEADLINE="6m")
        self.assertEqual(rc, 2)
        self.assertIn("not '6m'", output)

    def test_a_missing_bundle_says_what_to_do(self):
        shutil.rmtree(self.bundle)
        rc, _, _ = self.run_script("gpu-check.sh")
        self.assertEqual(rc, 2)
        self.assertIn("run tools/gpu-bundle.sh", self.summary())


class GpuFullRun(ScriptTest):
    CONFIG = os.path.join(SOURCE, "configs", "all_cnn_depth_1_v2_seed_0.yaml")

    def returned_epoch(self, out):
        return int(self.read(out, "resume.safetensors").split()[1])

    def metrics_epochs(self, out):
        return [int(line.split(",")[0]) for line in self.read(out, "metrics.csv").splitlines()[1:]]

    def test_a_kill_mid_run_returns_the_last_finished_epoch_and_the_next_call_finishes(self):
        rc, took, _ = self.run_script("gpu-full-run.sh", self.CONFIG, kill_after=4, STANDIN_EPOCHS="30",
                                      STANDIN_EPOCH_SECONDS="0.3", POLL="0.2")
        self.assertLess(took, 10)
        self.assertNotEqual(rc, 0)
        files = self.assert_out_is_returnable()
        self.assertIn("gpu-full-run.log", files)
        epoch = self.returned_epoch(self.out)
        self.assertGreaterEqual(epoch, 3)
        self.assertLess(epoch, 30)
        self.assertIn(epoch, self.metrics_epochs(self.out))

        # The next call resumes from what came back and, with time enough, finishes and analyses.
        state = os.path.join(self.tmp, "state")
        shutil.copytree(self.out, state)
        out = os.path.join(self.tmp, "out2")
        rc, _, output = self.run_script("gpu-full-run.sh", self.CONFIG, STATE=state, OUT=out, CALL_LIMIT="60",
                                        MARGIN="5", STANDIN_EPOCHS="30", STANDIN_EPOCH_SECONDS="0.01")
        self.assertEqual(rc, 0, output)
        self.assertIn(f"resuming after epoch {epoch}", self.read(out, "gpu-full-run.log"))
        self.assertEqual(self.returned_epoch(out), 30)
        self.assertEqual(self.metrics_epochs(out), list(range(31)))  # every epoch once, across both calls
        files = self.assert_out_is_returnable(out)
        self.assertEqual(sorted(files), ["analysis.tar.gz", "epoch_0030.safetensors", "gpu-full-run.log",
                                         "learning_curve.png", "metrics.csv", "metrics.jsonl", "resume.safetensors"])
        with tarfile.open(os.path.join(out, "analysis.tar.gz")) as archive:
            names = archive.getnames()
        self.assertIn("analysis/self/summary.json", names)
        self.assertIn("analysis/evolution/summary.json", names)
        analyses = self.calls_of("convlab-analyze")
        self.assertEqual([c.split()[1] for c, _, _ in analyses], ["self", "evolution"])

    def test_training_stops_before_the_call_limit_and_returns_its_state(self):
        rc, took, output = self.run_script("gpu-full-run.sh", self.CONFIG, CALL_LIMIT="10", MARGIN="3",
                                           STANDIN_EPOCHS="1000", STANDIN_EPOCH_SECONDS="0.2", POLL="0.2")
        self.assertEqual(rc, 0, output)
        self.assertLessEqual(took, 10 + 2)
        self.assertIn("stopped at the call's time limit", output)
        epoch = self.returned_epoch(self.out)
        self.assertGreaterEqual(epoch, 5)
        # A stop between an epoch's metrics row and its resume.safetensors (the trainer's order)
        # leaves the row one epoch ahead, which the next call's --resume drops and writes again.
        self.assertIn(self.metrics_epochs(self.out)[-1], (epoch, epoch + 1))
        self.assertNotIn("analysis.tar.gz", self.assert_out_is_returnable())
        self.assertEqual(self.calls_of("convlab-analyze"), [])

    def test_epochs_per_call_ends_the_call_early_and_resumes_from_there(self):
        rc, _, output = self.run_script("gpu-full-run.sh", self.CONFIG, EPOCHS_PER_CALL="3", STANDIN_EPOCHS="10")
        self.assertEqual(rc, 0, output)
        self.assertEqual(self.returned_epoch(self.out), 3)
        self.assertIn("--stop-after-epoch 3", self.calls_of("convlab-train")[0][0])
        self.assertEqual(self.calls_of("convlab-analyze"), [])  # the run is not finished
        state = os.path.join(self.tmp, "state")
        shutil.copytree(self.out, state)
        rc, _, output = self.run_script("gpu-full-run.sh", self.CONFIG, STATE=state, OUT=os.path.join(self.tmp, "out2"),
                                        STANDIN_EPOCHS="10", ANALYZE="0")
        self.assertEqual(rc, 0, output)
        second = self.calls_of("convlab-train")[1][0]
        self.assertIn("--resume", second)
        self.assertNotIn("--stop-after-epoch", second)  # without EPOCHS_PER_CALL: to the run's end
        self.assertEqual(self.returned_epoch(os.path.join(self.tmp, "out2")), 10)

    def test_a_training_failure_is_reported(self):
        rc, _, output = self.run_script("gpu-full-run.sh", self.CONFIG, STANDIN_EPOCHS="5", STANDIN_CONVLAB_TRAIN="fail")
        self.assertEqual(rc, 1)
        self.assertIn("convlab-train FAILED (exit 1", output)
        self.assertIn("the loss became NaN", output)


class BenchPeersBudget(unittest.TestCase):
    def setUp(self):
        import importlib.util
        spec = importlib.util.spec_from_file_location("bench_peers", os.path.join(SOURCE, "tools", "bench-peers.py"))
        sys.dont_write_bytecode = True
        self.peers = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(self.peers)

    def test_each_variant_gets_a_share_of_what_is_left_and_never_more(self):
        timeout = self.peers.variant_timeout
        now = time.monotonic()
        self.assertEqual(timeout(600, None, 4), 600)
        self.assertAlmostEqual(timeout(600, now + 200, 4), 50, delta=1)
        self.assertAlmostEqual(timeout(30, now + 200, 4), 30, delta=1)
        self.assertAlmostEqual(timeout(600, now + 12, 4), self.peers.MIN_VARIANT_SECONDS, delta=1)
        self.assertAlmostEqual(timeout(600, now + 3, 4), 3, delta=1)  # never past the budget's end
        self.assertEqual(timeout(600, now - 5, 2), 0)

    def test_every_line_and_the_json_come_as_each_variant_ends(self):
        folder = tempfile.mkdtemp(prefix="convlab-peers-")
        self.addCleanup(shutil.rmtree, folder, ignore_errors=True)
        result = os.path.join(folder, "peers.json")
        start = time.monotonic()
        proc = subprocess.run([sys.executable, os.path.join(SOURCE, "tools", "bench-peers.py"), "--device", "cpu",
                               "--budget", "20", "--json", result, "--variants", "flax-jit-tf32,torch-eager-tf32"],
                              capture_output=True, text=True, timeout=120,
                              env=dict(os.environ, PYTHONDONTWRITEBYTECODE="1"))
        lines = [line for line in proc.stdout.splitlines() if line.startswith("PEER ")]
        self.assertEqual(len(lines), 2, proc.stdout + proc.stderr)
        self.assertIn("variant=flax-jit-tf32", lines[0])
        with open(result) as f:
            written = json.load(f)
        self.assertTrue(written["complete"])
        self.assertEqual([r["variant"] for r in written["results"]], ["flax-jit-tf32", "torch-eager-tf32"])
        self.assertLess(time.monotonic() - start, 20 + 10)


if __name__ == "__main__":
    unittest.main()
