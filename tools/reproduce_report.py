"""The report of tools/reproduce: report.html (one page that opens offline, its figures beside it)
and report.md (the same for repositories and papers), from the files the runs and analyses
wrote: each run's config.yaml and metrics.csv, each analysis's summary.json and figures, and
reproduce.json (the commands). Every number on the page is read from those files, which the
page links; the reference's published accuracy is shown beside ours, marked as such.

Python 3 standard library only; tools/reproduce calls write_report.
"""
import csv
import datetime
import html
import importlib.machinery
import importlib.util
import json
import math
import os
import re
import shlex
import urllib.parse

PROTOCOL_EPOCHS = 350
PROTOCOL_TRAIN_IMAGES = 50000
PROTOCOL_TEST_IMAGES = 10000

# The reference's published test accuracy, by (model, depth, dropout_input, dropout_hidden,
# batchnorm): (text, source). Runs without an entry show "not published".
REFERENCE_ACCURACY = {
    ("all_cnn_c", 1, 0.0, 0.0, True): ("about 93-94 %", "the reference's report for v2 depth 1"),
    ("all_cnn_c", 1, 0.2, 0.5, False): ("92.75 %", "Springenberg et al. 2015, All-CNN-C without BatchNorm"),
}

SECTIONS = [
    ("self", "Each network against itself",
     "Every layer of a network against every layer of the same network, on the same test images: "
     "CKA with a linear and an RBF kernel (and RSA and Procrustes when asked). The depth-2 networks "
     "against themselves are here too."),
    ("seeds", "Two seeds of the same network",
     "The same architecture and recipe trained from two seeds: does layer i of one network learn "
     "what layer i of the other learns? The full matrix, computed for every pair (nothing mirrored)."),
    ("identify", "Which layer is which",
     "Kornblith et al. (2019, table 2)'s test of a similarity measure: for every ordered pair of seeds "
     "(A, B) and every layer of A, is the most similar layer of B the corresponding one? The share of "
     "right answers under each measure (a tie of t layers counts 1/t; chance is 1 / layers). "
     "docs/measures.md defines the measures."),
    ("depths", "Depth 2 against depth 1",
     "A depth-2 network (rows: the depth-1 network of the same variant) compared layer by layer."),
    ("evolution", "During training: each checkpoint against the final network",
     "Every saved checkpoint of a run against its final network: the grid shows init and epochs "
     "5, 25, 100, 150 and 350 where the run has them; the animation shows every checkpoint."),
    ("invariance", "CKA's invariances, on real features",
     "CKA of each layer with a transformed copy of itself (1 = invariant): a random permutation of "
     "the features, isotropic scaling and an orthogonal rotation leave CKA at 1; a non-isotropic "
     "diagonal stretch does not."),
]


# --- reading the runs ---------------------------------------------------------------------

def load_sweep():
    """tools/sweep (a script without .py) as a module: its parse_printed_config reads convlab's
    printed config format, and tools/reproduce drives training through it."""
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "sweep")
    loader = importlib.machinery.SourceFileLoader("sweep", path)
    module = importlib.util.module_from_spec(importlib.util.spec_from_loader("sweep", loader))
    loader.exec_module(module)
    return module


sweep = load_sweep()


def parse_config_yaml(data):
    """{section: {key: value}} and {comment key: value} from a run's config.yaml (bytes): the
    config as convlab-train prints it, after '# key: value' comment lines."""
    comments = {}
    for line in data.decode(errors="replace").splitlines():
        if line.startswith("# convlab "):
            comments["convlab"] = line[len("# convlab "):].strip()
        elif line.startswith("# "):
            key, sep, value = line[2:].partition(": ")
            if sep:
                comments[key.strip()] = value.strip()
    return sweep.parse_printed_config(data), comments


def read_metrics(path):
    """metrics.csv as a list of {column: float} rows (NaN where empty or 'nan')."""
    rows = []
    with open(path, newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            parsed = {}
            for key, value in row.items():
                try:
                    parsed[key] = float(value)
                except (TypeError, ValueError):
                    parsed[key] = math.nan
            rows.append(parsed)
    return rows


def number(text, kind=float, default=None):
    try:
        return kind(text)
    except (TypeError, ValueError):
        return default


def read_run(folder, name, config_path):
    """The record of one run from its folder (config.yaml, metrics.csv), or None when the folder
    holds no run yet."""
    config_file = os.path.join(folder, "config.yaml")
    metrics_file = os.path.join(folder, "metrics.csv")
    if not (os.path.isfile(config_file) and os.path.isfile(metrics_file)):
        return None
    with open(config_file, "rb") as f:
        config, comments = parse_config_yaml(f.read())
    rows = read_metrics(metrics_file)
    train = config.get("train_config", {})
    model = config.get("model_config", {})
    epochs = int(rows[-1]["epoch"]) if rows and not math.isnan(rows[-1].get("epoch", math.nan)) else 0
    planned = number(train.get("num_epochs"), int, 0)
    scored = [r for r in rows if not math.isnan(r.get("test_acc", math.nan))]
    best = max(scored, key=lambda r: r["test_acc"]) if scored else None
    key = (model.get("name", "all_cnn_c"), number(model.get("depth"), int, 1),
           number(model.get("dropout_input"), float, 0.0), number(model.get("dropout_hidden"), float, 0.0),
           model.get("batchnorm", "true") == "true")
    variant_config = {s: dict(v) for s, v in config.items() if s != "log_config"}
    variant_config.get("train_config", {}).pop("seed_id", None)
    return {
        "name": name, "folder": folder, "config": config_path,
        "model": key[0], "depth": key[1], "dropout_input": key[2], "dropout_hidden": key[3], "batchnorm": key[4],
        "seed": number(train.get("seed_id"), int, 0), "batch_size": number(train.get("batch_size"), int, 0),
        "train_images": number(train.get("train_data_size"), int, 0),
        "test_images": number(comments.get("test images per evaluation"), int, None),
        "planned_epochs": planned, "epochs": epochs, "finished": bool(rows) and epochs >= planned,
        "best_acc": best["test_acc"] if best else None, "best_epoch": int(best["epoch"]) if best else None,
        "final_acc": rows[-1].get("test_acc") if rows else None,
        "train_seconds": sum(r["seconds"] for r in rows if not math.isnan(r.get("seconds", math.nan))),
        "device": comments.get("device", "unknown").split(", chosen by")[0],
        "convlab": comments.get("convlab", "unknown"),
        # Runs that differ only in their seed share a variant; depth pairs share a family.
        "variant": json.dumps([key[1], variant_config], sort_keys=True),
        "family": json.dumps([key[0], key[2], key[3], key[4]]),
        "reference": REFERENCE_ACCURACY.get(key),
    }


def shortfalls(runs, settings):
    """How these runs and analyses fall short of the reference's protocol, in words (runs that
    fall short alike are named together)."""
    by_text = {}
    for r in runs:
        parts = []
        if r["planned_epochs"] < PROTOCOL_EPOCHS:
            parts.append(f"{r['planned_epochs']} of {PROTOCOL_EPOCHS} epochs")
        if r["train_images"] < PROTOCOL_TRAIN_IMAGES:
            parts.append(f"{r['train_images']:,} of {PROTOCOL_TRAIN_IMAGES:,} training images")
        if r["test_images"] is not None and r["test_images"] < PROTOCOL_TEST_IMAGES:
            parts.append(f"{r['test_images']:,} of {PROTOCOL_TEST_IMAGES:,} test images per evaluation")
        if parts:
            by_text.setdefault(", ".join(parts), []).append(r["name"])
    out = []
    for text, names in by_text.items():
        who = f"all {len(runs)} runs" if len(names) == len(runs) and len(runs) > 1 else ", ".join(names)
        out.append(f"{who}: {text}")
    examples = (settings or {}).get("examples")
    if examples is not None and examples < PROTOCOL_TEST_IMAGES:
        out.append(f"analyses: {examples:,} of {PROTOCOL_TEST_IMAGES:,} test images")
    return out


# --- formatting ---------------------------------------------------------------------------

def training_command(log):
    """The convlab-train command of a run: the first line of its sweep log ("$ command")."""
    try:
        with open(log, encoding="utf-8", errors="replace") as f:
            first = f.readline().rstrip("\n")
    except OSError:
        return "-"
    return first[2:] if first.startswith("$ ") else "-"


def anchor(title):
    """The anchor GitHub gives a Markdown heading."""
    return re.sub(r"[^a-z0-9 _-]", "", title.lower()).replace(" ", "-")


def rounding(value):
    """1 - CKA where CKA is invariant: float64 rounding (below 1e-12, its digits vary with the
    order of the sums) is shown as such, larger values in full."""
    return "< 1e-12" if abs(value) < 1e-12 else f"{value:.2e}"


def percent(value):
    return "-" if value is None or math.isnan(value) else f"{100 * value:.2f} %"


def duration(seconds):
    """h:mm:ss (the only form of a time on the page, so that comparisons can mask it)."""
    seconds = int(round(seconds or 0))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def dropout_text(r):
    return f"{r['dropout_input']:g} / {r['dropout_hidden']:g}"


def relative(path, base):
    return os.path.relpath(path, base).replace(os.sep, "/")


def load_summary(output):
    try:
        with open(os.path.join(output, "summary.json"), encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def matrix_figures(step, summary):
    """(figure path, analysis entry) for each matrix of a self or pair analysis."""
    out = []
    for entry in summary.get("analyses", []):
        figure = os.path.join(step["output"], entry["name"] + ".png")
        if os.path.isfile(figure):
            out.append((figure, entry))
    return out


def evolution_figures(step):
    """(grid, animation, measure tag) per measure of an evolution analysis: the first measure's
    files are evolution_grid.png and evolution.gif, the others' end in _rbf, _rsa, ..."""
    out = []
    try:
        names = sorted(os.listdir(step["output"]))
    except OSError:
        return out
    for name in names:
        m = re.fullmatch(r"evolution_grid(_[a-z]+)?\.png", name)
        if m:
            suffix = m.group(1) or ""
            gif = os.path.join(step["output"], f"evolution{suffix}.gif")
            out.append((os.path.join(step["output"], name), gif if os.path.isfile(gif) else None, suffix[1:]))
    out.sort(key=lambda t: (t[2] != "", t[2]))
    return out


def cell_text(entry, i, j):
    value = entry["values"][i][j]
    if value is None:
        return "n/a"
    std = ((entry.get("bootstrap") or {}).get("std") or [[None]])
    s = std[i][j] if i < len(std) and j < len(std[i]) else None
    return f"{value:.3f} ± {s:.3f}" if s is not None else f"{value:.3f}"


# --- the page ----------------------------------------------------------------------------

class Page:
    """Builds report.html and report.md side by side, so that both say the same."""

    def __init__(self, base):
        self.base = base
        self.html = []
        self.md = []

    def link(self, path):
        return relative(path, self.base)

    def heading(self, level, text, anchor=None):
        a = f' id="{html.escape(anchor)}"' if anchor else ""
        self.html.append(f"<h{level}{a}>{html.escape(text)}</h{level}>")
        self.md.append(f"{'#' * level} {text}\n")

    def paragraph(self, text, css=None):
        c = f' class="{css}"' if css else ""
        self.html.append(f"<p{c}>{html.escape(text)}</p>")
        self.md.append(("> " if css == "warning" else "") + text + "\n")

    def table(self, header, rows, css=None, row_attributes=None):
        """rows: lists of cells; a cell is text, or (text, link path) for a link."""
        def html_cell(cell, tag):
            if isinstance(cell, tuple):
                text, path = cell
                return f'<{tag}><a href="{urllib.parse.quote(self.link(path))}">{html.escape(text)}</a></{tag}>'
            return f"<{tag}>{html.escape(str(cell))}</{tag}>"

        def md_cell(cell):
            if isinstance(cell, tuple):
                text, path = cell
                return f"[{text}]({urllib.parse.quote(relative(path, self.base))})"
            return str(cell).replace("|", "\\|")

        c = f' class="{css}"' if css else ""
        lines = [f"<div class=\"scroll\"><table{c}><thead><tr>" + "".join(html_cell(h, "th") for h in header) + "</tr></thead><tbody>"]
        for k, row in enumerate(rows):
            attributes = row_attributes[k] if row_attributes else ""
            lines.append(f"<tr{attributes}>" + "".join(html_cell(cell, "td") for cell in row) + "</tr>")
        lines.append("</tbody></table></div>")
        self.html.append("\n".join(lines))
        self.md.append("| " + " | ".join(md_cell(h) for h in header) + " |")
        self.md.append("|" + "---|" * len(header))
        for row in rows:
            self.md.append("| " + " | ".join(md_cell(cell) for cell in row) + " |")
        self.md.append("")

    def figures(self, items, caption, command, summary_path=None):
        """items: (image path, alt text); one caption (with the command) for the row of them."""
        imgs = "".join(f'<a href="{urllib.parse.quote(self.link(p))}"><img src="{urllib.parse.quote(relative(p, self.base))}" '
                       f'alt="{html.escape(alt)}" loading="eager"></a>' for p, alt in items)
        made = f"<code>{html.escape(command)}</code>"
        summary = ""
        if summary_path:
            summary = f' (<a href="{urllib.parse.quote(self.link(summary_path))}">summary.json</a>)'
        self.html.append(f'<figure><div class="panels">{imgs}</div><figcaption>{html.escape(caption)}{summary}. '
                         f"Made by {made}</figcaption></figure>")
        for p, alt in items:
            self.md.append(f"![{alt}]({urllib.parse.quote(relative(p, self.base))})")
        summary_md = f" ([summary.json]({urllib.parse.quote(relative(summary_path, self.base))}))" if summary_path else ""
        self.md.append(f"\n*{caption}*{summary_md}. Made by `{command}`\n")

    def details(self, summary_text, build):
        """A collapsible block; build(page) adds its content."""
        self.html.append(f"<details><summary>{html.escape(summary_text)}</summary>")
        self.md.append(f"<details><summary>{summary_text}</summary>\n")
        build(self)
        self.html.append("</details>")
        self.md.append("</details>\n")


STYLE = """
body { font-family: "DejaVu Sans", Verdana, sans-serif; max-width: 1180px; margin: 2em auto; padding: 0 1em;
       color: #222; line-height: 1.45; }
h1 { font-size: 1.7em; } h2 { margin-top: 2.2em; border-bottom: 1px solid #ccc; } h3 { margin-top: 1.6em; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.55em; text-align: right; }
th:first-child, td:first-child { text-align: left; }
thead { background: #f2f2f2; }
.scroll { overflow-x: auto; } td { white-space: nowrap; }
figure { margin: 1.2em 0; } .panels { display: flex; flex-wrap: wrap; gap: 0.6em; align-items: flex-start; }
.panels a { flex: 1 1 360px; max-width: 580px; } .panels a:only-child { max-width: 820px; flex-basis: auto; }
.panels img { width: 100%; height: auto; border: 1px solid #eee; }
figcaption { font-size: 0.88em; color: #444; } code { font-size: 0.85em; word-break: break-all; background: #f6f6f6; }
.warning { background: #fff4d6; border-left: 4px solid #e0a800; padding: 0.6em 0.9em; }
#report-problems { background: #ffe3e3; border-left: 4px solid #c00; padding: 0.6em 0.9em; }
details { margin: 0.6em 0; } summary { cursor: pointer; color: #2458a6; }
"""

# Runs first, before any figure: records script errors and figures that fail to load, then lists
# them at the top of the page (a page opened after its files were moved says what is missing)
# and in <body data-report-check>, which the report's browser test reads.
CHECK_SCRIPT = """
(function () {
  var problems = [];
  window.addEventListener('error', function (e) {
    var t = e.target;
    if (t && t !== window && (t.src || t.href)) problems.push('cannot load ' + (t.getAttribute('src') || t.href));
    else problems.push('script error: ' + (e.message || 'unknown'));
  }, true);
  window.addEventListener('load', function () {
    var images = document.getElementsByTagName('img');
    for (var i = 0; i < images.length; i++) {
      var img = images[i];
      if (!img.complete || img.naturalWidth === 0) {
        var text = 'cannot load ' + img.getAttribute('src');
        if (problems.indexOf(text) < 0) problems.push(text);
      }
    }
    document.body.setAttribute('data-report-check', problems.length ? 'problems' : 'ok');
    document.body.setAttribute('data-report-images', String(images.length));
    if (problems.length) {
      var box = document.createElement('div');
      box.id = 'report-problems';
      box.textContent = 'This page could not show everything (were its files moved?): ' + problems.join('; ');
      document.body.insertBefore(box, document.body.firstChild);
    }
  });
})();
"""


def write_atomically(path, text):
    """path holds its old content or text, whole, whenever the process is stopped."""
    temporary = f"{path}.{os.getpid()}.tmp"
    with open(temporary, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(temporary, path)


def runs_section(page, runs, steps, base):
    page.heading(2, "The runs", "runs")
    header = ["run", "depth", "dropout in / hidden", "seed", "epochs", "train / test images",
              "best test acc (epoch)", "final test acc", "reference", "training time", "device", "metrics"]
    rows, attributes = [], []
    for r in runs:
        reference = r["reference"][0] if r["reference"] else "not published"
        epochs = f"{r['epochs']}/{r['planned_epochs']}"
        if r["planned_epochs"] < PROTOCOL_EPOCHS:
            epochs += " (short)"
        best = f"{percent(r['best_acc'])} ({r['best_epoch']})" if r["best_acc"] is not None else "-"
        test_images = f"{r['test_images']:,}" if r["test_images"] is not None else "?"
        rows.append([r["name"], r["depth"], dropout_text(r), r["seed"], epochs,
                     f"{r['train_images']:,} / {test_images}", best, percent(r["final_acc"]), reference,
                     duration(r["train_seconds"]), r["device"], ("metrics.csv", os.path.join(r["folder"], "metrics.csv"))])
        attributes.append(f' data-run="{html.escape(r["name"])}" data-final-acc="{r["final_acc"]!r}" '
                          f'data-best-acc="{r["best_acc"]!r}" data-epochs="{r["epochs"]}"')
    page.table(header, rows, css="runs", row_attributes=attributes)
    page.paragraph("Accuracy is on the test images each run evaluated, every epoch; \"best\" is the highest of "
                   "those epochs, \"final\" the last. Training time is the sum of the epochs' seconds in "
                   "metrics.csv. \"reference\": what was published for that network: "
                   + "; ".join(sorted({f"{text}: {source}" for text, source in
                                       (r["reference"] for r in runs if r["reference"])})) + ".")
    def per_run(p):
        rows = []
        for r in runs:
            curve = os.path.join(r["folder"], "learning_curve.png")
            log = os.path.join(base, "logs", "train", r["name"] + ".log")
            rows.append([r["name"], (os.path.basename(r["config"]) + " (resolved)", os.path.join(r["folder"], "config.yaml")),
                         ("learning_curve.png", curve) if os.path.isfile(curve) else "-",
                         ("log", log) if os.path.isfile(log) else "-", training_command(log)])
        p.table(["run", "config", "learning curve", "log", "command"], rows)
    page.details("each run's resolved config, learning curve, log and command", per_run)
    curves = next((s for s in steps if s["kind"] == "curves"), None)
    if curves:
        figure = os.path.join(curves["output"], "learning_curves.png")
        if os.path.isfile(figure):
            page.figures([(figure, "learning curves of every run")],
                         "Test accuracy and loss of every run against epoch, from the network at init (epoch 0)",
                         curves["command_text"], os.path.join(curves["output"], "summary.json"))


def matrix_tables(page, figures):
    def build(p):
        for _, entry in figures:
            header = [entry.get("rows", "") + " \\ " + entry.get("columns", "")] + entry["column_layers"]
            rows = [[layer] + [cell_text(entry, i, j) for j in range(len(entry["column_layers"]))]
                    for i, layer in enumerate(entry["row_layers"])]
            p.paragraph(f"{entry['settings']} ({entry['name']}, {entry.get('precision', '')})")
            p.table(header, rows, css="matrix")
    bootstrap = any(entry.get("bootstrap") for _, entry in figures)
    page.details("the numbers" + (" (mean ± bootstrap standard deviation)" if bootstrap else ""), build)


def comparison_section(page, kind, steps):
    for s in [s for s in steps if s["kind"] == kind]:
        page.heading(3, s["title"])
        summary = load_summary(s["output"])
        if summary is None:
            page.paragraph("Not computed yet: run tools/reproduce again.", css="warning")
            continue
        figures = matrix_figures(s, summary)
        page.figures([(f, e["settings"]) for f, e in figures], "; ".join(e["settings"] for _, e in figures),
                     s["command_text"], os.path.join(s["output"], "summary.json"))
        if figures:
            matrix_tables(page, figures)


def evolution_section(page, steps):
    for s in [s for s in steps if s["kind"] == "evolution"]:
        page.heading(3, s["title"])
        summary = load_summary(s["output"])
        if summary is None:
            page.paragraph("Not computed yet: run tools/reproduce again.", css="warning")
            continue
        epochs = sorted({e["rows"] for e in summary.get("analyses", [])})
        for grid, gif, tag in evolution_figures(s):
            items = [(grid, f"grid {tag or 'first measure'}")] + ([(gif, "animation over every checkpoint")] if gif else [])
            page.figures(items, f"{tag.upper() if tag else 'First measure'}: the grid, and every checkpoint as an "
                         f"animation ({len(epochs)} checkpoints)", s["command_text"],
                         os.path.join(s["output"], "summary.json"))


def invariance_section(page, steps):
    for s in [s for s in steps if s["kind"] == "invariance"]:
        page.heading(3, s["title"])
        summary = load_summary(s["output"])
        if summary is None or not summary.get("invariance"):
            page.paragraph("Not computed yet: run tools/reproduce again.", css="warning")
            continue
        for table in summary["invariance"]:
            rows = [[row["layer"], f"{int(row['features']):,}", rounding(1 - row["permutation"]),
                     rounding(1 - row["scaling"]), rounding(1 - row["orthogonal"]),
                     f"{1 - row['invertible_diagonal']:.4f}"]
                    for row in table["rows"]]
            page.paragraph(f"{table['kernel'].capitalize()} CKA, {table['examples']:,} examples: 1 - CKA of each layer "
                           "with a transformed copy (the first three stay near 0, the stretch does not; "
                           "\"< 1e-12\": zero up to float64 rounding).")
            page.table(["layer", "features", "permutation", "scaling", "orthogonal", "diagonal stretch"], rows,
                       css="invariance")
        page.paragraph("Made by " + s["command_text"])
        page.table(["output"], [[("summary.json", os.path.join(s["output"], "summary.json"))]])


def identify_section(page, steps):
    for s in [s for s in steps if s["kind"] == "identify"]:
        page.heading(3, s["title"])
        summary = load_summary(s["output"])
        if summary is None or not summary.get("identify"):
            page.paragraph("Not computed yet: run tools/reproduce again.", css="warning")
            continue
        found = summary["identify"]
        page.paragraph(f"{len(found['networks'])} networks, {found['examples']:,} test images in batches of "
                       f"{found['batch_size']:,}; chance is {1 / max(1, found['rows'][0]['layers']):.0%}.")
        page.table(["measure", "accuracy", "layers", "ordered pairs"],
                   [[r["measure"], percent(r["accuracy"]), str(r["layers"]), str(r["pairs"])] for r in found["rows"]],
                   css="identify")
        page.paragraph("Made by " + s["command_text"])
        page.table(["output"], [[("identify.csv", os.path.join(s["output"], "identify.csv"))],
                                [("summary.json", os.path.join(s["output"], "summary.json"))]])


def write_report(base, runs, steps, state):
    """Writes base/report.html and base/report.md; returns their paths."""
    for s in steps:
        s["command_text"] = shlex.join(s["command"])
    settings = state.get("settings") or {}
    page = Page(base)
    reference_runs = bool(runs) and all(r["model"] == "all_cnn_c" for r in runs)
    page.heading(1, "All-CNN-C on CIFAR-10: the reference reproduced with convlab" if reference_runs
                 else f"{len(runs)} runs on CIFAR-10 and their representations, with convlab")
    version = runs[0]["convlab"] if runs else "unknown"
    made = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    page.paragraph(f"Made on {made} by convlab {version} with: {state.get('command', 'tools/reproduce')}. "
                   f"{len(runs)} run(s); analyses: {', '.join(settings.get('measures') or ['cka'])}"
                   + (f", {settings['bootstrap']} bootstrap replicates" if settings.get("bootstrap") else "") + ".")
    short = shortfalls(runs, settings)
    if short or settings.get("quick"):
        page.paragraph("Shorter than the reference's protocol (350 epochs on 50,000 images, 10,000 test images): "
                       + "; ".join(short) + ". These numbers show the pipeline at work, not the reference's results.",
                       css="warning")
    contents = [("runs", "The runs")] + [(kind, title) for kind, title, _ in SECTIONS
                                         if any(s["kind"] == kind for s in steps)]
    page.html.append("<nav><ul>" + "".join(f'<li><a href="#{k}">{html.escape(t)}</a></li>' for k, t in contents)
                     + "</ul></nav>")
    page.md.append("\n".join(f"- [{t}](#{anchor(t)})" for _, t in contents) + "\n")
    runs_section(page, runs, steps, base)
    for kind, title, text in SECTIONS:
        if not any(s["kind"] == kind for s in steps):
            continue
        page.heading(2, title, kind)
        page.paragraph(text)
        if kind in ("self", "seeds", "depths"):
            comparison_section(page, kind, steps)
        elif kind == "evolution":
            evolution_section(page, steps)
        elif kind == "identify":
            identify_section(page, steps)
        else:
            invariance_section(page, steps)
    page.heading(2, "Files", "files")
    page.table(["what", "file"],
               [["what was run, for resuming and for this page", ("reproduce.json", os.path.join(base, "reproduce.json"))]]
               + [[s["title"], ("summary.json", os.path.join(s["output"], "summary.json"))]
                  for s in steps if os.path.isfile(os.path.join(s["output"], "summary.json"))])

    html_text = ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
                 "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
                 "<title>convlab: the reference reproduced</title>\n"
                 f"<script>{CHECK_SCRIPT}</script>\n<style>{STYLE}</style></head>\n<body>\n"
                 + "\n".join(page.html) + "\n</body></html>\n")
    md_text = "\n".join(page.md) + "\n"
    html_path = os.path.join(base, "report.html")
    md_path = os.path.join(base, "report.md")
    write_atomically(html_path, html_text)
    write_atomically(md_path, md_text)
    return [html_path, md_path]
