"""Agreement matrix and consensus clustering (BCT consensus_und, MATLAB semantics; spec §5.5)."""
import numpy as np
import pytest

import deepcnt
from deepcnt.communities.modularity import louvain, modularity
from deepcnt.communities.consensus import agreement, consensus, consensus_partitions, consensus_und
from naive_communities import agreement_ref
from deepcnt.backend import to_host

bct = pytest.importorskip("bct")


@pytest.mark.parametrize("seed", range(5))
def test_agreement_matches_reference_bctpy_and_gpu(seed):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, int(rng.integers(1, 5)), size=(int(rng.integers(1, 30)), int(rng.integers(1, 12))))
    D = agreement(labels)
    np.testing.assert_array_equal(D, agreement_ref(labels))
    # BCT's formula, Ind Indᵀ with a zero diagonal (bctpy's own agreement() fails under numpy 2: np.sum(gen))
    ind = np.concatenate([np.eye(r.max() + 1)[r] for r in labels], axis=1)
    ref = ind @ ind.T
    np.fill_diagonal(ref, 0)
    np.testing.assert_array_equal(D, ref)
    np.testing.assert_allclose(agreement(labels, normalize=True), D / labels.shape[0])
    np.testing.assert_array_equal(to_host(agreement(labels, device="gpu")), D)  # the GPU twin (simulator here)


def _blocks_D(rng, sizes, p_in=0.9, p_out=0.05):
    lab = np.repeat(np.arange(len(sizes)), sizes)
    n = lab.size
    D = np.where(lab[:, None] == lab[None, :], p_in, p_out) + rng.uniform(-0.04, 0.04, (n, n))
    D = np.clip((D + D.T) / 2, 0, 1)
    np.fill_diagonal(D, 0)
    return D, lab


def test_consensus_und_recovers_blocks():
    rng = np.random.default_rng(1)
    D, lab = _blocks_D(rng, [5, 7, 4, 6])
    out = consensus_und(D, tau=0.1, reps=10, seed=3)
    assert out.tolist() == lab.tolist()


def test_consensus_und_all_below_tau_gives_singletons():
    """MATLAB's nnz(dt) == 0 branch (bctpy's guard is inverted and would cluster an empty matrix)."""
    D = np.full((6, 6), 0.05)
    np.fill_diagonal(D, 0)
    assert consensus_und(D, tau=0.1).tolist() == list(range(6))


def test_consensus_of_identical_partitions_is_that_partition():
    p = np.array([3, 3, 1, 1, 1, 7, 7, 3])
    out = consensus_partitions(np.stack([p] * 6))
    assert out.tolist() == [0, 0, 1, 1, 1, 2, 2, 0]


def test_consensus_oracle_and_determinism(oracle, oracle_graph):
    ci = oracle["modularity_partition"]
    assert consensus(oracle_graph, runs=30).tolist() == ci
    assert consensus(oracle_graph, runs=30, directed=True, seed=2).shape == (6,)


def test_consensus_on_random_graph():
    rng = np.random.default_rng(4)
    g = deepcnt.LayeredGraph.from_weights([rng.normal(size=(12, 10)), rng.normal(size=(10, 8))])
    a = consensus(g, runs=40, seed=5)
    b = consensus(g, runs=40, seed=5)
    assert np.array_equal(a, b)
    # the consensus is a good partition: no worse than the median single run (it pools the runs)
    qs = [louvain(g, seed=s)[1] for s in range(40)]
    assert modularity(g, a) >= np.median(qs) - 0.02 * abs(np.median(qs))


def test_consensus_stack_and_across_epochs():
    rng = np.random.default_rng(6)
    base = [rng.normal(size=(8, 6)), rng.normal(size=(6, 5))]
    stack = [np.stack([b + 0.05 * rng.normal(size=b.shape) for _ in range(3)]) for b in base]
    g = deepcnt.LayeredGraph.from_weights(stack)
    per = consensus(g, runs=20, seed=1)
    assert per.shape == (3, g.n_nodes)
    for t in range(3):
        assert np.array_equal(per[t], consensus(g.epoch(t), runs=20, seed=1))
    across = consensus(g, runs=20, seed=1, across_epochs=True)
    assert across.shape == (g.n_nodes,)
    assert np.array_equal(across, consensus_partitions(per, 0.1, 10, 1))



def test_consensus_seeded_by_previous_consensus_can_move():
    """Shine et al.: each epoch's runs seeded with the consensus partition of the epoch before. Epoch 0 has
    two modules, epoch 1 four (each splits in two; ``test_communities._modules``): the seeded runs that can
    still move find the four, the consensus of unseeded runs; BCT's seeded runs (``refine=False``) all
    return the seed. A partition given as ``init`` seeds every epoch."""
    from test_communities import _modules

    rng = np.random.default_rng(1)
    a, b = _modules(rng, 2), _modules(rng, 4)
    g = deepcnt.LayeredGraph.from_weights([np.stack([a[l], b[l]]) for l in range(2)])
    chain = consensus(g, runs=10, seed=2, init="previous")
    tied = consensus(g, runs=10, seed=2, init="previous", refine=False)
    free = consensus(g.epoch(1), runs=10, seed=2)
    assert chain[0].max() == 1 and np.array_equal(tied[1], tied[0])
    assert np.array_equal(chain[1], free) and free.max() == 3
    assert modularity(g.epoch(1), chain[1]) > modularity(g.epoch(1), tied[1]) + 0.1
    assert np.array_equal(consensus(g, runs=10, seed=2, init=chain[0])[1], free)
    with pytest.raises(deepcnt.InputError, match="previous"):
        consensus(g, runs=3, init="last")

def test_bad_inputs(oracle_graph):
    with pytest.raises(deepcnt.InputError, match="square"):
        consensus_und(np.zeros((3, 4)), 0.1)
    with pytest.raises(deepcnt.InputError, match="probabilities"):
        consensus_und(np.full((3, 3), 2.0), 0.1)
    with pytest.raises(deepcnt.InputError, match="symmetric"):
        consensus_und(np.triu(np.full((3, 3), 0.5)), 0.1)
    with pytest.raises(deepcnt.InputError, match="tau"):
        consensus_und(np.zeros((3, 3)), 1.5)
    with pytest.raises(deepcnt.InputError, match="reps"):
        consensus_und(np.zeros((3, 3)), 0.1, reps=0)
    with pytest.raises(deepcnt.InputError, match="runs"):
        consensus(oracle_graph, runs=0)
    with pytest.raises(deepcnt.InputError, match="epoch stack"):
        consensus(oracle_graph, runs=2, across_epochs=True)
    with pytest.raises(deepcnt.InputError, match="partitions"):
        agreement(np.zeros(4, int))
    with pytest.raises(deepcnt.InputError, match="unknown negative mode"):
        consensus(oracle_graph, negative="x")
