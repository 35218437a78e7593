"""convlab.train: a tiny run in this process on a synthetic image folder, its result against
the run folder's files, the progress callback, Ctrl-C, and the errors of bad arguments."""

import csv
import math
import os
import signal
import threading

import pytest

import convlab
from image_folder import write_image_folder

def write_config(path, epochs):
    path.write_text(f"""train_config:
  batch_size: 8
  train_data_size: 20
  num_epochs: {epochs}
  decay_after_epochs: []
log_config:
  save_every_k_ckpt: 1
model_config:
  depth: 1
""")
    return path


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    write_image_folder(root / "images")
    return {"data": root / "images", "cache_dir": root / "cache", "no_download": True, "device": "cpu"}


def read_metrics_csv(run_dir):
    with open(run_dir / "metrics.csv", newline="") as f:
        return [{k: float(v) for k, v in row.items()} for row in csv.DictReader(f)]


def same_row(a, b):
    return a.keys() == b.keys() and all(a[k] == b[k] or (math.isnan(a[k]) and math.isnan(b[k])) for k in a)


def test_train_reports_its_run(tmp_path, data):
    rows = []
    result = convlab.train(write_config(tmp_path / "tiny.yaml", 2), output=tmp_path / "run", progress=rows.append,
                           **data)
    assert result.run_dir == tmp_path / "run"
    assert (result.epochs_done, result.updates, result.already_complete) == (2, 6, False)  # 8 + 8 + 4 per epoch
    written = read_metrics_csv(result.run_dir)
    assert [r["epoch"] for r in written] == [0, 1, 2]
    assert all(same_row(a, b) for a, b in zip(result.metrics, written)) and len(result.metrics) == 3
    assert all(isinstance(r["epoch"], int) and isinstance(r["test_acc"], float) for r in result.metrics)
    # Once per trained epoch, with that epoch's row.
    assert len(rows) == 2 and all(same_row(a, b) for a, b in zip(rows, written[1:]))
    assert result.final_test_acc == written[-1]["test_acc"] and result.final_test_loss == written[-1]["test_loss"]
    assert (result.run_dir / "checkpoints" / "epoch_0002.safetensors").exists()
    assert all(f.exists() for f in result.learning_curve)

    again = convlab.train(write_config(tmp_path / "tiny.yaml", 2), output=tmp_path / "run", progress=rows.append,
                          **data)
    assert again.already_complete and again.epochs_done == 2 and len(rows) == 2
    assert all(same_row(a, b) for a, b in zip(again.metrics, written))


def test_ctrl_c_ends_the_run_resumably(tmp_path, data, capfd):
    config = write_config(tmp_path / "long.yaml", 50)
    timers = []

    def interrupt_soon(row):
        # Ctrl-C while the next epoch trains, with the GIL released: the trainer's stop hook
        # must see it.
        if row["epoch"] == 1:
            timers.append(threading.Timer(0.05, os.kill, (os.getpid(), signal.SIGINT)))
            timers[0].start()

    try:
        with pytest.raises(KeyboardInterrupt):
            convlab.train(config, output=tmp_path / "run", progress=interrupt_soon, **data)
    finally:
        for t in timers:
            t.join()
    assert "stopped during epoch" in capfd.readouterr().out
    finished = [int(r["epoch"]) for r in read_metrics_csv(tmp_path / "run")]
    assert finished == list(range(len(finished))) and len(finished) >= 2
    last = finished[-1]
    _, metadata = convlab.load_checkpoint(tmp_path / "run" / "resume.safetensors")
    assert int(metadata["epoch"]) == last

    resumed = convlab.train(config, output=tmp_path / "run", resume=True, epochs=last + 1, **data)
    assert resumed.epochs_done == last + 1 and not resumed.already_complete
    assert [r["epoch"] for r in resumed.metrics] == list(range(last + 2))
    # Without a progress callable, convlab-train's lines go to this process's stdout.
    assert f"epoch {last + 1:4d}/{last + 1}  updates" in capfd.readouterr().out


def test_an_exception_in_progress_ends_the_run(tmp_path, data):
    def fail(row):
        raise RuntimeError("stop here")

    with pytest.raises(RuntimeError, match="stop here"):
        convlab.train(write_config(tmp_path / "tiny.yaml", 2), output=tmp_path / "run", progress=fail, **data)
    assert [r["epoch"] for r in read_metrics_csv(tmp_path / "run")] == [0, 1]


def test_bad_arguments_are_input_errors(tmp_path, data):
    config = write_config(tmp_path / "tiny.yaml", 1)
    with pytest.raises(convlab.InputError, match="unknown keyword epoch;.*epochs.*train_size"):
        convlab.train(config, epoch=3)
    with pytest.raises(convlab.InputError, match=r"epochs must be in 1\.\."):
        convlab.train(config, epochs=0)
    with pytest.raises(convlab.InputError, match="batch_size must be a whole number"):
        convlab.train(config, batch_size=1.5)
    with pytest.raises(convlab.InputError, match="resume must be True or False, got None"):
        convlab.train(config, resume=None)
    with pytest.raises(convlab.InputError, match="unknown device 'tpu'"):
        convlab.train(config, device="tpu", output=tmp_path / "run")
    with pytest.raises(convlab.InputError, match="give one"):
        convlab.train(config, resume=True, force=True, output=tmp_path / "run")
    with pytest.raises(convlab.InputError, match="fp64"):
        convlab.train(config, precision="fp64")
    with pytest.raises(convlab.InputError, match="progress must be None or a callable"):
        convlab.train(config, progress=3)
    with pytest.raises(convlab.InputError, match="no-such-folder"):
        convlab.train(config, data=tmp_path / "no-such-folder", output=tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_bad_configs_are_input_errors(tmp_path):
    with pytest.raises(convlab.InputError, match="missing.yaml"):
        convlab.train(tmp_path / "missing.yaml")
    (tmp_path / "typo.yaml").write_text("train_config:\n  num_epoch: 3\n")
    with pytest.raises(convlab.InputError, match="num_epoch"):
        convlab.train(tmp_path / "typo.yaml")
    (tmp_path / "range.yaml").write_text("model_config:\n  depth: 0\n")
    with pytest.raises(convlab.InputError, match="depth"):
        convlab.train(tmp_path / "range.yaml")
