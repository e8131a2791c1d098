"""RBMs trained with CD-1 and DBNs trained greedily, as one batched tensor program over ``E`` members.

One CD-1 step on a minibatch ``v_0`` of ``B`` items (Hinton, *A practical guide to training RBMs*, 2010, and
``rbm.m`` of Hinton & Salakhutdinov 2006, which Testolin et al. used):

.. math::

    p_0 = \\sigma(v_0 W + c),\\quad h_0 = [p_0 > u],\\ u \\sim U(0, 1)\\quad\\text{(binary hidden sample)}

    v_1 = \\sigma(h_0 W^\\top + b)\\quad\\text{(mean-field reconstruction)},\\quad p_1 = \\sigma(v_1 W + c)

    \\Delta W \\leftarrow \\mu\\,\\Delta W + \\eta\\left(\\frac{v_0^\\top p_0 - v_1^\\top p_1}{B} - \\lambda W\\right),
    \\quad \\Delta b \\leftarrow \\mu\\,\\Delta b + \\frac{\\eta}{B}\\sum (v_0 - v_1),
    \\quad \\Delta c \\leftarrow \\mu\\,\\Delta c + \\frac{\\eta}{B}\\sum (p_0 - p_1)

then ``W += ΔW`` (and the biases). Weight decay applies to the weights only. The reconstruction error of an
epoch is the mean over items of ``Σ_i (v_0 - v_1)_i²``.

Random streams (per member, from ``train_loop``): initial weights of every layer (N(0, σ), in layer order);
then for each epoch of each layer a permutation of the items, then the uniforms ``u`` item by item in that order.
On a GPU the uniforms come from a second per-member generator on the device (seeded with the member's seed):
drawing ``E × items × hidden`` numbers on the host and copying them over cost 30 times the epoch's GEMMs. A
GPU run is therefore reproducible on the GPU, and resumable there, but its hidden samples differ from a CPU
run's; everything else (initial weights, permutations) is drawn as on the CPU.
"""
import numpy as np

from deepcnt.errors import InputError

from .train_loop import (
    generator_state, generators, init_block, member_list, rowwise, set_generator_state, without_denormals,
)

#: Uniforms drawn at once per member (items × hidden units); bounds the memory of the random stream.
RAND_CHUNK = 1 << 22


def cd1_step(W, vb, hb, dW, dvb, dhb, v0, u, lr, momentum, weight_decay):
    """One CD-1 update of ``E`` RBMs in place; returns the summed squared reconstruction error, shape (E,).

    Parameters
    ----------
    W : tensor, shape (E, n_v, n_h)
    vb, hb : tensors, shapes (E, n_v), (E, n_h)
    dW, dvb, dhb : the momentum increments, same shapes
    v0 : tensor, shape (E, B, n_v)  (data in [0, 1])
    u : tensor, shape (E, B, n_h)  (uniforms for the hidden sample)
    """
    import torch

    B = v0.shape[1]
    sig = torch.sigmoid
    p0 = rowwise(sig, torch.baddbmm(hb.unsqueeze(1), v0, W))
    h0 = (p0 - u).gt_(0)  # [p0 > u] as 0/1 in p0's dtype (x - y > 0 exactly when x > y)
    v1 = rowwise(sig, torch.baddbmm(vb.unsqueeze(1), h0, W.transpose(1, 2)))
    p1 = rowwise(sig, torch.baddbmm(hb.unsqueeze(1), v1, W))
    # ΔW ← μ ΔW + (η/B) v0ᵀp0 − (η/B) v1ᵀp1 − ηλ W: both statistics accumulate inside the GEMMs
    dW.baddbmm_(v0.transpose(1, 2), p0, beta=momentum, alpha=lr / B)
    dW.baddbmm_(v1.transpose(1, 2), p1, alpha=-lr / B)
    if weight_decay:
        dW.add_(W, alpha=-lr * weight_decay)
    diff = v0 - v1
    dvb.mul_(momentum).add_(diff.sum(1), alpha=lr / B)
    dhb.mul_(momentum).add_((p0 - p1).sum(1), alpha=lr / B)
    W.add_(dW)
    vb.add_(dvb)
    hb.add_(dhb)
    return diff.square().sum(dim=(1, 2))


class BatchedDBN:
    """``E`` deep belief networks (a single RBM when ``sizes`` has two layers), trained greedily with CD-1.

    Layer ``l`` (the RBM between layers ``l`` and ``l+1``) trains for ``epochs_per_layer`` epochs on the
    mean-field hidden probabilities of the layers below. Global epoch ``t`` (1-based) trains layer
    ``(t - 1) // epochs_per_layer``; every saved entry holds all blocks (layers not yet trained keep their
    initial weights), with the hidden biases of each RBM as the graph's biases.

    Parameters
    ----------
    sizes : sequence of int
        ``(n_0, ..., n_L)``, e.g. 784-500-500-2000.
    seeds : sequence of int
        One per member.
    epochs_per_layer : int
    lr, momentum, weight_decay, batch_size : CD-1 settings (Testolin et al.: 0.1, 0.9, 4e-4; 100 items).
    init_scale : float or sequence of E floats
        σ of the N(0, σ) initial weights (biases start at zero).
    """

    def __init__(self, sizes, seeds=(0,), epochs_per_layer=50, lr=0.1, momentum=0.9, weight_decay=4e-4,
                 batch_size=100, init_scale=0.1, device="cpu"):
        import torch

        self.sizes = tuple(int(n) for n in sizes)
        if len(self.sizes) < 2 or min(self.sizes) < 1:
            raise InputError(f"sizes {self.sizes}: an RBM needs a visible and a hidden layer, all widths >= 1")
        if lr <= 0 or batch_size < 1 or momentum < 0 or weight_decay < 0 or epochs_per_layer < 1:
            raise InputError("lr, batch_size and epochs_per_layer must be positive; momentum, weight_decay >= 0")
        self.seeds = [int(s) for s in seeds]
        self.E = len(self.seeds)
        if self.E < 1:
            raise InputError("an ensemble needs at least one seed")
        scales = member_list(init_scale, self.E, "init_scale")
        self.epochs_per_layer, self.lr, self.momentum = int(epochs_per_layer), float(lr), float(momentum)
        self.weight_decay, self.batch_size = float(weight_decay), int(batch_size)
        self.device = torch.device(device)
        self.gens = generators(self.seeds)
        self.device_gens = None if self.device.type == "cpu" else generators(self.seeds, self.device)
        L = len(self.sizes) - 1
        per = [[init_block(g, a, b, "normal", s) for a, b in zip(self.sizes[:-1], self.sizes[1:])]
               for g, s in zip(self.gens, scales)]
        self.W = [torch.stack([p[l] for p in per]).to(self.device) for l in range(L)]
        self.vb = [torch.zeros(self.E, n, device=self.device) for n in self.sizes[:-1]]
        self.hb = [torch.zeros(self.E, n, device=self.device) for n in self.sizes[1:]]
        self._reset_increments(0)
        self._layer_data = None

    @property
    def total_epochs(self):
        return self.epochs_per_layer * (len(self.sizes) - 1)

    def _reset_increments(self, layer):
        import torch

        self.layer = layer
        self.dW = torch.zeros_like(self.W[layer])
        self.dvb = torch.zeros_like(self.vb[layer])
        self.dhb = torch.zeros_like(self.hb[layer])

    def set_data(self, x_train, y_train=None, x_test=None, y_test=None):
        import torch

        x = np.asarray(x_train)
        if x.shape[1] != self.sizes[0]:
            raise InputError(f"the data has {x.shape[1]} features but the network {self.sizes[0]} visible units")
        if x.min() < 0 or x.max() > 1:
            raise InputError("RBM data must lie in [0, 1] (pixel intensities read as probabilities)")
        self.x = torch.as_tensor(x, dtype=torch.float32, device=self.device)
        self._layer_data = None
        return self

    def hidden_probs(self, layer, v):
        """σ(v W_l + c_l) of every member: ``v`` (E, n, n_l) or (n, n_l) → (E, n, n_{l+1})."""
        import torch

        if v.dim() == 2:
            v = v.unsqueeze(0).expand(self.E, -1, -1)
        return rowwise(torch.sigmoid, torch.baddbmm(self.hb[layer].unsqueeze(1), v, self.W[layer]))

    def _data_for(self, layer):
        """The training data of RBM ``layer`` (mean-field propagation through the layers below)."""
        if self._layer_data is not None and self._layer_data[0] == layer:
            return self._layer_data[1]
        import torch

        v = self.x
        with torch.no_grad():
            for l in range(layer):
                v = self.hidden_probs(l, v)
        v = v.contiguous()
        self._layer_data = (layer, v)
        return v

    @without_denormals
    def train_epoch(self, epoch):
        """Train global epoch ``epoch`` (1-based). Returns ``{"recon_error": (E,), "layer": l}``."""
        import torch

        layer = (int(epoch) - 1) // self.epochs_per_layer
        if layer != self.layer:
            self._reset_increments(layer)
        data = self._data_for(layer)
        shared = data.dim() == 2
        n = data.shape[-2]
        nh = self.sizes[layer + 1]
        B = self.batch_size
        perms = torch.stack([torch.randperm(n, generator=g) for g in self.gens]).to(self.device)
        chunk = max(B, (RAND_CHUNK // max(nh, 1)) // B * B)
        err = torch.zeros(self.E, dtype=torch.float64, device=self.device)
        flat = data.reshape(-1, data.shape[-1])
        offsets = 0 if shared else torch.arange(self.E, device=self.device)[:, None] * n
        with torch.no_grad():
            for c0 in range(0, n, chunk):
                c1 = min(c0 + chunk, n)
                gens = self.device_gens or self.gens
                us = [torch.rand(c1 - c0, nh, generator=g, device=g.device) for g in gens]
                u_all = (us[0].unsqueeze(0) if self.E == 1 else torch.stack(us)).to(self.device)
                for s in range(c0, c1, B):
                    e = min(s + B, c1)
                    idx = perms[:, s:e] + offsets  # rows of ``flat`` (member e's items start at e·n)
                    v0 = flat.index_select(0, idx.reshape(-1)).view(self.E, e - s, -1)
                    err += cd1_step(self.W[layer], self.vb[layer], self.hb[layer], self.dW, self.dvb, self.dhb,
                                    v0, u_all[:, s - c0:e - c0], self.lr, self.momentum, self.weight_decay).double()
        return {"recon_error": (err / n).cpu().numpy(), "layer": float(layer)}

    def evaluate(self):
        return {}

    # ------------------------------------------------------------------ store interface
    def arrays(self):
        """``(weights, biases)``: blocks (E, n_l, n_{l+1}) and the hidden biases (E, n_{l+1})."""
        return [W.cpu().numpy() for W in self.W], [b.cpu().numpy() for b in self.hb]

    def state(self):
        st = {f"W{l}": W.cpu().numpy() for l, W in enumerate(self.W)}
        st.update({f"vb{l}": b.cpu().numpy() for l, b in enumerate(self.vb)})
        st.update({f"hb{l}": b.cpu().numpy() for l, b in enumerate(self.hb)})
        st.update(dW=self.dW.cpu().numpy(), dvb=self.dvb.cpu().numpy(), dhb=self.dhb.cpu().numpy(),
                  layer=np.array(self.layer), rng=generator_state(self.gens))
        if self.device_gens:
            st["rng_device"] = generator_state(self.device_gens)
        return st

    def load_state(self, st):
        import torch

        for l in range(len(self.W)):
            self.W[l].copy_(torch.from_numpy(st[f"W{l}"]))
            self.vb[l].copy_(torch.from_numpy(st[f"vb{l}"]))
            self.hb[l].copy_(torch.from_numpy(st[f"hb{l}"]))
        self._reset_increments(int(st["layer"]))
        self.dW.copy_(torch.from_numpy(st["dW"]))
        self.dvb.copy_(torch.from_numpy(st["dvb"]))
        self.dhb.copy_(torch.from_numpy(st["dhb"]))
        set_generator_state(self.gens, st["rng"])
        if self.device_gens:
            if "rng_device" not in st:
                raise InputError("this run was saved on the CPU; resume it on the CPU (its hidden samples are "
                                 "drawn on the host there, on the device here)")
            set_generator_state(self.device_gens, st["rng_device"])
        self._layer_data = None
