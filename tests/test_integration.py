"""Seams between families: from_module on conv models, the CNN preset through train(), ensembles of any size."""
import numpy as np
import pytest

import deepcnt

torch = pytest.importorskip("torch")


def test_from_module_delegates_to_conv_models():
    from deepcnt.bindings.torch import from_module
    from deepcnt.bindings.torch_conv import from_conv_module

    nn = torch.nn
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 3, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(48, 5))
    g, ref = from_module(model, input_shape=(1, 8, 8)), from_conv_module(model, (1, 8, 8))
    assert isinstance(g.blocks[0], deepcnt.ConvBlock) and g.sizes == ref.sizes
    np.testing.assert_allclose(deepcnt.strength(g), deepcnt.strength(ref))
    with pytest.raises(deepcnt.InputError):
        from_module(model)  # a conv model needs its input shape
    lin = nn.Sequential(nn.Linear(4, 3), nn.Tanh(), nn.Linear(3, 2))
    assert from_module(lin).sizes == (4, 3, 2)


def test_lamalfa_presets_through_train(tmp_path):
    from deepcnt.bindings.presets import train

    s = train("lamalfa-cnn", tmp_path / "cnn", data="digits", epochs=1, members=1, n_train=64, n_test=32,
              threads=1, filters=2)
    assert len(s) >= 1 and s.n_members == 1
    s.close()
    s = train("lamalfa-fc", tmp_path / "fc", data="digits", epochs=1, members=2, n_train=64, n_test=32, threads=1)
    assert s.n_members == 2 and s.metadata["config"]["init_scale"] == [0.01, 0.05]
    s.close()


def test_zambra_colours_from_the_graph_feed_motifs():
    rng = np.random.default_rng(0)
    g = deepcnt.LayeredGraph.from_weights([rng.normal(size=(6, 5)), rng.normal(size=(5, 4))])
    cols = deepcnt.zambra_colors(g, exclusion_cutoff=0.55)
    assert [c.shape for c in cols] == [(6, 5), (5, 4)] and set(np.unique(np.concatenate([c.ravel() for c in cols]))) <= {0, 1, 2, 3}
    counts = deepcnt.motifs(g, colors=cols)
    assert sum(counts.counts.values()) > 0
