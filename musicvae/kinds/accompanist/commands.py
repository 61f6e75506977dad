"""The accompanist kind's command: ``harmonize``, a thin call into :func:`musicvae.harmonize.harmonize`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from musicvae.io import print_written


def add_commands(sub) -> None:
    """Add the accompanist subcommand to the ``musicvae`` parser's subparsers."""
    p = sub.add_parser("harmonize", help="harmonise a soprano melody (MIDI or MusicXML) in four parts")
    p.add_argument("instrument", help="an accompanist instrument, e.g. bach-accompanist")
    p.add_argument("melody", help="MIDI or MusicXML file (4/4; polyphony is reduced to the top line)")
    p.add_argument("-o", "--output", default="chorale.mid", help="MIDI file with tracks S, A, T, B")
    p.add_argument("--musicxml", metavar="FILE", help="also write MusicXML")
    p.add_argument("--variations", type=int, default=1, help="harmonisations (1 = the most likely; default 1)")
    p.add_argument("--temperature", type=float, default=0.0, help="0 = most likely tokens (default)")
    p.add_argument("--z-scale", type=float, default=2.0, help="how far variations stray from the mean (default 2)")
    p.add_argument("--pickup", type=float, default=None, metavar="QUARTERS",
                   help="quarter notes before the first bar line (default: from the file; MIDI has none)")
    p.add_argument("--raw", action="store_true", help="per-step argmax, without voice-leading decoding")
    p.add_argument("--transpositions", type=int, default=2, metavar="K",
                   help="also harmonise K semitones up and down and average (default 2; 0 = off)")
    p.add_argument("--plot", metavar="PNG", help="write a piano roll of the four voices")
    p.add_argument("--seed", type=int, default=None)
    p.set_defaults(func=cmd_harmonize)


def cmd_harmonize(args: argparse.Namespace) -> None:
    from musicvae.chorale_outputs import write_harmonization
    from musicvae.harmonize import harmonize
    from musicvae.instrument import Instrument

    instrument = Instrument.load(args.instrument)
    result = harmonize(instrument, args.melody, variations=args.variations, temperature=args.temperature,
                       z_scale=args.z_scale, pickup=args.pickup, voice_leading=not args.raw,
                       transpositions=args.transpositions, seed=args.seed)
    for warning in result.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    print_written(write_harmonization(result, args.output, musicxml=args.musicxml, plot=args.plot,
                                       steps_per_bar=instrument.config.model.representation.steps_per_bar,
                                       title=Path(args.melody).stem))
