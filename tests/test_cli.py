import json

from dprobe.cli import main


def test_demo_runs_the_main_job(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out)]) == 0
    assert (out / "contact_sheet.png").read_bytes()[:4] == b"\x89PNG"
    info = json.loads((out / "studio_info.json").read_text())
    assert info["preset"] == "tiny"
    table = (out / "models.md").read_text().splitlines()
    assert [row.split("|")[1].strip() for row in table[2:]] == ["nsd", "cssl", "drnet", "cssl-da"]
    figures = json.loads((out / "models.json").read_text())
    assert all(fig["psnr"] > 20 and fig["mpjpe"] > 0 for fig in figures.values())


def test_every_command_has_help(capsys):
    for cmd in (["studio", "build"], ["studio", "show"], ["studio", "info"], ["demo"], ["train"],
                ["train-regressor"], ["evaluate"], ["models"]):
        assert main([*cmd, "--help"]) == 0
        assert "usage: dprobe" in capsys.readouterr().out
