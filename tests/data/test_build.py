import signal
import subprocess
import time

import h5py
import numpy as np
import pytest

from dprobe.cli import main
from dprobe.data.build import PRESETS, open_or_build_tiny
from dprobe.data.studio import REQUIRED_DATASETS, Studio
from dprobe.errors import DprobeError
from tests.support import DPROBE, assert_refused, default_signals


def test_file_layout_is_the_contract(tiny_path):
    with h5py.File(tiny_path) as f:
        n = f["crops"].shape[0]
        c = f.attrs["crop_size"]
        H, W = f.attrs["frame_size"]
        assert f["crops"].shape == (n, c, c, 3) and f["crops"].dtype == np.uint8
        assert f["masks"].shape == (n, c, c) and f["masks"].dtype == np.uint8
        assert f["boxes"].shape == (n, 3) and f["boxes"].dtype == np.float32
        assert f["joints2d"].shape == (n, 17, 2)
        assert f["joints3d_world"].shape == f["joints3d_cam"].shape == (n, 17, 3)
        for key in ("camera", "subject", "action", "sequence", "frame"):
            assert f[key].shape == (n,) and np.issubdtype(f[key].dtype, np.integer)
        assert f["appearance"].shape == (n, 25) and f["appearance"].dtype == np.float32
        assert f["backgrounds"].shape == (4, H, W, 3)
        assert f["cameras/R"].shape == (4, 3, 3) and f["cameras/K"].shape == (4, 3, 3)
        assert f["cameras/t"].shape == (4, 3)
        assert f["crops"].chunks is not None and f["crops"].compression == "gzip"
        names = [s.decode() if isinstance(s, bytes) else s for s in f.attrs["subject_names"]]
        assert names[:7] == ["S1", "S5", "S6", "S7", "S8", "S9", "S11"]
        assert len(f.attrs["action_names"]) >= 8
        for attr in ("fps", "preset", "seed", "version"):
            assert attr in f.attrs


def test_tiny_has_every_named_subject_action_and_camera(tiny):
    for name in ("S1", "S5", "S6", "S7", "S8", "S9", "S11"):
        rows = tiny.select(subjects=[name])
        assert set(tiny.action[rows].tolist()) == set(range(len(tiny.action_names)))
        assert set(tiny.camera[rows].tolist()) == {0, 1, 2, 3}


def test_crowd_subjects_in_presets():
    assert PRESETS["standard"].crowd_subjects >= 20
    assert PRESETS["tiny"].crowd_subjects >= 1


def test_full_frame_pastes_the_crop_on_the_background(tiny):
    frames = tiny.full_frame([3, 50])
    H, W = tiny.frame_hw
    assert frames.shape == (2, 3, H, W)
    # Far from the person the frame is the camera's background.
    bg = tiny.backgrounds[tiny.camera[3]].permute(2, 0, 1).float() / 255
    cx, cy, s = tiny.boxes[3].tolist()
    far = np.ones((H, W), dtype=bool)
    far[max(0, int(cy - s)):int(cy + s), max(0, int(cx - s)):int(cx + s)] = False
    assert (frames[0][:, far] - bg[:, far]).abs().max() < 1e-6


def _run(argv, capsys):
    code = main(argv)
    err = capsys.readouterr().err
    return code, err


def test_unknown_preset_is_one_clear_error(tmp_path, capsys):
    code, err = _run(["studio", "build", "--preset", "huge", "--out", str(tmp_path / "x.h5")],
                     capsys)
    assert code == 2 and "invalid choice: 'huge'" in err and err.count("\n") == 1
    assert not (tmp_path / "x.h5").exists()


def test_existing_output_needs_force_and_is_kept(tmp_path, capsys):
    out = tmp_path / "mine.h5"
    out.write_bytes(b"precious")
    code, err = _run(["studio", "build", "--out", str(out), "--quiet"], capsys)
    assert code != 0 and "--force" in err
    assert out.read_bytes() == b"precious"


def test_corrupt_and_missing_files_are_clear_errors(tmp_path, capsys):
    bad = tmp_path / "bad.h5"
    bad.write_bytes(b"not an hdf5 file at all")
    code, err = _run(["studio", "info", "--studio", str(bad)], capsys)
    assert code != 0 and "cannot read" in err and err.count("\n") == 1
    code, err = _run(["studio", "info", "--studio", str(tmp_path / "none.h5")], capsys)
    assert code != 0 and "does not exist" in err


def test_missing_dataset_keys_are_named(tiny_path, tmp_path):
    partial = tmp_path / "partial.h5"
    with h5py.File(tiny_path) as src, h5py.File(partial, "w") as dst:
        for key in REQUIRED_DATASETS:
            if key not in ("masks", "cameras/K"):
                src.copy(key, dst, name=key)
        for k, v in src.attrs.items():
            dst.attrs[k] = v
    with pytest.raises(DprobeError, match="missing masks, cameras/K"):
        Studio.open(partial)


def test_truncated_file_is_a_clear_error(tiny_path, tmp_path):
    cut = tmp_path / "cut.h5"
    data = tiny_path.read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(DprobeError, match="cut.h5"):
        Studio.open(cut)


def test_show_writes_a_contact_sheet_and_keeps_existing(tiny_path, tmp_path, capsys):
    out = tmp_path / "sheet.png"
    assert main(["studio", "show", "--studio", str(tiny_path), "--out", str(out), "--joints",
                 "--cameras", "all"]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    before = out.read_bytes()
    code, _err = _run(["studio", "show", "--studio", str(tiny_path), "--out", str(out)], capsys)
    assert code != 0 and out.read_bytes() == before


def test_info_prints_json(tiny_path, capsys):
    import json

    assert main(["studio", "info", "--studio", str(tiny_path)]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["crop_size"] == 64 and info["cameras"] == 4 and info["preset"] == "tiny"


@pytest.mark.parametrize(("argv", "match"), [
    (["--cameras", "a,b"], r"--cameras: 'a' is not a camera id \(0-3 or 'all'\)"),
    (["--cameras", "9"], "camera 9 does not exist; this studio has cameras 0-3"),
    (["--out", "{tmp}/missing_dir/x.png"], "output folder .*missing_dir does not exist"),
    (["--out", "{tmp}", "--force"], "is a folder; give the name of a file"),
    (["--out", "{tmp}/mine.png"], "mine.png already exists; pass --force"),
    (["--subjects", "S2"], "unknown subject 'S2'"),
    (["--studio", "{tmp}/none.h5"], "studio file .*none.h5 does not exist"),
])
def test_show_refuses_bad_input_and_writes_nothing(argv, match, tiny_path, tmp_path, capsys):
    (tmp_path / "mine.png").write_bytes(b"precious")
    argv = [a.format(tmp=tmp_path) for a in argv]
    assert_refused(capsys, "studio", "show", "--studio", tiny_path,
                   "--out", tmp_path / "sheet.png", *argv, match=match, watch=(tmp_path,))


def test_build_refuses_a_missing_folder(tmp_path, capsys):
    assert_refused(capsys, "studio", "build", "--out", tmp_path / "no" / "x.h5", "--quiet",
                   match="output folder .*no does not exist", watch=(tmp_path,))


def _ignore_sigint() -> None:
    """``preexec_fn`` of a child started as a background job is: SIGINT ignored."""
    default_signals()
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def test_interrupted_build_leaves_no_partial_file(tmp_path):
    """Real `dprobe studio build` processes, run side by side while they write their temporary
    files: started with the default signal dispositions (as from a terminal), one gets SIGINT and
    one SIGTERM; a third, started with SIGINT ignored (as a background job is), gets SIGINT,
    keeps building (the Unix convention), then SIGTERM. Each signalled build exits with status
    130 and leaves nothing."""
    starts = {"SIGINT": default_signals, "SIGTERM": default_signals,
              "SIGINT-ignored": _ignore_sigint}
    runs = {}
    for name, preexec in starts.items():
        folder = tmp_path / name
        folder.mkdir()
        runs[name] = (folder, subprocess.Popen(
            [*DPROBE, "studio", "build", "--out", str(folder / "studio.h5"), "--quiet"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=preexec))
    try:
        for name, (folder, proc) in runs.items():
            partial = folder / "studio.h5.partial"
            deadline = time.monotonic() + 300
            while not partial.exists() and proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.05)
            assert partial.exists(), f"{name}: the build never started writing"
            proc.send_signal(signal.SIGTERM if name == "SIGTERM" else signal.SIGINT)
        ignoring = runs["SIGINT-ignored"][1]
        time.sleep(1.0)
        assert ignoring.poll() is None, "a build that ignores SIGINT stopped on SIGINT"
        assert (tmp_path / "SIGINT-ignored" / "studio.h5.partial").exists()
        ignoring.send_signal(signal.SIGTERM)
        for name, (folder, proc) in runs.items():
            _, err = proc.communicate(timeout=120)
            assert proc.returncode == 130, (name, proc.returncode, err)
            assert err.strip() == "dprobe: interrupted", err
            assert list(folder.iterdir()) == [], name
    finally:
        for _, proc in runs.values():
            proc.kill()


def test_open_or_build_tiny_opens_a_given_file_and_builds_the_preset_without_one(tiny_path,
                                                                                 tmp_path):
    given = open_or_build_tiny(tiny_path)
    built = open_or_build_tiny(None)
    assert built.n == given.n and built.crop_size == given.crop_size
    assert built.subject_names == given.subject_names
    with pytest.raises(Exception, match="missing.h5"):
        open_or_build_tiny(tmp_path / "missing.h5")
