"""``musicvae export``: an instrument's decoder as an ONNX, TorchScript or nn~ file."""

from __future__ import annotations

import argparse

from musicvae import options as opt


class _ExportOutput(opt.Text):
    """The exported file: under a writable folder (checked now; its extension is checked against --format)."""

    def __init__(self) -> None:
        super().__init__("a file name")

    def __call__(self, text: str) -> str:
        from musicvae.errors import MusicVAEError
        from musicvae.io import check_output

        raw = super().__call__(text)
        try:
            check_output(raw)
        except MusicVAEError as error:
            raise argparse.ArgumentTypeError(str(error)) from None
        return raw


def add_command(sub) -> None:
    """Add ``export`` to the ``musicvae`` parser's subparsers."""
    from musicvae.export import FORMATS

    p = sub.add_parser("export", help="write an instrument's decoder as ONNX, TorchScript or an nn~ module")
    p.add_argument("instrument", type=opt.Text("an instrument"))
    p.add_argument("--format", required=True, choices=list(FORMATS),
                   help="onnx (.onnx), torchscript (.ts/.pt), nn-tilde (.ts: Max/MSP and Pure Data's nn~)")
    p.add_argument("-o", "--output", required=True, type=_ExportOutput(), help="the file to write")
    p.add_argument("--sample-rate", type=opt.integer(8000, 192000), default=None,
                   help="nn-tilde: the host's sample rate, 8000..192000 Hz (default: the instrument's)")
    p.set_defaults(func=cmd_export)


def cmd_export(args: argparse.Namespace) -> None:
    from musicvae.export import check_format, export_instrument

    check_format(args.format, args.output)  # before torch and the instrument load
    from musicvae.instrument import Instrument

    instrument = Instrument.load(args.instrument)
    path, summary = export_instrument(instrument, args.format, args.output, sample_rate=args.sample_rate)
    print(f"wrote {path} ({summary})")
