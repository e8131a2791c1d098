"""Re-export of ``deepcnt.kernels.config``: every tunable lives there (kernels read it, the layering holds)."""
from .kernels.config import *  # noqa: F401,F403
from .kernels.config import __doc__ as _kdoc  # noqa: F401
