"""One configuration (``deepcnt.config``) read at call time, and a Numba cache that cannot serve stale kernels."""
import copy
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import deepcnt
from deepcnt.kernels import config as kconfig
from deepcnt.kernels import numba_cache

PACKAGE = Path(deepcnt.__file__).resolve().parent.parent  # the checkout: engine/, kernels/, bindings/


def test_deepcnt_config_is_the_module_the_kernels_read():
    from deepcnt import config

    assert config is deepcnt.config is kconfig
    try:
        deepcnt.config.SINKHORN_PARALLEL_MIN = 0
        assert kconfig.SINKHORN_PARALLEL_MIN == 0
    finally:
        deepcnt.config.reset()


def test_reset_restores_every_default():
    before = {n: copy.deepcopy(getattr(kconfig, n)) for n in dir(kconfig) if n.isupper() and n[0] != "_"}
    kconfig.MOTIF_MASK_BUDGET = 1
    kconfig.FASTMATH.add("afn")  # mutated in place, not rebound
    kconfig.reset()
    after = {n: getattr(kconfig, n) for n in dir(kconfig) if n.isupper() and n[0] != "_"}
    assert after == before and "afn" not in kconfig.FASTMATH


def test_every_tunable_is_read_somewhere():
    sources = "\n".join(p.read_text() for d in ("engine", "kernels", "bindings") for p in (PACKAGE / d).rglob("*.py")
                        if p.name != "config.py")
    unused = [n for n in dir(kconfig) if n.isupper() and n[0] != "_" and not re.search(rf"\b{n}\b", sources)]
    assert not unused, f"config names no code reads: {unused}"


def test_kernels_are_stamped_by_every_kernel_source():
    from deepcnt.kernels.cpu import blockpass

    from deepcnt.kernels.cpu.louvain import moving

    for kernel in (blockpass._rows, moving._sweeps):  # a module of a subpackage too (kernels/cpu/louvain/)
        locator = kernel._cache._impl._locator
        assert isinstance(locator, numba_cache.LOCATORS)
        assert locator.get_source_stamp() == numba_cache.sources_stamp()


def test_stamp_changes_with_any_source(tmp_path):
    (tmp_path / "a.py").write_text("x = 1\n")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.py").write_text("y = 1\n")
    s0 = numba_cache.sources_stamp(tmp_path)
    (tmp_path / "sub" / "b.py").write_text("y = 2\n")
    assert numba_cache.sources_stamp(tmp_path) != s0


def test_a_changed_helper_in_another_file_recompiles_a_cached_kernel(tmp_path):
    """Numba's own stamp is the kernel's file only: a cached kernel that calls a helper from another file came
    back with the old helper compiled in. With the tree stamp the change recompiles it."""
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "kern.py").write_text(textwrap.dedent("""
        from numba import njit
        from helper import h

        @njit(cache=True)
        def f(x):
            return h(x)
    """))
    run = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(tree)!r})
        from deepcnt.kernels import numba_cache
        numba_cache.install({str(tree)!r})
        import kern
        print(kern.f(1))
    """)
    results = []
    for add in (1, 2):
        (tree / "helper.py").write_text(f"from numba import njit\n\n\n@njit\ndef h(x):\n    return x + {add}\n")
        out = subprocess.run([sys.executable, "-c", run], capture_output=True, text=True, check=True)
        results.append(int(out.stdout.split()[-1]))
    assert list((tree / "__pycache__").glob("kern.f-*.nbi")), "the kernel was not cached at all"
    assert results == [2, 3]
