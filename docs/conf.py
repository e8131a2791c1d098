"""Sphinx configuration of deepcnt's documentation (``make docs``: HTML in docs/_build/html, warnings are errors)."""
import deepcnt

project = "deepcnt"
author = "the deepcnt developers"
release = version = deepcnt.__version__
extensions = ["sphinx.ext.autodoc", "sphinx.ext.autosummary", "sphinx.ext.doctest", "sphinx.ext.mathjax", "numpydoc"]
autosummary_generate = True
autodoc_default_options = {"members": False}
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
exclude_patterns = ["_build"]
html_theme = "alabaster"
html_static_path = []
nitpicky = False
