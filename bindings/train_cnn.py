"""La Malfa's small CNN trained with SGD as one batched program over an ensemble, saved every epoch.

Network (La Malfa et al. 2021, Caprioli et al. 2022; filters 10/64/256 by ``filters=``): ``Conv2d(C, F, 3)`` →
ReLU → Flatten → ``Linear(F·(H−2)·(W−2), classes)`` (softmax output). The ``E`` members share every kernel
call: the convolution is one grouped convolution with ``groups = E`` (member ``e``'s images enter group
``e``), the dense layer one ``baddbmm``; the loss is the sum of the members' mean cross-entropies, so each
member's gradient is its own, and the SGD update is :class:`BatchedMLP`'s (momentum, Nesterov, weight decay).

Random streams as in :mod:`.train_loop`: member ``e`` draws its kernel, its dense block and its data order from
its own generator, so a batched ensemble equals ``E`` single runs with the same seeds.

**Epoch store.** The run is an epoch store of format 2: the conv block is stored as its kernel
``(E, F, C, 3, 3)`` plus its geometry (``EpochStore.create(..., blocks=[conv, None])``), never unrolled, so
``store.graph(i)`` and ``deepcnt analyze`` get the implicit ``ConvBlock`` graph whatever the input size
(La Malfa's 256 filters on MNIST included). Conv biases are stored per unit (each channel's bias repeated over
its positions), as the layered graph holds them.
"""
import numpy as np

from deepcnt.errors import InputError

from .train_loop import generator_state, init_block, set_generator_state
from .train_mlp import BatchedMLP

PRESET = dict(kind="cnn", filters=10, kernel_size=3, activation="relu", biases=True, init="normal",
              init_scale=(0.01, 0.05, 0.1, 0.5), members=4, lr=0.01, momentum=0.0, nesterov=False,
              weight_decay=0.0, batch_size=16, epochs=10, schedule="every")
"""``lamalfa-cnn``: La Malfa's one-conv CNN; an ensemble of 4 with N(0, σ) scales 0.01/0.05/0.1/0.5 as the
``lamalfa-fc`` preset (the scales, batch and 10 epochs [unverified], as there)."""


class BatchedCNN(BatchedMLP):
    """An ensemble of ``E`` one-conv CNNs (conv 3×3 → ReLU → flatten → dense), trained by minibatch SGD.

    Parameters
    ----------
    image_shape : (C, H, W)
    n_classes : int
    filters : int
        ``F``, output channels of the convolution (La Malfa: 10, 64 or 256).
    kernel_size : int
    seeds, activation, init, init_scale, lr, momentum, nesterov, weight_decay, batch_size, biases, device :
        As :class:`BatchedMLP`.

    Attributes
    ----------
    K : tensor, shape (E, F, C, k, k)
        The conv kernels (torch ``Conv2d.weight`` layout per member).
    W : list of one tensor, shape (E, F·H_o·W_o, n_classes)
        The dense block in graph orientation (``x @ W``).
    """

    def __init__(self, image_shape, n_classes, filters=10, kernel_size=3, seeds=(0,), activation="relu",
                 init="normal", init_scale=0.1, lr=0.01, momentum=0.0, nesterov=False, weight_decay=0.0,
                 batch_size=16, biases=True, device="cpu"):
        import torch

        try:
            C, H, W = (int(v) for v in image_shape)
        except (TypeError, ValueError):
            raise InputError(f"image_shape must be (C, H, W), got {image_shape!r}") from None
        k = int(kernel_size)
        if min(C, H, W, int(filters), int(n_classes)) < 1 or k < 1 or k > min(H, W):
            raise InputError(f"a {k}×{k} conv with {filters} filters does not fit images of shape {(C, H, W)}")
        self.image_shape, self.filters, self.k = (C, H, W), int(filters), k
        self.out_hw = (H - k + 1, W - k + 1)
        n_hidden = self.filters * self.out_hw[0] * self.out_hw[1]
        self.sizes = (C * H * W, n_hidden, int(n_classes))
        scales = self._set_sgd(seeds, init_scale, activation, lr, momentum, nesterov, weight_decay, batch_size,
                               biases, device)
        fan_in = C * k * k
        kern, dense = [], []
        for g, s in zip(self.gens, scales):  # member e: its kernel, then its dense block, from its generator
            kern.append(init_block(g, fan_in, self.filters, init, s).T.reshape(self.filters, C, k, k))
            dense.append(init_block(g, n_hidden, int(n_classes), init, s))
        self.K = torch.stack(kern).to(self.device).requires_grad_(True)
        self.W = [torch.stack(dense).to(self.device).requires_grad_(True)]
        self.bk = torch.zeros(self.E, self.filters, device=self.device, requires_grad=self.use_biases)
        self.b = [torch.zeros(self.E, int(n_classes), device=self.device, requires_grad=self.use_biases)]
        self.vel = [torch.zeros_like(p) for p in self._params()]
        self._act = {"sigmoid": torch.sigmoid, "relu": torch.relu, "tanh": torch.tanh}[activation]

    def _params(self):
        return [self.K] + self.W + ([self.bk] + self.b if self.use_biases else [])

    def logits(self, x):
        """Output pre-activations (E, B, classes) for flat images ``x`` of shape (E, B, C·H·W) or (B, C·H·W)."""
        import torch
        import torch.nn.functional as F

        E = self.E
        h = x if x.dim() == 3 else x.unsqueeze(0).expand(E, -1, -1)
        B = h.shape[1]
        C, H, W = self.image_shape
        imgs = h.reshape(E, B, C, H, W).transpose(0, 1).reshape(B, E * C, H, W)
        z = F.conv2d(imgs, self.K.reshape(E * self.filters, C, self.k, self.k), self.bk.reshape(-1), groups=E)
        z = self._act(z).reshape(B, E, -1).transpose(0, 1)  # (E, B, F·Ho·Wo), flatten order (F, Ho, Wo)
        return torch.baddbmm(self.b[0].unsqueeze(1), z, self.W[0])

    # ------------------------------------------------------------------ graphs and the store
    def conv_block(self):
        """The members' kernels as one implicit ``ConvBlock`` stack (T = E)."""
        from deepcnt.model.conv import ConvBlock

        return ConvBlock(self.K.detach().cpu().numpy(), self.image_shape, stacked=True)

    def graph(self):
        """The implicit unrolled graph of every member: a ``LayeredGraph`` stack over members (T = E)."""
        from deepcnt.model.graph import LayeredGraph

        conv = self.conv_block()
        npos = self.out_hw[0] * self.out_hw[1]
        bk = np.repeat(self.bk.detach().cpu().numpy().astype(np.float64), npos, axis=1)
        return LayeredGraph.from_weights([conv, self.W[0].detach().cpu().numpy()],
                                         biases=[bk, self.b[0].detach().cpu().numpy()],
                                         layer_names=["input", "conv", "output"])

    def arrays(self):
        """``(weights, biases)`` for the epoch store: the kernels (E, F, C, k, k) and the dense block (E, n_hid, n_out)."""
        npos = self.out_hw[0] * self.out_hw[1]
        bs = None
        if self.use_biases:
            bs = [np.repeat(self.bk.detach().cpu().numpy(), npos, axis=1), self.b[0].detach().cpu().numpy()]
        return [self.K.detach().cpu().numpy(), self.W[0].detach().cpu().numpy()], bs

    def geometry(self):
        """The conv geometry recorded in the store metadata (``metadata["conv"]``)."""
        return {"block": 0, "in_shape": list(self.image_shape), "filters": self.filters,
                "kernel_size": [self.k, self.k], "stride": [1, 1], "padding": [0, 0], "dilation": [1, 1],
                "groups": 1}

    def state(self):
        st = {"K": self.K.detach().cpu().numpy(), "W0": self.W[0].detach().cpu().numpy(),
              "bk": self.bk.detach().cpu().numpy(), "b0": self.b[0].detach().cpu().numpy()}
        st.update({f"vel{i}": v.cpu().numpy() for i, v in enumerate(self.vel)})
        st["rng"] = generator_state(self.gens)
        return st

    def load_state(self, st):
        import torch

        with torch.no_grad():
            for p, key in ((self.K, "K"), (self.W[0], "W0"), (self.bk, "bk"), (self.b[0], "b0")):
                p.copy_(torch.from_numpy(st[key]))
            for i, v in enumerate(self.vel):
                v.copy_(torch.from_numpy(st[f"vel{i}"]))
        set_generator_state(self.gens, st["rng"])


def store_graph(store, i, member=None):
    """The implicit graph (``ConvBlock`` + dense block) of entry ``i``: ``store.graph(i, member)``."""
    return store.graph(i, member)


def train_cnn(run_dir, data="digits", filters=None, epochs=None, members=None, seeds=None, seed=0, schedule=None,
              device="cpu", n_train=None, n_test=None, progress=None, **overrides):
    """Train the ``lamalfa-cnn`` preset into the epoch store ``run_dir`` (resumable, like ``presets.train``).

    Parameters
    ----------
    run_dir : path
    data : str
        As ``presets.train`` (``digits`` bundled; images are reshaped to (1, H, W)).
    filters : int, optional
        10 (default), 64 or 256.
    members : int, optional
        Ensemble size (default 4); without an ``init_scale`` override the preset's four scales are cycled.
    epochs, members, seeds, seed, schedule, device, n_train, n_test, progress, overrides :
        As ``presets.train`` (overrides: ``lr``, ``batch_size``, ``init``, ``init_scale``, ``momentum``, ...).

    Returns
    -------
    EpochStore
        Open for reading; ``store.graph(i)`` gives the implicit graph (``ConvBlock`` + dense) of entry ``i``.
    """
    from pathlib import Path

    from deepcnt.runs.store import EpochStore

    from .datasets import load_dataset
    from .train_loop import check_extends, check_same_run, run, save_epochs

    cfg = dict(PRESET)
    for key, val in dict(overrides, filters=filters, epochs=epochs, members=members, schedule=schedule).items():
        if val is None:
            continue
        if key not in cfg:
            raise InputError(f"preset 'lamalfa-cnn' has no setting {key!r}")
        cfg[key] = val
    if seeds is None:
        seeds = [int(seed) + e for e in range(int(cfg["members"]))]
    cfg["members"] = len(seeds)
    scales = cfg["init_scale"]
    if overrides.get("init_scale") is None and np.ndim(scales) == 1 and len(scales) != len(seeds):
        cfg["init_scale"] = tuple(scales[e % len(scales)] for e in range(len(seeds)))  # preset scales, cycled
    ds = load_dataset(data, n_train=n_train, n_test=n_test)
    image_shape = (1,) + tuple(ds.image_shape)
    trainer = BatchedCNN(image_shape, ds.n_classes, filters=cfg["filters"], kernel_size=cfg["kernel_size"],
                         seeds=seeds, activation=cfg["activation"], init=cfg["init"], init_scale=cfg["init_scale"],
                         lr=cfg["lr"], momentum=cfg["momentum"], nesterov=cfg["nesterov"],
                         weight_decay=cfg["weight_decay"], batch_size=cfg["batch_size"], biases=cfg["biases"],
                         device=device)
    trainer.set_data(ds.x_train, ds.y_train, ds.x_test, ds.y_test)
    jsonable = {k: list(v) if isinstance(v, tuple) else v for k, v in cfg.items()}
    meta = {"preset": "lamalfa-cnn", "config": jsonable, "seeds": list(seeds), "data": ds.describe(),
            "total_epochs": int(cfg["epochs"]), "device": str(device), "conv": trainer.geometry()}
    save_epochs(cfg["schedule"], int(cfg["epochs"]))  # a bad schedule fails before the run directory exists
    run_dir = Path(run_dir)
    if (run_dir / "meta.json").exists():
        store = EpochStore.open(run_dir, "a")
        try:  # the same run: resumed, or extended by more epochs
            check_same_run(run_dir, store.metadata, "lamalfa-cnn", jsonable, meta["data"])
            check_extends(store, int(cfg["epochs"]))
        except InputError:
            store.close()
            raise
    else:
        store = EpochStore.create(run_dir, trainer.sizes, n_members=len(seeds), biases=cfg["biases"],
                                  layer_names=["input", "conv", "output"], metadata=meta,
                                  blocks=[trainer.conv_block(), None])
    try:
        run(trainer, store, int(cfg["epochs"]), cfg["schedule"], progress=progress)
    finally:
        store.close()
    return EpochStore.open(run_dir)
