"""Sweep specs: the grid they expand to, keys that are the same on any machine, and one-line
refusals of unknown models, subjects, settings and engines."""
from pathlib import Path

import pytest

from dprobe.errors import DprobeError
from dprobe.sweep.spec import estimate_seconds, item_key, load_spec, parse_spec, plan_items
from tests.support import assert_refused, run_cli

REPO = Path(__file__).resolve().parents[2]
GOOD = """
name = "t"
[studio]
preset = "tiny"
[attack]
targets = ["nsd", "drnet"]
generators = ["self", "renderer", "nsd"]
subjects = ["S1", "S7"]
cameras = [0, 2]
frames = 3
threshold_mm = [100, 150]
[probes]
models = ["cssl"]
probes = ["swap", "metrics"]
"""
STUDIO = {"preset": "tiny", "seed": 0, "version": 1, "crops": 1800}


def test_grid_expands_to_the_product_of_its_axes():
    spec = parse_spec(GOOD)
    items = plan_items(spec, STUDIO)
    attack = [i for i in items if i.kind == "attack"]
    # nsd attacked through "nsd" is nsd through its own decoder: the "self" item, once
    assert len(attack) == (2 + 3) * 2 * 2 * 2
    assert not [i for i in attack if i.settings["generator"] == i.settings["target"]]
    assert {(i.settings["target"], i.settings["generator"]) for i in attack} == {
        ("nsd", "self"), ("nsd", "renderer"), ("drnet", "self"), ("drnet", "renderer"),
        ("drnet", "nsd")}
    assert [i.settings["probe"] for i in items if i.kind == "probe"] == ["swap", "metrics"]
    assert len({i.key for i in items}) == len(items)
    assert {i.settings["threshold_mm"] for i in attack} == {100.0, 150.0}
    assert all(i.settings["frames"] == 3 and i.settings["eps"] == 0.0 for i in attack)
    assert estimate_seconds(items) > estimate_seconds(items[:-1]) > 0


def test_keys_are_stable_and_follow_the_settings():
    # A literal: the same settings give this key on any machine, in any process.
    assert item_key({"b": [1, 2.5], "a": "x"}) == item_key({"a": "x", "b": [1, 2.5]})
    assert item_key({"a": "x", "b": [1, 2.5]}) == "66efddae6a975003"  # sha256 of {"a":"x","b":[1,2.5]}
    first = plan_items(parse_spec(GOOD), STUDIO)
    assert [i.key for i in first] == [i.key for i in plan_items(parse_spec(GOOD), STUDIO)]
    other = plan_items(parse_spec(GOOD), {**STUDIO, "seed": 1})
    assert not {i.key for i in first} & {i.key for i in other}


def test_shipped_specs_are_valid():
    for name in ("demo", "standard"):
        spec = load_spec(REPO / "sweeps" / f"{name}.toml")
        assert spec.attacks and spec.probes is not None


@pytest.mark.parametrize("change, match", [
    (("\"drnet\"]", "\"drnett\"]"), r"unknown model 'drnett' in attack\.targets"),
    (("\"S7\"]", "\"S77x\"]"), r"unknown subject 'S77x' in attack\.subjects"),
    (("frames = 3", "frames = 3\nframe = 2"), r"unknown setting attack\.frame "),
    (("\"metrics\"]", "\"metric\"]"), r"unknown probe 'metric'"),
    (("frames = 3", "frames = 3\nengines = [\"onnxruntime\"]"),
     r"engine 'onnxruntime' in attack\.engines cannot run the attack"),
    (("frames = 3", "frames = 3\nengines = [\"eager\", \"cpp\"]"),
     r"engine 'cpp' in attack\.engines attacks only with generator 'self' .*not 'renderer'"),
    (("frames = 3", "frames = 0"), r"attack\.frames must be 1 or more"),
    (("preset = \"tiny\"", "preset = \"huge\""), r"unknown studio\.preset 'huge'"),
    (("[probes]", "[probe]"), r"unknown setting probe "),
    (("cameras = [0, 2]", "cameras = [0, \"a\"]"), r"attack\.cameras must be a list of int"),
])
def test_bad_specs_are_refused_with_one_line(tmp_path, capsys, change, match):
    with pytest.raises(DprobeError, match=match):
        parse_spec(GOOD.replace(*change))
    spec = tmp_path / "bad.toml"
    spec.write_text(GOOD.replace(*change))
    assert_refused(capsys, "sweep", "plan", spec, match=match, watch=(tmp_path,))
    assert_refused(capsys, "sweep", "run", spec, "--db", tmp_path / "r.sqlite", match=match,
                   watch=(tmp_path,))


def test_a_subject_or_camera_the_studio_lacks_is_refused(tmp_path, capsys, tiny_path):
    spec = tmp_path / "s.toml"
    base = GOOD.replace('preset = "tiny"', f'path = "{tiny_path}"')
    spec.write_text(base.replace('"S7"]', '"S3"]'))
    assert_refused(capsys, "sweep", "run", spec, "--db", tmp_path / "r.sqlite",
                   match=r"unknown subject 'S3'", watch=(tmp_path,))
    spec.write_text(base.replace("cameras = [0, 2]", "cameras = [0, 7]"))
    assert_refused(capsys, "sweep", "run", spec, "--db", tmp_path / "r.sqlite",
                   match=r"unknown camera 7", watch=(tmp_path,))


def test_plan_prints_items_and_time(capsys):
    status, out, _ = run_cli(capsys, "sweep", "plan", REPO / "sweeps" / "demo.toml")
    assert status == 0
    assert "40 items (20 attack batches of 40 samples, 20 probe runs)" in out
    assert "estimated time" in out


def test_a_null_of_no_size_is_refused_when_the_spec_is_read():
    """random-colours:SIZE with a size that is not positive is a one-line refusal of the spec,
    not a failure of every item later; a valid one plans its items."""
    listed = 'generators = ["self", "renderer", "nsd"]'
    bad = GOOD.replace(listed, 'generators = ["random-colours:-1"]')
    with pytest.raises(DprobeError, match="random-colours:SIZE needs a positive size"):
        parse_spec(bad)
    good = GOOD.replace(listed, 'generators = ["random-colours:0.3"]')
    assert {i.settings["generator"] for i in plan_items(parse_spec(good), STUDIO)
            if i.kind == "attack"} == {"random-colours:0.3"}


def test_several_attack_grids_transfers_and_budgets(tmp_path):
    """[[attack]] tables plan their items in order, an item two grids share once; a null's
    items ignore eps (one item), a transfer's do not (its source's attack has the budget);
    transfer:TARGET on TARGET is the renderer's attack itself; a transfer from a checkpoint
    folder carries that model's identity."""
    grid = """
[[attack]]
targets = ["nsd"]
generators = ["renderer", "other-clothes", "transfer:drnet", "transfer:nsd"]
subjects = ["S1"]
cameras = [0]
frames = 2
eps = [0.0, 0.5]
[[attack]]
targets = ["nsd"]
generators = ["renderer"]
subjects = ["S1"]
cameras = [0]
frames = 2
"""
    spec = parse_spec('name = "g"\n[studio]\npreset = "tiny"\n' + grid)
    assert len(spec.attacks) == 2 and spec.probes is None
    items = [(i.settings["generator"], i.settings["eps"]) for i in plan_items(spec, STUDIO)]
    assert items == [("renderer", 0.0), ("renderer", 0.5), ("other-clothes", 0.0),
                     ("transfer:drnet", 0.0), ("transfer:drnet", 0.5)]
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    (folder / "weights.safetensors").write_bytes(b"weights")
    mine = parse_spec('name = "g"\n[studio]\npreset = "tiny"\n'
                      + grid.replace('"transfer:drnet"', f'"transfer:{folder}"'))
    planned = [i for i in plan_items(mine, STUDIO) if i.settings["generator"].startswith("transfer")]
    assert planned and all(str(folder) in i.settings["identities"] for i in planned)


@pytest.mark.parametrize("generator, match", [
    ("transfer", r"generator transfer needs its argument: transfer:SOURCE"),
    ("transfer:", r"generator transfer needs its argument"),
    ("transfer:nsdd", r"unknown model 'nsdd' in attack\.generators"),
    ("self:2", r"generator .self. takes no argument"),
    ("renderer:0", r"renderer:DE needs a positive CIE76 Delta E"),
])
def test_bad_generators_are_refused_when_the_spec_is_read(generator, match):
    bad = GOOD.replace('generators = ["self", "renderer", "nsd"]', f'generators = ["{generator}"]')
    with pytest.raises(DprobeError, match=match):
        parse_spec(bad)
