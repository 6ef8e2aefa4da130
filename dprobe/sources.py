"""Model sources: where a model to probe comes from, and the one resolver every command uses.

A model source is a string, as given to ``--model`` (and ``attack.targets``,
``attack.generators``, ``probes.models`` in sweep specs):

- a shipped name: ``nsd``, ``cssl``, ``drnet``, ``cssl-da``;
- a checkpoint folder (``config.json`` + ``weights.safetensors``, see docs/conventions.md);
- an export folder written by ``dprobe export`` (``manifest.json``): its TorchScript graphs,
  run without the model's Python source (``dprobe.engines.model.ExportedModel``);
- the user's own code, ``path/to/file.py:function`` or ``package.module:function``: the
  function, called without arguments, returns an object of the model protocol
  (``dprobe.models.protocol``). A module is imported as ``python -m`` would, with the current
  folder first on the import path. A returned ``torch.nn.Module`` is put in eval mode.

``parse_source`` decides the kind and checks that the source exists without loading anything;
``ModelSource.load`` loads it and checks that it has the protocol's members; ``describe`` is
what results record of it, so a reader knows what was probed.
"""
from __future__ import annotations

import contextlib
import hashlib
import importlib
import importlib.util
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import torch

from dprobe.errors import DprobeError
from dprobe.export.manifest import MANIFEST, sha256_file
from dprobe.models.checkpoint import CONFIG, WEIGHTS
from dprobe.models.protocol import PoseAppearanceModel
from dprobe.models.registry import SHIPPED, WEIGHTS_DIR

__all__ = ["KINDS", "SOURCE_FORMS", "ModelSource", "load_model", "parse_source"]

KINDS = ("shipped", "checkpoint", "export", "code")
#: The forms of a model source, for help texts and error messages.
SOURCE_FORMS = (f"a shipped name ({', '.join(SHIPPED)}), a checkpoint folder, a `dprobe export` "
                "folder, or your code as path/to/file.py:function or package.module:function")
PROTOCOL_METHODS = ("locate", "encode", "decode", "regress")


@dataclass(frozen=True)
class ModelSource:
    """A model source: ``text`` as given, its ``kind`` (one of ``KINDS``) and ``location``
    (the folder's absolute path, or ``file-or-module:function``)."""

    text: str
    kind: str
    location: str

    @property
    def label(self) -> str:
        """A short name for folders and tables: the shipped name, the folder's name, or
        ``<file stem or last module part>.<function>``."""
        if self.kind == "shipped":
            return self.text
        if self.kind == "code":
            where, function = self.location.rsplit(":", 1)
            stem = Path(where).stem if where.endswith(".py") else where.rsplit(".", 1)[-1]
            return f"{stem}.{function}"
        return Path(self.location).name

    def describe(self) -> dict:
        """What a result records of its model: the source as given, its kind, its resolved
        location and a sha256 of what defines it (weights, manifest or source file; None for
        an installed module)."""
        return {"source": self.text, "kind": self.kind, "location": self.location,
                "sha256": self._fingerprint()}

    def _fingerprint(self) -> str | None:
        if self.kind in ("shipped", "checkpoint"):
            path = Path(self.location) / WEIGHTS
        elif self.kind == "export":
            path = Path(self.location) / MANIFEST
        else:
            where = self.location.rsplit(":", 1)[0]
            if not where.endswith(".py"):
                return None
            path = Path(where)
        return sha256_file(path) if path.is_file() else None

    def load(self) -> PoseAppearanceModel:
        """The model, ready for probing; DprobeError (one line) when it cannot be loaded or
        lacks a member of the protocol."""
        if self.kind in ("shipped", "checkpoint"):
            from dprobe.models.registry import load

            return load(self.text if self.kind == "shipped" else self.location)
        if self.kind == "export":
            from dprobe.engines.model import ExportedModel

            return ExportedModel(self.location)
        return _check_protocol(self.text, _call_user_function(self))


def parse_source(text: str | os.PathLike) -> ModelSource:
    """The kind and location of the model source ``text`` (module doc); nothing is loaded."""
    text = str(text)
    if text in SHIPPED:
        return ModelSource(text, "shipped", str(WEIGHTS_DIR / text))
    path = Path(text)
    if path.is_dir():
        if (path / MANIFEST).is_file():
            return ModelSource(text, "export", str(path.resolve()))
        if (path / CONFIG).is_file():
            return ModelSource(text, "checkpoint", str(path.resolve()))
        raise DprobeError(f"model folder {text} holds neither a checkpoint ({CONFIG}) nor an "
                          f"export ({MANIFEST})")
    if ":" in text:
        where, function = text.rsplit(":", 1)
        if not function.isidentifier():
            raise DprobeError(f"model {text!r}: {function!r} is not a function name (use "
                              "path/to/file.py:function or package.module:function)")
        if where.endswith(".py"):
            if not Path(where).is_file():
                raise DprobeError(f"model {text!r}: the file {where} does not exist")
            return ModelSource(text, "code", f"{Path(where).resolve()}:{function}")
        if all(part.isidentifier() for part in where.split(".")):
            return ModelSource(text, "code", f"{where}:{function}")
    raise DprobeError(f"model {text!r} is neither a shipped model ({', '.join(SHIPPED)}), a "
                      "checkpoint folder, a `dprobe export` folder, nor your code as "
                      "path/to/file.py:function or package.module:function")


def load_model(source: str | os.PathLike | ModelSource) -> PoseAppearanceModel:
    """Parse (if needed) and load a model source."""
    if not isinstance(source, ModelSource):
        source = parse_source(source)
    return source.load()


@contextlib.contextmanager
def _current_folder_importable():
    """The current folder first on ``sys.path`` while a user's module is imported."""
    sys.path.insert(0, os.getcwd())
    try:
        yield
    finally:
        with contextlib.suppress(ValueError):
            sys.path.remove(os.getcwd())


def _call_user_function(source: ModelSource):
    where, function = source.location.rsplit(":", 1)
    try:
        with _current_folder_importable():
            if where.endswith(".py"):
                name = f"dprobe_user_model_{hashlib.sha256(where.encode()).hexdigest()[:12]}"
                spec = importlib.util.spec_from_file_location(name, where)
                module = importlib.util.module_from_spec(spec)
                sys.modules[name] = module  # dataclasses and pickling look modules up by name
                spec.loader.exec_module(module)
            else:
                module = importlib.import_module(where)
    except Exception as e:  # the user's code: any error is reported in one line
        raise DprobeError(f"model {source.text!r}: cannot import {where}: "
                          f"{type(e).__name__}: {e}") from None
    build = getattr(module, function, None)
    if not callable(build):
        raise DprobeError(f"model {source.text!r}: {where} has no function {function!r}")
    try:
        model = build()
    except Exception as e:
        raise DprobeError(f"model {source.text!r}: {function}() failed: "
                          f"{type(e).__name__}: {e}") from None
    if isinstance(model, torch.nn.Module):
        model.eval()
    return model


def _check_protocol(text: str, model: object) -> PoseAppearanceModel:
    """``model`` if it has the protocol's members, else one line naming what it lacks."""
    missing = [m for m in PROTOCOL_METHODS if not callable(getattr(model, m, None))]
    size = getattr(model, "crop_size", None)
    if isinstance(size, bool) or not isinstance(size, int):
        missing.append("crop_size (an int, px)")
    if missing:
        raise DprobeError(f"model {text!r} returned a {type(model).__name__} without "
                          f"{', '.join(missing)}: the model protocol needs locate, encode, "
                          "decode, regress and crop_size (docs/your-model.md)")
    return model
