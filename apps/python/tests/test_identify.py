"""convlab.identify, which layer is which (Kornblith et al. 2019, table 2): synthetic networks
whose layers are noisy rotations of shared layers (every layer found), unrelated networks
(about chance), the accuracies against a numpy count over convlab.cka_matrix's matrices of
every ordered pair, ties, checkpoints against `convlab-analyze identify`, and bad input."""

import os
import pathlib
import subprocess

import numpy as np
import pytest

import convlab

ALL_LABELS = ["cka linear", "cka rbf", "rsa", "procrustes", "mutual_knn", "cknna", "svcca", "pwcca", "ridge"]


def rotation(rng, p):
    q, r = np.linalg.qr(rng.standard_normal((p, p)))
    return q * np.sign(np.diag(r))


def seeded_networks(rng, networks=3, layers=4, n=200, p=30, noise=0.05):
    """Shared layers Z_1 .. Z_L (each the last through a random map and tanh, so neighbouring
    layers are related), and networks whose layer l is Z_l times a random rotation of their own
    plus a little noise: seeds of one architecture as a rotation-invariant measure sees them
    (tests/test_identify.cpp builds the same)."""
    z = rng.standard_normal((n, p))
    shared = []
    for _ in range(layers):
        z = np.tanh(z @ rng.standard_normal((p, p)) / np.sqrt(p))
        shared.append(z)
    return [[s @ rotation(rng, p) + noise * rng.standard_normal((n, p)) for s in shared] for _ in range(networks)]


def credit(row, right, lower_is_better):
    """The rule in numpy: 1 when `right` alone holds the best value, 1/t for a tie of t
    including it, 0 otherwise; NaN is never the best."""
    if np.all(np.isnan(row)):
        return 0.0
    best = np.nanmin(row) if lower_is_better else np.nanmax(row)
    if not row[right] == best:
        return 0.0
    return 1.0 / np.count_nonzero(row == best)


def test_every_layer_of_noisy_rotations_is_found(rng):
    nets = seeded_networks(rng, n=120, p=16)
    result = convlab.identify(nets, batch_size=None)
    assert isinstance(result, convlab.Identification)
    assert [r.measure for r in result] == ALL_LABELS  # every measure, CKA under both kernels, by default
    assert result.networks == ("network 0", "network 1", "network 2")
    assert result.layer_names == ("0", "1", "2", "3")
    assert result.pairs == ((1, 0), (2, 0), (0, 1), (2, 1), (0, 2), (1, 2))
    assert (result.examples, result.batch_size) == (120, 120)
    for r in result:
        assert isinstance(r, convlab.IdentifyRow)
        assert (r.layers, r.pairs) == (4, 6) and 0 <= r.accuracy <= 1
        assert r.per_layer.shape == (4,) and r.per_layer.dtype == np.float64
        assert r.accuracy == pytest.approx(r.per_layer.mean(), abs=1e-12)
    # CKA, Procrustes and mutual k-NN are invariant to rotations: they find every layer.
    for label in ("cka linear", "cka rbf", "procrustes", "mutual_knn"):
        assert result[label].accuracy == 1.0, label
        np.testing.assert_array_equal(result.most_similar(label), np.tile(np.arange(4), (6, 1)))
    assert result.accuracy["cka linear"] == 1.0
    assert len(result.matrices) == 6 and list(result.matrices[0]) == ALL_LABELS
    assert all(m.shape == (4, 4) for pair in result.matrices for m in pair.values())
    text = repr(result)
    assert text.startswith("which layer is which") and "cka linear      100.0%       4      6" in text, text
    assert "per layer of A" in result.table(per_layer=True)
    with pytest.raises(KeyError, match="no measure 'cka'.*cka linear"):
        result["cka"]


def test_unrelated_networks_score_about_chance(rng):
    # Independent layers: no measure can tell, and the accuracy is about 1 / 8.
    nets = [{f"layer{l}": rng.standard_normal((100, 10)) for l in range(8)} for _ in range(3)]
    result = convlab.identify(nets, measures=["cka", "rsa", "procrustes"], kernel="linear", batch_size=None)
    assert result.layer_names == tuple(f"layer{l}" for l in range(8))
    assert result.batch_size == 100
    for r in result:
        # 48 answers of chance 1/8 (6 right expected): 20 or more right has p < 1e-6.
        assert r.accuracy < 20 / 48, (r.measure, r.accuracy)


@pytest.mark.parametrize("measures,kernel", [(["cka", "rsa", "procrustes"], "both"), (["ridge", "pwcca"], "linear")])
def test_accuracies_are_a_count_over_the_matrices_of_every_ordered_pair(rng, measures, kernel):
    # Noisier networks, so that the measures miss some layers; a layer repeated in network 0
    # makes exact ties there.
    nets = seeded_networks(rng, networks=3, layers=4, n=120, p=20, noise=0.6)
    nets[0][2] = nets[0][1].copy()
    result = convlab.identify(nets, measures=measures, kernel=kernel, batch_size=60)
    labels = [r.measure for r in result]
    settings = [("cka", "linear"), ("cka", "rbf")] if kernel == "both" else [("cka", "linear")]
    expected_labels = [f"cka {k}" for m, k in settings if m in measures] + [m for m in measures if m != "cka"]
    assert labels == expected_labels
    assert result.pairs == tuple((a, b) for b in range(3) for a in range(3) if a != b)
    for label in labels:
        measure, k = (label.split() + ["linear"])[:2]
        per_layer = np.zeros(4)
        credits = []
        for p, (a, b) in enumerate(result.pairs):
            matrix = convlab.cka_matrix(nets[a], nets[b], measure=measure, kernel=k, batch_size=60)
            np.testing.assert_allclose(result.matrices[p][label], matrix, rtol=0, atol=1e-12, err_msg=label)
            for i in range(4):
                credits.append(credit(matrix[i], i, measure == "procrustes"))
                per_layer[i] += credits[-1]
        per_layer /= len(result.pairs)
        if label == "cka linear":
            assert 0.5 in credits  # a tie of the repeated layer that includes the right one
        np.testing.assert_allclose(result[label].per_layer, per_layer, rtol=0, atol=1e-12, err_msg=label)
        assert result[label].accuracy == pytest.approx(per_layer.mean(), abs=1e-12)
        # Most similar: the first best of each row (nanargmax, nanargmin for Procrustes).
        found = result.most_similar(label)
        for p in range(len(result.pairs)):
            values = result.matrices[p][label]
            best = np.nanargmin(values, axis=1) if measure == "procrustes" else np.nanargmax(values, axis=1)
            np.testing.assert_array_equal(found[p], best)
    if "cka" in measures:
        # Network 0's layers 1 and 2 are the same array: as B, every row ties them. A's layers
        # 1 and 2 get at most half a point from the two pairs with B = network 0.
        tied = [p for p, (a, b) in enumerate(result.pairs) if b == 0]
        for p in tied:
            m = result.matrices[p]["cka linear"]
            np.testing.assert_array_equal(m[:, 1], m[:, 2])
        assert 0 < result["cka linear"].accuracy < 1


def test_permutations_bootstrap_and_examples(rng):
    nets = seeded_networks(rng, networks=2, layers=3, n=120, p=12)
    result = convlab.identify(nets, measures="cka", kernel="linear", batch_size=40, permutations=20, bootstrap=10,
                              seed=3)
    tested = result.matrices[0]["cka linear"]
    assert isinstance(tested, convlab.Tested) and tested.permutations == 20
    assert isinstance(tested.bootstrap, convlab.Result) and tested.bootstrap.replicates == 10
    assert result["cka linear"].accuracy == 1.0
    np.testing.assert_array_equal(result.most_similar("cka linear"), [[0, 1, 2], [0, 1, 2]])
    # examples: the first N.
    first = convlab.identify(nets, measures="cka", kernel="linear", examples=80)
    assert (first.examples, first.batch_size) == (80, 80)
    np.testing.assert_allclose(first.matrices[0]["cka linear"], convlab.cka_matrix([x[:80] for x in nets[1]],
                                                                                 [x[:80] for x in nets[0]]),
                               rtol=0, atol=1e-12)


def test_bad_input_is_refused(rng):
    nets = seeded_networks(rng, networks=2, layers=3, n=40, p=6)
    with pytest.raises(convlab.InputError, match="two or more networks.*got 1"):
        convlab.identify(nets[:1])
    with pytest.raises(convlab.InputError, match="pass a list of two or more networks"):
        convlab.identify(np.stack([np.stack(n) for n in nets]))
    # Different layers: the core names both networks and their layers.
    with pytest.raises(convlab.InputError, match=r"one architecture: network 0 has layers \[0, 1, 2\] and network 1 "
                                                 r"has \[0, 1\]"):
        convlab.identify([nets[0], nets[1][:2]], measures="cka")
    with pytest.raises(convlab.InputError, match=r"one architecture: .*\[a, b, c\].*\[0, 1, 2\]"):
        convlab.identify([dict(zip("abc", nets[0])), {str(i): x for i, x in enumerate(nets[1])}], measures="cka")
    with pytest.raises(convlab.InputError, match="examples"):
        convlab.identify([nets[0], [x[:30] for x in nets[1]]], measures="cka")
    for kwargs, message in [
        ({"measures": "cca"}, "unknown measure 'cca'"),
        ({"measures": []}, "no measure"),
        ({"kernel": "poly"}, "unknown kernel 'poly': use 'linear', 'rbf' or 'both'"),
        ({"estimator": "unbiased"}, "unknown estimator 'unbiased'"),
        ({"batch_size": 0}, "batch_size must be a positive integer"),
        ({"batch_size": 2}, "batch"),
        ({"examples": 0}, "examples must be a positive integer"),
        ({"knn": 0}, "knn must be"),
        ({"svcca_variance": 1.5}, "svcca_variance must lie in"),
        ({"ridge": -1.0}, "ridge must be a positive penalty"),
        ({"permutations": -1}, "permutations must be"),
        ({"bootstrap": 1}, "bootstrap must be 0"),
        ({"seed": -1}, "seed must be"),
        ({"device": "gpu"}, "unknown device 'gpu'"),
        ({"precision": "fp16"}, "unknown precision 'fp16'"),
        ({"images": np.zeros((4, 32, 32, 3), np.uint8)}, "images and data are for networks given as checkpoints"),
    ]:
        with pytest.raises(convlab.InputError, match=message):
            convlab.identify(nets, **kwargs)
    # Settings are checked before any checkpoint is read.
    with pytest.raises(convlab.InputError, match="unknown estimator 'unbiased'"):
        convlab.identify(["no-such-run", "no-such-run-either"], estimator="unbiased")
    with pytest.raises(convlab.InputError, match="no-such-run"):
        convlab.identify(["no-such-run", "no-such-run-either"], images=np.zeros((4, 32, 32, 3), np.uint8))
    with pytest.raises(convlab.InputError, match="network 1: features must be numbers|layer 0 of network 1"):
        convlab.identify([nets[0], ["a", "b", "c"]])
    with pytest.raises(ValueError):  # InputError is a ValueError
        convlab.identify([nets[0]])


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Two depth-1 All-CNN-C runs (seeds 0 and 1), one epoch on 20 images; 10 test images."""
    pytest.importorskip("PIL.Image", reason="Pillow writes the tiny image folder: it is not installed")
    from image_folder import write_image_folder

    root = tmp_path_factory.mktemp("identify")
    images, _ = write_image_folder(root / "images", seed=3)
    results = [convlab.train(data=root / "images", cache_dir=root / "cache", output=root / f"seed_{s}", epochs=1,
                             train_size=20, batch_size=8, seed=s, device="cpu", no_download=True, quiet=True)
               for s in (0, 1)]
    return {"root": root, "images": images, "dirs": [r.run_dir for r in results]}


def test_checkpoints_as_convlab_analyze_identify_takes_them(runs):
    root, dirs = runs["root"], runs["dirs"]
    settings = dict(measures=["cka", "rsa"], kernel="linear", batch_size=5, device="cpu")
    # Run folders and CIFAR-10 from data=, as the command line takes them.
    result = convlab.identify(dirs, data=root / "images", cache_dir=root / "cache", **settings)
    assert result.networks == ("network 0 (seed_0 epoch 1)", "network 1 (seed_1 epoch 1)")
    assert result.layer_names[0] == "conv1 (1a)" and len(result.layer_names) == 10
    assert (result.examples, result.batch_size) == (10, 5)

    analyze = pathlib.Path(os.environ.get("CONVLAB_BUILD_DIR", "")) / "apps" / "convlab-analyze"
    if analyze.is_file():
        out = root / "cli"
        subprocess.run([str(analyze), "identify", *map(str, dirs), "--data", str(root / "images"), "--cache-dir",
                        str(root / "cache"), "--measure", "cka,rsa", "--kernel", "linear", "--batch-size", "5",
                        "--device", "cpu", "--output", str(out)], check=True, capture_output=True)
        for line in (out / "identify_layers.csv").read_text().splitlines()[1:]:
            measure, layer, accuracy = line.split(",")
            i = result.layer_names.index(layer)
            assert result[measure].per_layer[i] == pytest.approx(float(accuracy), abs=1e-6), line

    # Models, a checkpoint file and the features of a Model, over images given as an array:
    # all the same networks; the array network takes the models' layer names.
    images = runs["images"]
    models = [convlab.Model.from_checkpoint(d / "checkpoints" / "epoch_0001.safetensors", device="cpu")
              for d in dirs]
    before = models[0].features(images)
    by_path = convlab.identify([dirs[0] / "checkpoints" / "epoch_0001.safetensors", models[1]], images=images,
                               **settings)
    mixed = convlab.identify({"a": models[0], "b": list(models[1].features(images).values())}, images=images,
                             **settings)
    assert mixed.networks == ("a", "b") and mixed.layer_names == result.layer_names
    for label in ("cka linear", "rsa"):
        for p in range(2):
            np.testing.assert_allclose(mixed.matrices[p][label], by_path.matrices[p][label], rtol=0, atol=1e-4)
    # identify runs each network with its BatchNorms folded into the convolutions, and unfolds
    # them after: a Model gives what it gave before.
    after = models[0].features(images)
    for name in before:
        np.testing.assert_array_equal(after[name], before[name], err_msg=name)

    with pytest.raises(convlab.InputError, match=r"network 1 \(seed_1 epoch 1\) is a network run over images|"
                                                 r"CIFAR-10 not found"):
        convlab.identify([models[0], models[1]], data=root / "no-such-folder", **settings)
    with pytest.raises(convlab.InputError, match="images and data both give the images"):
        convlab.identify(models, images=images, data=root / "images", **settings)
    with pytest.raises(convlab.InputError, match="no checkpoints"):
        convlab.identify([root / "images", dirs[1]], images=images, **settings)
    with pytest.raises(convlab.InputError, match="uint8 pixels"):
        convlab.identify(models, images=images.astype(np.float32), **settings)
