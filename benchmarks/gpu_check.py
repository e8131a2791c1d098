"""``make gpu-check``: the whole GPU check in one script, one JSON of results.

On a machine with a CUDA device:

1. installs this checkout offline where ``deepcnt`` does not import yet (``pip install --no-deps
   --no-build-isolation --no-index -e .`` beside what the machine has; wheels in ``.whl/``, if any, are
   installed first into a private folder, for machines that lack a package);
2. runs every test that exercises a GPU code path with the real device (``DEEPCNT_REAL_GPU=1``: the numba.cuda kernels run on the GPU, not
   the simulator, and the ``gpu``-marked tests run too);
3. runs the GPU benchmarks (``benchmarks/bench_gpu.py``) and computes each case's ratio to its floor and to
   the CPU, against the goals.

Without a device it runs the GPU code paths it can (the same tests on the numba.cuda simulator and the
benchmarks at toy size), says what it skipped, and exits 0. Each step has a time limit so that the whole check
ends in under 8 minutes; the JSON is rewritten after every step, so an interrupted check still leaves one.

Usage: ``python benchmarks/gpu_check.py [--out gpu-check.json]``.
"""
import argparse
import importlib.util
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SITE = Path(tempfile.gettempdir()) / "deepcnt-gpu-check-site"
#: The test files that exercise a GPU code path (the rest never touch a device: they run in ``make test``).
GPU_TESTS = ["tests/test_twins.py", "tests/test_motif_twins.py", "tests/test_conv.py", "tests/test_pipeline.py",
             "tests/test_communities.py", "tests/test_roles.py", "tests/test_transport.py",
             "tests/test_information.py", "tests/test_consensus.py", "tests/test_graph.py", "tests/test_dag.py",
             "tests/test_motif_intensity.py", "tests/test_motif_null.py", "tests/test_motif_participation.py",
             "tests/test_torch_binding.py", "tests/test_train.py::test_rbm_on_gpu_draws_its_uniforms_on_the_device"]
#: (group prefix, case, reference case, goal): the ratios the issue asks for. ``goal`` bounds case/reference.
GOALS = [
    ("block pass", "deepcnt degree+strength (GPU)", "floor: one read of the weights (sum)", 2.0),
    ("block pass", "deepcnt degree+strength+knn (GPU)", "floor: one read of the weights (sum)", None),
    ("block pass", "deepcnt block_matvec kernels alone (GPU)", "floor: one read of the weights (sum)", None),
    ("block pass", "deepcnt degree+strength (GPU)", "deepcnt block_matvec kernels alone (GPU)", None),
    ("block pass", "deepcnt degree+strength (CPU)", "deepcnt degree+strength (GPU)", None),
    ("signed 4-node motif census", "deepcnt motifs (GPU)", "floor: its GEMMs alone", 1.5),
    ("signed 4-node motif census", "deepcnt motifs (CPU)", "deepcnt motifs (GPU)", None),
    ("CD-1 epoch", "deepcnt batched CD-1 (GPU)", "floor: the five bmm per minibatch", 1.3),
    ("CD-1 epoch", "deepcnt batched CD-1 (CPU)", "deepcnt batched CD-1 (GPU)", None),
    ("analyze", "deepcnt analyze --device gpu", "floor: the metrics on graphs already on the device", None),
    ("analyze", "deepcnt analyze --device cpu", "deepcnt analyze --device gpu", None),
]


def device_info():
    """CuPy's view of the device, or why there is none."""
    info = {"python": sys.version.split()[0], "machine": platform.machine(), "cpus": os.cpu_count()}
    for mod in ("numpy", "numba", "numba_cuda", "cupy", "torch"):
        try:
            info[mod] = __import__(mod).__version__
        except Exception as exc:  # noqa: BLE001 - a missing package is a fact to report
            info[mod] = f"missing ({type(exc).__name__})"
    try:
        import cupy

        rt = cupy.cuda.runtime
        n = rt.getDeviceCount()
        info["devices"] = n
        if n:
            props = rt.getDeviceProperties(0)
            info["device"] = props["name"].decode() if isinstance(props["name"], bytes) else props["name"]
            info["memory_gib"] = round(props["totalGlobalMem"] / 2**30, 1)
            info["cuda_runtime"] = rt.runtimeGetVersion()
            info["cuda_driver"] = rt.driverGetVersion()
    except Exception as exc:  # noqa: BLE001
        info["devices"] = 0
        info["no_device_because"] = f"{type(exc).__name__}: {exc}"[:300]
    return info


def run(cmd, env, timeout, log):
    """Run ``cmd``; return (exit code or "timeout", seconds). Output goes to ``log``."""
    t0 = time.time()
    with open(log, "w") as fh:
        try:
            rc = subprocess.run(cmd, cwd=ROOT, env=env, stdout=fh, stderr=subprocess.STDOUT, timeout=timeout).returncode
        except subprocess.TimeoutExpired:
            rc = "timeout"
    return rc, round(time.time() - t0, 1)


def tail(path, n=40):
    try:
        return Path(path).read_text(errors="replace").splitlines()[-n:]
    except OSError:
        return []


def install(env, logdir):
    """Make ``import deepcnt`` work from this checkout, offline. Returns a summary."""
    probe = [sys.executable, "-c", "import deepcnt, sys; sys.exit(0 if deepcnt.__file__.startswith(sys.argv[1]) else 1)",
             str(ROOT)]
    if subprocess.run(probe, cwd="/", env=env, capture_output=True).returncode == 0:
        return {"deepcnt": "already installed from this checkout"}
    wheels = sorted((ROOT / ".whl").glob("*.whl"))
    out = {"wheels": [w.name for w in wheels]}
    if wheels:
        rc, s = run([sys.executable, "-m", "pip", "install", "-q", "--no-index", "--no-deps", "--no-compile",
                     "--upgrade", "--target", str(SITE)] + [str(w) for w in wheels], env, 300, logdir / "wheels.log")
        out["wheels_rc"] = rc
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(SITE), env.get("PYTHONPATH")]))
    rc, s = run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--no-index",
                 "-e", "."], env, 300, logdir / "install.log")
    out["pip_install_rc"] = rc
    if rc != 0:
        out["pip_install_log"] = tail(logdir / "install.log", 20)
    return out


def junit_summary(path):
    """Counts and the failing tests (name and the first line of the message) of a JUnit XML file."""
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError) as exc:
        return {"error": f"no JUnit report: {exc}"}
    counts = {"passed": 0, "failed": 0, "error": 0, "skipped": 0}
    failures = []
    for case in root.iter("testcase"):
        name = f"{case.get('classname')}::{case.get('name')}"
        bad = case.find("failure") if case.find("failure") is not None else case.find("error")
        if bad is not None:
            counts["failed" if bad.tag == "failure" else "error"] += 1
            msg = (bad.get("message") or bad.text or "").strip().splitlines()
            failures.append({"test": name, "message": (msg[0] if msg else "")[:400]})
        elif case.find("skipped") is not None:
            counts["skipped"] += 1
        else:
            counts["passed"] += 1
    return {**counts, "failures": failures}


def ratios(results):
    """Each goal's ratio from the benchmark results ``{group: {case: seconds}}``."""
    rows = []
    for prefix, case, ref, goal in GOALS:
        group = next((g for g in results if g.startswith(prefix)), None)
        cases = results.get(group, {})
        if case in cases and ref in cases:
            r = cases[case] / cases[ref]
            rows.append({"group": group, "case": case, "reference": ref, "ratio": round(r, 3),
                         "case_ms": round(cases[case] * 1e3, 3), "reference_ms": round(cases[ref] * 1e3, 3),
                         "goal": goal, "met": None if goal is None else r <= goal})
    return rows


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="gpu-check.json", help="the JSON of results (default: %(default)s)")
    p.add_argument("--test-timeout", type=int, default=240, help="seconds for the tests (default: %(default)s)")
    p.add_argument("--bench-timeout", type=int, default=240, help="seconds for the benchmarks (default: %(default)s)")
    args = p.parse_args(argv)
    out = Path(args.out).resolve()
    logdir = out.parent / "gpu-check-logs"
    logdir.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    report = {"started": time.strftime("%Y-%m-%dT%H:%M:%S"), "info": device_info()}
    real = report["info"].get("devices", 0) > 0
    report["mode"] = "device" if real else "no device: simulator and toy sizes only"

    def save():
        report["elapsed_s"] = round(time.time() - t0, 1)
        out.write_text(json.dumps(report, indent=1))

    save()
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    report["install"] = install(env, logdir)
    save()

    # 1. tests
    pytest = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o", "addopts=-ra",
              "--junitxml", str(logdir / "tests.xml")]
    if importlib.util.find_spec("xdist") is not None and (os.cpu_count() or 1) >= 8:
        pytest += ["-n", "8"]
    if real:
        tenv = dict(env, DEEPCNT_REAL_GPU="1")
        tenv.pop("NUMBA_ENABLE_CUDASIM", None)
        cmd = pytest + ["-m", "not slow"] + GPU_TESTS
    else:
        tenv = dict(env, NUMBA_ENABLE_CUDASIM="1")
        cmd = pytest + ["-m", "not slow and not gpu"] + GPU_TESTS
    rc, secs = run(cmd, tenv, args.test_timeout, logdir / "tests.log")
    report["tests"] = {"command": " ".join(cmd[2:]), "rc": rc, "seconds": secs, **junit_summary(logdir / "tests.xml"),
                       "tail": tail(logdir / "tests.log", 15)}
    save()

    # 2. benchmarks
    bjson = logdir / "bench.json"
    benv = dict(tenv, DEEPCNT_BENCH_JSON=str(bjson))
    if not real:
        benv["DEEPCNT_GPU_BENCH"] = "tiny"
    cmd = [sys.executable, "-m", "pytest", "benchmarks/bench_gpu.py", "--benchmark-only", "-p", "no:cacheprovider",
           "-o", "addopts=", "-o", "python_files=bench_*.py", "-q", "-s", "--junitxml", str(logdir / "bench.xml")]
    rc, secs = run(cmd, benv, args.bench_timeout, logdir / "bench.log")
    results = json.loads(bjson.read_text()) if bjson.exists() else {}
    report["benchmarks"] = {"rc": rc, "seconds": secs, "times_s": results, "ratios": ratios(results),
                            "checks": junit_summary(logdir / "bench.xml"), "tail": tail(logdir / "bench.log", 30)}
    if not real:
        report["skipped"] = ("no CUDA device: the tests ran the GPU twins on the numba.cuda simulator and the "
                             "benchmarks ran at toy sizes; their times say nothing about a GPU")
    save()
    print(json.dumps({k: report[k] for k in ("mode", "elapsed_s")}, indent=1))
    print(f"tests: {report['tests'].get('passed')} passed, {report['tests'].get('failed')} failed, "
          f"{report['tests'].get('error')} errors ({report['tests']['rc']}); benchmarks rc {rc}")
    for r in report["benchmarks"]["ratios"]:
        goal = "" if r["goal"] is None else f" (goal <= {r['goal']}: {'met' if r['met'] else 'NOT met'})"
        print(f"  {r['case']} / {r['reference']}: {r['ratio']:.2f}{goal}")
    print(f"results: {out}")
    if not real:
        print("no CUDA device here: ran the simulator tests and toy benchmarks only; " + report["skipped"])
        return 0
    return 0 if report["tests"].get("failed") == 0 and report["tests"].get("error") == 0 and rc == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
