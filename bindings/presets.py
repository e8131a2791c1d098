"""The seed papers' networks as presets, and ``train()``: data → batched trainer → epoch store (resumable).

=============== ============================================================================================
preset          network and training; with a smaller dataset the input and output
                widths follow the data
=============== ============================================================================================
testolin-dbn    DBN 784-500-500-2000, CD-1, lr 0.1, momentum 0.9, weight decay 4e-4, 50 epochs per layer,
                batch 100, W ~ N(0, 0.1) (the batch and σ of Hinton & Salakhutdinov's ``rbm.m`` [unverified])
shine-mlp       784-100-100-10, sigmoid, softmax output, biases kept at zero, U(−1, 1), plain SGD, Shine's 64
                log-spaced snapshots of 100,000 epochs (lr 0.05, batch 32: not stated in the paper;
                0.05 because with 0.01 Q barely moves on the digits, docs/reproduce.rst)
lamalfa-fc      784-256-10 (hidden 8/256/2000 by ``hidden=``), ReLU, SGD lr 0.01, batch 16, N(0, scale);
                an ensemble of 4 members with scales 0.01/0.05/0.1/0.5 (the scales and 10 epochs [unverified])
zambra-mlp      784-20-10-10, ReLU, SGD lr 0.01, momentum 0.6, Nesterov; init normal (Keras' σ = 0.05),
                orthogonal or glorot by ``init=``; batch 32 (Keras' default), 20 epochs [unverified]
=============== ============================================================================================
"""
import argparse
from pathlib import Path

from deepcnt.errors import InputError

PRESETS = {
    "testolin-dbn": dict(kind="dbn", hidden=(500, 500, 2000), epochs=50, lr=0.1, momentum=0.9,
                         weight_decay=4e-4, batch_size=100, init_scale=0.1, schedule="every"),
    "shine-mlp": dict(kind="mlp", hidden=(100, 100), activation="sigmoid", biases=False, init="uniform",
                      init_scale=1.0, lr=0.05, momentum=0.0, nesterov=False, weight_decay=0.0, batch_size=32,
                      epochs=100_000, schedule="shine"),
    "lamalfa-fc": dict(kind="mlp", hidden=(256,), activation="relu", biases=True, init="normal",
                       init_scale=(0.01, 0.05, 0.1, 0.5), members=4, lr=0.01, momentum=0.0, nesterov=False,
                       weight_decay=0.0, batch_size=16, epochs=10, schedule="every"),
    "zambra-mlp": dict(kind="mlp", hidden=(20, 10), activation="relu", biases=True, init="normal",
                       init_scale=0.05, lr=0.01, momentum=0.6, nesterov=True, weight_decay=0.0, batch_size=32,
                       epochs=20, schedule="every"),
}
from .train_cnn import PRESET as _LAMALFA_CNN  # noqa: E402  (La Malfa's small CNN)

PRESETS["lamalfa-cnn"] = dict(_LAMALFA_CNN)
_INIT_DEFAULT_SCALE = {"normal": 0.05, "uniform": 1.0, "orthogonal": 1.0, "glorot": 1.0}


def get_preset(name, **overrides):
    """The configuration of preset ``name`` with ``overrides`` applied (unknown keys are an error)."""
    if name not in PRESETS:
        raise InputError(f"unknown preset {name!r}: use one of {', '.join(PRESETS)}")
    cfg = dict(PRESETS[name])
    known = set(cfg) | {"members", "seeds", "init", "activation", "biases", "nesterov"}
    for k, v in overrides.items():
        if v is None:
            continue
        if k not in known:
            raise InputError(f"preset {name!r} has no setting {k!r}")
        if k == "init" and v != cfg.get("init") and overrides.get("init_scale") is None:
            cfg["init_scale"] = _INIT_DEFAULT_SCALE.get(v, cfg.get("init_scale"))
        cfg[k] = v
    return cfg


def build_trainer(cfg, n_features, n_classes, seeds, device="cpu"):
    """The batched trainer of a preset configuration for data of ``n_features`` inputs and ``n_classes``."""
    if cfg["kind"] == "dbn":
        from .train_rbm import BatchedDBN

        sizes = (n_features,) + tuple(cfg["hidden"])
        return BatchedDBN(sizes, seeds, epochs_per_layer=cfg["epochs"], lr=cfg["lr"], momentum=cfg["momentum"],
                          weight_decay=cfg["weight_decay"], batch_size=cfg["batch_size"],
                          init_scale=cfg["init_scale"], device=device)
    from .train_mlp import BatchedMLP

    sizes = (n_features,) + tuple(cfg["hidden"]) + (n_classes,)
    return BatchedMLP(sizes, seeds, activation=cfg["activation"], init=cfg["init"], init_scale=cfg["init_scale"],
                      lr=cfg["lr"], momentum=cfg["momentum"], nesterov=cfg["nesterov"],
                      weight_decay=cfg["weight_decay"], batch_size=cfg["batch_size"], biases=cfg["biases"],
                      device=device)


def _layer_names(cfg, sizes):
    if cfg["kind"] == "dbn":
        return ["visible"] + [f"hidden{l}" for l in range(1, len(sizes))]
    return ["input"] + [f"hidden{l}" for l in range(1, len(sizes) - 1)] + ["output"]


def _jsonable(v):
    return list(v) if isinstance(v, tuple) else v


def train(preset="shine-mlp", run_dir="runs/run", data="digits", epochs=None, members=None, seeds=None, seed=0,
          schedule=None, device="cpu", n_train=None, n_test=None, threads=None, progress=None, **overrides):
    """Train a preset on a dataset, saving the scheduled epochs into the epoch store ``run_dir``.

    Parameters
    ----------
    preset : str
        One of :data:`PRESETS`.
    run_dir : path
        The run directory; an existing run of the same configuration is resumed from its last complete epoch.
    data : str
        ``"digits"`` (bundled), ``"mnist"``, ``"fashion-mnist"``, ``"emnist[:split]"`` or ``"idx:PATH"``.
    epochs : int, optional
        Training epochs (for ``testolin-dbn``: epochs per layer). A larger value on an existing run of the
        same settings extends it (not for ``testolin-dbn``, whose epochs are per layer).
    members, seeds, seed :
        The ensemble: ``seeds`` explicitly, or ``members`` seeds ``seed, seed+1, ...``.
    schedule : optional
        Save schedule (``every``, ``every:K``, ``shine``, ``log:N`` or a list); default the preset's.
    threads : int, optional
        torch intra-op threads (1 is fastest for small networks on a busy machine).
    overrides :
        Any preset setting (``lr``, ``hidden``, ``init``, ``init_scale``, ``batch_size``, ...).

    Returns
    -------
    EpochStore
        The store, open for reading.
    """
    import torch

    from deepcnt.runs.store import EpochStore

    from .datasets import load_dataset
    from .train_loop import check_extends, check_same_run, run, save_epochs

    if epochs is not None and (isinstance(epochs, bool) or int(epochs) != epochs or epochs < 1):
        raise InputError(f"epochs must be a whole number >= 1, got {epochs!r}")
    if threads is not None:
        torch.set_num_threads(int(threads))
    if preset == "lamalfa-cnn":
        from .train_cnn import train_cnn

        return train_cnn(run_dir, data=data, epochs=epochs, members=members, seeds=seeds, seed=seed,
                         schedule=schedule, device=device, n_train=n_train, n_test=n_test, progress=progress,
                         **overrides)
    cfg = get_preset(preset, epochs=epochs, members=members, seeds=seeds, schedule=schedule, **overrides)
    if cfg.get("seeds") is None:
        n = int(cfg.get("members") or 1)
        cfg["seeds"] = [int(seed) + e for e in range(n)]
    cfg["seeds"] = [int(s) for s in cfg["seeds"]]
    cfg["members"] = len(cfg["seeds"])
    scales = cfg.get("init_scale")
    if isinstance(scales, (tuple, list)) and len(scales) != cfg["members"] and "init_scale" not in overrides:
        # a preset's per-member scales (lamalfa-fc) are cycled over an ensemble of another size
        cfg["init_scale"] = tuple(scales[e % len(scales)] for e in range(cfg["members"]))
    ds = load_dataset(data, n_train=n_train, n_test=n_test)
    trainer = build_trainer(cfg, ds.n_features, ds.n_classes, cfg["seeds"], device=device)
    trainer.set_data(ds.x_train, ds.y_train, ds.x_test, ds.y_test)
    total = trainer.total_epochs if cfg["kind"] == "dbn" else int(cfg["epochs"])
    meta = {"preset": preset, "config": {k: _jsonable(v) for k, v in cfg.items()}, "seeds": cfg["seeds"],
            "data": ds.describe(), "total_epochs": total, "device": str(device)}
    save_epochs(cfg["schedule"], total)  # a bad schedule fails before the run directory exists
    run_dir = Path(run_dir)
    if (run_dir / "meta.json").exists():
        store = EpochStore.open(run_dir, "a")
        try:  # the same run: resumed, or extended by a larger --epochs
            check_same_run(run_dir, store.metadata, preset, meta["config"], meta["data"], layered=cfg["kind"] == "dbn")
            check_extends(store, total)
        except InputError:
            store.close()
            raise
    else:
        store = EpochStore.create(run_dir, trainer.sizes, n_members=cfg["members"],
                                  biases=cfg["kind"] == "dbn" or cfg["biases"],
                                  layer_names=_layer_names(cfg, trainer.sizes), metadata=meta)
    try:
        run(trainer, store, total, cfg["schedule"], progress=progress)
    finally:
        store.close()
    return EpochStore.open(run_dir)


# ---------------------------------------------------------------------------------------------- CLI
def _bar(label, unit, resumable=False):
    from deepcnt.runs.progress import progress_callback

    return progress_callback(label, unit, resumable)


def _torch_device(text):
    """argparse type of ``train --device``: a torch device this machine has."""
    if text == "cpu":
        return text
    import torch

    try:
        dev = torch.device(text)
    except RuntimeError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a torch device: use cpu, cuda or cuda:N") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise argparse.ArgumentTypeError(f"{text!r}: torch {torch.__version__} sees no CUDA device here; use "
                                         "--device cpu")
    return text


def positive_int(text):
    """argparse type: a whole number >= 1 (one error line on anything else)."""
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be >= 1")
    return v


def _sizes(text, what, example):
    """Comma-separated whole numbers >= 1; ``what`` names one of them in the error line."""
    parts = [p.strip() for p in text.split(",")]
    bad = next((p for p in parts if not p.lstrip("-").isdigit()), None)
    if bad is not None:
        raise argparse.ArgumentTypeError(f"{bad!r} in {text!r} is not {what}: give whole numbers separated by "
                                         f"commas, e.g. {example}")
    sizes = tuple(int(p) for p in parts)
    if min(sizes) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: every {what.split(' ', 1)[1]} must be >= 1")
    return sizes


def _shape(text):
    """argparse type of ``--input-shape``: one sample's shape, comma-separated sizes >= 1 (``3,32,32``)."""
    return _sizes(text, "a size", "3,32,32 or 784")


def _widths(text):
    """argparse type of ``--hidden``: comma-separated layer widths, each >= 1 (``100,100``)."""
    return _sizes(text, "a layer width", "100,100")


def _positive_float(text):
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not v > 0 or v == float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r} must be a positive number")
    return v


def cli_train(args):
    """``deepcnt train``: the function behind the sub-command (see :func:`add_cli`)."""
    overrides = {}
    if args.hidden:
        overrides["hidden"] = args.hidden
    for key in ("lr", "batch_size", "init", "init_scale", "activation", "filters"):
        if getattr(args, key, None) is not None:
            overrides[key] = getattr(args, key)
    store = train(args.preset, args.out, data=args.data, epochs=args.epochs, members=args.members, seed=args.seed,
                  schedule=args.schedule, device=args.device, n_train=args.n_train, threads=args.threads,
                  progress=None if args.quiet else _bar(f"train {args.preset}", "epoch", resumable=True), **overrides)
    print(f"{store.path}: {len(store)} epochs saved (last epoch {int(store.epochs[-1])}), "
          f"{store.n_members} member(s), architecture {'-'.join(map(str, store.sizes))}")
    return 0


def _trace_options(args):
    """The trace options ``deepcnt ingest`` was given (only those away from their defaults)."""
    out = {"tokens": {"yes": True, "no": False}.get(args.tokens), "embedding": args.embedding,
           "attention": args.attention}
    return {k: v for k, v in out.items() if v not in (None, "features", "query-key")} or None


def cli_ingest(args):
    """``deepcnt ingest``: a directory of checkpoints into a new epoch store."""
    from .torch import ingest

    store = ingest(args.checkpoints, args.out, progress=None if args.quiet else _bar("ingest", "checkpoint"),
                   epoch_from=args.epoch_from, model=args.model, model_args=args.model_args,
                   input_shape=args.input_shape, fold_norm=not args.keep_norm, trace_options=_trace_options(args))
    unit = "steps" if args.epoch_from == "step" else "epochs"
    skips = "" if store.pairs == tuple((l, l + 1) for l in range(len(store.sizes) - 1)) else \
        f" ({len(store.pairs)} blocks, {sum(j > i + 1 for i, j in store.pairs)} of them skips)"
    sparse = sum(1 for sp in store.block_specs if sp and sp.get("kind") == "sparse")
    print(f"{store.path}: {len(store)} checkpoints ingested as {unit} {int(store.epochs[0])}.."
          f"{int(store.epochs[-1])}, architecture {'-'.join(map(str, store.sizes))}{skips}"
          + (f", {sparse} sparse (pruned) block(s)" if sparse else ""))
    return 0


_EPOCH_FROM_HELP = """\
--epoch-from:
  auto        the epoch the checkpoint records (its 'epoch' entry: Lightning, most training loops;
              trainer_state.json of a checkpoint-N/ folder), else the one its name gives; refused
              where the two disagree
  checkpoint  only what the checkpoint records
  name        only the name: 'epoch' followed by a number (epoch=1-step=45.ckpt, epoch01-val_loss0.83.pt,
              model_epoch_012.pt), else the one integer that differs between the names (Keras'
              weights.01-0.83.pt; decimals such as 0.83 are metrics, not epochs)
  step        the training step instead of the epoch ('global_step' entry, step=N, checkpoint-N/)
  order       the names in natural order (ck2 before ck10) become epochs 0, 1, 2, ...
Ambiguities are refused, never guessed: two checkpoints with one epoch (Lightning's last.ckpt beside
epoch=3-...; several saves within an epoch: use --epoch-from step), a name with two changing numbers,
a checkpoint saved mid-epoch."""


def _preset_settings(key, fmt=str):
    """``preset value, ...`` of one setting over every preset, for ``--help``."""
    return ", ".join(f"{name} {fmt(cfg[key])}" for name, cfg in sorted(PRESETS.items()) if key in cfg)


def add_cli(sub, formatter_class=None):
    """Register ``train`` and ``ingest`` on the ``deepcnt`` sub-parsers (``argparse`` ``add_subparsers``)."""
    kw = {} if formatter_class is None else {"formatter_class": formatter_class}
    hidden = _preset_settings("hidden", lambda h: ",".join(map(str, h)))
    t = sub.add_parser("train", help="train a seed paper's network and save every scheduled epoch",
                       description="Train a preset network (batched ensembles) into an epoch store. "
                                   "Re-running the same command resumes a killed run. Settings left out are the "
                                   "preset's (see the presets table in deepcnt.bindings.presets).", **kw)
    t.add_argument("--preset", choices=sorted(PRESETS), default="shine-mlp", help="network and training recipe")
    t.add_argument("--data", default="digits",
                   help="digits (bundled), mnist, fashion-mnist, emnist[:split] or idx:PATH")
    t.add_argument("--out", required=True, help="run directory (the epoch store)")
    t.add_argument("--epochs", type=positive_int,
                   help="training epochs; default the preset's: " + _preset_settings("epochs", lambda e: f"{e:,}")
                   + " (testolin-dbn: per layer). A larger value on a finished run of the same settings extends it")
    t.add_argument("--members", type=positive_int, help="ensemble size (seeds SEED, SEED+1, ...); default the "
                                                         "preset's (lamalfa-fc 4, the others 1)")
    t.add_argument("--seed", type=int, default=0, help="first seed")
    t.add_argument("--schedule", help="save schedule: every, every:K, shine (64 log-spaced epochs), log:N; default "
                                      "the preset's: " + _preset_settings("schedule"))
    t.add_argument("--hidden", type=_widths, help=f"hidden widths, e.g. 100,100; default the preset's: {hidden}")
    t.add_argument("--lr", type=_positive_float,
                   help="learning rate; default the preset's: " + _preset_settings("lr"))
    t.add_argument("--batch-size", dest="batch_size", type=positive_int,
                   help="minibatch size; default the preset's: " + _preset_settings("batch_size"))
    t.add_argument("--init", choices=["normal", "uniform", "orthogonal", "glorot"],
                   help="weight initialisation; default the preset's")
    t.add_argument("--init-scale", dest="init_scale", type=_positive_float,
                   help="σ, a or gain of the initialisation; default the preset's (or the init's usual scale)")
    t.add_argument("--activation", choices=["sigmoid", "relu", "tanh"],
                   help="hidden activation (MLPs); default the preset's")
    t.add_argument("--n-train", dest="n_train", type=positive_int, help="use only the first N training items "
                                                                         "(default: all)")
    t.add_argument("--filters", type=positive_int, help="conv filters (lamalfa-cnn: 10, 64 or 256; default 10)")
    t.add_argument("--device", default="cpu", type=_torch_device, help="torch device (cpu, cuda, cuda:N)")
    t.add_argument("--threads", type=positive_int, help="torch threads (default: torch's)")
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    t.set_defaults(func=cli_train)
    from .checkpoint_epochs import EPOCH_FROM

    i = sub.add_parser("ingest", help="turn a directory of checkpoints into an epoch store",
                       # the epilog is a table: kept as written
                       formatter_class=type("IngestHelp", (argparse.RawDescriptionHelpFormatter,
                                                           formatter_class or argparse.HelpFormatter), {}),
                       description="Read state_dict checkpoints (torch.load weights_only=True), .safetensors files "
                                   "and Hugging Face checkpoint-N/ folders into a new epoch store, one entry per "
                                   "checkpoint, in epoch order.",
                       epilog=_EPOCH_FROM_HELP)
    i.add_argument("checkpoints", help="directory of checkpoint files (.pt .pth .bin .ckpt .tar .safetensors) "
                                       "or checkpoint-N/ folders")
    i.add_argument("--epoch-from", dest="epoch_from", choices=EPOCH_FROM, default="auto",
                   help="where each checkpoint's epoch comes from (default auto; see below)")
    i.add_argument("--out", required=True, help="new run directory")
    i.add_argument("--model", help="the model that reads the checkpoints, as package.module:Class (or "
                                   "path/to/file.py:Class): each checkpoint is loaded into it and its forward traced, "
                                   "so residual nets, BatchNorm and convolutions work; pruned checkpoints "
                                   "(weight_orig x weight_mask) give sparse blocks. Without it: Linear sequences")
    i.add_argument("--model-args", dest="model_args", metavar="JSON",
                   help="keyword arguments of the model class as a JSON object, e.g. '{\"width\": 16}'")
    i.add_argument("--input-shape", dest="input_shape", type=_shape, metavar="C,H,W",
                   help="the shape of one input the model is traced on (default: in_features of a model that "
                        "starts with nn.Linear)")
    i.add_argument("--keep-norm", dest="keep_norm", action="store_true",
                   help="keep each BatchNorm as its own diagonal block instead of folding it into the block before")
    i.add_argument("--tokens", choices=("auto", "yes", "no"), default="auto",
                   help="read the model as the graph of one token's features (yes), of every unit (no), or by "
                        "whether it has attention or an Embedding (auto, the default)")
    i.add_argument("--attention", choices=("query-key", "value"), default="query-key",
                   help="query-key (default): the query and key projections are blocks into their own node sets; "
                        "value: only the value -> output path is kept")
    i.add_argument("--embedding", choices=("features", "one-hot"), default="features",
                   help="an Embedding of the input ids: a source layer of its features (default), or an input "
                        "layer of one-hot ids joined by the embedding table")
    i.add_argument("--quiet", action="store_true", help="no progress bar")
    i.set_defaults(func=cli_ingest)
    return sub
