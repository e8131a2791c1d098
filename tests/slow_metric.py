"""A registered metric that takes its time (tests only): lets a test kill a run or a worker mid-way.

The sleep is read from DEEPCNT_TEST_SLEEP (seconds, default 0.25); the values equal ``degree``'s.
"""
import os
import time

import deepcnt
from deepcnt.registry import register


@register("slow_degree", "node", ["slow_degree"], "degree, slowly (tests only)", default=False)
def slow_degree(g):
    time.sleep(float(os.environ.get("DEEPCNT_TEST_SLEEP", "0.25")))
    return {"slow_degree": deepcnt.degree(g)}
