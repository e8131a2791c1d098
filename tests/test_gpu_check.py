"""``make gpu-check``'s summary: the ratios against the goals, and the test counts from a JUnit report."""
import importlib.util
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "gpu_check.py"
spec = importlib.util.spec_from_file_location("gpu_check", SCRIPT)
gpu_check = importlib.util.module_from_spec(spec)
spec.loader.exec_module(gpu_check)


def test_ratios_against_goals():
    results = {
        "block pass, 4096^4 x 16 epochs (805 M float32 weights)": {
            "floor: one read of the weights (sum)": 0.002, "deepcnt degree+strength (GPU)": 0.005,
            "deepcnt degree+strength (CPU)": 0.5},
        "signed 4-node motif census, 2048^4 x 2 epochs": {"deepcnt motifs (GPU)": 0.012, "floor: its GEMMs alone": 0.01},
    }
    rows = {(r["case"], r["reference"]): r for r in gpu_check.ratios(results)}
    one = rows[("deepcnt degree+strength (GPU)", "floor: one read of the weights (sum)")]
    assert one["ratio"] == 2.5 and one["goal"] == 2.0 and one["met"] is False
    assert rows[("deepcnt motifs (GPU)", "floor: its GEMMs alone")]["met"] is True
    assert rows[("deepcnt degree+strength (CPU)", "deepcnt degree+strength (GPU)")]["ratio"] == 100.0
    assert len(rows) == 3  # cases missing from the results give no row


def test_junit_summary(tmp_path):
    xml = tmp_path / "t.xml"
    xml.write_text("""<testsuites><testsuite>
      <testcase classname="tests.test_a" name="ok"/>
      <testcase classname="tests.test_a" name="bad"><failure message="assert 1 == 2&#10;more">tb</failure></testcase>
      <testcase classname="tests.test_b" name="boom"><error message="ImportError: cupy">tb</error></testcase>
      <testcase classname="tests.test_b" name="skip"><skipped message="no device"/></testcase>
    </testsuite></testsuites>""")
    s = gpu_check.junit_summary(xml)
    assert (s["passed"], s["failed"], s["error"], s["skipped"]) == (1, 1, 1, 1)
    assert s["failures"][0] == {"test": "tests.test_a::bad", "message": "assert 1 == 2"}
    assert "error" in gpu_check.junit_summary(tmp_path / "missing.xml")
