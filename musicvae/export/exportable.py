"""What a kind hands the exporters: one module, example inputs, and the names of its inputs and outputs."""

from __future__ import annotations

from dataclasses import dataclass, field

from torch import Tensor, nn


@dataclass(frozen=True)
class Exportable:
    """One decoder graph a kind exports (:meth:`musicvae.kinds.base.Kind.export_module`).

    Attributes
    ----------
    module : nn.Module
        Scriptable (``torchscript``, ``nn-tilde``) or traceable (``onnx``) with the example inputs.
    inputs : tuple of Tensor
        Example inputs: what ONNX traces with and what the tests feed both sides.
    input_names, output_names : tuple of str
        The graph's names (ONNX inputs and outputs; the docstring of a TorchScript file).
    dynamic : dict[str, dict[int, str]]
        ONNX axes that may vary by input name (the batch: ``{"z": {0: "batch"}}``).
    summary : str
        One line on what the graph computes, printed after the file is written.
    """

    module: nn.Module
    inputs: tuple[Tensor, ...] = ()
    input_names: tuple[str, ...] = ()
    output_names: tuple[str, ...] = ()
    dynamic: dict[str, dict[int, str]] = field(default_factory=dict)
    summary: str = ""
