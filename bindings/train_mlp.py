"""MLPs trained with SGD as one batched tensor program: ``E`` ensemble members share every kernel call.

Member ``e`` has blocks ``W_l[e]`` of shape (n_l, n_{l+1}) (the graph orientation: ``x @ W``) and biases
``b_l[e]``; the forward pass of the ensemble is ``torch.baddbmm`` over the leading member axis, the loss is the
sum over members of each member's mean cross-entropy (so each member's gradient is exactly its own), and the
update is elementwise:

.. math::

    g = \\nabla_W \\ell + \\lambda W,\\quad v \\leftarrow \\mu v + g,\\quad
    W \\leftarrow W - \\eta\\,(g + \\mu v \\text{ if Nesterov else } v)

(PyTorch's ``SGD`` with dampening 0). Hidden activations sigmoid, ReLU or tanh; softmax output. Biases off
means kept at zero (not trained). ``E = 1`` runs the same code.
"""
import numpy as np

from deepcnt.errors import InputError

from .train_loop import (
    generator_state, generators, init_block, member_list, rowwise, set_generator_state, without_denormals,
)

ACTIVATIONS = ("sigmoid", "relu", "tanh")


class BatchedMLP:
    """An ensemble of ``E`` MLPs of one architecture, trained by minibatch SGD on one dataset.

    Parameters
    ----------
    sizes : sequence of int
        ``(n_0, ..., n_L)``: inputs, hidden widths, classes.
    seeds : sequence of int
        One per member (``E = len(seeds)``): initial weights and data order of member ``e`` come from a
        generator seeded with ``seeds[e]``.
    activation : {"sigmoid", "relu", "tanh"}
    init : {"normal", "uniform", "orthogonal", "glorot"}
    init_scale : float or sequence of E floats
        σ of ``normal``, a of ``uniform``, the gain of ``orthogonal``/``glorot``.
    lr, momentum, nesterov, weight_decay, batch_size : SGD settings.
    biases : bool
        ``False``: biases stay zero.
    """

    def __init__(self, sizes, seeds=(0,), activation="relu", init="normal", init_scale=0.1, lr=0.01,
                 momentum=0.0, nesterov=False, weight_decay=0.0, batch_size=32, biases=True, device="cpu"):
        import torch

        self.sizes = tuple(int(n) for n in sizes)
        if len(self.sizes) < 2 or min(self.sizes) < 1:
            raise InputError(f"sizes {self.sizes}: an MLP needs at least inputs and outputs, all widths >= 1")
        scales = self._set_sgd(seeds, init_scale, activation, lr, momentum, nesterov, weight_decay, batch_size,
                               biases, device)
        # initial weights: member e draws all its blocks, in layer order, from its own generator
        per = [[init_block(g, a, b, init, s) for a, b in zip(self.sizes[:-1], self.sizes[1:])]
               for g, s in zip(self.gens, scales)]
        self.W = [torch.stack([p[l] for p in per]).to(self.device).requires_grad_(True)
                  for l in range(len(self.sizes) - 1)]
        self.b = [torch.zeros(self.E, n, device=self.device, requires_grad=self.use_biases) for n in self.sizes[1:]]
        self.vel = [torch.zeros_like(p) for p in self._params()]
        self._act = {"sigmoid": torch.sigmoid, "relu": torch.relu, "tanh": torch.tanh}[activation]

    def _set_sgd(self, seeds, init_scale, activation, lr, momentum, nesterov, weight_decay, batch_size, biases,
                 device):
        """Check and keep the ensemble's SGD settings (shared by the MLP and the CNN); one generator per
        member; returns the members' ``init_scale`` list."""
        import torch

        if activation not in ACTIVATIONS:
            raise InputError(f"unknown activation {activation!r}: use one of {', '.join(ACTIVATIONS)}")
        if nesterov and momentum <= 0:
            raise InputError("Nesterov momentum needs momentum > 0")
        if lr <= 0 or batch_size < 1 or momentum < 0 or weight_decay < 0:
            raise InputError("lr and batch_size must be positive; momentum and weight_decay >= 0")
        self.seeds = [int(s) for s in seeds]
        self.E = len(self.seeds)
        if self.E < 1:
            raise InputError("an ensemble needs at least one seed")
        scales = member_list(init_scale, self.E, "init_scale")
        self.activation, self.lr, self.momentum, self.nesterov = activation, float(lr), float(momentum), nesterov
        self.weight_decay, self.batch_size, self.use_biases = float(weight_decay), int(batch_size), bool(biases)
        self.device = torch.device(device)
        self.gens = generators(self.seeds)
        return scales

    def _params(self):
        return self.W + (self.b if self.use_biases else [])

    def set_data(self, x_train, y_train, x_test=None, y_test=None):
        import torch

        if x_train.shape[1] != self.sizes[0]:
            raise InputError(f"the data has {x_train.shape[1]} features but the network {self.sizes[0]} inputs")
        if int(np.max(y_train)) >= self.sizes[-1]:
            raise InputError(f"labels reach {int(np.max(y_train))} but the network has {self.sizes[-1]} outputs")
        t = lambda a, dt: torch.as_tensor(np.asarray(a), dtype=dt, device=self.device)  # noqa: E731
        self.x, self.y = t(x_train, torch.float32), t(y_train, torch.int64)
        self.x_test = None if x_test is None else t(x_test, torch.float32)
        self.y_test = None if y_test is None else t(y_test, torch.int64)
        return self

    # ------------------------------------------------------------------ the batched program
    def logits(self, x):
        """Output pre-activations, shape (E, B, n_L), for inputs ``x`` of shape (E, B, n_0) or (B, n_0)."""
        import torch

        h = x if x.dim() == 3 else x.unsqueeze(0).expand(self.E, -1, -1)
        for l, W in enumerate(self.W):
            z = torch.baddbmm(self.b[l].unsqueeze(1), h, W)
            h = (z.relu() if self.activation == "relu" else rowwise(self._act, z)) if l < len(self.W) - 1 else z
        return h

    def member_losses(self, x, y):
        """Mean cross-entropy of each member, shape (E,); ``y`` of shape (E, B) or (B,)."""
        import torch

        z = self.logits(x)
        logp = torch.log_softmax(z, dim=-1)
        yy = y if y.dim() == 2 else y.unsqueeze(0).expand(self.E, -1)
        return -logp.gather(-1, yy.unsqueeze(-1)).squeeze(-1).mean(dim=1)

    def step(self, xb, yb):
        """One SGD step of every member on its own minibatch (``xb`` (E, B, n_0), ``yb`` (E, B))."""
        import torch

        params = self._params()
        losses = self.member_losses(xb, yb)
        grads = torch.autograd.grad(losses.sum(), params)
        with torch.no_grad():
            for p, g, v in zip(params, grads, self.vel):
                if self.weight_decay:
                    g = g.add(p, alpha=self.weight_decay)
                if self.momentum:
                    v.mul_(self.momentum).add_(g)
                    g = g.add(v, alpha=self.momentum) if self.nesterov else v
                p.sub_(g, alpha=self.lr)
        return losses.detach()

    @without_denormals
    def train_epoch(self, epoch=None):
        """One pass over the training data; member ``e`` visits it in its own random order.

        Returns ``{"loss": (E,) mean minibatch loss}``.
        """
        import torch

        n = self.x.shape[0]
        perms = torch.stack([torch.randperm(n, generator=g) for g in self.gens]).to(self.device)
        total = torch.zeros(self.E, dtype=torch.float64, device=self.device)
        nb = 0
        for s in range(0, n, self.batch_size):
            idx = perms[:, s:s + self.batch_size]
            total += self.step(self.x[idx], self.y[idx]).double()
            nb += 1
        return {"loss": (total / nb).cpu().numpy()}

    @without_denormals
    def evaluate(self):
        """Full-data loss and accuracy of every member: ``train_loss``, ``train_acc``, ``test_acc`` (E,)."""
        import torch

        out = {}
        with torch.no_grad():
            for name, x, y in (("train", self.x, self.y), ("test", self.x_test, self.y_test)):
                if x is None:
                    continue
                z = self.logits(x)
                out[f"{name}_acc"] = (z.argmax(-1) == y).double().mean(1).cpu().numpy()
                if name == "train":
                    logp = torch.log_softmax(z, dim=-1)
                    loss = -logp.gather(-1, y.expand(self.E, -1).unsqueeze(-1)).squeeze(-1).mean(1)
                    out["train_loss"] = loss.double().cpu().numpy()
        return out

    # ------------------------------------------------------------------ store interface
    def arrays(self):
        """``(weights, biases)`` as numpy: blocks (E, n_l, n_{l+1}); biases (E, n_{l+1}) or None."""
        ws = [W.detach().cpu().numpy() for W in self.W]
        bs = [b.detach().cpu().numpy() for b in self.b] if self.use_biases else None
        return ws, bs

    def state(self):
        st = {f"W{l}": W.detach().cpu().numpy() for l, W in enumerate(self.W)}
        st.update({f"b{l}": b.detach().cpu().numpy() for l, b in enumerate(self.b)})
        st.update({f"vel{i}": v.cpu().numpy() for i, v in enumerate(self.vel)})
        st["rng"] = generator_state(self.gens)
        return st

    def load_state(self, st):
        import torch

        with torch.no_grad():
            for l, W in enumerate(self.W):
                W.copy_(torch.from_numpy(st[f"W{l}"]))
            for l, b in enumerate(self.b):
                b.copy_(torch.from_numpy(st[f"b{l}"]))
            for i, v in enumerate(self.vel):
                v.copy_(torch.from_numpy(st[f"vel{i}"]))
        set_generator_state(self.gens, st["rng"])
