"""The published numbers of Tables 1-4 of Nakka & Salzmann, typed from the paper's text.

Units: MPJPE in mm; SSIM and MSE on [0, 1] images; PSNR in dB. The paper's Table 1 prints
207.5 as CSSL's average final MPJPE, although its five subjects average 187.8; both are kept
as printed (``TABLE1_AVERAGE`` is the printed row).
"""
from __future__ import annotations

__all__ = ["PAPER_MODELS", "TABLE1", "TABLE1_AVERAGE", "TABLE2", "TABLE3", "TABLE4"]

#: Our shipped model names for the paper's columns.
PAPER_MODELS = {"NSD": "nsd", "DRNet": "drnet", "CSSL": "cssl", "CSSL(DA)": "cssl-da"}

#: Table 1: MPJPE (mm) before ("initial") and after ("final") the attack, per subject and
#: model, with the model's own decoder as the generator.
TABLE1: dict[str, dict[str, tuple[float, float]]] = {
    "S1": {"nsd": (21.0, 179.7), "drnet": (23.9, 169.7), "cssl": (21.5, 176.9)},
    "S5": {"nsd": (19.6, 180.0), "drnet": (14.1, 166.7), "cssl": (25.3, 186.5)},
    "S6": {"nsd": (22.3, 179.8), "drnet": (23.5, 177.9), "cssl": (26.8, 196.7)},
    "S7": {"nsd": (18.8, 179.2), "drnet": (17.6, 177.5), "cssl": (24.1, 191.8)},
    "S8": {"nsd": (16.8, 178.6), "drnet": (21.7, 198.9), "cssl": (30.5, 186.9)},
}
#: Table 1's printed average row (per model), and over the three models.
TABLE1_AVERAGE: dict[str, tuple[float, float]] = {
    "nsd": (19.7, 179.5), "drnet": (20.2, 177.5), "cssl": (25.6, 207.5), "all": (21.8, 176.8),
}

#: Table 2: attacked vs initial synthesised images (generator: the model's decoder).
TABLE2: dict[str, dict[str, float]] = {
    "nsd": {"ssim": 0.947, "psnr_db": 24.65, "mse": 0.012},
    "drnet": {"ssim": 0.963, "psnr_db": 26.45, "mse": 0.007},
    "cssl": {"ssim": 0.943, "psnr_db": 24.37, "mse": 0.013},
}

#: Table 3: distance correlation DC(A, P) and information over bias IOB(I, A), IOB(I, P),
#: averaged over 400 images. CSSL(DA)'s DC(A, P) = 0.62 is from the text of §6.
TABLE3: dict[str, dict[str, float]] = {
    "nsd": {"dc": 0.88, "iob_a": 0.79, "iob_p": 1.15},
    "drnet": {"dc": 0.59, "iob_a": 0.90, "iob_p": 1.08},
    "cssl": {"dc": 0.77, "iob_a": 0.95, "iob_p": 1.29},
    "cssl-da": {"dc": 0.62},
}

#: Table 4: as Table 2, CSSL trained without and with data augmentation (DA).
TABLE4: dict[str, dict[str, float]] = {
    "cssl": {"ssim": 0.943, "psnr_db": 24.37, "mse": 0.013},
    "cssl-da": {"ssim": 0.926, "psnr_db": 22.90, "mse": 0.018},
}
