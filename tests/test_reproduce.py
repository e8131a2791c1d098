"""``deepcnt reproduce``: each seed paper's findings keep their direction at reduced size (a regression in any
metric that breaks a paper's result fails here), resuming, the findings table and the CLI."""
import csv

import pytest

from deepcnt.bindings.cli import main
from deepcnt.bindings.reproduce import RECIPES, reproduce, steps_to_epochs
from deepcnt.errors import InputError


@pytest.fixture(scope="module")
def testolin(tmp_path_factory):
    return reproduce("testolin", tmp_path_factory.mktemp("testolin"), size="tiny", threads=1)


@pytest.fixture(scope="module")
def shine(tmp_path_factory):
    return reproduce("shine", tmp_path_factory.mktemp("shine"), size="tiny", threads=1)


def _finding(result, start):
    return next(f for f in result.findings if f.name.startswith(start))


def test_steps_to_epochs():
    assert steps_to_epochs(135_000, 1437, 32) == 3000  # 45 batches an epoch
    assert steps_to_epochs(30_000, 60_000, 100) == 50  # Testolin's 50 epochs of MNIST
    assert steps_to_epochs(1, 1437, 32) == 1


def test_testolin_directions(testolin):
    # CD-1 turns the weights inhibitory: the mean falls below zero (Testolin §4.1) ...
    assert _finding(testolin, "mean weight").value < 0
    assert _finding(testolin, "mean weight").shown
    # ... and the visible units' strengths turn negative (§4.2)
    assert _finding(testolin, "visible units").value > 0
    # the h1 receptive fields form clusters of similar units (§4.3, Fig. 5): the silhouette of the EMD
    # clusters grows with training
    rf = _finding(testolin, "receptive fields form clusters")
    assert rf.value > 0 and rf.shown
    assert (testolin.table.parent / "rf_dendrogram.png").stat().st_size > 0


def test_shine_directions(shine):
    # the early edge change of the input weights tracks the pixels' information about the class (Fig. 2C)
    assert _finding(shine, "early edge change").value > 0.3
    # the consensus across epochs (of per-epoch consensus partitions seeded by the previous epoch's) gives
    # modules that span the layers, not one module per layer
    assert _finding(shine, "a consensus across epochs").shown


def test_outputs(testolin, shine):
    for r in (testolin, shine):
        out = r.table.parent
        assert r.table.read_text().count("\n| ") == len(r.findings) + 1  # header + one line per finding
        rows = list(csv.DictReader(open(out / "findings.csv")))
        assert [row["finding"] for row in rows] == [f.name for f in r.findings]
        assert all(row["paper_number"] for row in rows)
        assert r.figures and all(p.exists() and p.stat().st_size > 0 for p in r.figures)


def test_other_size_in_same_out_is_refused(testolin):
    with pytest.raises(InputError, match="another --size or --data.*give another --out"):
        reproduce("testolin", testolin.table.parent, size="small", threads=1)


def test_bad_arguments(tmp_path):
    with pytest.raises(InputError, match="unknown paper"):
        reproduce("nobody", tmp_path)
    with pytest.raises(InputError, match="unknown size"):
        reproduce("testolin", tmp_path, size="huge")
    assert set(RECIPES) >= {"testolin", "shine", "lamalfa", "zambra"}


def test_cli_resumes(testolin, capsys):
    """The CLI on the fixture's output: a resume with nothing left to train or analyse, the same findings."""
    from deepcnt import EpochStore

    out = testolin.table.parent
    n = len(EpochStore.open(testolin.run))
    assert main(["reproduce", "testolin", "--size", "tiny", "--out", str(out), "--quiet", "--threads", "1"]) == 0
    text = capsys.readouterr().out
    assert "mean weight shifts negative" in text and "findings.md" in text
    assert len(EpochStore.open(testolin.run)) == n
    values = [float(row["value"]) for row in csv.DictReader(open(out / "findings.csv"))]
    assert values == pytest.approx([f.value for f in testolin.findings], rel=1e-5, nan_ok=True)  # 6 digits
    with pytest.raises(SystemExit) as e:
        main(["reproduce", "nobody"])
    assert e.value.code == 2


@pytest.mark.slow
def test_shine_modularity_directions(tmp_path):
    # Q does not rise while accuracy makes most of its gain, then rises (Fig. 1D-E); needs ~20,000 steps, so
    # slow; the tiny run above covers the same code
    r = reproduce("shine", tmp_path, size="small", threads=1)
    assert _finding(r, "Q flat").value < _finding(r, "then Q rises").value
    assert _finding(r, "then Q rises").value > 0


def test_zambra_directions(tmp_path):
    # coloured 4-node motifs significant after training and not at init (Zambra et al.)
    r = reproduce("zambra", tmp_path, size="tiny", threads=1)
    assert _finding(r, "significant 4-node motifs emerge").value > 0
    # ... and their z differ more between normal and orthogonal init than between two seeds of normal init
    assert _finding(r, "the motifs depend").value > 0
    assert (tmp_path / "run-orthogonal").is_dir() and (tmp_path / "run-normal-seed1").is_dir()


def test_lamalfa_directions(tmp_path):
    # the ensemble spans low and high accuracy (tiny and huge init scales, tanh saturating), and the layers
    # fluctuation separates the two groups beyond chance, the high-accuracy networks' median Φ above (La Malfa)
    r = reproduce("lamalfa", tmp_path, size="tiny", threads=1)
    assert _finding(r, "the ensemble spans").shown
    sep = _finding(r, "layers fluctuation separates")
    assert sep.shown and sep.value > 0
    assert "weight block" in _finding(r, "... beyond the weights' scale").statistic  # the control is reported
    assert (tmp_path / "run-relu-uniform").is_dir() and (tmp_path / "run-tanh-normal").is_dir()
    assert (tmp_path / "fluctuation.png").stat().st_size > 0


def test_lamalfa_iid_fluctuation_and_groups():
    import numpy as np

    import deepcnt
    from deepcnt.bindings.reproduce_lamalfa import accuracy_split, group_separation, iid_fluctuation

    rng = np.random.default_rng(0)
    blocks = [rng.normal(0, 0.3, (400, 300)), rng.normal(0, 2.0, (300, 200))]
    phi = deepcnt.layers_fluctuation(deepcnt.LayeredGraph.from_weights(blocks))
    assert phi / iid_fluctuation(blocks) == pytest.approx(1.0, abs=0.1)  # i.i.d. weights: the ratio is 1
    low, high = accuracy_split([0.1, 0.3, 0.6, 0.85, 0.9], n_classes=10)  # halfway 0.5; best − 0.1 = 0.8
    assert low.tolist() == [True, True, False, False, False] and high.tolist() == [False, False, False, True, True]
    values = np.r_[rng.uniform(1, 2, (6, 3)), rng.uniform(100, 200, (6, 3))]
    lo = np.r_[np.ones(6, bool), np.zeros(6, bool)]
    d, p = group_separation(values, lo, ~lo)
    assert d > 1 and p < 0.01
    d0, p0 = group_separation(rng.uniform(1, 2, (12, 3)), lo, ~lo)
    assert d0 < d and p0 > 0.01


def test_show_draws_every_figure_written(testolin):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figs = testolin.show()
    assert len(figs) == len(testolin.figures)
    for fig, png in zip(figs, testolin.figures):
        (image,) = fig.axes[0].get_images()
        assert image.get_array().shape[:2] == plt.imread(png).shape[:2]
        plt.close(fig)
