"""The accompanist kind's command: ``harmonize``, a thin call into :func:`musicvae.harmonize.harmonize`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from musicvae import options as opt
from musicvae.io import print_written


def add_commands(sub) -> None:
    """Add the accompanist subcommand to the ``musicvae`` parser's subparsers."""
    p = sub.add_parser("harmonize", help="harmonise a soprano melody (MIDI or MusicXML) in four parts")
    p.add_argument("instrument", type=opt.Text("an instrument"),
                   help="an accompanist instrument, e.g. bach-accompanist")
    p.add_argument("melody", type=opt.Text("a MIDI or MusicXML file"),
                   help="MIDI or MusicXML file (4/4; polyphony is reduced to the top line)")
    p.add_argument("-o", "--output", type=opt.Output(opt.MIDI), default="chorale.mid",
                   help="MIDI file with tracks S, A, T, B")
    p.add_argument("--musicxml", metavar="FILE", type=opt.Output(opt.MUSICXML),
                   help="also write MusicXML (.musicxml or .xml; .mxl compressed)")
    p.add_argument("--variations", type=opt.integer(1, opt.MAX_VARIATIONS), default=1,
                   help=f"harmonisations (1 = the most likely; default 1, at most {opt.MAX_VARIATIONS})")
    p.add_argument("--temperature", type=opt.TEMPERATURE, default=0.0, help="0 = most likely tokens (default)")
    p.add_argument("--z-scale", type=opt.number(0.0, 10.0), default=None,
                   help="how far variations stray from the mean, 0..10 (default 2 for MiniBach, 1 for a chorale net)")
    p.add_argument("--pickup", type=opt.number(0.0, 4.0, high_open=True), default=None, metavar="QUARTERS",
                   help="quarter notes before the first bar line, 0 to under 4 (default: from the file; MIDI has none)")
    p.add_argument("--raw", action="store_true", help="per-step argmax, without voice-leading decoding")
    p.add_argument("--transpositions", type=opt.integer(0, 12), default=None, metavar="K",
                   help="also harmonise K semitones up and down and average (default 2 for MiniBach, 0 for a "
                        "chorale net; at most 12)")
    p.add_argument("--gibbs-steps", type=opt.integer(0, 100), default=None, metavar="N",
                   help="a chorale net's rounds of block Gibbs resampling (default: the instrument's; at most 100)")
    p.add_argument("--plot", metavar="PNG", type=opt.Output(opt.PNG), help="write a piano roll of the four voices")
    p.add_argument("--seed", type=opt.SEED, default=None)
    p.set_defaults(func=cmd_harmonize)


def cmd_harmonize(args: argparse.Namespace) -> None:
    from musicvae.chorale_outputs import write_harmonization
    from musicvae.harmonize import harmonize
    from musicvae.instrument import Instrument

    instrument = Instrument.load(args.instrument)
    result = harmonize(instrument, args.melody, variations=args.variations, temperature=args.temperature,
                       z_scale=args.z_scale, pickup=args.pickup, voice_leading=not args.raw,
                       transpositions=args.transpositions, gibbs_steps=args.gibbs_steps, seed=args.seed)
    for warning in result.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if len(result.grids) > 4 and (args.musicxml or args.plot) and sys.stderr.isatty():
        # music21 takes about 0.2 s a score: 32 variations with --musicxml take several seconds.
        print(f"writing {len(result.grids)} harmonisations...", file=sys.stderr)
    print_written(write_harmonization(result, args.output, musicxml=args.musicxml, plot=args.plot,
                                       steps_per_bar=instrument.config.model.representation.steps_per_bar,
                                       title=Path(args.melody).stem))
