"""Shared fixtures. The numba.cuda simulator is switched on before numba is imported (unless a real GPU is
asked for with DEEPCNT_REAL_GPU=1), so the GPU twins run here on the CPU."""
import json
import os
from pathlib import Path

if not os.environ.get("DEEPCNT_REAL_GPU"):
    os.environ.setdefault("NUMBA_ENABLE_CUDASIM", "1")
    # numba-cuda's .pth hook imports numba.core.config when the interpreter starts, before this file:
    # re-read the environment so that numba.cuda (not imported yet) comes up as the simulator.
    from numba.core import config as _numba_config

    _numba_config.reload_config()

import numpy as np  # noqa: E402
import pytest  # noqa: E402

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="session")
def oracle():
    """The worked 2-2-2 example of spec §12."""
    return json.loads((DATA / "oracle_222.json").read_text())


@pytest.fixture(scope="session")
def oracle_graph(oracle):
    import deepcnt

    lay = oracle["layers"]
    return deepcnt.LayeredGraph.from_weights(
        [np.array(lay["W1"]), np.array(lay["W2"])], biases=[np.array(lay["b1"]), np.array(lay["b2"])]
    )
