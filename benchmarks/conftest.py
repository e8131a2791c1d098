"""Shared benchmark helpers: record each case's best time and print ratios to the named peer at the end."""
import json
import os

if not os.environ.get("DEEPCNT_REAL_GPU"):
    os.environ.setdefault("NUMBA_ENABLE_CUDASIM", "1")
    from numba.core import config as _numba_config

    _numba_config.reload_config()

import pytest  # noqa: E402

_RESULTS = {}


@pytest.fixture(scope="session")
def record():
    """``record(group, name, benchmark)``: keep the best time of a finished pedantic run."""

    def _record(group, name, benchmark):
        _RESULTS.setdefault(group, {})[name] = benchmark.stats.stats.min

    yield _record
    if not _RESULTS:
        return
    lines = ["", "=== ratios (best time; lower is better; x = time / deepcnt's time) ==="]
    for group, cases in _RESULTS.items():
        base = next((t for n, t in cases.items() if n.startswith("deepcnt")), None)
        lines.append(f"[{group}]")
        for name, t in cases.items():
            ratio = f"{t / base:10.1f}x" if base else ""
            lines.append(f"  {name:<40} {t * 1e3:12.3f} ms {ratio}")
    print("\n".join(lines))
    out = os.environ.get("DEEPCNT_BENCH_REPORT")
    if out:
        with open(out, "a") as fh:
            fh.write("\n".join(lines) + "\n")
    out = os.environ.get("DEEPCNT_BENCH_JSON")  # {group: {case: best seconds}}, for make gpu-check
    if out:
        with open(out, "w") as fh:
            json.dump(_RESULTS, fh, indent=1)
