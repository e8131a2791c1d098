"""``train`` on an existing run (extend with --epochs, or one line naming the setting that differs) and the
validation of train's options (issue 17)."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")

from deepcnt.bindings import presets  # noqa: E402
from deepcnt.bindings.cli import main  # noqa: E402
from deepcnt.bindings.datasets import load_dataset  # noqa: E402
from deepcnt.errors import InputError  # noqa: E402

SMALL = dict(n_train=120, n_test=40, threads=1)


def test_more_epochs_extend_a_finished_run_bit_identically(tmp_path):
    presets.train("zambra-mlp", tmp_path / "ext", epochs=2, members=2, **SMALL)
    ext = presets.train("zambra-mlp", tmp_path / "ext", epochs=4, members=2, **SMALL)
    straight = presets.train("zambra-mlp", tmp_path / "straight", epochs=4, members=2, **SMALL)
    assert list(ext.epochs) == list(straight.epochs) == [0, 1, 2, 3, 4]
    for t in range(5):
        (wa, ba), (wb, bb) = ext.read_arrays(t), straight.read_arrays(t)
        assert all(np.array_equal(x, y) for x, y in zip(wa + ba, wb + bb))
    again = presets.train("zambra-mlp", tmp_path / "ext", epochs=4, members=2, **SMALL)  # finished: nothing to do
    assert len(again) == 5
    with pytest.raises(InputError, match="holds epochs up to 4 already, more than the 3 asked for"):
        presets.train("zambra-mlp", tmp_path / "ext", epochs=3, members=2, **SMALL)


def test_another_setting_is_named(tmp_path):
    presets.train("zambra-mlp", tmp_path / "r", epochs=1, **SMALL)
    with pytest.raises(InputError, match=r"holds a run with lr=0.01, not 0.5: repeat its settings"):
        presets.train("zambra-mlp", tmp_path / "r", epochs=3, lr=0.5, **SMALL)
    with pytest.raises(InputError, match="preset 'zambra-mlp', not 'lamalfa-fc'"):
        presets.train("lamalfa-fc", tmp_path / "r", epochs=3, **SMALL)
    with pytest.raises(InputError, match="data n_train=120, not 100"):
        presets.train("zambra-mlp", tmp_path / "r", epochs=3, **dict(SMALL, n_train=100))


def test_dbn_epochs_are_per_layer_and_cannot_extend(tmp_path):
    kw = dict(hidden=(8, 4), batch_size=20, **SMALL)
    presets.train("testolin-dbn", tmp_path / "d", epochs=1, **kw)
    with pytest.raises(InputError, match="1 epochs per layer; a DBN trains layer by layer, so 2 per layer cannot"):
        presets.train("testolin-dbn", tmp_path / "d", epochs=2, **kw)


@pytest.mark.parametrize("argv,msg", [
    (["--n-train", "0"], "argument --n-train: '0' must be >= 1"),
    (["--hidden", "10,abc"], "argument --hidden: 'abc' in '10,abc' is not a layer width"),
    (["--hidden", "10,0"], "every layer width must be >= 1"),
    (["--epochs", "-1"], "argument --epochs: '-1' must be >= 1"),
    (["--lr", "nan"], "argument --lr: 'nan' must be a positive number"),
    (["--batch-size", "x"], "argument --batch-size: 'x' is not a whole number"),
])
def test_bad_train_options_are_one_line(tmp_path, capsys, argv, msg):
    with pytest.raises(SystemExit) as exc:
        main(["train", "--preset", "zambra-mlp", "--out", str(tmp_path / "r"), *argv])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert msg in err and "Traceback" not in err
    assert not (tmp_path / "r").exists()


def test_subset_sizes_are_validated():
    ds = load_dataset("digits")
    for bad in (0, -3, 2.5, "abc", True):
        with pytest.raises(InputError, match="n_train must be a whole number >= 1"):
            ds.subset(n_train=bad)
    with pytest.raises(InputError, match="n_test must be"):
        ds.subset(n_test=0)
    assert len(ds.subset(n_train=5.0).y_train) == 5


def test_a_long_setting_is_shortened_in_the_message():
    from deepcnt.bindings.train_loop import check_same_run

    old = {"preset": "lamalfa-fc", "config": {"init_scale": [0.01 * k for k in range(1, 17)]}, "data": {}}
    with pytest.raises(InputError) as exc:
        check_same_run("run", old, "lamalfa-fc", {"init_scale": [0.5] * 12}, {})
    msg = str(exc.value)
    assert "init_scale=[0.01, 0.02, 0.03, 0.04, ... (16 values)], not [0.5, 0.5, 0.5, 0.5, ... (12 values)]" in msg
    assert len(msg) < 300
