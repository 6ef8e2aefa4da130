"""`check-model` and the conformance check: a user's network is told in plain words what it
breaks of the model protocol."""
import pytest

from dprobe.errors import DprobeError
from dprobe.models.conformance import check_model, require_conforming
from dprobe.sources import load_model
from tests.support import run_cli

USER = "tests/models/user_networks.py"


def levels(findings, level):
    return [f"{f.method}: {f.message}" for f in findings if f.level == level]


@pytest.mark.parametrize("function", ["build", "build_48", "build_128"])
def test_a_users_network_of_any_size_keeps_the_protocol(function, tiny):
    findings = check_model(load_model(f"{USER}:{function}"), tiny)
    assert levels(findings, "error") == []
    # its fixed box is not the studio's: said, not refused
    assert any("boxes differ" in w for w in levels(findings, "warning"))


def test_a_shipped_model_has_no_warning(tiny):
    findings = check_model(load_model("nsd"), tiny)
    assert levels(findings, "error") == [] and levels(findings, "warning") == []


@pytest.mark.parametrize(("function", "level", "match"), [
    ("sixteen_joints", "error", r"regress: joints has shape \(8, 16, 3\), expected \(\*, 17, 3\)"
                                r"|regress: joints has shape \(8, 16, 3\), expected \(8, 17, 3\)"),
    ("nan_codes", "error", "encode: h_a holds NaN or infinite values"),
    ("bright_images", "error", r"decode: rgb must be in \[0, 1\], got values from"),
    ("ignores_codes", "warning", "does not change with either code"),
    ("constant_regressor", "warning", "a constant regressor"),
    ("background_only", "warning", "draws .almost. only the background"),
])
def test_what_is_wrong_is_named(function, level, match, tiny):
    found = levels(check_model(load_model(f"{USER}:{function}"), tiny), level)
    assert any(__import__("re").search(match, f) for f in found), found


def test_require_conforming_raises_the_first_error_in_one_line(tiny):
    with pytest.raises(DprobeError, match="model m: regress: joints has shape") as e:
        require_conforming(load_model(f"{USER}:sixteen_joints"), tiny, "m")
    assert "\n" not in str(e.value)
    require_conforming(load_model(f"{USER}:build"), tiny, "ok")  # warnings do not refuse


def test_check_model_command(tiny_path, capsys):
    status, out, _ = run_cli(capsys, "check-model", "--model", f"{USER}:build", "--studio",
                             tiny_path, "--frames", "4")
    assert status == 0
    assert "h_a (4, 7), h_p (4, 33)" in out and "rgb (4, 3, 96, 96)" in out
    assert "keeps the model protocol (1 warning)" in out
    status, out, err = run_cli(capsys, "check-model", "--model", f"{USER}:nan_codes",
                               "--studio", tiny_path)
    assert status == 2 and "ERROR" in out
    assert err.strip().startswith("dprobe: error: model") and err.count("\n") == 1
