"""The report's figures (issue 17): the data behind them (ensemble bands, sweeps, role regions, sign shares,
distinct styles) and, on a tiny analysed run, that every figure is written with both axes labelled, no colour
twice among a plot's labelled lines, layers as a legend rather than a colour bar, and the member shown named."""
import warnings

import numpy as np
import pandas as pd
import pytest

from deepcnt.bindings import figures
from deepcnt.communities.roles import HUB_Z, node_roles
from runs import make_run


@pytest.mark.parametrize("n0, metadata, want", [
    (784, {}, (28, 28)),  # a chain's store: a flattened square image, as MNIST
    (100, {}, (10, 10)),
    (20, {}, None),
    (36, {"input_shape": [1, 6, 6], "input_dtype": "float32"}, (6, 6)),  # a traced model that flattens an image
    (48, {"input_shape": [6, 8]}, (6, 8)),
    (64, {"input_shape": [64]}, (8, 8)),
    (192, {"input_shape": [3, 8, 8]}, None),  # colour
    (16, {"input_shape": [8, 16], "input_dtype": "float32"}, None),  # one token's 16 features of a sequence of 8
    (16, {"input_shape": [16], "input_dtype": "int64"}, None),  # 16 token ids into an embedding of width 16
])
def test_input_image_is_drawn_only_for_one_grey_channel_of_the_input(n0, metadata, want):
    from types import SimpleNamespace

    from deepcnt.bindings.figures_rf import input_image

    shape, why = input_image(SimpleNamespace(sizes=(n0, 3), metadata=metadata))
    assert shape == want and (why is None) == (want is not None)
    assert why is None or len(why) < 200 and why[0].islower()


def test_distinct_styles_never_repeat_a_colour_up_to_20_then_a_colour_and_line_style():
    for n in (1, 13, 20):
        colors = [s["color"] for s in figures.distinct_styles(n)]
        assert len(set(colors)) == n
    pairs = [(s["color"], s["linestyle"]) for s in figures.distinct_styles(80)]
    assert len(set(pairs)) == 80


def test_ensemble_band_is_mean_min_max_over_members_per_epoch():
    df = pd.DataFrame({"member": [0, 1, 2, 0, 1, 2], "epoch": [0, 0, 0, 5, 5, 5],
                       "x": [1.0, 2.0, 6.0, 0.0, 0.0, 3.0]})
    mean, lo, hi, n = figures.ensemble_band(df, ["x"])
    assert n == 3 and list(mean.index) == [0, 5]
    np.testing.assert_allclose(mean["x"], [3.0, 1.0])
    np.testing.assert_allclose(lo["x"], [1.0, 0.0])
    np.testing.assert_allclose(hi["x"], [6.0, 3.0])
    assert figures.ensemble_note(3) == "mean of 3 members, band min–max"
    assert figures.member_note(1) == "" and figures.member_note(4) == ", member 0 of 4"


def test_member_sweep_names_members_that_differ_in_a_setting_and_not_replicates():
    lamalfa = {"config": {"init_scale": [0.01, 0.05, 0.1, 0.5], "hidden": [32, 16, 8, 4], "seeds": [0, 1, 2, 3]}}
    assert figures.member_sweep(lamalfa, 4) == ["init_scale=0.01", "init_scale=0.05", "init_scale=0.1",
                                                "init_scale=0.5"]
    assert figures.member_sweep(lamalfa, 6)[4:] == ["init_scale=0.01", "init_scale=0.05"]  # cycled, as trained
    assert figures.member_sweep({"config": {"init_scale": 0.1, "hidden": [5, 3]}}, 2) is None
    assert figures.member_sweep({"config": {"init_scale": [0.1, 0.1]}}, 2) is None
    assert figures.member_sweep({}, 3) is None and figures.member_sweep(lamalfa, 1) is None


def test_role_regions_are_the_regions_node_roles_assigns():
    regions = figures.role_regions()
    assert [r[0] for r in regions] == list(range(1, 8))
    for hub in (False, True):
        row = [r[2] for r in regions if r[3] == hub]
        assert row[0][0] == 0 and row[-1][1] == 1 and all(a[1] == b[0] for a, b in zip(row, row[1:]))
    assert [r[2][1] for r in regions if not r[3]][:-1] == [0.05, 0.62, 0.80]
    assert [r[2][1] for r in regions if r[3]][:-1] == [0.30, 0.75]
    for role, name, (p0, p1), hub in regions:
        z = HUB_Z + 1 if hub else HUB_Z - 1
        for p in ((p0 + p1) / 2, p1):  # the centre and the upper boundary (P <= boundary belongs to the region)
            assert node_roles(np.array([p]), np.array([z]))[0] == role, (name, p)
    assert node_roles(np.array([0.5]), np.array([HUB_Z]))[0] == 5 + 1  # z = 2.5 is a hub


def test_signed_shares_sum_to_one_per_class_and_epoch():
    epochs = pd.DataFrame({"member": [0, 1, 0, 1], "epoch": [0, 0, 1, 1],
                           "motif_chain3[++]": [1, 3, 0, 0], "motif_chain3[+-]": [3, 1, 0, 0],
                           "motif_bifan[++|++]": [2, 2, 1, 1], "motif_chain3": [4, 4, 0, 0]})
    shares = figures.signed_shares(epochs)
    assert set(shares) == {"chain3", "bifan"}
    np.testing.assert_allclose(shares["chain3"].loc[0], [0.5, 0.5])
    assert shares["chain3"].loc[1].isna().all()  # no instance: no share, not 0/0 drawn as 0
    np.testing.assert_allclose(shares["bifan"]["[++|++]"], [1.0, 1.0])


@pytest.fixture(scope="module")
def analysed(tmp_path_factory):
    import deepcnt

    run = make_run(tmp_path_factory.mktemp("figs") / "run", n_epochs=3, members=2, sizes=(16, 5, 4, 3))
    deepcnt.analyze(run, threshold=0.3, metrics=["degree", "strength", "layers_fluctuation", "motifs",
                                                 "motifs_signed", "modularity", "communities"])
    return run


def _check_figure(fig, path):
    """Every visible axis labelled; labelled lines of one plot in distinct colours (or colour + line style)."""
    for ax in fig.axes:
        if not ax.axison or ax.get_label() == "<colorbar>":
            continue
        if ax.xaxis.get_visible():
            assert ax.get_xlabel().strip(), (path.name, ax.get_title(), "x")
        if ax.yaxis.get_visible():
            assert ax.get_ylabel().strip(), (path.name, ax.get_title(), "y")
        lines = [ln for ln in ax.get_lines() if not ln.get_label().startswith("_")]
        styles = [(ln.get_color(), ln.get_linestyle()) for ln in lines]
        assert len(set(styles)) == len(styles), (path.name, ax.get_title())


def test_every_report_figure_has_labelled_axes_and_says_what_it_shows(analysed, monkeypatch):
    from deepcnt.bindings.report import report

    saved = {}
    save = figures._save

    def check_and_save(fig, path):
        _check_figure(fig, path)
        saved[path.name] = (fig.get_suptitle(), [ax.get_title() for ax in fig.axes],
                            [ax.get_label() for ax in fig.axes])
        return save(fig, path)

    monkeypatch.setattr(figures, "_save", check_and_save)
    report(analysed)
    assert {"weights.png", "strength_per_layer.png", "degree_per_layer.png", "per_epoch.png", "motifs.png",
            "motifs_signed.png", "cartography.png", "receptive_fields_epoch0.png"} <= set(saved)
    # one member of two shown: named; curves: the ensemble counted
    assert "member 0 of 2" in saved["weights.png"][0] and "member 0 of 2" in saved["strength_per_layer.png"][0]
    assert "member 0 of 2" in saved["receptive_fields_epoch0.png"][0]
    assert "mean of 2 members" in saved["per_epoch.png"][0] and "mean of 2 members" in saved["motifs.png"][0]
    # layers are categories: the cartography has a legend of layer names, no colour bar
    titles, labels = saved["cartography.png"][1], saved["cartography.png"][2]
    assert "<colorbar>" not in labels and "2 members pooled" in titles[0]
    # per-layer columns share one panel, named by layer
    assert "layers_fluctuation" in saved["per_epoch.png"][1]


def test_cartography_draws_the_role_boundaries_and_labels_every_region(analysed, tmp_path, monkeypatch):
    from deepcnt.runs.pipeline import Analysis

    nodes = Analysis(analysed / "analysis", 0, 0).nodes()
    kept = {}
    monkeypatch.setattr(figures, "_save", lambda fig, path: kept.setdefault("fig", fig))
    figures.fig_cartography(nodes, tmp_path)
    ax = kept["fig"].axes[0]
    texts = " ".join(t.get_text() for t in ax.texts)
    for role in range(1, 8):
        assert f"R{role}" in texts
    horizontal = [ln for ln in ax.get_lines() if np.allclose(ln.get_ydata(), HUB_Z)]
    verticals = sorted(float(ln.get_xdata()[0]) for ln in ax.get_lines()
                       if len(ln.get_xdata()) == 2 and ln.get_xdata()[0] == ln.get_xdata()[1])
    assert horizontal and verticals == [0.05, 0.30, 0.62, 0.75, 0.80]
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert [t.split(" ")[0] for t in legend] == ["L0", "L1", "L2", "L3"]  # the store's layer names


def test_epoch_axis_is_logarithmic_for_log_spaced_schedules_only():
    from deepcnt.bindings.train_loop import save_epochs

    for schedule, last, log in (("shine", 100_000, True), ("log:6", 30, True), ("log:20", 1000, True),
                                ("every", 30, False), ("every:5", 100, False), ("every", 3, False)):
        assert figures.log_spaced(sorted(save_epochs(schedule, last))) is log, schedule


def test_a_sweep_is_drawn_one_curve_per_member_and_replicates_as_a_band(tmp_path, monkeypatch):
    from matplotlib.collections import PolyCollection

    epochs = pd.DataFrame({"member": [0, 1] * 3, "epoch": [0, 0, 1, 1, 2, 2], "entry": [0, 0, 1, 1, 2, 2],
                           "loss": [3.0, 2.0, 2.0, 1.5, 1.0, 1.2], "test_acc": [0.1, 0.2, 0.3, 0.4, 0.5, 0.6],
                           "motif_chain3": [5, 6, 7, 8, 9, 9], "motif_fanin2": [1, 2, 1, 2, 1, 2]})
    kept = {}
    monkeypatch.setattr(figures, "_save", lambda fig, path: kept.__setitem__(path.name, fig))
    sweep = ["init_scale=0.01", "init_scale=0.5"]
    figures.fig_scalars(epochs, tmp_path, sweep=sweep)
    figures.fig_motif_lines(epochs, tmp_path, "motif_", "count", "motif counts", "motifs.png", sweep=sweep)
    for name, fig in kept.items():
        assert [t.get_text() for t in fig.legends[0].get_texts()] == sweep, name
        assert not any(isinstance(c, PolyCollection) for ax in fig.axes for c in ax.collections), name
        assert "2 members, one colour each" in fig.get_suptitle()
    kept.clear()
    figures.fig_scalars(epochs, tmp_path)  # replicates: the mean, a min-max band, the twin accuracy axis
    fig = kept["per_epoch.png"]
    loss = next(ax for ax in fig.axes if ax.get_title() == "loss")
    np.testing.assert_allclose(loss.get_lines()[0].get_ydata(), [2.5, 1.75, 1.1])
    assert any(isinstance(c, PolyCollection) for c in loss.collections)
    assert "mean of 2 members, band min–max" in fig.get_suptitle()


@pytest.mark.parametrize("n_layers", (3, 55))
def test_a_deep_networks_layers_are_coloured_by_depth_with_a_colour_bar(tmp_path, monkeypatch, n_layers):
    """Up to LEGEND_LAYERS layers a panel has a legend of layers; a deep network's (MobileNetV2: 55) would cover
    the figure: its lines go from dark (input) to yellow (output), with a colour bar; the layout holds."""
    names = [f"mobilenet_v2.layer.{k}.conv_3x3.convolution" for k in range(n_layers)]
    epochs = pd.DataFrame({"member": 0, "epoch": [1, 2, 3], "entry": [0, 1, 2], "n_edges": [345426, 345400, 345411],
                           **{f"layers_fluctuation_{n}": [0.1 * k, 0.2, 0.3] for k, n in enumerate(names)}})
    kept = {}
    monkeypatch.setattr(figures, "_save", lambda fig, path: kept.__setitem__(path.name, fig))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        figures.fig_scalars(epochs, tmp_path, layer_names=names)
    fig = kept["per_epoch.png"]
    panel = next(ax for ax in fig.axes if ax.get_title() == "layers_fluctuation")
    assert len(panel.get_lines()) == n_layers
    deep = n_layers > figures.LEGEND_LAYERS
    assert (panel.get_legend() is None) == deep
    assert len(fig.axes) == 3 + deep  # the two panels, an empty cell, the colour bar of a deep network
    if deep:
        first, last = (panel.get_lines()[i].get_color() for i in (0, -1))
        assert first != last
    fig.canvas.draw()
    edges = next(ax for ax in fig.axes if ax.get_title() == "n_edges")
    assert edges.yaxis.get_major_formatter().get_offset() == ""  # counts as they are, no "+3.454e5"


def test_an_unchanged_block_is_named_as_a_repeat_not_hidden_under_a_later_curve(tmp_path, monkeypatch):
    """A DBN trains layer by layer: W1 is frozen once its RBM is done and its curves coincide."""
    from deepcnt.runs.store import EpochStore

    rng = np.random.default_rng(0)
    W1 = rng.normal(size=(1, 4, 3)).astype(np.float32)
    s = EpochStore.create(tmp_path / "run", sizes=(4, 3, 2), n_members=1, biases=False)
    for e in range(3):
        s.append(e, [W1, rng.normal(size=(1, 3, 2)).astype(np.float32)])
    kept = {}
    monkeypatch.setattr(figures, "_save", lambda fig, path: kept.__setitem__(path.name, fig))
    figures.fig_weights(s, tmp_path)
    s.close()
    ax1, ax2 = kept["weights.png"].axes
    assert [t.get_text() for t in ax1.get_legend().get_texts()] == ["epoch 0", "epoch 1 (= epoch 0)",
                                                                   "epoch 2 (= epoch 0)"]
    assert [t.get_text() for t in ax2.get_legend().get_texts()] == ["epoch 0", "epoch 1", "epoch 2"]
    assert kept["weights.png"].get_suptitle() == "weight distributions"  # one member: nothing to name


def test_per_layer_histograms_of_a_deep_model_wrap_into_rows(tmp_path, monkeypatch):
    """A 12-layer model (a small transformer has more) draws its layers in rows of PANELS_PER_ROW, each panel
    titled with its layer, not one unreadable row of 12."""
    rng = np.random.default_rng(1)
    n_layers, width = 12, 4
    nodes = pd.DataFrame({"member": 0, "entry": np.repeat([0, 1], n_layers * width),
                          "epoch": np.repeat([0, 5], n_layers * width),
                          "layer": np.tile(np.repeat(np.arange(n_layers), width), 2),
                          "strength": rng.normal(size=2 * n_layers * width)})
    nodes["layer_name"] = "L" + nodes.layer.astype(str)
    kept = {}
    monkeypatch.setattr(figures, "_save", lambda fig, path: kept.__setitem__(path.name, fig))
    figures.fig_node_hist(nodes, tmp_path, "strength")
    fig = kept["strength_per_layer.png"]
    drawn = [ax for ax in fig.axes if ax.axison]
    assert [ax.get_title() for ax in drawn] == [f"layer L{l}" for l in range(n_layers)]
    rows = {round(ax.get_position().y0, 3) for ax in drawn}
    assert len(rows) == -(-n_layers // figures.PANELS_PER_ROW)
    assert fig.get_size_inches()[0] <= 4 * figures.PANELS_PER_ROW
    nodes["layer_name"] = "mobilenet_v2.layer." + nodes.layer.astype(str) + ".conv_3x3.convolution.extra"
    with warnings.catch_warnings():  # long module paths: the titles fit their panels, the layout holds
        warnings.simplefilter("error")
        figures.fig_node_hist(nodes, tmp_path, "strength")
    assert all(ax.get_title().startswith("layer …") for ax in kept["strength_per_layer.png"].axes if ax.axison)


def test_panel_titles_of_long_module_paths_break_and_keep_their_end():
    assert figures.panel_title("W1: fc1 →", "fc2") == "W1: fc1 → fc2"
    t = figures.panel_title("W1: model.embed_tokens →", "model.layers.0.self_attn.q_proj")
    assert t == "W1: model.embed_tokens →\nmodel.layers.0.self_attn.q_proj"
    long = figures.panel_title("encoder.layer.11.attention.output.dense.extra.names", lead="layer ")
    assert len(long) == figures.TITLE_LINE and long.startswith("layer …") and long.endswith("dense.extra.names")
    two = figures.panel_title("mobilenet_v2.layer.0.conv_3x3.convolution →", "mobilenet_v2.layer.0.reduce_1x1",
                              lead="W12: ")
    assert two.startswith("W12: …") and max(map(len, two.split("\n"))) <= figures.TITLE_LINE
