"""The cpp attack engine in sweeps: its rows agree with the eager engine's, sample for sample,
within the C++ attack's tolerance (``tests.support.cpp_tolerance_mm``, as in
tests/engines/test_cpp_pipeline.py); a spec pairing it with another generator is refused (see
test_sweep_spec.py)."""
import json

from dprobe.sweep.items import EXAMPLE_POSE_KEYS
from dprobe.sweep.run import run_sweep
from dprobe.sweep.spec import parse_spec
from dprobe.sweep.store import EXAMPLE_POSES, ResultsStore
from tests.support import cpp_tolerance_mm

#: 4 items of 2 samples; at 200 mm the samples stop at 0, 4 and 6 iterations (per-sample
#: stopping is exercised), with either box source.
SPEC = """
name = "engines"
[studio]
path = "{studio}"
[attack]
targets = ["nsd"]
generators = ["self"]
subjects = ["S1"]
cameras = [0]
frames = 2
iterations = 6
lr = 0.2
threshold_mm = 200.0
boxes = ["detector", "truth"]
engines = ["eager", "cpp"]
"""


def test_cpp_rows_agree_with_eager_rows(tmp_path, tiny_path, keep_threads):
    db = tmp_path / "r.sqlite"
    run_sweep(parse_spec(SPEC.format(studio=tiny_path)), db, tiny_path, progress=False)
    with ResultsStore.open(db) as store:
        rows = store.attack_samples()
        items = store.items("attack")
        poses = [json.loads(store.artifact(i["key"], EXAMPLE_POSES)) for i in items]
    by_engine = {e: {(r["boxes"], r["studio_row"]): r for r in rows if r["engine"] == e}
                 for e in ("eager", "cpp")}
    assert len(by_engine["cpp"]) == 4 and by_engine["cpp"].keys() == by_engine["eager"].keys()
    assert len({r["iterations"] for r in rows}) > 1, "the test should exercise stopping"
    for key, want in by_engine["eager"].items():
        got = by_engine["cpp"][key]
        assert (got["iterations"], got["success"]) == (want["iterations"], want["success"]), key
        for name in ("initial_mpjpe_mm", "final_mpjpe_mm", "q_vs_truth_mpjpe_mm"):
            assert abs(got[name] - want[name]) <= cpp_tolerance_mm(want[name]), (key, name)
    for p in poses:  # both engines store the example's poses
        assert set(p) == set(EXAMPLE_POSE_KEYS)
        assert all(len(p[k]) == 17 and len(p[k][0]) == 3 for k in EXAMPLE_POSE_KEYS)
