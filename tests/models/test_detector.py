import torch

from dprobe.geometry import box_to_theta
from dprobe.models.detector import Detector, DetectorConfig, params_to_theta, theta_to_params


def test_params_and_theta_agree_with_geometry_boxes():
    hw = (240, 320)
    boxes = torch.tensor([[100.0, 80.0, 64.0], [250.0, 200.0, 120.0]])
    theta = box_to_theta(boxes, hw)
    assert torch.allclose(params_to_theta(theta_to_params(theta), hw), theta, atol=1e-6)


def test_detector_predicts_square_boxes_inside_the_frame():
    det = Detector(DetectorConfig(frame_hw=(128, 128), input_size=32, width=4)).eval()
    theta = det(torch.rand(3, 3, 128, 128)).detach()
    assert theta.shape == (3, 2, 3)
    assert (theta[:, 0, 0] > 0).all() and torch.allclose(theta[:, 0, 0], theta[:, 1, 1])
    assert (theta[:, :, 2].abs() <= 1).all()
