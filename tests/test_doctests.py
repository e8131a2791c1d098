"""The examples in the docstrings and in the documentation pages run and print what they show."""
import doctest
import importlib
import pkgutil
from pathlib import Path

import pytest

import deepcnt

DOCS = Path(__file__).resolve().parent.parent / "docs"
FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
MODULES = sorted(m.name for m in pkgutil.walk_packages(deepcnt.__path__, "deepcnt.")
                 if not m.name.startswith(("deepcnt.kernels", "deepcnt.bindings")))
PAGES = sorted(p.relative_to(DOCS).as_posix() for p in DOCS.rglob("*.rst")
               if not {"_build", "generated", "auto_examples"} & set(p.relative_to(DOCS).parts))


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=FLAGS)
    assert result.failed == 0, f"{result.failed} docstring example(s) of {name} failed (output above)"


@pytest.mark.parametrize("page", PAGES)
def test_documentation_examples(page):
    result = doctest.testfile(str(DOCS / page), module_relative=False, optionflags=FLAGS)
    assert result.failed == 0, f"{result.failed} example(s) of docs/{page} failed (output above)"


def test_every_page_and_module_is_found():
    assert {"index.rst", "quickstart.rst", "metrics/core.rst"} <= set(PAGES)
    assert {"deepcnt.model.graph", "deepcnt.core.strength", "deepcnt.motifs.counts", "deepcnt.runs.store"} <= set(MODULES)
