"""``ingest`` through the model that wrote the checkpoints (issue 15): ``deepcnt ingest ckpts/ --model
pkg.mod:Net``, traced into block DAGs (a residual net with BatchNorm), pruned checkpoints
(``torch.nn.utils.prune``) as sparse blocks, ``save_pretrained``-style safetensors folders, a model that does not
fit the checkpoints (one line), and the ``Recorder`` of traced models."""
import json
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")
nn = torch.nn
prune = pytest.importorskip("torch.nn.utils.prune")

import deepcnt  # noqa: E402
from deepcnt import SparseBlock  # noqa: E402
from deepcnt.bindings import figures  # noqa: E402
from deepcnt.bindings.cli import main  # noqa: E402
from deepcnt.bindings.torch import Recorder, ingest  # noqa: E402
from deepcnt.bindings.trace import trace_module  # noqa: E402
from deepcnt.errors import InputError  # noqa: E402
from deepcnt.runs.store import EpochStore  # noqa: E402

NETS = '''
import torch
import torch.nn as nn


class BasicBlock(nn.Module):
    """torchvision's BasicBlock: conv-bn-relu-conv-bn, plus the input (or its 1x1 projection)."""

    def __init__(self, cin, cout, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out += identity
        return self.relu(out)


class TinyResNet(nn.Module):
    def __init__(self, width=4, classes=3):
        super().__init__()
        self.stem = nn.Conv2d(2, width, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(width)
        self.layer1 = BasicBlock(width, width)
        self.layer2 = BasicBlock(width, 2 * width, stride=2)
        self.pool = nn.AvgPool2d(2)
        self.fc = nn.Linear(2 * width * 2 * 2, classes)

    def forward(self, x):
        x = self.layer2(self.layer1(torch.relu(self.bn(self.stem(x)))))
        return self.fc(torch.flatten(self.pool(x), 1))


class TinyLM(nn.Module):
    """Token ids into an embedding as wide as the sequence is long (a square number: 16)."""

    def __init__(self):
        super().__init__()
        self.emb, self.fc1, self.fc2 = nn.Embedding(10, 16), nn.Linear(16, 16), nn.Linear(16, 10)

    def forward(self, ids):
        return self.fc2(torch.relu(self.fc1(self.emb(ids))))


class FlatImage(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(30, 5), nn.Linear(5, 2)

    def forward(self, x):
        return self.fc2(torch.relu(self.fc1(torch.flatten(x, 1))))


class MLP(nn.Module):
    def __init__(self, hidden=12):
        super().__init__()
        self.fc1, self.fc2, self.fc3 = nn.Linear(7, hidden), nn.Linear(hidden, hidden), nn.Linear(hidden, 3)

    def forward(self, x):
        return self.fc3(torch.relu(self.fc2(torch.relu(self.fc1(x)))))
'''


@pytest.fixture
def nets(tmp_path, monkeypatch):
    """The module ``dc_nets`` (importable from the current directory, as a user's package would be)."""
    (tmp_path / "dc_nets.py").write_text(NETS)
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop("dc_nets", None)
    import dc_nets

    yield dc_nets
    sys.modules.pop("dc_nets", None)


def _randomise(model, seed):
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * 0.5)
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.copy_(torch.randn(m.num_features, generator=gen))
                m.running_var.copy_(torch.rand(m.num_features, generator=gen) + 0.5)
    return model


def test_cli_ingest_of_a_residual_net(nets, tmp_path, capsys):
    models = []
    (tmp_path / "ck").mkdir()
    for e in range(3):
        m = _randomise(nets.TinyResNet(width=4), e)
        models.append(m)
        sd = {k: v for k, v in m.state_dict().items() if not (e == 1 and k.endswith("num_batches_tracked"))}
        torch.save({"epoch": e, "model_state_dict": sd}, tmp_path / "ck" / f"ckpt_{e}.pt")
    code = main(["ingest", "ck", "--model", "dc_nets:TinyResNet", "--model-args", '{"width": 4}',
                 "--input-shape", "2,8,8", "--out", "run", "--quiet"])
    assert code == 0
    assert "3 checkpoints ingested as epochs 0..2" in capsys.readouterr().out
    s = EpochStore.open(tmp_path / "run")
    assert s.meta["format_version"] == 3 and s.metadata["model"] == "dc_nets:TinyResNet"
    assert s.metadata["model_args"] == {"width": 4} and s.metadata["input_shape"] == [2, 8, 8]
    for e, m in enumerate(models):
        ref = trace_module(m, torch.zeros(1, 2, 8, 8))
        g = s.graph(e)
        assert g.pairs == ref.pairs and g.sizes == ref.sizes and g.skip_pairs
        assert g.layer_names == ref.layer_names
        np.testing.assert_allclose(deepcnt.strength(g, sign="abs"), deepcnt.strength(ref, sign="abs"), rtol=1e-5)
        np.testing.assert_array_equal(deepcnt.degree(g), deepcnt.degree(ref))
        np.testing.assert_allclose(deepcnt.nodes_strength(g), deepcnt.nodes_strength(ref), rtol=1e-5, atol=1e-6)
    a = deepcnt.analyze(tmp_path / "run", metrics=["degree", "strength"])
    assert len(a.nodes()) == 3 * s.graph(0).n_nodes


@pytest.mark.parametrize("model, shape, drawn, pruned", [("TinyLM", "16", None, False),
                                                          ("FlatImage", "1,5,6", (5, 6), False),
                                                          ("FlatImage", "1,5,6", (5, 6), True)])
def test_report_draws_receptive_fields_only_over_an_image_input(nets, tmp_path, monkeypatch, model, shape, drawn,
                                                                 pruned):
    """A token model's first layer is one token's features (16, a square) and its input integer ids: no
    receptive fields; a flattened 5×6 grey image: 5×6 fields, its first layer dense or pruned (a sparse block)."""
    (tmp_path / "ck").mkdir()
    for e in range(2):
        torch.manual_seed(e)
        m = getattr(nets, model)()
        if pruned:
            prune.l1_unstructured(m.fc1, "weight", amount=0.5)
        torch.save(m.state_dict(), tmp_path / "ck" / f"e{e}.pt")
    assert main(["ingest", "ck", "--model", f"dc_nets:{model}", "--input-shape", shape, "--out", "run", "--quiet"]) == 0
    assert main(["analyze", "run", "--metrics", "degree,strength", "--quiet"]) == 0
    titles, save = {}, figures._save

    def save_and_keep_title(fig, path):
        titles[path.name] = fig.get_suptitle()
        return save(fig, path)

    monkeypatch.setattr(figures, "_save", save_and_keep_title)
    assert main(["report", "run"]) == 0
    page = (tmp_path / "run" / "analysis" / "report" / "index.html").read_text()
    assert ("receptive_fields_epoch1.png" in page) == (drawn is not None)
    if drawn is None:
        assert "Not drawn: receptive fields: the model&#x27;s input is integer ids (tokens)" in page
    else:
        assert f"{drawn[0]}×{drawn[1]} input pixels" in titles["receptive_fields_epoch1.png"]
        assert ("a pruned weight reads 0" in titles["receptive_fields_epoch1.png"]) == pruned
        assert EpochStore.open(tmp_path / "run").block_specs[0] == ({"kind": "sparse"} if pruned else None)


def _pruned_checkpoints(folder, nets):
    """An MLP pruned a little more at every epoch (epoch 0 before any pruning); its weights at each epoch."""
    folder.mkdir()
    torch.manual_seed(0)
    m = nets.MLP(hidden=12)
    dense = []
    for e in range(4):
        if e:
            prune.l1_unstructured(m.fc1, "weight", amount=0.3)
            prune.random_unstructured(m.fc2, "weight", amount=0.5)
        with torch.no_grad():
            for lin in (m.fc1, m.fc2, m.fc3):
                getattr(lin, "weight_orig", lin.weight).add_(0.1)  # training goes on
            if e:
                for lin in (m.fc1, m.fc2):
                    prune.l1_unstructured(lin, "weight", amount=0.0)  # recompute weight = orig * mask
        torch.save(m.state_dict(), folder / f"epoch_{e}.pt")
        dense.append({k: v.detach().clone() for k, v in
                      [(f"fc{i}", getattr(m, f"fc{i}").weight) for i in (1, 2, 3)]})
    return m, dense


def test_cli_ingest_of_a_pruned_mlp_gives_sparse_blocks(nets, tmp_path, capsys):
    pruned, dense = _pruned_checkpoints(tmp_path / "ck", nets)
    assert "fc1.weight_orig" in torch.load(tmp_path / "ck" / "epoch_3.pt")
    assert main(["ingest", "ck", "--model", "dc_nets:MLP", "--out", "run", "--quiet"]) == 0
    assert "2 sparse (pruned) block(s)" in capsys.readouterr().out
    s = EpochStore.open(tmp_path / "run")
    assert [None if sp is None else sp["kind"] for sp in s.block_specs] == ["sparse", "sparse", None]
    for e, w in enumerate(dense):
        g = s.graph(e)
        assert isinstance(g.blocks[0], SparseBlock) and isinstance(g.blocks[2], np.ndarray)
        # O(kept edges): exactly the weights the mask keeps
        assert g.blocks[0].nnz.tolist() == [int((w["fc1"] != 0).sum())]
        assert g.blocks[1].nnz.tolist() == [int((w["fc2"] != 0).sum())]
        ref = deepcnt.LayeredGraph.from_weights([w[k].T.numpy() for k in ("fc1", "fc2", "fc3")],
                                                biases=[getattr(pruned, k).bias.detach().numpy()
                                                        for k in ("fc1", "fc2", "fc3")])
        np.testing.assert_array_equal(g.to_scipy().toarray(), ref.to_scipy().toarray())
        np.testing.assert_allclose(deepcnt.knn(g, weighted=True), deepcnt.knn(ref, weighted=True), rtol=1e-12)
    assert s.graph(3).blocks[0].nnz[0] < s.graph(1).blocks[0].nnz[0] < s.graph(0).blocks[0].nnz[0] == 7 * 12
    # the same through a pruned model instance (weight_orig/weight_mask are its own keys)
    run = ingest(tmp_path / "ck", tmp_path / "run2", model=pruned)
    np.testing.assert_array_equal(run.graph(3).to_scipy().toarray(), s.graph(3).to_scipy().toarray())


def test_cli_ingest_of_pruned_linear_layers_without_a_model(nets, tmp_path, capsys):
    """A sequence of Linear layers needs no model: pruned layers are read as weight_orig * weight_mask, sparse."""
    _pruned_checkpoints(tmp_path / "ck", nets)
    assert main(["ingest", "ck", "--out", "plain", "--quiet"]) == 0
    assert "2 sparse (pruned) block(s)" in capsys.readouterr().out
    assert main(["ingest", "ck", "--model", "dc_nets:MLP", "--out", "traced", "--quiet"]) == 0
    plain, traced = EpochStore.open(tmp_path / "plain"), EpochStore.open(tmp_path / "traced")
    assert plain.meta["format_version"] == 3 and plain.pairs == traced.pairs
    assert plain.layer_names == ("input", "fc1", "fc2", "fc3")
    for e in range(4):
        g, h = plain.graph(e), traced.graph(e)
        assert [type(b) for b in g.blocks] == [type(b) for b in h.blocks]
        np.testing.assert_array_equal(g.to_scipy().toarray(), h.to_scipy().toarray())
    # only the first checkpoint: sparse too
    one = tmp_path / "one"
    one.mkdir()
    (tmp_path / "ck" / "epoch_2.pt").rename(one / "epoch_2.pt")
    s = ingest(one, tmp_path / "run1")
    assert isinstance(s.graph(0).blocks[0], SparseBlock)
    np.testing.assert_array_equal(s.graph(0).to_scipy().toarray(), plain.graph(2).to_scipy().toarray())


def test_ingest_of_save_pretrained_folders_with_a_tied_weight(nets, tmp_path):
    from safetensors.torch import save_model

    class Tied(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = nn.Linear(5, 5), nn.Linear(5, 5)
            self.b.weight = self.a.weight  # shared: save_pretrained (save_model) keeps one copy

        def forward(self, x):
            return x + self.b(torch.tanh(self.a(x)))

    models = []
    for step in (10, 20):
        torch.manual_seed(step)
        m = Tied()
        models.append(m)
        d = tmp_path / "ck" / f"checkpoint-{step}"
        d.mkdir(parents=True)
        save_model(m, str(d / "model.safetensors"), metadata={"format": "pt"})
        (d / "config.json").write_text("{}")
        (d / "trainer_state.json").write_text(json.dumps({"epoch": step // 10, "global_step": step}))
    from safetensors import safe_open

    with safe_open(str(tmp_path / "ck" / "checkpoint-10" / "model.safetensors"), "np") as f:
        assert len(list(f.keys())) == 3  # one of the tied weights is left out
    s = ingest(tmp_path / "ck", tmp_path / "run", model=Tied())
    assert list(s.epochs) == [1, 2]
    for e, m in enumerate(models):
        ref = trace_module(m, torch.zeros(1, 5))
        assert s.graph(e).skip_pairs == ((0, 2),)
        np.testing.assert_allclose(s.graph(e).to_scipy().toarray(), ref.to_scipy().toarray(), rtol=1e-6)


def test_a_model_that_does_not_fit_is_one_line_and_leaves_nothing(nets, tmp_path, capsys):
    _pruned_checkpoints(tmp_path / "ck", nets)
    cases = [
        (["--model", "dc_nets:MLP", "--model-args", '{"hidden": 10}'],
         r"checkpoint \S+epoch_\d\.pt does not fit the model MLP: fc1\.weight has shape \(12, 7\) but the model's "
         r"has \(10, 7\) \(check the model class and its arguments\)"),
        (["--model", "dc_nets:TinyResNet", "--input-shape", "2,8,8"],
         r"does not fit the model TinyResNet: it lacks stem\.weight, bn\.weight, bn\.bias and \d+ more; the model "
         r"has no fc1\.\w+, fc1\.\w+, fc1\.\w+ and \d+ more"),
        (["--model", "dc_nets:MLP", "--model-args", '{"width": 3}'], r"MLP\(\*\*\{'width': 3\}\) failed \(TypeError"),
        (["--model", "dc_nets:MLP", "--model-args", "[3]"], "must be a JSON object"),
        (["--model", "dc_nets:Nope"], r"module 'dc_nets' has no 'Nope'"),
        (["--model", "no_such_pkg.mod:Net"], r"cannot import the model's module 'no_such_pkg\.mod' \(ModuleNotFound"),
        (["--model", "dc_nets:TinyResNet"], r"give the shape of one input of TinyResNet"),
        (["--model", "dc_nets:MLP", "--input-shape", "2,x"], r"is not a size"),
    ]
    import re

    for args, match in cases:
        capsys.readouterr()
        try:
            code = main(["ingest", "ck", "--out", "run", "--quiet"] + args)
        except SystemExit as exc:  # argparse's refusal of a malformed option
            code = exc.code
        err = capsys.readouterr().err.strip().splitlines()
        assert code != 0 and len(err) == 1 and re.search(match, err[0]), (args, err)
        assert not (tmp_path / "run").exists()
        assert not [p for p in tmp_path.iterdir() if p.name.startswith(".run")]
    with pytest.raises(InputError, match="model arguments are for a model class"):
        ingest(tmp_path / "ck", tmp_path / "run", model=nets.MLP(), model_args={"hidden": 3})
    with pytest.raises(InputError, match="give the model too"):
        ingest(tmp_path / "ck", tmp_path / "run", input_shape=(7,))


def test_model_given_as_a_file_path(nets, tmp_path):
    _pruned_checkpoints(tmp_path / "ck", nets)
    s = ingest(tmp_path / "ck", tmp_path / "run", model=f"{tmp_path / 'dc_nets.py'}:MLP", model_args='{"hidden": 12}')
    assert len(s) == 4 and isinstance(s.graph(0).blocks[0], SparseBlock)


def test_recorder_stores_traced_and_pruned_models(nets, tmp_path):
    model = _randomise(nets.TinyResNet(width=2), 0)
    with Recorder(tmp_path / "res", model, input_shape=(2, 8, 8)) as rec:
        for e in range(2):
            _randomise(model, e)
            rec.save(e, loss=1.0 / (e + 1))
            ref = trace_module(model, torch.zeros(1, 2, 8, 8))
            np.testing.assert_allclose(deepcnt.strength(rec.store.graph(e)), deepcnt.strength(ref), rtol=1e-5,
                                       atol=1e-6)
    assert rec.store.graph(1).skip_pairs
    # resumed: the same architecture appends after the last epoch
    with Recorder(tmp_path / "res", model, input_shape=(2, 8, 8)) as rec:
        rec.save(5)
        assert list(rec.store.epochs) == [0, 1, 5]
    with pytest.raises(InputError, match=r"holds layers .* not the model's"):
        Recorder(tmp_path / "res", nets.TinyResNet(width=3), input_shape=(2, 8, 8))

    mlp = nets.MLP()
    prune.l1_unstructured(mlp.fc2, "weight", amount=0.75)
    with Recorder(tmp_path / "mlp", mlp, example_input=torch.zeros(2, 7)) as rec:
        rec.save(0)
        prune.l1_unstructured(mlp.fc2, "weight", amount=0.5)
        rec.save(1)
    s = EpochStore.open(tmp_path / "mlp")
    assert [sp and sp["kind"] for sp in s.block_specs] == [None, "sparse", None]
    assert s.graph(0).blocks[1].nnz.tolist() == [36] and s.graph(1).blocks[1].nnz.tolist() == [18]


@pytest.mark.parametrize("family", ["Llama", "GPTNeoX"])
def test_cli_ingest_of_hugging_face_checkpoints_builds_the_model_from_config_json(tmp_path, capsys, monkeypatch,
                                                                                    family):
    """Trainer's ``checkpoint-N`` folders (``save_pretrained``: config.json + model.safetensors): ``--model
    transformers:LlamaForCausalLM`` is built from the config beside the weights, each checkpoint read by the
    class's own loader (GPT-NeoX saves its output embedding under the name of an older version), traced on 8
    token ids."""
    from test_trace_attention import _transformers

    tf = _transformers()
    monkeypatch.chdir(tmp_path)
    cfg = getattr(tf, f"{family}Config")(vocab_size=20, hidden_size=8, intermediate_size=12, num_hidden_layers=1,
                                         num_attention_heads=2, max_position_embeddings=16)
    cls = f"{family}ForCausalLM"
    models = []
    for step in (10, 20):
        torch.manual_seed(step)
        models.append(getattr(tf, cls)(cfg).eval())
        models[-1].save_pretrained(tmp_path / "ck" / f"checkpoint-{step}")
        (tmp_path / "ck" / f"checkpoint-{step}" / "trainer_state.json").write_text(json.dumps({"epoch": step / 10}))
    capsys.readouterr()
    assert main(["ingest", "ck", "--model", f"transformers:{cls}", "--out", "run", "--quiet"]) == 0
    assert capsys.readouterr().err == ""  # no progress bar of the loader's
    s = EpochStore.open(tmp_path / "run")
    s0_sizes = s.sizes
    assert list(s.epochs) == [1, 2] and s.metadata["input_dtype"] == "int64" and s.metadata["input_shape"] == [8]
    for e, m in enumerate(models):
        ref = trace_module(m, torch.zeros(1, 8, dtype=torch.long))
        assert s.graph(e).layer_names == ref.layer_names and s.graph(e).layer_names[-1] in ("lm_head", "embed_out")
        np.testing.assert_allclose(s.graph(e).to_scipy().toarray(), ref.to_scipy().toarray(), rtol=1e-6)
    # the trace's options from the command line: the value path only, one-hot token ids
    assert main(["ingest", "ck", "--model", f"transformers:{cls}", "--out", "run3", "--quiet", "--attention", "value",
                 "--embedding", "one-hot"]) == 0
    s = EpochStore.open(tmp_path / "run3")
    assert s.metadata["trace_options"] == {"attention": "value", "embedding": "one-hot"}
    ref = trace_module(models[1], torch.zeros(1, 8, dtype=torch.long), attention="value", embedding="one-hot")
    assert s.graph(1).layer_names == ref.layer_names and s.sizes[0] == 20 and len(ref.sizes) < len(s0_sizes)
    assert main(["ingest", "ck", "--out", "run4", "--quiet", "--attention", "value"]) == 2  # with a model only
    (tmp_path / "ck" / "checkpoint-20" / "config.json").unlink()
    capsys.readouterr()
    assert main(["ingest", "ck", "--model", f"transformers:{cls}", "--out", "run2", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert f"{cls} is built from its config.json" in err and "--model-args" in err
    assert not (tmp_path / "run2").exists()


def _arrays(g):
    """Every block's numbers (a dense array, a kernel, a diagonal; nothing for an identity) and the biases."""
    out = [np.asarray(getattr(b, "kernel", getattr(b, "d", b))) for b in g.blocks
           if type(b).__name__ != "IdentityBlock"]
    return out + [np.asarray(b) for b in g.biases or ()]


@pytest.mark.parametrize("family", ("GPT2", "fx"))
def test_a_traced_program_runs_again_with_another_checkpoints_weights(family):
    """``ingest`` traces the forward once and runs it with each checkpoint's weights: the graph equals a fresh
    trace of that checkpoint (torch.export for GPT-2, torch.fx for a plain module); a model whose state names
    other parameters is traced afresh."""
    from deepcnt.bindings.trace import Program

    if family == "GPT2":
        from test_trace_attention import _transformers

        tf = _transformers()
        cfg = tf.GPT2Config(n_layer=2, n_embd=16, n_head=2, vocab_size=50, bos_token_id=0, eos_token_id=0)
        make, x = (lambda: tf.GPT2LMHeadModel(cfg).eval()), torch.zeros(1, 6, dtype=torch.long)
        other = tf.GPT2LMHeadModel(tf.GPT2Config(n_layer=1, n_embd=16, n_head=2, vocab_size=50, bos_token_id=0,
                                                 eos_token_id=0)).eval()
    else:
        make = lambda: nn.Sequential(nn.Linear(5, 4), nn.LayerNorm(4), nn.ReLU(), nn.Linear(4, 3)).eval()  # noqa: E731
        x, other = torch.zeros(1, 5), nn.Sequential(nn.Linear(5, 3)).eval()
    torch.manual_seed(0)
    first = make()
    torch.manual_seed(1)
    second = make()
    program = []
    trace_module(first, x, program=program)
    assert len(program) == 1 and isinstance(program[0], Program)
    traced = program[0].module
    again, fresh = trace_module(second, x, program=program), trace_module(second, x)
    assert program[0].module is traced  # run again, not traced again
    assert (again.sizes, again.pairs, again.layer_names) == (fresh.sizes, fresh.pairs, fresh.layer_names)
    for a, b in zip(_arrays(again), _arrays(fresh)):
        np.testing.assert_array_equal(a, b)
    assert not all(np.array_equal(a, b) for a, b in zip(_arrays(again), _arrays(trace_module(first, x))))
    g = trace_module(other, x, program=program)
    assert program[0].module is not traced and g.sizes == trace_module(other, x).sizes


def test_cli_ingest_of_an_encoder_decoder_gives_it_decoder_ids(tmp_path, capsys, monkeypatch):
    """T5's forward needs the decoder's token ids beside the input's: ``ingest`` traces it on both (8 each) and
    the store records it; each checkpoint's graph equals the trace of that model on those keyword inputs."""
    from test_trace_attention import _transformers

    tf = _transformers()
    monkeypatch.chdir(tmp_path)
    cfg = tf.T5Config(d_model=8, d_ff=16, num_layers=1, num_decoder_layers=1, num_heads=2, d_kv=4, vocab_size=20)
    models = []
    for step in (10, 20):
        torch.manual_seed(step)
        models.append(tf.T5ForConditionalGeneration(cfg).eval())
        models[-1].save_pretrained(tmp_path / "ck" / f"checkpoint-{step}")
    assert main(["ingest", "ck", "--model", "transformers:T5ForConditionalGeneration", "--epoch-from", "step",
                 "--out", "run", "--quiet"]) == 0
    s = EpochStore.open(tmp_path / "run")
    assert s.metadata["decoder_tokens"] == 8 and s.metadata["input_shape"] == [8]
    ids = torch.zeros(1, 8, dtype=torch.long)
    for e, m in enumerate(models):
        ref = trace_module(m, {"input_ids": ids, "decoder_input_ids": ids})
        assert s.graph(e).layer_names == ref.layer_names
        np.testing.assert_allclose(s.graph(e).to_scipy().toarray(), ref.to_scipy().toarray(), rtol=1e-6)
