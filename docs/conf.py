"""Sphinx configuration of deepcnt's documentation (``make docs``: HTML in docs/_build/html, warnings are errors)."""
import deepcnt

project = "deepcnt"
author = "the deepcnt developers"
release = version = deepcnt.__version__
extensions = ["sphinx.ext.autodoc", "sphinx.ext.autosummary", "sphinx.ext.doctest", "sphinx.ext.mathjax", "numpydoc",
              "sphinx_gallery.gen_gallery"]
autosummary_generate = True
autodoc_default_options = {"members": False}
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
exclude_patterns = ["_build", "examples"]  # examples/: the gallery's sources (sphinx-gallery renders them)
html_theme = "alabaster"
html_static_path = []
nitpicky = False
sphinx_gallery_conf = {
    "examples_dirs": "examples",        # docs/examples/plot_*.py: each seed paper reproduced at tiny size
    "gallery_dirs": "auto_examples",
    "filename_pattern": "/plot_",
    "download_all_examples": False,
    "write_computation_times": False,
}
