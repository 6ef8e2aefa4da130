"""Small synthetic stand-ins for the studio datasets: coloured boxes on smooth backgrounds.

Items have the keys and shapes of dprobe.data.datasets' items (DESIGN.md, issue 4), at 32 px, and
depend only on their index, so runs over them are deterministic.
"""
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from dprobe.geometry import euler_xyz_to_matrix
from dprobe.models.network import NetworkConfig

SIZE = 32
SMALL_NET = NetworkConfig(crop_size=SIZE, width=8, max_channels=32, dim_app=16, dim_pose=30)


def scene(gen: torch.Generator, subject: int):
    """(crop, bg, mask, pose (17, 3) mm) of one synthetic frame of ``subject``."""
    bg = F.interpolate(torch.rand(1, 3, 4, 4, generator=gen), size=SIZE, mode="bilinear")[0]
    colour = torch.tensor([(subject * 0.37) % 1, (subject * 0.61) % 1, (subject * 0.13) % 1])
    x0, y0 = torch.randint(2, SIZE // 2, (2,), generator=gen).tolist()
    w, h = torch.randint(8, SIZE // 2, (2,), generator=gen).tolist()
    mask = torch.zeros(1, SIZE, SIZE)
    mask[:, y0:y0 + h, x0:x0 + w] = 1
    crop = mask * colour.view(3, 1, 1) + (1 - mask) * bg
    pose = torch.zeros(17, 3)
    pose[:, 0] = float(x0 * 10 + w)
    pose[:, 1] = float(y0 * 10 + h)
    pose[0] = 0
    return crop, bg, mask, pose


class Synthetic(Dataset):
    """Items of one kind: "nsd", "cssl", "drnet", "labelled"."""

    def __init__(self, kind: str, n: int = 16) -> None:
        self.kind, self.n = kind, n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        gen = torch.Generator().manual_seed(1000 + i)
        subject = i % 3
        frames = [scene(gen, subject) for _ in range(4)]
        s = torch.tensor(subject)
        if self.kind == "nsd":
            (ci, bi, _, _), (cj, bj, _, _), (ca, ba, _, _) = frames[:3]
            angles = torch.rand(2, 3, generator=gen)
            R = euler_xyz_to_matrix(angles)
            return {"crop_i": ci, "bg_i": bi, "crop_j": cj, "bg_j": bj, "R_i": R[0], "R_j": R[1],
                    "app_j": ca, "bg_app_j": ba, "subject": s}
        if self.kind == "cssl":
            (c1, b1, _, _), (c2, b2, _, _) = frames[:2]
            return {"crop_1": c1, "bg_1": b1, "crop_2": c2, "bg_2": b2,
                    "gap": torch.tensor(float(i % 13)), "subject": s, "sequence": s}
        if self.kind == "drnet":
            return {"crops": torch.stack([f[0] for f in frames]),
                    "bgs": torch.stack([f[1] for f in frames]), "subject": s, "sequence": s}
        crop, bg, mask, pose = frames[0]
        return {"crop": crop, "bg": bg, "mask": mask, "pose": pose, "subject": s,
                "camera": torch.tensor(0)}
