"""Floors shared by the benchmark suites: the bare work a deepcnt case cannot go below."""


def cd1_bmm_floor(torch, E, nv, nh, batch, n_items, device="cpu"):
    """The five batched GEMMs of a CD-1 epoch of ``E`` RBMs ``nv × nh`` (``n_items`` items, minibatches of
    ``batch``), on preallocated tensors: ``v0·W, h0·Wᵀ, v1·W, v0ᵀ·h0, v1ᵀ·h1`` per minibatch.

    Returns a function that runs one epoch of them (and waits for the device).
    """
    g = torch.Generator(device=device).manual_seed(0)
    W = torch.randn(E, nv, nh, generator=g, device=device) * 0.1
    v0 = torch.rand(E, batch, nv, generator=g, device=device)
    h0 = torch.rand(E, batch, nh, generator=g, device=device)
    out_h = torch.empty(E, batch, nh, device=device)
    out_v = torch.empty(E, batch, nv, device=device)
    out_w = torch.empty(E, nv, nh, device=device)

    def gemms():
        for _ in range(n_items // batch):
            torch.bmm(v0, W, out=out_h)
            torch.bmm(h0, W.transpose(1, 2), out=out_v)
            torch.bmm(out_v, W, out=out_h)
            torch.bmm(v0.transpose(1, 2), h0, out=out_w)
            torch.bmm(out_v.transpose(1, 2), out_h, out=out_w)
        if device != "cpu":
            torch.cuda.synchronize()

    return gemms
