"""Tensors into arrays: what every torch reader of deepcnt uses to take a model's parameters."""
from deepcnt.errors import DeviceError


def to_array(t, device):
    """A detached tensor as a numpy array, or as a CuPy array through DLPack when it lives on a CUDA device."""
    import torch

    t = t.detach()
    if t.dtype in (torch.float16, torch.bfloat16):
        t = t.float()
    if t.is_cuda and device != "cpu":
        try:
            import cupy
        except ImportError:
            if device == "gpu":
                raise DeviceError("the model is on a CUDA device but CuPy is not installed: "
                                  "pip install cupy-cuda12x, or pass device='cpu'") from None
        else:
            return cupy.from_dlpack(t.contiguous())
    if device == "gpu":
        raise DeviceError("device='gpu' needs the model on a CUDA device (model.to('cuda'))")
    # a copy: numpy() of a CPU tensor shares its memory, and a graph must not change when training goes on.
    # torch's contiguous copy transposes in tiles (a Linear's weight.T: half numpy's time); the numpy array
    # holds the only reference to the copy
    return t.cpu().clone(memory_format=torch.contiguous_format).numpy()
