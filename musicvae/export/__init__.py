"""Exports of an instrument's decoder for other hosts: ONNX, TorchScript, and nn~ (Max/MSP, Pure Data).

``musicvae export INSTRUMENT --format FORMAT -o FILE`` calls :func:`export_instrument`,
which asks the instrument's kind for its module (:meth:`musicvae.kinds.base.Kind.export_module`,
an :class:`~.exportable.Exportable`) and writes it with the format's writer:

- :mod:`.onnx`: the decoder graph traced to ONNX (torch's TorchScript-based exporter),
  checked by running it in onnxruntime against PyTorch before the file is moved into place;
- :mod:`.torchscript`: the decoder compiled with ``torch.jit.script``;
- :mod:`.nn_tilde`: a timbre instrument's synth (:mod:`.synth_module`) in nn~'s convention.

Each kind's decoders are in :mod:`.graphs`. Importing this package imports no torch.
"""

from __future__ import annotations

import importlib
from pathlib import Path

from musicvae.errors import InputError

#: Format name -> (writer module, file extensions).
FORMATS = {
    "nn-tilde": ("musicvae.export.nn_tilde", (".ts",)),
    "onnx": ("musicvae.export.onnx", (".onnx",)),
    "torchscript": ("musicvae.export.torchscript", (".ts", ".pt")),
}


def check_format(fmt: str, output: str | Path) -> Path:
    """``output`` as a Path once ``fmt`` is known and the file name ends as the format's files do.

    Raises
    ------
    InputError
        For an unknown format (the message lists the known ones) or an extension of another format.
    """
    if fmt not in FORMATS:
        raise InputError(f"unknown export format {fmt!r}; choose one of: {', '.join(FORMATS)}")
    suffixes = FORMATS[fmt][1]
    path = Path(output)
    if path.suffix.lower() not in suffixes:
        raise InputError(f"{str(path)!r}: {fmt} files end in {' or '.join(suffixes)}")
    return path


def export_instrument(instrument, fmt: str, output: str | Path, *, sample_rate: int | None = None) -> tuple[Path, str]:
    """Write ``instrument``'s decoder in ``fmt`` to ``output`` (atomically) -> (path, summary line).

    Parameters
    ----------
    instrument : Instrument
    fmt : {"nn-tilde", "onnx", "torchscript"}
    output : str or Path
        The file; its extension must be the format's (``.onnx``; ``.ts``, or ``.pt`` for TorchScript).
    sample_rate : int, optional, keyword-only
        The rate an export that plays audio plays at (an nn~ synth; default the instrument's).

    Raises
    ------
    InputError
        An unknown format, a wrong extension, a kind with no module for that format (one line naming
        the formats it has), or a sample rate for an export that plays no audio.
    OutputError
        When the file cannot be written.
    """
    from musicvae.io import check_output
    from musicvae.kinds import get_kind

    path = check_format(fmt, output)
    kind = get_kind(instrument.kind)
    if fmt not in kind.export_formats:
        has = ", ".join(kind.export_formats) or "none"
        raise InputError(f"{instrument.name!r} is a {kind.name} instrument, which has no {fmt} export "
                         f"(its kind exports: {has})")
    check_output(path)  # before minutes of tracing
    exportable = kind.export_module(instrument, fmt, sample_rate=sample_rate)
    writer = importlib.import_module(FORMATS[fmt][0])
    return writer.write(exportable, path), exportable.summary
