"""TorchScript: a kind's decoder compiled with ``torch.jit.script`` (loops kept as loops), loadable with
``torch.jit.load`` from C++ (libtorch) or Python without musicvae."""

from __future__ import annotations

from pathlib import Path

import torch

from musicvae.export.exportable import Exportable
from musicvae.io import atomic_path


def write(exportable: Exportable, path: Path) -> Path:
    """Script ``exportable.module`` and save it to ``path`` atomically.

    Raises
    ------
    OutputError
        If the file cannot be written.
    """
    scripted = torch.jit.script(exportable.module.eval())
    with atomic_path(path) as tmp:
        scripted.save(str(tmp))
    return path
