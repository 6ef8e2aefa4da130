"""A sweep of networks dprobe did not build, beside a shipped one: the user's code and an export
folder as model sources, each probed and attacked at its own crop size."""
import json

from dprobe.sweep.run import run_sweep
from dprobe.sweep.spec import parse_spec
from dprobe.sweep.store import ResultsStore
from tests.engines.conftest import tiny_checkpoint, tiny_export  # noqa: F401  (fixtures)

USER = "tests/models/user_networks.py"
SPEC = f"""
name = "any-network"
[studio]
path = "{{studio}}"
[attack]
targets = ["{USER}:build", "nsd"]
generators = ["self"]
subjects = ["S9"]
cameras = [0]
frames = 1
iterations = 2
[probes]
models = ["{USER}:build_48", "{{export}}", "nsd"]
probes = ["zero"]
per_camera = 1
"""


def test_user_models_sweep_beside_shipped_ones(tmp_path, tiny_path, tiny_export,  # noqa: F811
                                                keep_threads):
    spec = parse_spec(SPEC.format(studio=tiny_path, export=tiny_export))
    db = tmp_path / "r.sqlite"
    run_sweep(spec, db, tiny_path, progress=False)
    with ResultsStore.open(db) as store:
        targets = {r["target"] for r in store.attack_samples()}
        values = store.probe_values()
        sizes, retention = {}, {}
        for item in store.items("probe"):
            numbers = json.loads(store.artifact(item["key"], "numbers.json"))
            sizes[numbers["model_source"]["kind"]] = numbers["crop_size"]
            retention[numbers["model_source"]["kind"]] = (
                numbers["retention_zero"], numbers["undefined"].get("retention_zero"))
    assert targets == {f"{USER}:build", "nsd"}
    assert set(values) == {f"{USER}:build_48", str(tiny_export), "nsd"}
    assert sizes == {"code": 48, "export": 32, "shipped": 64}
    # a figure in the database, or its reason in the probe's numbers
    for kind, (value, reason) in retention.items():
        assert (value is not None) != (reason is not None), kind


def test_a_model_changed_in_place_gets_new_items(tmp_path, tiny_path):
    """Item keys hold the sha256 of a non-shipped model's source file: editing (or retraining)
    it plans new items; shipped models' keys do not change."""
    from dprobe.sweep.spec import plan_items, studio_identity

    net = tmp_path / "net.py"
    net.write_text("from tests.models.user_networks import build\n")
    spec = parse_spec(f'[studio]\npath = "{tiny_path}"\n[probes]\nmodels = ["{net}:build", '
                      '"nsd"]\nprobes = ["zero"]\n')
    studio = studio_identity({"preset": "tiny", "seed": 0, "version": 1}, 10)
    before = {i.settings["model"]: i.key for i in plan_items(spec, studio)}
    net.write_text("from tests.models.user_networks import build  # retrained\n")
    after = {i.settings["model"]: i.key for i in plan_items(spec, studio)}
    assert before[f"{net}:build"] != after[f"{net}:build"]
    assert before["nsd"] == after["nsd"]
    assert "identities" not in next(i for i in plan_items(spec, studio)
                                    if i.settings["model"] == "nsd").settings
