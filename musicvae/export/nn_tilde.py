"""nn~ (Max/MSP and Pure Data): a TorchScript module in nn~'s convention, built with the ``nn-tilde`` package.

nn~ loads a scripted module and calls the methods ``get_methods()`` lists, each with the
``<method>_params`` buffer ``[in_channels, in_ratio, out_channels, out_ratio]`` that
nn-tilde's ``register_method`` stores (and tests on a silent buffer). The module itself
is the kind's (:mod:`musicvae.export.synth_module` for a timbre instrument); this writer
scripts it and saves it.
"""

from __future__ import annotations

from pathlib import Path

import torch

from musicvae.export.exportable import Exportable
from musicvae.io import atomic_path


def write(exportable: Exportable, path: Path) -> Path:
    """Script the nn~ module and save it to ``path`` atomically.

    Raises
    ------
    OutputError
        If the file cannot be written.
    """
    module = exportable.module.eval()
    scripted = torch.jit.script(module)
    with atomic_path(path) as tmp:
        scripted.save(str(tmp))
    return path
