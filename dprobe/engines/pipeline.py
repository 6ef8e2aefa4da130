"""The C++ attack (``csrc/pipeline``, Python module ``dprobe._pipeline``) driven from Python.

``CppAttack(export_dir)`` loads an export folder's TorchScript modules into the C++ library
(after checking their hashes) and runs the appearance-only attack of
``dprobe.probes.attack`` with the model as its own generator, entirely in libtorch: the same
setup, Adam ascent, per-sample stopping and iteration counting (``AttackSettings``'s settings).
``CppAttack.attack`` returns the Python attack's ``AttackResult`` (what the library does not
return is computed from the exported model's PyTorch modules), so sweeps and reports take
either engine's results.
"""
from __future__ import annotations

import warnings
from pathlib import Path

import torch
from torch import Tensor

import dprobe.ops  # registers dprobe::composite_crop before the modules load
from dprobe.errors import DprobeError
from dprobe.export.graphs import GRAPHS
from dprobe.export.manifest import artifact, check_artifact, read_manifest
from dprobe.geometry import crop_at
from dprobe.metrics.image import mse, psnr, ssim
from dprobe.models.protocol import PoseAppearanceModel
from dprobe.probes.attack import (
    DEFAULT_ITERATIONS,
    DEFAULT_LR,
    DEFAULT_THRESHOLD_MM,
    AttackResult,
    AttackSettings,
    change_figures,
)
from dprobe.probes.attack_generators import DecoderGenerator, frame_theta

__all__ = ["CppAttack", "library_paths", "save_inputs", "settings_kwargs"]


class _Inputs(torch.nn.Module):
    """Tensors for a C++ program, as attributes of a TorchScript module."""

    def __init__(self, tensors: dict[str, Tensor]) -> None:
        super().__init__()
        for name, t in tensors.items():
            self.register_buffer(name, t.detach().float().contiguous())

    def forward(self) -> Tensor:
        return self.frames


def save_inputs(path: str | Path, frames: Tensor, backgrounds: Tensor,
                boxes: Tensor | None = None) -> None:
    """Write the inputs of ``examples/embedding/cpp/pipeline``'s program: ``frames``, ``backgrounds``
    ``(B, 3, H, W)`` and optionally ``boxes (B, 3)`` px, as a TorchScript module file."""
    tensors = {"frames": frames, "backgrounds": backgrounds}
    if boxes is not None:
        tensors["boxes"] = boxes
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # torch.jit.script
        torch.jit.script(_Inputs(tensors)).save(str(path))


def _bindings():
    try:
        from dprobe import _pipeline
    except ImportError as e:
        raise DprobeError(f"the C++ attack library is not built ({e}); rebuild dprobe: "
                          "`pip install --no-build-isolation -e .`") from None
    return _pipeline


def library_paths() -> dict[str, str]:
    """Where the installed C++ attack library and its header are (for building programs)."""
    lib = Path(_bindings().__file__).parent
    return {"library": str(lib / "libdprobe_pipeline.so"), "include": str(lib / "include"),
            "ops_library": str(dprobe.ops.library_path())}


class CppAttack:
    """The C++ attack over one export folder (TorchScript artifacts, hashes checked)."""

    def __init__(self, export_dir: str | Path) -> None:
        manifest = read_manifest(export_dir)
        for graph in GRAPHS:
            check_artifact(export_dir, artifact(manifest, graph, "torchscript"))
        self.manifest = manifest
        self._attack = _bindings().AppearanceAttack(str(export_dir))

    @property
    def crop_size(self) -> int:
        return int(self._attack.crop_size)

    def predict(self, frames: Tensor) -> Tensor:
        """Joints ``(B, 17, 3)`` mm of frames ``(B, 3, H, W)``, computed in C++."""
        return self._attack.predict(frames.float().contiguous())

    def run(self, frames: Tensor, backgrounds: Tensor, boxes: Tensor | None = None, *,
            threshold_mm: float = DEFAULT_THRESHOLD_MM, iterations: int = DEFAULT_ITERATIONS,
            lr: float = DEFAULT_LR,
            eps: float | None = None, betas: tuple[float, float] = (0.9, 0.999),
            adam_eps: float = 1e-8) -> dict[str, Tensor]:
        """Attack frames ``(B, 3, H, W)`` over their backgrounds; ``boxes (B, 3)`` px are the
        crops ("truth"), else the model's S. Returns per-sample ``initial``, ``final`` (mm),
        ``iterations``, ``success``, ``q``, ``pred_final``, ``x_initial``, ``x_final``,
        ``h_final`` (as ``dprobe.probes.attack.AttackResult``)."""
        if frames.shape != backgrounds.shape:
            raise ValueError(f"backgrounds {tuple(backgrounds.shape)} must be shaped like frames "
                             f"{tuple(frames.shape)}")
        return self._attack.run(
            frames.float().contiguous(), backgrounds.float().contiguous(),
            None if boxes is None else boxes.float().contiguous(),
            threshold_mm=threshold_mm, iterations=iterations, lr=lr,
            eps=0.0 if eps is None else eps, beta1=betas[0], beta2=betas[1],
            adam_eps=adam_eps)

    def attack(self, model: PoseAppearanceModel, batch: dict[str, Tensor],
               config: AttackSettings) -> AttackResult:
        """The attack of a studio batch (``dprobe.probes.attack.studio_batch``) under ``config``
        (fp32) as the Python attack's ``AttackResult``, with the model as its own generator.

        The library computes the errors (mm), ``iterations``, ``success``, ``q``,
        ``pred_final``, ``x_initial``, ``x_final`` and ``h_final``. ``model`` (the exported
        model's PyTorch modules) adds, without gradients, what the library does not return:
        ``x_input`` (the target's crop of the frame), ``h_initial`` (its appearance code, the
        attack's start), ``pred_initial`` (``phi(E(x_initial))``, mm), the similarity of
        ``x_final`` to ``x_initial`` (SSIM, PSNR dB, MSE) and the change and full-frame figures
        (``dprobe.probes.attack.change_figures``), as the Python attack computes them. The
        library does not report the path: ``change_path`` and ``delta_e_path`` are NaN.
        """
        if config.precision != "fp32":
            raise ValueError(f"the C++ attack runs in fp32, not {config.precision}")
        if model.crop_size != self.crop_size:
            raise ValueError(f"the model's crop size {model.crop_size} px is not the export's "
                             f"{self.crop_size} px: it is not the exported model")
        out = self.run(batch["frame"], batch["background"],
                       batch["box"] if config.boxes == "truth" else None, **settings_kwargs(config))
        with torch.no_grad():
            theta = frame_theta(model, batch, config.boxes)
            x_input = crop_at(batch["frame"], theta, model.crop_size)
            pred_initial = model.regress(model.encode(out["x_initial"])[1]).float()
            x_initial, x_final = out["x_initial"], out["x_final"]
            generator = DecoderGenerator(model, "self")
            syn = generator.prepare(batch, config.boxes)
            return AttackResult(
                initial=out["initial"], final=out["final"], iterations=out["iterations"],
                success=out["success"], ssim=ssim(x_final, x_initial),
                psnr=psnr(x_final, x_initial), mse=mse(x_final, x_initial), q=out["q"],
                pred_initial=pred_initial, pred_final=out["pred_final"], x_input=x_input,
                x_initial=x_initial, x_final=x_final, h_initial=model.encode(x_input)[0],
                h_final=out["h_final"], change_path=torch.full_like(out["final"], float("nan")),
                delta_e_path=torch.full_like(out["final"], float("nan")),
                **change_figures(generator, syn, out["h_final"], batch["background"]))


def settings_kwargs(config) -> dict:
    """``CppAttack.run`` keyword arguments of a ``dprobe.probes.attack.AttackSettings``."""
    return {"threshold_mm": config.threshold_mm, "iterations": config.iterations,
            "lr": config.lr, "eps": config.eps, "betas": tuple(config.betas),
            "adam_eps": config.adam_eps}

