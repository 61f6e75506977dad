"""Each kind's decoder as a module TorchScript can compile and ONNX can trace (the kinds' ``export_module``)."""

from __future__ import annotations


def no_sample_rate(instrument, sample_rate: int | None, what: str = "its exports are symbolic") -> None:
    """Refuse ``--sample-rate`` for an export that plays no audio at a rate of the host's."""
    from musicvae.errors import InputError

    if sample_rate is not None:
        raise InputError(f"--sample-rate sets the rate of an nn-tilde synth; {instrument.name!r} is a "
                         f"{instrument.kind} instrument: {what}")
