#!/usr/bin/env python3
"""Tests of tools/reproduce. Two suites:

ReproduceCommandLine (no data): bad arguments are refused with a message, one tools/reproduce
per folder, --no-train refuses runs that are not trained, and --slurm submits the training array
(tools/sweep.slurm) and the analyses job after it (to a stand-in sbatch).

Reproduction (the CIFAR-10 copy; exit status 77, a skip, without it): the whole command on tiny
runs (two seeds at depth 1 and one depth-2 run, 64 training and 64 test images, 2 epochs):
every file the page references exists, each row of the runs table matches its metrics.csv, the
page opens in headless Chromium with no broken image and no script error (skipped, with a
message, where no Chromium is installed); the command again keeps everything; and a second
reproduction interrupted during training (Ctrl-C to its process group, then SIGKILL to the
command alone) and run again gives the same report, times aside.

  python3 tests/integration/test_reproduce.py [-v] [Suite[.test] ...]

The executables: $CONVLAB_TRAIN and $CONVLAB_ANALYZE (ctest sets them), else build/apps/.
"""
import csv
import html.parser
import json
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.parse

SOURCE = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
REPRODUCE = os.path.join(SOURCE, "tools", "reproduce")
CONFIGS = [os.path.join(SOURCE, "configs", f"{name}.yaml")
           for name in ("all_cnn_depth_1_v2_seed_0", "all_cnn_depth_1_v2_seed_1", "all_cnn_depth_2_v2")]
TINY_TRAIN = ["--epochs", "2", "--train-size", "64", "--eval-examples", "64"]
TINY_ANALYSES = ["--examples", "64", "--batch-size", "16", "--bootstrap", "10"]


def cifar10():
    given = os.environ.get("CIFAR10_DIR")
    if given and os.path.exists(given):
        return given
    beside = os.path.join(SOURCE, "..", "shared", "data", "cifar10-jpg.tar.gz")
    return os.path.abspath(beside) if os.path.exists(beside) else None


def environment():
    env = dict(os.environ)
    env.setdefault("CONVLAB_TRAIN", os.path.join(SOURCE, "build", "apps", "convlab-train"))
    env.setdefault("CONVLAB_ANALYZE", os.path.join(SOURCE, "build", "apps", "convlab-analyze"))
    env.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def reproduce(args, cwd=None, env=None, timeout=900):
    return subprocess.run([sys.executable, REPRODUCE, *args], capture_output=True, text=True, cwd=cwd,
                          env=env or environment(), timeout=timeout)


class PageReferences(html.parser.HTMLParser):
    """Every src and href of a page, and the runs table's rows (their data-* attributes)."""

    def __init__(self):
        super().__init__()
        self.references, self.rows, self.images = [], [], 0

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        for key in ("src", "href"):
            if a.get(key):
                self.references.append(a[key])
        if tag == "img":
            self.images += 1
        if tag == "tr" and "data-run" in a:
            self.rows.append(a)


def markdown_references(text):
    return re.findall(r"\]\(([^)#][^)]*)\)", text)


def normalised(report_md, folder):
    """report.md with what may differ between two reproductions of the same runs masked: the
    folder's path, times (h:mm:ss) and the date."""
    text = report_md.replace(os.path.abspath(folder), "DIR").replace(folder, "DIR")
    text = re.sub(r"\b\d+:\d\d:\d\d\b", "H:MM:SS", text)
    return re.sub(r"Made on \d{4}-\d\d-\d\d \d\d:\d\d UTC", "Made on DATE", text)


class ReproduceCommandLine(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="convlab-reproduce-cli-")
        self.addCleanup(shutil.rmtree, self.dir, True)

    def expect_refusal(self, args, *phrases):
        done = reproduce(args, cwd=self.dir)
        self.assertNotEqual(done.returncode, 0, done.stdout + done.stderr)
        for phrase in phrases:
            self.assertIn(phrase, done.stderr)
        self.assertNotIn("Traceback", done.stderr)

    def test_bad_arguments_are_refused_with_what_to_do(self):
        self.expect_refusal(["--measure", "cka,svd"], "--measure takes cka, rsa or procrustes")
        self.expect_refusal(["--bootstrap", "1"], "--bootstrap needs at least 2 replicates")
        self.expect_refusal(["--examples", "0"], "--examples must be at least 1")
        self.expect_refusal(["--", "--output", "x"], "--output after -- is not for convlab-train",
                            "tools/reproduce --output")
        self.expect_refusal(["--", "--resume"], "resumes interrupted runs by itself")
        self.expect_refusal(["--configs", "nowhere.yaml"], "no config file nowhere.yaml")
        self.expect_refusal(["--no-train", "--report-only"], "give one")
        self.expect_refusal(["--train", os.path.join(self.dir, "none")], "no convlab-train at")

    def test_no_train_refuses_runs_that_are_not_trained(self):
        self.expect_refusal(["--no-train", "--output", "out"], "the analyses need every run finished",
                            "all_cnn_depth_1_v1_seed_0 (no run in out/runs/all_cnn_depth_1_v1_seed_0)")

    def test_report_only_needs_analyses(self):
        self.expect_refusal(["--report-only", "--output", "out"], "holds no analyses yet")

    def test_one_reproduction_per_folder(self):
        folder = os.path.join(self.dir, "out")
        os.makedirs(folder)
        holder = subprocess.Popen([sys.executable, "-c", (
            "import fcntl, sys, time\n"
            f"f = open({os.path.join(folder, '.reproduce.lock')!r}, 'a+')\n"
            "fcntl.flock(f, fcntl.LOCK_EX)\nf.write('tools/reproduce pid 4242 on h since then\\n'); f.flush()\n"
            "print('held', flush=True)\ntime.sleep(60)\n")], stdout=subprocess.PIPE, text=True)
        self.addCleanup(holder.stdout.close)  # cleanups run last first: kill, wait, close
        self.addCleanup(holder.wait)
        self.addCleanup(holder.kill)
        self.assertEqual(holder.stdout.readline().strip(), "held")
        self.expect_refusal(["--output", folder, "--no-train"], f"{folder} is in use by tools/reproduce pid 4242")

    def test_slurm_submits_the_array_then_the_analyses_after_it(self):
        bin_dir = os.path.join(self.dir, "bin")
        os.makedirs(bin_dir)
        calls = os.path.join(self.dir, "sbatch-calls.jsonl")
        sbatch = os.path.join(bin_dir, "sbatch")
        with open(sbatch, "w") as f:  # records its arguments; job ids 1001, 1002
            f.write("#!/usr/bin/env python3\nimport json, sys\n"
                    f"lines = open({calls!r}).readlines() if __import__('os').path.exists({calls!r}) else []\n"
                    f"open({calls!r}, 'a').write(json.dumps(sys.argv[1:]) + '\\n')\n"
                    "print(1001 + len(lines))\n")
        os.chmod(sbatch, os.stat(sbatch).st_mode | stat.S_IEXEC)
        env = environment()
        env["PATH"] = bin_dir + os.pathsep + env["PATH"]
        done = reproduce(["--slurm", "--data", "data.tar.gz", "--output", "out", "--measure", "cka,rsa",
                          "--", "--epochs", "3"], cwd=self.dir, env=env)
        self.assertEqual(done.returncode, 0, done.stdout + done.stderr)
        with open(calls) as f:
            array, analyses = [json.loads(line) for line in f]
        self.assertIn("--array=0-5", array)
        script = array.index(os.path.join(SOURCE, "tools", "sweep.slurm"))
        self.assertEqual(array[script + 1:script + 4], ["--resume", "--output-root", os.path.join(self.dir, "out", "runs")])
        self.assertEqual(array[script + 4], os.path.join(SOURCE, "configs", "all_cnn_depth_1_v1_seed_0.yaml"))
        passed = array[array.index("--") + 1:]
        self.assertEqual(passed[:2], ["--epochs", "3"])
        self.assertIn(os.path.join(self.dir, "data.tar.gz"), passed)
        self.assertIn("--dependency=afterok:1001", analyses)
        wrapped = analyses[analyses.index("--wrap") + 1]
        self.assertIn("--no-train", wrapped)
        self.assertNotIn("--slurm", wrapped)
        self.assertIn("--measure cka,rsa", wrapped)
        self.assertIn("job 1001", done.stdout)
        self.assertIn("job 1002", done.stdout)
        # The same as a dry run: the two commands, nothing submitted.
        os.remove(calls)
        done = reproduce(["--slurm", "--dry-run", "--output", "out"], cwd=self.dir, env=env)
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertFalse(os.path.exists(calls))
        self.assertIn("sweep.slurm --resume --output-root", done.stdout)
        self.assertIn("--dependency=afterok:$ARRAY_JOB", done.stdout)


class Reproduction(unittest.TestCase):
    """One uninterrupted reproduction (setUpClass), checked; then an interrupted one."""

    @classmethod
    def setUpClass(cls):
        cls.data = cifar10()
        cls.dir = tempfile.mkdtemp(prefix="convlab-reproduce-")
        cls.first = os.path.join(cls.dir, "first")
        start = time.monotonic()
        cls.done = reproduce(cls.arguments(cls.first))
        cls.seconds = time.monotonic() - start

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dir, True)

    @classmethod
    def arguments(cls, output):
        # The decoded-data cache is convlab's own ($CONVLAB_CACHE_DIR, else ~/.cache/convlab), as
        # for the other integration tests: a fresh one would decode the 60,000 images again.
        return ["--data", cls.data, "--output", output,
                "--configs", *CONFIGS, *TINY_ANALYSES, "--device", "cpu", "--", *TINY_TRAIN]

    def setUp(self):
        self.assertEqual(self.done.returncode, 0, self.done.stdout[-4000:] + self.done.stderr[-4000:])

    def read(self, path):
        with open(path, encoding="utf-8") as f:
            return f.read()

    def test_every_file_the_page_references_exists_and_rows_match_the_metrics(self):
        page = self.read(os.path.join(self.first, "report.html"))
        parser = PageReferences()
        parser.feed(page)
        self.assertGreater(parser.images, 10)
        for reference in parser.references + markdown_references(self.read(os.path.join(self.first, "report.md"))):
            self.assertFalse(re.match(r"[a-z]+:", reference), f"{reference}: the page must open offline")
            if reference.startswith("#"):
                continue
            path = os.path.join(self.first, urllib.parse.unquote(reference))
            self.assertTrue(os.path.isfile(path), f"the page references {reference}, which is not there")
            self.assertTrue(os.path.realpath(path).startswith(os.path.realpath(self.first) + os.sep), reference)
        # One row per run, each as its metrics.csv says.
        self.assertEqual([r["data-run"] for r in parser.rows], [os.path.basename(c)[:-5] for c in CONFIGS])
        for row in parser.rows:
            with open(os.path.join(self.first, "runs", row["data-run"], "metrics.csv"), newline="") as f:
                metrics = list(csv.DictReader(f))
            self.assertEqual(int(row["data-epochs"]), int(metrics[-1]["epoch"]))
            self.assertEqual(float(row["data-final-acc"]), float(metrics[-1]["test_acc"]))
            self.assertEqual(float(row["data-best-acc"]), max(float(m["test_acc"]) for m in metrics))
            shown = f"{100 * float(metrics[-1]['test_acc']):.2f} %"
            self.assertIn(shown, page)
        # Every analysis the reference shows, with its command, and the short-run mark.
        for analysis in ("self-all_cnn_depth_1_v2_seed_0", "self-all_cnn_depth_2_v2",
                         "seeds-all_cnn_depth_1_v2_seed_0-vs-all_cnn_depth_1_v2_seed_1",
                         "depths-all_cnn_depth_1_v2_seed_1-vs-all_cnn_depth_2_v2",
                         "evolution-all_cnn_depth_2_v2", "invariance-all_cnn_depth_1_v2_seed_0",
                         "identify-all_cnn_depth_1_v2_seed_0", "curves"):
            self.assertIn(f"analyses/{analysis}/summary.json", page)
            self.assertIn(f"--output {os.path.join(self.first, 'analyses', analysis)}", page)
        for reference in ("self_linear.png", "self_rbf.png", "pair_linear.png", "evolution_grid.png", "evolution.gif",
                          "learning_curves.png"):
            self.assertIn(reference, page)
        self.assertIn("Shorter than the reference", page)
        self.assertIn("2 of 350 epochs", page)
        self.assertIn("about 93-94 %", page)
        self.assertIn(" ± ", page)  # the bootstrap's standard deviations
        # The invariance table: the numbers of summary.json.
        summary = json.loads(self.read(os.path.join(self.first, "analyses", "invariance-all_cnn_depth_1_v2_seed_0",
                                                    "summary.json")))
        first_row = summary["invariance"][0]["rows"][-1]
        self.assertIn(f"{1 - first_row['invertible_diagonal']:.4f}", page)
        # Which layer is which: every measure's accuracy over the two seeds, as summary.json has it.
        identify = json.loads(self.read(os.path.join(self.first, "analyses", "identify-all_cnn_depth_1_v2_seed_0",
                                                     "summary.json")))["identify"]
        self.assertEqual([r["measure"] for r in identify["rows"]],
                         ["cka linear", "cka rbf", "rsa", "procrustes", "mutual_knn", "cknna", "svcca", "pwcca",
                          "ridge"])
        self.assertEqual({r["pairs"] for r in identify["rows"]}, {2})
        self.assertIn("Which layer is which", page)
        for r in identify["rows"]:
            self.assertIn(f"<td>{r['measure']}</td><td>{100 * r['accuracy']:.2f} %</td>", page)

    def test_the_page_renders_in_a_browser(self):
        browser = next((shutil.which(b) for b in ("chromium-headless-shell", "chromium", "chromium-browser",
                                                  "google-chrome") if shutil.which(b)), None)
        if browser is None:
            self.skipTest("no Chromium installed (apt install chromium-headless-shell): the page was not rendered")
        url = "file://" + urllib.parse.quote(os.path.join(self.first, "report.html"))
        done = subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=10000",
                               "--dump-dom", url], capture_output=True, text=True, timeout=120)
        self.assertEqual(done.returncode, 0, done.stderr[-3000:])
        body = re.search(r"<body([^>]*)>", done.stdout)
        self.assertIsNotNone(body, done.stdout[:2000])
        self.assertIn('data-report-check="ok"', body.group(1), re.findall(r'id="report-problems">[^<]*', done.stdout))
        images = int(re.search(r'data-report-images="(\d+)"', body.group(1)).group(1))
        self.assertGreater(images, 10)
        self.assertNotIn("Uncaught", done.stderr)

    def test_running_it_again_keeps_everything(self):
        before = {p: os.stat(os.path.join(self.first, p)).st_mtime_ns
                  for p in ("runs/all_cnn_depth_2_v2/metrics.csv", "analyses/self-all_cnn_depth_2_v2/summary.json")}
        again = reproduce(self.arguments(self.first))
        self.assertEqual(again.returncode, 0, again.stdout[-3000:] + again.stderr[-3000:])
        self.assertEqual(again.stdout.count("done before, kept"), 12, again.stdout)
        for path, mtime in before.items():
            self.assertEqual(os.stat(os.path.join(self.first, path)).st_mtime_ns, mtime, path)

    def wait_for_epoch(self, process, output, run, epoch, timeout=600):
        """Waits until run's metrics.csv has a row for epoch (or the process ends)."""
        path = os.path.join(output, "runs", run, "metrics.csv")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and process.poll() is None:
            try:
                with open(path) as f:
                    if len(f.read().strip().splitlines()) >= epoch + 2:  # the header, epoch 0 ... epoch
                        return
            except OSError:
                pass
            time.sleep(0.2)
        self.fail(f"{run} did not reach epoch {epoch} while tools/reproduce ran")

    def wait_for_group_to_end(self, group, timeout=120):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                os.killpg(group, 0)
            except ProcessLookupError:
                return
            time.sleep(0.2)
        os.killpg(group, signal.SIGKILL)
        self.fail("processes of the killed tools/reproduce went on running")

    def test_an_interrupted_reproduction_resumes_and_gives_the_same_report(self):
        second = os.path.join(self.dir, "second")
        command = [sys.executable, REPRODUCE, *self.arguments(second)]
        # Ctrl-C (SIGINT to the whole process group) once the first depth-1 run has finished epoch 1.
        log = open(os.path.join(self.dir, "second-1.log"), "w")
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=environment(),
                                   start_new_session=True)
        self.wait_for_epoch(process, second, "all_cnn_depth_1_v2_seed_0", 1)
        os.killpg(process.pid, signal.SIGINT)
        self.assertEqual(process.wait(timeout=120), 130, self.read(log.name))
        self.assertIn("Run the same command again to go on", self.read(log.name))
        self.wait_for_group_to_end(process.pid)
        # Again, killed (SIGKILL, the command alone) once the depth-2 run has finished epoch 1:
        # its children must not go on without it.
        log = open(os.path.join(self.dir, "second-2.log"), "w")
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=environment(),
                                   start_new_session=True)
        self.wait_for_epoch(process, second, "all_cnn_depth_2_v2", 1)
        unfinished = len(self.read(os.path.join(second, "runs", "all_cnn_depth_2_v2", "metrics.csv")).splitlines())
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
        self.wait_for_group_to_end(process.pid)
        self.assertLess(unfinished, 4, "the depth-2 run finished before it could be killed")
        self.assertIn("resumed", self.read(log.name))
        # Then to the end.
        done = reproduce(self.arguments(second))
        self.assertEqual(done.returncode, 0, done.stdout[-3000:] + done.stderr[-3000:])
        self.assertIn("resumed all_cnn_depth_2_v2", done.stdout)
        for run in ("all_cnn_depth_1_v2_seed_0", "all_cnn_depth_2_v2"):
            a = self.read(os.path.join(self.first, "runs", run, "metrics.csv")).splitlines()
            b = self.read(os.path.join(second, "runs", run, "metrics.csv")).splitlines()
            mask = lambda rows: [r.rsplit(",", 2)[0] for r in rows]  # all but seconds and images/s
            self.assertEqual(mask(a), mask(b), run)
        self.assertEqual(normalised(self.read(os.path.join(self.first, "report.md")), self.first),
                         normalised(self.read(os.path.join(second, "report.md")), second))


def main():
    suites = [a for a in sys.argv[1:] if not a.startswith("-")]
    if any(s.split(".")[0] == "Reproduction" for s in suites) and cifar10() is None:
        print("skipped: no CIFAR-10 copy (set CIFAR10_DIR or put cifar10-jpg.tar.gz in ../shared/data)")
        sys.exit(77)
    unittest.main()


if __name__ == "__main__":
    main()
