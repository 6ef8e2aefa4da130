"""The 3D pose panel of an attack example: one 3D axes, one line per bone and pose, a legend
naming the ground truth and both predictions, axes in mm."""
import torch
from mpl_toolkits.mplot3d import Axes3D

from dprobe.joints import PARENTS
from dprobe.report.attack_figures import EXAMPLE_PANEL, plot_poses, pose_figure
from dprobe.sweep.items import EXAMPLE_POSE_KEYS


def _poses() -> dict[str, list]:
    """An example's stored poses (lists of 17 x 3, mm), one far outside the default cube."""
    torch.manual_seed(0)
    base = torch.randn(17, 3) * 300
    base[0] = 0
    return {name: (base * (1 + i)).tolist() for i, name in enumerate(EXAMPLE_POSE_KEYS)}


def test_pose_figure_has_3d_axes_a_legend_and_mm():
    poses = _poses()
    fig = pose_figure({label: (poses[name], colour)
                       for name, (label, colour) in EXAMPLE_PANEL.items()})
    (ax,) = fig.axes
    assert isinstance(ax, Axes3D)
    (legend,) = fig.legends
    assert [t.get_text() for t in legend.get_texts()] == [
        "ground truth", "prediction on the initial synthesis", "prediction on the attacked image"]
    assert all("(mm)" in label for label in (ax.get_xlabel(), ax.get_ylabel(), ax.get_zlabel()))
    bones = sum(p >= 0 for p in PARENTS)
    assert len(ax.lines) == len(EXAMPLE_PANEL) * bones == 3 * 16
    reach = max(abs(v) for name in EXAMPLE_PANEL for joint in poses[name] for v in joint)
    assert ax.get_xlim()[1] >= reach  # the largest pose fits


def test_plot_poses_writes_a_png(tmp_path):
    plot_poses(_poses(), tmp_path / "poses.png", title="nsd S1")
    assert (tmp_path / "poses.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
