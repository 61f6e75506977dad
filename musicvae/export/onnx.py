"""ONNX: a kind's decoder traced to one ONNX graph, run in onnxruntime before the file is kept.

The legacy (TorchScript-based) exporter traces the module with the example inputs, so a
Python loop (the melody decoder's steps, the inversion's iterations) is unrolled into the
graph. It needs neither ``onnxscript`` nor a torch.export of the model, writes one
self-contained file, and converts everything the decoders use (LSTM cells written out,
the inversion's DFTs as matrix products); the newer exporter split the weights into a
second file and took twice as long.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch

from musicvae.errors import InstrumentError
from musicvae.export.exportable import Exportable
from musicvae.io import atomic_path

#: ONNX operator set of the written graphs.
OPSET = 18
#: Largest difference from PyTorch the written file may show on the example inputs.
TOLERANCE = 1e-4


def run_onnx(path: str | Path, exportable: Exportable, inputs=None) -> list[np.ndarray]:
    """Run the ONNX file at ``path`` in onnxruntime on ``inputs`` (default: the example ones) -> its outputs."""
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    inputs = exportable.inputs if inputs is None else inputs
    return session.run(None, {name: torch.as_tensor(x).numpy() for name, x in zip(exportable.input_names, inputs)})


def write(exportable: Exportable, path: Path) -> Path:
    """Trace ``exportable`` to ONNX at ``path`` and check it in onnxruntime against PyTorch (to 1e-4).

    Raises
    ------
    InstrumentError
        If onnxruntime's outputs differ from PyTorch's (the file is not written).
    OutputError
        If the file cannot be written.
    """
    module = exportable.module.eval()
    with atomic_path(path) as tmp, warnings.catch_warnings():
        # The legacy exporter announces its deprecation, and tracing warns of each Python loop it unrolls.
        warnings.simplefilter("ignore")
        with torch.no_grad():
            torch.onnx.export(module, exportable.inputs, str(tmp), input_names=list(exportable.input_names),
                              output_names=list(exportable.output_names), dynamic_axes=exportable.dynamic,
                              opset_version=OPSET, dynamo=False)
            expected = module(*exportable.inputs)
        got = run_onnx(tmp, exportable)
        for name, want, have in zip(exportable.output_names, expected, got):
            error = float(np.max(np.abs(want.numpy().astype(np.float64) - have.astype(np.float64))))
            if not error <= TOLERANCE:
                raise InstrumentError(f"the ONNX graph's {name} differs from PyTorch's by {error:.2g} "
                                      f"(more than {TOLERANCE:g}); not written")
    return path
