"""``python -m deepcnt``: the ``deepcnt`` command line (``deepcnt.bindings.cli``).

An entry point, like the ``deepcnt`` script that ``pyproject.toml`` declares: the command line is named by its
module path, so that the engine package imports nothing from the bindings.
"""
import importlib

if __name__ == "__main__":
    raise SystemExit(importlib.import_module("deepcnt.bindings.cli").main())
