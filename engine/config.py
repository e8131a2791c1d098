"""``deepcnt.config`` is ``deepcnt.kernels.config``, the one module of tunables (kernels read it; the layering
holds). This module replaces itself by it, so that setting a name here changes what the kernels read."""
import sys

from .kernels import config as _config

sys.modules[__name__] = _config
