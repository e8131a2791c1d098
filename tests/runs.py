"""Small epoch stores for pipeline, report and CLI tests."""
import numpy as np

from deepcnt.runs.store import EpochStore

SIZES = (6, 5, 4)


def make_run(path, n_epochs=7, members=2, seed=0, sizes=SIZES):
    """A run of random weights: ``n_epochs`` entries (epochs 0, 10, 20, ...), loss and per-member accuracy."""
    rng = np.random.default_rng(seed)
    s = EpochStore.create(path, sizes=sizes, n_members=members)
    for e in range(n_epochs):
        ws = [rng.normal(size=(members, a, b)).astype(np.float32) for a, b in zip(sizes[:-1], sizes[1:])]
        bs = [rng.normal(size=(members, b)).astype(np.float32) for b in sizes[1:]]
        acc = [0.1 * e, 0.05 * e, 0.02 * e][:members]
        s.append(e * 10, ws, biases=bs, scalars={"loss": 1.0 / (e + 1), "accuracy": acc})
    s.close()
    return path
