"""Model sources: shipped names, checkpoint folders, export folders and the user's own code,
through one resolver."""
import pytest

from dprobe.errors import DprobeError
from dprobe.models.checkpoint import save_checkpoint
from dprobe.models.reference import ReferenceModel
from dprobe.sources import KINDS, load_model, parse_source
from tests.support import SMALL_NET

USER = "tests/models/user_networks.py"


def test_a_shipped_name():
    source = parse_source("nsd")
    assert (source.kind, source.label) == ("shipped", "nsd")
    described = source.describe()
    assert described["source"] == "nsd" and len(described["sha256"]) == 64
    assert load_model("nsd").crop_size == 64


def test_a_checkpoint_folder(tmp_path):
    folder = save_checkpoint(ReferenceModel(SMALL_NET), tmp_path / "mine")
    source = parse_source(str(folder))
    assert (source.kind, source.label) == ("checkpoint", "mine")
    assert source.location == str(folder.resolve())
    assert load_model(source).crop_size == SMALL_NET.crop_size


@pytest.mark.parametrize("text", [f"{USER}:build", "tests.models.user_networks:build"])
def test_the_users_code(text):
    source = parse_source(text)
    assert source.kind == "code" and source.label == "user_networks.build"
    model = source.load()
    assert type(model).__name__ == "TinyUserNetwork" and model.crop_size == 96
    assert not model.training  # put in eval mode
    assert source.describe()["sha256"] is None or len(source.describe()["sha256"]) == 64


def test_a_module_is_imported_from_the_current_folder(tmp_path, monkeypatch):
    (tmp_path / "my_net.py").write_text(
        "from tests.models.user_networks import TinyUserNetwork\n"
        "def make():\n    return TinyUserNetwork(48, 3, 9)\n")
    monkeypatch.chdir(tmp_path)
    assert load_model("my_net:make").crop_size == 48


def test_kinds_are_the_documented_ones():
    assert KINDS == ("shipped", "checkpoint", "export", "code")


@pytest.mark.parametrize(("text", "match"), [
    ("nosuch", "is neither a shipped model .*, a checkpoint folder, a `dprobe export` folder"),
    ("missing.py:build", "the file missing.py does not exist"),
    (f"{USER}:1x", "is not a function name"),
    (f"{USER}:nothing_here", "has no function 'nothing_here'"),
    (f"{USER}:broken", r"broken\(\) failed: RuntimeError: weights not found"),
    (f"{USER}:not_a_model", "returned a object without locate, encode, decode, regress, "
                            "crop_size"),
    ("no_such_module_here:build", "cannot import no_such_module_here: ModuleNotFoundError"),
])
def test_bad_sources_are_one_line(text, match):
    with pytest.raises(DprobeError, match=match) as e:
        load_model(text)
    assert "\n" not in str(e.value)


def test_a_folder_that_is_neither(tmp_path):
    with pytest.raises(DprobeError, match="neither a checkpoint .* nor an export"):
        parse_source(str(tmp_path))
