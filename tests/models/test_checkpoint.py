import json

import pytest
import torch

from dprobe.errors import DprobeError
from dprobe.files import _umask
from dprobe.models import PoseAppearanceModel, load
from dprobe.models.checkpoint import CONFIG, WEIGHTS, load_checkpoint, save_checkpoint
from dprobe.models.detector import DetectorConfig
from dprobe.models.network import NetworkConfig
from dprobe.models.reference import ReferenceModel
from dprobe.models.regressor import RegressorConfig
from tests.support import assert_refused

NET = NetworkConfig(crop_size=32, width=4, max_channels=16, dim_app=8, dim_pose=12)


def _model():
    torch.manual_seed(0)
    model = ReferenceModel(NET, regressor=RegressorConfig(12, hidden=16),
                           detector=DetectorConfig(frame_hw=(64, 48), input_size=32, width=4),
                           meta={"framework": "nsd", "seed": 3})
    model.regressor.set_pose_statistics(torch.randn(10, 17, 3) * 100)
    model.train()
    model.encode(torch.rand(4, 3, 32, 32))  # move the batch-norm statistics
    return model.eval()


def test_protocol_shapes():
    model = _model()
    assert isinstance(model, PoseAppearanceModel) and model.crop_size == 32
    h_a, h_p = model.encode(torch.rand(2, 3, 32, 32))
    assert h_a.shape == (2, 8) and h_p.shape == (2, 12)
    rgb, mask = model.decode(h_a, h_p)
    assert rgb.shape == (2, 3, 32, 32) and mask.shape == (2, 1, 32, 32)
    rgb, mask = rgb.detach(), mask.detach()
    assert float(rgb.min()) >= 0 and float(rgb.max()) <= 1 and 0 <= float(mask.min()) <= 1
    assert model.regress(h_p).shape == (2, 17, 3)
    assert model.locate(torch.rand(2, 3, 64, 48)).shape == (2, 2, 3)


def test_round_trip_is_bit_exact(tmp_path):
    model = _model()
    save_checkpoint(model, tmp_path)
    loaded = load(tmp_path)
    assert not loaded.training and loaded.meta == model.meta
    original, restored = model.state_dict(), loaded.state_dict()
    assert original.keys() == restored.keys()
    assert all(torch.equal(original[k], restored[k]) for k in original)
    x = torch.rand(3, 3, 32, 32)
    assert torch.equal(model.regress(model.encode(x)[1]), loaded.regress(loaded.encode(x)[1]))
    config = json.loads((tmp_path / CONFIG).read_text())
    assert config["components"] == ["encoder", "decoder", "regressor", "detector"]
    assert torch.equal(torch.tensor(config["pose_mean"]), model.regressor.pose_mean)


def test_checkpoint_files_are_readable_by_others(tmp_path):
    """safetensors creates its file private (0600); a shipped or shared model must not be."""
    save_checkpoint(_model(), tmp_path / "model")
    for name in (WEIGHTS, CONFIG):
        assert (tmp_path / "model" / name).stat().st_mode & 0o777 == 0o666 & ~_umask()


def test_float16_round_trip_rounds_weights_only(tmp_path):
    model = _model()
    save_checkpoint(model, tmp_path, dtype="float16")
    loaded = load_checkpoint(tmp_path)
    for k, v in model.state_dict().items():
        got = loaded.state_dict()[k]
        assert got.dtype == v.dtype
        expected = v.half().to(v.dtype) if v.is_floating_point() else v
        assert torch.equal(got, expected), k


def test_truncated_weights_give_a_clear_error(tmp_path):
    save_checkpoint(_model(), tmp_path)
    data = (tmp_path / WEIGHTS).read_bytes()
    (tmp_path / WEIGHTS).write_bytes(data[: len(data) // 2])
    with pytest.raises(DprobeError, match="truncated or corrupt"):
        load_checkpoint(tmp_path)


def test_mismatched_shape_names_the_tensor(tmp_path):
    save_checkpoint(_model(), tmp_path)
    config = json.loads((tmp_path / CONFIG).read_text())
    config["network"]["dim_pose"] = 15
    config["regressor"]["dim_pose"] = 15
    (tmp_path / CONFIG).write_text(json.dumps(config))
    with pytest.raises(DprobeError, match=r"tensor 'encoder.head.weight' has shape \(20, 256\)"):
        load_checkpoint(tmp_path)


def test_mismatched_dtype_names_the_tensor(tmp_path):
    save_checkpoint(_model(), tmp_path, dtype="float16")
    config = json.loads((tmp_path / CONFIG).read_text())
    config["dtype"] = "float32"
    (tmp_path / CONFIG).write_text(json.dumps(config))
    with pytest.raises(DprobeError, match="tensor 'encoder.features.0.0.weight' has dtype"):
        load_checkpoint(tmp_path)


def test_missing_or_corrupt_config(tmp_path):
    with pytest.raises(DprobeError, match="neither a shipped model"):
        load(tmp_path / "nowhere")
    save_checkpoint(_model(), tmp_path)
    (tmp_path / CONFIG).write_text("{not json")
    with pytest.raises(DprobeError, match="not valid JSON"):
        load(tmp_path)


def test_missing_parts_raise_a_clear_error():
    model = ReferenceModel(NET, decoder=False)
    h_a, h_p = model.encode(torch.rand(2, 3, 32, 32))
    with pytest.raises(DprobeError, match="no regressor"):
        model.regress(h_p)
    with pytest.raises(DprobeError, match="no decoder"):
        model.decode(h_a, h_p)
    with pytest.raises(DprobeError, match="no detector"):
        model.locate(torch.rand(1, 3, 64, 64))


def _edited(config: dict, edit: str) -> dict:
    if edit == "width_word":
        config["network"]["width"] = "sixteen"
    elif edit == "no_network":
        del config["network"]
    elif edit == "extra_key":
        config["colour"] = "red"
    elif edit == "extra_network_key":
        config["network"]["depth"] = 3
    elif edit == "no_network_width":
        del config["network"]["width"]
    elif edit == "crop_size":
        config["network"]["crop_size"] = 48
    elif edit == "pose_mean_length":
        config["pose_mean"] = config["pose_mean"][:16]
    elif edit == "pose_std_zero":
        config["pose_std"][3][1] = 0
    elif edit == "regressor_dim":
        config["regressor"]["dim_pose"] = 15
    elif edit == "frame_hw":
        config["detector"]["frame_hw"] = [64]
    elif edit == "components":
        config["components"] = ["encoder", "wings"]
    elif edit == "coordinates_number":
        config["network"]["coordinates"] = 1
    return config


@pytest.mark.parametrize(("edit", "match"), [
    ("width_word", "network.width must be a positive integer, got 'sixteen'"),
    ("no_network", "key 'network' is missing"),
    ("extra_key", "unknown key 'colour'"),
    ("extra_network_key", "unknown key network.depth"),
    ("no_network_width", "network.width is missing"),
    ("crop_size", "invalid network sizes: crop_size must be 4 times a power of two >= 8, got 48"),
    ("pose_mean_length", r"pose_mean must be 17 rows of 3 finite numbers \(mm, one per joint\), "
                         "got 16 rows"),
    ("pose_std_zero", "pose_std must be positive"),
    ("regressor_dim", "regressor.dim_pose is 15 but network.dim_pose is 12"),
    ("frame_hw", "detector.frame_hw must be a list of 2 positive integers, got \\[64\\]"),
    ("components", "components must be a list of encoder, decoder, regressor, detector"),
    ("coordinates_number", "network.coordinates must be true or false, got 1"),
])
def test_invalid_config_names_the_key_and_what_was_expected(edit, match, tmp_path):
    save_checkpoint(_model(), tmp_path)
    config = _edited(json.loads((tmp_path / CONFIG).read_text()), edit)
    (tmp_path / CONFIG).write_text(json.dumps(config))
    with pytest.raises(DprobeError, match=match):
        load_checkpoint(tmp_path)


def test_invalid_config_is_one_line_on_the_command_line(tmp_path, capsys):
    save_checkpoint(_model(), tmp_path)
    config = _edited(json.loads((tmp_path / CONFIG).read_text()), "width_word")
    (tmp_path / CONFIG).write_text(json.dumps(config))
    assert_refused(capsys, "evaluate", "--model", tmp_path, "--studio", tmp_path / "none.h5",
                   match="network.width must be a positive integer, got 'sixteen'",
                   watch=(tmp_path,))


def test_a_decoder_with_coordinates_round_trips_and_older_files_have_it_off(tmp_path):
    """``network.coordinates`` came after the first checkpoints: absent means off."""
    torch.manual_seed(0)
    model = ReferenceModel(NetworkConfig(**{**NET.to_dict(), "coordinates": True})).eval()
    save_checkpoint(model, tmp_path / "with")
    loaded = load(tmp_path / "with")
    assert loaded.network.coordinates
    h_a, h_p = torch.randn(2, 8), torch.randn(2, 12)
    assert all(torch.equal(a, b) for a, b in zip(model.decode(h_a, h_p), loaded.decode(h_a, h_p)))
    save_checkpoint(_model(), tmp_path / "older")
    config = json.loads((tmp_path / "older" / CONFIG).read_text())
    assert config["network"].pop("coordinates") is False
    (tmp_path / "older" / CONFIG).write_text(json.dumps(config))
    assert not load(tmp_path / "older").network.coordinates
