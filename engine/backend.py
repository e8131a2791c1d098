"""A thin backend: the array module and the kernel twins that go with it (POT's ``get_backend`` idea, small).

``cpu``      numpy arrays, ``deepcnt.kernels.cpu`` (Numba).
``gpu``      CuPy arrays, ``deepcnt.kernels.gpu`` (numba.cuda + CuPy); needs a CUDA device.
``gpu-sim``  numpy arrays, ``deepcnt.kernels.gpu`` run by the numba.cuda simulator (``NUMBA_ENABLE_CUDASIM=1``):
             how the GPU code path is tested on machines without a device.

CuPy is imported only when a CuPy array or ``device="gpu"`` appears.
"""
import os
import sys
from dataclasses import dataclass
from types import ModuleType

import numpy as np

from .errors import DeviceError


@dataclass(frozen=True)
class Backend:
    """Array module plus kernel package. Picking a device is picking this pair."""

    name: str
    xp: ModuleType
    kernels: ModuleType

    @property
    def device(self):
        """``"cpu"`` or ``"gpu"`` (the simulator counts as ``"gpu"``: it runs the GPU code path)."""
        return "cpu" if self.name == "cpu" else "gpu"

    def kernel(self, family):
        """The kernel module of a family (``"blockpass"``, ``"motifs"``, ...) for this backend's device."""
        import importlib

        return importlib.import_module(f"{self.kernels.__name__}.{family}")

    def to_numpy(self, a):
        """Host copy of ``a`` (no copy for numpy arrays)."""
        return to_host(a)

    def synchronize(self):
        """Wait for queued device work (no-op on the CPU)."""
        if self.name == "gpu":
            import cupy

            cupy.cuda.Device().synchronize()


def to_host(a):
    """A numpy array of ``a``: a CuPy array is copied to the host, anything else goes through ``np.asarray``
    (no copy for a numpy array). The one host-copy helper of deepcnt."""
    return a.get() if type(a).__module__.split(".")[0] == "cupy" else np.asarray(a)


def _simulated():
    return os.environ.get("NUMBA_ENABLE_CUDASIM", "0") == "1"


def gpu_available():
    """True when a real CUDA device can be used through CuPy (importing cupy is not proof of a GPU)."""
    try:
        import cupy

        return cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:
        return False


_CACHE = {}


def get_backend(device="cpu"):
    """The backend for ``device`` (``"cpu"`` or ``"gpu"``).

    Raises
    ------
    DeviceError
        ``device="gpu"`` on a machine with no CUDA device (and no simulator).
    """
    if device not in ("cpu", "gpu"):
        raise DeviceError(f"unknown device {device!r}: use 'cpu' or 'gpu'")
    if device in _CACHE:
        return _CACHE[device]
    # each kernel package is imported when its device is first asked for: the GPU twins import numba.cuda
    if device == "cpu":
        from .kernels import cpu as kcpu

        be = Backend("cpu", np, kcpu)
    elif _simulated():
        from .kernels import gpu as kgpu

        be = Backend("gpu-sim", np, kgpu)
    elif gpu_available():
        import cupy

        from .kernels import gpu as kgpu

        be = Backend("gpu", cupy, kgpu)
    else:
        raise DeviceError(
            "device='gpu' was asked for but no CUDA device is available here; use device='cpu' "
            "(or set NUMBA_ENABLE_CUDASIM=1 to run the GPU kernels on the simulator)"
        )
    _CACHE[device] = be
    return be


def backend_for(device, *arrays):
    """The backend a function of arrays runs on: ``device`` when given, else the arrays' own (the first CuPy
    array among them → ``gpu``, else ``cpu``). The one device convention of functions that take arrays."""
    if device is not None:
        return get_backend(device)
    for a in arrays:
        if type(a).__module__.split(".")[0] == "cupy":
            return get_backend("gpu")
    return get_backend("cpu")


def is_torch_tensor(a):
    """True for a torch tensor, without importing torch."""
    return "torch" in sys.modules and type(a).__module__.split(".")[0] == "torch"
