"""Activity of the network on a dataset: a numpy forward pass for MLP blocks, and PCA of the activity per epoch and
concatenated over epochs, with within- and between-category distances in the top-3 space (Shine et al.).

Activations are arrays ``(S, n_l)`` (items × nodes). The forward pass here covers MLP blocks (weights as
LayeredGraph blocks, ``(n_in, n_out)``); models with other layers go through the torch binding's forward pass and
hand the same arrays to these functions.
"""
import numpy as np

from ..errors import InputError, check_choice
from ..model.graph import LayeredGraph

ACTIVATIONS = ("sigmoid", "relu", "tanh", "linear", "softmax")


def _act(name, z):
    if name == "sigmoid":
        return 0.5 * (1.0 + np.tanh(0.5 * z))  # overflow-free logistic
    if name == "relu":
        return np.maximum(z, 0.0)
    if name == "tanh":
        return np.tanh(z)
    if name == "linear":
        return z
    if name == "softmax":
        e = np.exp(z - z.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)
    check_choice("activation", name, ACTIVATIONS)


def forward(g, X, activation="sigmoid", output_activation=None, epoch=None, use_biases=True):
    """Activations of every layer for the items ``X``: ``H_0 = X``, ``H_l = φ(H_{l−1} W_l + b_l)``.

    On a block DAG a layer sums every block into it (a residual sum, a concatenation's branches), in layer
    (topological) order:

    .. math:: H_j = φ_j\\Big(\\sum_{\\text{blocks } (i, j)} H_i B_{ij} + b_j\\Big)

    with ``φ_L`` = ``output_activation`` for the last layer and ``activation`` for every other. Sparse blocks
    enter as the matrix of their stored entries, identity skips as ``I``, diagonal blocks as ``diag(d)``.

    Parameters
    ----------
    g : LayeredGraph (a chain or a block DAG) or sequence of weight arrays (n_{l−1}, n_l)
    X : array, shape (S, n_0)
    activation : {"sigmoid", "relu", "tanh", "linear"}, the hidden layers' non-linearity (Shine: sigmoid)
    output_activation : same choices or "softmax"; default ``activation``
    epoch : int, required for an epoch stack
    use_biases : bool, add ``g.biases`` when there are any (Shine et al. keep biases at zero)

    Returns
    -------
    list of ndarray, ``[H_0, …, H_L]``, shapes (S, n_l), float64

    Raises
    ------
    InputError
        Bad ``X`` or epoch; a layer after the input that no block feeds (a second input: it has no activity);
        a convolution or pooling block (use the torch binding's forward pass).

    Examples
    --------
    >>> H = forward([np.array([[1.0, -1.0]])], np.array([[0.0], [2.0]]), activation="relu")
    >>> H[1].tolist()
    [[0.0, 0.0], [2.0, 0.0]]
    """
    if not isinstance(g, LayeredGraph):
        g = LayeredGraph.from_weights(g)
    for a in (activation, output_activation or activation):
        check_choice("activation", a, ACTIVATIONS)
    if g.stacked:
        if epoch is None:
            raise InputError("g is an epoch stack: pass epoch= to choose the epoch of the forward pass")
        g = g.epoch(epoch)
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or X.shape[1] != g.sizes[0]:
        raise InputError(f"X must have shape (items, {g.sizes[0]}), got {X.shape}")
    if not np.isfinite(X).all():
        raise InputError("X holds NaN or infinite values")
    fed = {j for _, j in g.pairs}
    for j in range(1, g.n_layers):
        if j not in fed:
            raise InputError(f"forward: no block feeds layer {j} ({g.layer_names[j]}), so it has no activity: "
                             "every layer after the input needs an incoming block")
    out = [X]
    for j in range(1, g.n_layers):
        Z = np.zeros((X.shape[0], g.sizes[j]))
        for l, (i, jj) in enumerate(g.pairs):
            if jj == j:
                Z += np.asarray(out[i] @ g.operator(l, 0, "forward"))
        if use_biases and g.biases is not None:
            Z = Z + np.asarray(g.backend.to_numpy(g.biases[j - 1]))[0]
        last = j == g.n_layers - 1
        out.append(_act((output_activation or activation) if last else activation, Z))
    return out


def _matrix(A, name="activity"):
    A = np.asarray(A, dtype=np.float64)
    if A.ndim != 2 or A.shape[0] < 2 or A.shape[1] < 1:
        raise InputError(f"{name} must be a 2-D array (items >= 2, features), got shape {A.shape}")
    if not np.isfinite(A).all():
        raise InputError(f"{name} holds NaN or infinite values")
    return A


def standardize(A):
    """Columns centred and scaled to unit variance (ddof=0; constant columns only centred), as scikit-learn's
    ``StandardScaler``. Returns ``(Z, mean, scale)``."""
    A = _matrix(A)
    mean = A.mean(0)
    sd = A.std(0)
    scale = np.where(sd > 0, sd, 1.0)
    return (A - mean) / scale, mean, scale


def pca(A, n_components=10, standardized=True):
    """Principal components of the rows of ``A`` from the eigen-decomposition of the feature covariance.

    .. math:: C = \\frac{1}{S-1} Z^{\\mathsf T} Z = V Λ V^{\\mathsf T},\\qquad
              \\text{ratio}_i = λ_i / \\mathrm{tr}\\, C

    Parameters
    ----------
    A : array, shape (S, n)
    n_components : int, at most ``min(S, n)``
    standardized : bool, z-score the features first (Shine et al.: "the data were normalized")

    Returns
    -------
    dict with ``components`` (k, n) (rows, unit norm, sign: the largest ``|loading|`` positive), ``explained_variance``
    (k,), ``explained_variance_ratio`` (k,), ``scores`` (S, k), ``mean`` (n,), ``scale`` (n,)
    """
    A = _matrix(A)
    if standardized:
        Z, mean, scale = standardize(A)
    else:
        mean, scale = A.mean(0), np.ones(A.shape[1])
        Z = A - mean
    S, n = Z.shape
    k = int(n_components)
    if not 1 <= k <= min(S, n):
        raise InputError(f"n_components must be in 1..{min(S, n)}, got {n_components!r}")
    if n <= S:
        C = (Z.T @ Z) / (S - 1)
        lam, V = np.linalg.eigh(C)
        lam, V = lam[::-1][:k], V[:, ::-1][:, :k].T
        total = float(np.trace(C))
    else:  # fewer items than features: SVD of Z
        _, sv, Vt = np.linalg.svd(Z, full_matrices=False)
        lam, V = sv[:k] ** 2 / (S - 1), Vt[:k]
        total = float((Z * Z).sum() / (S - 1))
    sign = np.sign(V[np.arange(k), np.abs(V).argmax(1)])
    V = V * np.where(sign == 0, 1.0, sign)[:, None]
    return {"components": V, "explained_variance": np.maximum(lam, 0.0),
            "explained_variance_ratio": np.maximum(lam, 0.0) / total if total > 0 else np.zeros(k),
            "scores": Z @ V.T, "mean": mean, "scale": scale}


def category_distances(scores, labels, within="centroid"):
    """Within- and between-category Euclidean distances of items in a low-dimensional space (Shine Fig. 4).

    .. math:: d_{\\mathrm{between}} = \\operatorname{mean}_{c < c'} \\lVert μ_c - μ_{c'} \\rVert, \\qquad
              d_{\\mathrm{within}} = \\operatorname{mean}_c \\operatorname{mean}_{i \\in c} \\lVert x_i - μ_c \\rVert

    Parameters
    ----------
    scores : array, shape (S, k), e.g. the top-3 PC scores
    labels : array, shape (S,)
    within : {"centroid", "pairwise"}, distance to the class mean, or the mean pairwise distance inside a class
        [unverified which one Shine et al. used; "between" is the distance between class means, their Fig. 4]

    Returns
    -------
    (within, between) : (float, float)
    """
    from scipy.spatial.distance import pdist

    X = _matrix(scores, "scores")
    labels = np.asarray(labels)
    if labels.shape != (X.shape[0],):
        raise InputError(f"labels has shape {labels.shape} but there are {X.shape[0]} items")
    classes, inv = np.unique(labels, return_inverse=True)
    inv = inv.ravel()
    cnt = np.bincount(inv).astype(np.float64)
    mu = np.zeros((classes.size, X.shape[1]))
    np.add.at(mu, inv, X)
    mu /= cnt[:, None]
    between = float(pdist(mu).mean()) if classes.size > 1 else 0.0
    if within == "centroid":
        d = np.linalg.norm(X - mu[inv], axis=1)
        w = float(np.mean(np.bincount(inv, weights=d) / cnt))
    elif within == "pairwise":
        w = float(np.mean([pdist(X[inv == c]).mean() if cnt[c] > 1 else 0.0 for c in range(classes.size)]))
    else:
        raise InputError(f"within must be 'centroid' or 'pairwise', got {within!r}")
    return w, between


def _epoch_arrays(acts):
    """A (T, S, n) array or a sequence of T arrays (S, n) (e.g. a lazy loader over an epoch store): one at a time."""
    if isinstance(acts, np.ndarray):
        if acts.ndim != 3 or acts.shape[0] < 1:
            raise InputError(f"acts must be (epochs, items, nodes), got shape {acts.shape}")
    elif not hasattr(acts, "__len__") or not hasattr(acts, "__getitem__") or len(acts) < 1:
        raise InputError("acts must be a (T, S, n) array or a non-empty sequence of (S, n) arrays")
    return acts


def activity_pca(acts, labels=None, n_components=10, n_dims=3, within="centroid"):
    """Shine et al.'s PCA of activity: per epoch and concatenated over epochs.

    Per epoch ``t`` the activity ``A_t`` (items × nodes, e.g. input, HL1 and HL2 side by side) is standardised
    and its PCA gives the variance explained by the top components. Concatenated: the rows of all epochs are
    stacked, standardised together and one PCA fitted; its eigenvectors ``v_i`` give every epoch's leading
    eigenvalue estimates ``λ_i(t) = var(Z_t v_i)`` and the shared embedding in which the category distances are
    measured. The concatenation is never built: pass 1 accumulates the column sums and ``A_tᵀA_t`` (n × n) over
    epochs, pass 2 projects one epoch at a time, so memory is one epoch plus O(n²) (Shine: 64 epochs × 10,000
    items × 984 nodes would be 5 GB concatenated).

    .. math:: C = D^{-1}\\Big(\\frac{\\sum_t A_t^{\\mathsf T}A_t - N μμ^{\\mathsf T}}{N-1}\\Big)D^{-1},\\quad
              D = \\mathrm{diag}(σ),\\qquad λ_i(t) = \\mathrm{var}_{rows}(Z_t v_i)

    Parameters
    ----------
    acts : array, shape (T, S, n), or a sequence of T arrays (S, n) (read twice, one epoch at a time)
    labels : array, shape (S,), optional: the class of every item (same items every epoch)
    n_components : int (10)
    n_dims : int, dimensions of the embedding for the distances (3)
    within : see :func:`category_distances`

    Returns
    -------
    dict with ``per_epoch_ratio`` (T, k), ``concat_ratio`` (k,), ``concat_components`` (k, n),
    ``epoch_eigenvalues`` (T, k), ``epoch_eigen_ratio`` (T, k) (``λ_i(t)`` over the epoch's total variance in
    the shared standardisation), and with labels ``within`` (T,) and ``between`` (T,)
    """
    acts = _epoch_arrays(acts)
    T = len(acts)
    if not 1 <= n_dims <= n_components:
        raise InputError(f"n_dims must be in 1..n_components ({n_components}), got {n_dims}")
    per_epoch, shape = [], None
    for t in range(T):
        A = _matrix(acts[t], f"acts[{t}]")
        if shape is None:
            shape, c = A.shape, A.mean(0)  # shift by epoch 0's mean: no cancellation in the moments
            s1, s2, N = np.zeros(A.shape[1]), np.zeros((A.shape[1],) * 2), 0
        elif A.shape != shape:
            raise InputError(f"acts[{t}] has shape {A.shape} but acts[0] has {shape}: same items and nodes")
        per_epoch.append(pca(A, n_components)["explained_variance_ratio"])
        B = A - c
        s1 += B.sum(0)
        s2 += B.T @ B
        N += A.shape[0]
    mb = s1 / N
    cov = (s2 - N * np.outer(mb, mb)) / (N - 1)
    sd = np.sqrt(np.maximum(np.diag(cov) * (N - 1) / N, 0.0))  # ddof 0, as StandardScaler
    scale = np.where(sd > 1e-12 * (1 + np.abs(mb + c)), sd, 1.0)
    C = cov / np.outer(scale, scale)
    k = int(n_components)
    if not 1 <= k <= min(N, shape[1]):
        raise InputError(f"n_components must be in 1..{min(N, shape[1])}, got {n_components!r}")
    lam, V = np.linalg.eigh(C)
    lam, V = np.maximum(lam[::-1][:k], 0.0), V[:, ::-1][:, :k].T
    sign = np.sign(V[np.arange(k), np.abs(V).argmax(1)])
    V = V * np.where(sign == 0, 1.0, sign)[:, None]
    total = float(np.trace(C))
    mean = mb + c
    lam_t, tot_t, dist = np.zeros((T, k)), np.zeros(T), []
    for t in range(T):
        Z = (np.asarray(acts[t], dtype=np.float64) - mean) / scale
        proj = Z @ V.T
        lam_t[t] = proj.var(axis=0, ddof=1)
        tot_t[t] = Z.var(axis=0, ddof=1).sum()
        if labels is not None:
            dist.append(category_distances(proj[:, :n_dims], labels, within))
    out = {"per_epoch_ratio": np.stack(per_epoch), "concat_ratio": lam / total if total > 0 else np.zeros(k),
           "concat_components": V, "epoch_eigenvalues": lam_t,
           "epoch_eigen_ratio": lam_t / np.where(tot_t > 0, tot_t, 1.0)[:, None]}
    if labels is not None:
        d = np.array(dist)
        out["within"], out["between"] = d[:, 0], d[:, 1]
    return out
