"""What the trainers share: per-member random generators, weight initialisations, save schedules, and the
loop that trains, appends the scheduled epochs to an ``EpochStore`` and resumes a killed run.

Random streams: member ``e`` owns one ``torch.Generator`` seeded with ``seeds[e]``; every random draw of that
member (initial weights, data order, hidden samples) comes from it in a fixed order. A batched ensemble
therefore equals ``E`` single runs with the same seeds, and a resumed run (generator states restored) equals
an uninterrupted one.
"""
import functools
import math
import operator
import threading

import numpy as np

from deepcnt.errors import InputError

INITS = ("normal", "uniform", "orthogonal", "glorot")
#: Row padding (elements) of elementwise transcendental functions: see :func:`rowwise`.
ROW_ALIGN = 64


def rowwise(fn, z):
    """``fn(z)`` (sigmoid, tanh) computed so that every row gets the same floating-point treatment.

    ATen evaluates an elementwise function of a contiguous tensor as one flat loop: SIMD vectors, then a scalar
    tail that can round differently in the last bit. The position of a member's values in that loop depends on
    ``E``, so a batched ensemble would differ from single runs in the last bit (which binary sampling then
    amplifies). Padding each row to a multiple of ``ROW_ALIGN`` elements puts every row on vector boundaries
    with no tail, whatever ``E`` is. Differentiable (pad and slice).
    """
    import torch.nn.functional as F

    n = z.shape[-1]
    pad = (-n) % ROW_ALIGN
    if pad == 0 or z.device.type != "cpu":  # a GPU's elementwise kernels treat every element alike
        return fn(z)
    return fn(F.pad(z, (0, pad)))[..., :n]


def member_list(value, n, what):
    """``value`` repeated ``n`` times, or the ``n`` values of a sequence."""
    if np.ndim(value) == 0:
        return [value] * n
    value = list(value)
    if len(value) != n:
        raise InputError(f"{what} has {len(value)} values for {n} ensemble members")
    return value


def generators(seeds, device="cpu"):
    """One ``torch.Generator`` on ``device`` per seed, seeded with it."""
    import torch

    out = []
    for s in seeds:
        g = torch.Generator(device=device)
        g.manual_seed(int(s))
        out.append(g)
    return out


def init_block(g, n_in, n_out, kind, scale):
    """One weight block of shape (n_in, n_out) (float32) drawn from generator ``g``.

    * ``normal``: N(0, scale) (scale = σ)
    * ``uniform``: U(−scale, scale)
    * ``orthogonal``: ``scale`` × a matrix with orthonormal rows or columns (QR of a Gaussian matrix, signs
      fixed by the diagonal of R, as ``torch.nn.init.orthogonal_``)
    * ``glorot``: ``scale`` × U(−a, a), a = sqrt(6 / (n_in + n_out)) (Glorot & Bengio; Keras ``glorot_uniform``)
    """
    import torch

    if kind == "normal":
        return torch.randn(n_in, n_out, generator=g) * float(scale)
    if kind == "uniform":
        return (torch.rand(n_in, n_out, generator=g) * 2.0 - 1.0) * float(scale)
    if kind == "glorot":
        a = math.sqrt(6.0 / (n_in + n_out))
        return (torch.rand(n_in, n_out, generator=g) * 2.0 - 1.0) * (a * float(scale))
    if kind == "orthogonal":
        rows, cols = max(n_in, n_out), min(n_in, n_out)
        q, r = torch.linalg.qr(torch.randn(rows, cols, generator=g, dtype=torch.float64))
        q = q * torch.sign(torch.diagonal(r))
        q = q if n_in >= n_out else q.T
        return (q * float(scale)).float()
    raise InputError(f"unknown initialisation {kind!r}: use one of {', '.join(INITS)}")


# ---------------------------------------------------------------------------------------------- denormals
_FTZ = threading.local()


def without_denormals(fn):
    """Decorator: run ``fn`` with subnormal floats flushed to zero (``torch.set_flush_denormal``), scoped.

    CD-1 and SGD drive probabilities and gradients towards 0; products of two small numbers inside the GEMMs
    (``v1ᵀ p1`` with entries near 1e-16 and 1e-18) are subnormal, and on CPUs that handle subnormals in
    microcode each one costs ~100 cycles: an epoch of the 500-2000 RBM of a 784-500-500-2000 DBN took 50x its
    GEMMs. The flags (FTZ/DAZ) live in each thread's MXCSR register and torch's OpenMP workers keep the value
    they were created with, so ``fn`` runs in a thread of its own whose flags are set before its first
    parallel region: its workers inherit them, and the caller's threads never change (nothing to restore).
    Nested calls run inline. Ctrl-C in the caller interrupts ``fn`` (its ``finally`` blocks run), then
    re-raises. Deterministic: the same inputs give the same bits on every run.
    """
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        if getattr(_FTZ, "on", False):
            return fn(*args, **kwargs)
        import ctypes

        import torch

        box, finished, cancelled = {}, threading.Event(), threading.Event()

        def target():
            try:
                _FTZ.on = True
                torch.set_flush_denormal(True)
                if not cancelled.is_set():
                    box["out"] = fn(*args, **kwargs)
            except BaseException as exc:  # handed to the caller
                box["exc"] = exc
            finally:
                finished.set()

        worker = threading.Thread(target=target, name=f"deepcnt-{fn.__name__}", daemon=True)
        try:  # start() inside: a Ctrl-C that lands while the thread starts must stop it too
            worker.start()
            while not finished.wait(0.25):  # an Event, not Thread.join: a join interrupted by Ctrl-C can mark
                pass  # the thread as stopped; short waits keep the caller responsive to Ctrl-C
        except KeyboardInterrupt:
            cancelled.set()  # not started fn yet: it never will
            if worker.ident is not None:
                ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(worker.ident),
                                                           ctypes.py_object(KeyboardInterrupt))
            while worker.is_alive() and not finished.wait(0.25):  # a second Ctrl-C leaves at once (the daemon
                pass  # thread dies with the process)
            raise
        if "exc" in box:
            raise box["exc"]
        return box.get("out")

    return wrapper


# ---------------------------------------------------------------------------------------------- schedules
def shine_epochs(last=100_000):
    """Shine et al.'s 64 log-spaced snapshots: epochs 1–30, every 10 to 100, every 100 to 1,000, every 1,000
    to 10,000 and every 10,000 to 100,000 (those ≤ ``last``)."""
    ep = list(range(1, 31))
    for step in (10, 100, 1000, 10000):
        ep += list(range(4 * step if step == 10 else 2 * step, 10 * step + 1, step))
    return [e for e in ep if e <= last]


def _schedule_int(schedule, what):
    try:
        return int(schedule.split(":", 1)[1])
    except ValueError:
        raise InputError(f"save schedule {schedule!r}: {what} must be an integer >= 1") from None


def save_epochs(schedule, epochs):
    """The set of epochs (1..``epochs``) to save; epoch 0 (the initial weights) is always saved.

    ``schedule``: ``"every"`` (default), ``"every:K"``, ``"shine"`` (Shine's 64 snapshots), ``"log:N"``
    (``N`` log-spaced epochs between 1 and ``epochs``), or a list of epochs. The last epoch is always saved.
    """
    if schedule is None or schedule == "every":
        out = set(range(1, epochs + 1))
    elif isinstance(schedule, str) and schedule.startswith("every:"):
        k = _schedule_int(schedule, "K")
        if k < 1:
            raise InputError(f"save schedule {schedule!r}: K must be >= 1")
        out = set(range(k, epochs + 1, k))
    elif schedule == "shine":
        out = set(shine_epochs(epochs))
    elif isinstance(schedule, str) and schedule.startswith("log:"):
        n = _schedule_int(schedule, "N")
        if n < 1:
            raise InputError(f"save schedule {schedule!r}: N must be >= 1")
        out = set(int(round(x)) for x in np.geomspace(1, max(epochs, 1), n))
    elif isinstance(schedule, str):
        raise InputError(f"unknown save schedule {schedule!r}: use every, every:K, shine, log:N or a list of epochs")
    else:
        try:
            out = set(operator.index(e) for e in schedule)  # 1.7 is not epoch 1
        except (TypeError, ValueError):
            raise InputError(f"save schedule {schedule!r} is not a list of epochs: use every, every:K, shine, "
                             "log:N or a list of epochs") from None
        bad = [e for e in out if not 0 <= e <= epochs]
        if bad:
            raise InputError(f"save schedule names epoch {min(bad)} outside 0..{epochs}")
    out.add(epochs)
    out.add(0)
    return out


# ---------------------------------------------------------------------------------------------- resuming
def _short(value, n=4):
    """``repr`` of a setting for a one-line message: a long list shows its first values and its length."""
    if isinstance(value, (list, tuple)) and len(value) > n:
        return f"[{', '.join(map(repr, value[:n]))}, ... ({len(value)} values)]"
    return repr(value)


def check_same_run(run_dir, old, preset, config, data, layered=False):
    """Refuse, in one line naming the settings that differ, to resume ``run_dir`` with another configuration.

    ``epochs`` may differ: more epochs extend a run (the trainer resumes from its last entry), except for a
    DBN (``layered``), whose epochs are per layer: a global epoch of another schedule would train another
    layer. ``old`` is the store's metadata; ``config`` and ``data`` the new run's (JSON-ready).
    """
    was, now = dict(old.get("config") or {}), dict(config)
    if layered and was.get("epochs") != now.get("epochs"):
        raise InputError(f"{run_dir} is a {preset} run of {was.get('epochs')} epochs per layer; a DBN trains "
                         f"layer by layer, so {now.get('epochs')} per layer cannot extend it: choose a new run "
                         "directory")
    was.pop("epochs", None)
    now.pop("epochs", None)
    diff = [f"preset {old.get('preset')!r}, not {preset!r}"] if old.get("preset") != preset else []
    diff += [f"{k}={_short(was.get(k))}, not {_short(now.get(k))}" for k in sorted(set(was) | set(now))
             if was.get(k) != now.get(k)]
    if old.get("data") != data:
        keys = sorted(k for k in set(old.get("data") or {}) | set(data) if (old.get("data") or {}).get(k) != data.get(k))
        diff += [f"data {k}={_short((old.get('data') or {}).get(k))}, not {_short(data.get(k))}" for k in keys]
    if diff:
        raise InputError(f"{run_dir} holds a run with {'; '.join(diff[:3])}{' ...' if len(diff) > 3 else ''}: "
                         "repeat its settings to resume or extend it (--epochs), or choose a new run directory")


def check_extends(store, epochs):
    """Refuse an ``epochs`` below what the store holds already (more extend it, equal is a finished run)."""
    if len(store) and int(store.epochs[-1]) > epochs:
        raise InputError(f"{store.path} holds epochs up to {int(store.epochs[-1])} already, more than the "
                         f"{epochs} asked for: give a larger --epochs to extend it")


# ---------------------------------------------------------------------------------------------- the loop
def generator_state(gens):
    return np.stack([g.get_state().numpy() for g in gens])


def set_generator_state(gens, states):
    import torch

    for g, s in zip(gens, states):
        g.set_state(torch.from_numpy(np.ascontiguousarray(s)))  # the state is a CPU ByteTensor on any device


@without_denormals
def run(trainer, store, epochs, schedule="every", progress=None):
    """Train ``trainer`` up to ``epochs``, appending the scheduled epochs (with scalars and a resume state).

    A store that already holds entries is resumed from its last complete entry: the trainer state saved
    with it (weights, momentum buffers, generator states) is restored and training continues from the next
    epoch, so the result equals an uninterrupted run.

    ``trainer`` provides ``arrays() -> (weights, biases)`` (numpy, (E, n_l, n_{l+1})), ``state() -> dict``,
    ``load_state(dict)``, ``train_epoch(epoch) -> scalars`` and ``evaluate() -> scalars``. The loop runs with
    subnormal floats flushed to zero (:func:`without_denormals`).
    """
    keep = save_epochs(schedule, epochs)
    last = store.last_state() if len(store) else None
    if len(store) and last is None:
        raise InputError(f"{store.path} holds epochs but no resume state: it was not written by a deepcnt trainer")
    if last is None:
        ws, bs = trainer.arrays()
        store.append(0, ws, bs, scalars=trainer.evaluate(), state=trainer.state())
        start = 1
    else:
        _, epoch, state = last
        trainer.load_state(state)
        start = int(epoch) + 1
    for epoch in range(start, epochs + 1):
        scalars = trainer.train_epoch(epoch)
        if epoch in keep:
            scalars.update(trainer.evaluate())
            ws, bs = trainer.arrays()
            store.append(epoch, ws, bs, scalars=scalars, state=trainer.state())
        if progress is not None:
            progress(epoch, epochs)
    return store
