# deepcnt: `make demo` runs the main job on bundled data, `make test` runs the tests. Both set everything up.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
EXTRAS := test,bench,torch,store,dask,plots,graphs,function,hf
# numba.cuda kernels run on the CPU simulator unless a real device is asked for (DEEPCNT_REAL_GPU=1)
SIM    := $(if $(DEEPCNT_REAL_GPU),,NUMBA_ENABLE_CUDASIM=1)

.PHONY: all venv test demo bench docs gpu-check clean

all: test

venv: $(VENV)/.stamp

# Idempotent: re-runs only when pyproject.toml changes. torch==2.13.0 (a CPU build) is installed first when
# the venv has no torch or one older than the `torch` extra's floor (2.6), so that the extra never pulls a
# multi-GB CUDA build; a torch >= 2.6 already present is left alone.
$(VENV)/.stamp: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip setuptools wheel
	$(PY) -c "import sys, torch; sys.exit(tuple(map(int, torch.__version__.split('.')[:2])) < (2, 6))" 2>/dev/null \
		|| $(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e ".[$(EXTRAS)]"
	touch $@

# The tests run in TEST_WORKERS processes (pytest-xdist), a test file to a worker (its module fixtures are built
# once); TEST_WORKERS=0 runs them in this process.
TEST_WORKERS ?= 2
test: venv
	$(SIM) $(PY) -m pytest -q $(if $(filter 0,$(TEST_WORKERS)),,-n $(TEST_WORKERS) --dist loadfile)

demo: venv
	$(SIM) $(PY) -m deepcnt.bindings.cli demo

bench: venv
	-$(PY) -m pip install -q -e ".[peers]"
	$(SIM) $(PY) -m pytest benchmarks -m "not gpu" --benchmark-only --benchmark-json=benchmarks/results.json -p no:cacheprovider -o addopts="" -o python_files="bench_*.py" -s

# The documentation site (Sphinx + numpydoc), warnings as errors; its examples also run in `make test`.
docs: venv
	$(PY) -m pip install -q -e ".[docs]"
	$(PY) -m sphinx -W --keep-going -q -b html docs docs/_build/html
	@echo "docs: docs/_build/html/index.html"

# The GPU check (issue 16): tests on the real device, GPU benchmarks against their floors, one JSON. Uses the venv
# where there is one, else the machine's python3 (a GPU machine's own CuPy/torch), installing deepcnt offline.
# Without a device it runs the simulator twins and toy benchmarks and exits 0.
GPU_PY  ?= $(if $(wildcard $(PY)),$(PY),python3)
GPU_OUT ?= gpu-check.json
gpu-check:
	$(GPU_PY) benchmarks/gpu_check.py --out $(GPU_OUT) $(GPU_ARGS)

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache docs/_build docs/generated
	find engine kernels bindings -name '*.nb[ic]' -delete  # Numba's on-disk cache of the kernels (it is also invalidated by any change to kernels/)
