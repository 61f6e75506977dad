"""The melody kind's commands: ``sample``, ``morph`` and ``live``, thin calls into the library."""

from __future__ import annotations

import argparse
import sys

from musicvae.io import print_written
from musicvae.realtime.midi_io import API_NAMES


def add_commands(sub) -> None:
    """Add the melody subcommands to the ``musicvae`` parser's subparsers."""
    p = sub.add_parser("sample", help="decode melodies from the prior")
    p.add_argument("instrument")
    p.add_argument("-n", type=int, default=8, help="how many (default 8)")
    p.add_argument("--temperature", type=float, default=0.5, help="0 = argmax (default 0.5)")
    p.add_argument("-o", "--output", default="out", help="output folder")
    p.add_argument("--plot", action="store_true", help="also write a piano-roll PNG")
    p.add_argument("--bpm", type=float, default=120.0)
    p.add_argument("--seed", type=int, default=None)
    p.set_defaults(func=cmd_sample)

    p = sub.add_parser("morph", help="interpolate between two MIDI melodies")
    p.add_argument("instrument")
    p.add_argument("a", help="MIDI file A")
    p.add_argument("b", help="MIDI file B")
    p.add_argument("--steps", type=int, default=5, help="outputs, endpoints included (default 5)")
    p.add_argument("--bar", type=int, default=None, help="use the window at this bar (default: first usable)")
    p.add_argument("--lerp", action="store_true", help="linear instead of spherical interpolation")
    p.add_argument("--temperature", type=float, default=0.0, help="0 = argmax (default)")
    p.add_argument("-o", "--output", default="morph.mid")
    p.add_argument("--per-step", action="store_true", help="also write one file per step")
    p.add_argument("--plot", metavar="PNG", help="write a piano-roll PNG of the steps")
    p.add_argument("--bpm", type=float, default=120.0)
    p.add_argument("--seed", type=int, default=None)
    p.set_defaults(func=cmd_morph)

    p = sub.add_parser("live", help="play a melody morph (or answer a call) live on a MIDI port")
    p.add_argument("instrument", help="a melody instrument, e.g. melody-2bar")
    p.add_argument("--a", help="MIDI file A (morph 0)")
    p.add_argument("--b", help="MIDI file B (morph 1)")
    p.add_argument("--bpm", type=float, default=120.0)
    p.add_argument("--midi-out", default="musicvae", help="output port: an existing one by name, else a new "
                   "virtual port of that name (default musicvae)")
    p.add_argument("--midi-in", help="input port for control changes, the clock and calls (virtual:NAME opens one)")
    p.add_argument("--midi-api", choices=list(API_NAMES),
                   help="MIDI system (default: the platform's; jack in containers)")
    p.add_argument("--channel", type=int, default=1, help="MIDI channel 1..16 (default 1)")
    p.add_argument("--morph", default="0", help="morph amount 0..1 (default 0 = A), or automation 0:0,8:1 "
                   "(seconds:amount) that a control change or OSC message takes over")
    p.add_argument("--morph-cc", type=int, default=1, help="controller that sets the morph (default 1, mod wheel)")
    p.add_argument("--osc-port", type=int, help="listen for OSC /morph f and /temperature f on 127.0.0.1")
    p.add_argument("--clock", choices=["internal", "midi"], default="internal",
                   help="internal tempo, or follow MIDI clock on --midi-in")
    p.add_argument("--respond", action="store_true", help="call and response: listen two bars, answer two bars")
    p.add_argument("--temperature", type=float, default=0.0, help="decoding temperature (0 = argmax)")
    p.add_argument("--duration", type=float, help="seconds to play (default: until Ctrl-C)")
    p.add_argument("--seed", type=int, default=None)
    p.set_defaults(func=cmd_live)


def cmd_sample(args: argparse.Namespace) -> None:
    from musicvae import generate
    from musicvae.instrument import Instrument
    from musicvae.outputs import write_samples

    instrument = Instrument.load(args.instrument)
    sequences = generate.sample(instrument, n=args.n, temperature=args.temperature, seed=args.seed)
    print_written(write_samples(sequences, args.output, representation=instrument.config.model.representation,
                                 bpm=args.bpm, plot=args.plot))


def cmd_morph(args: argparse.Namespace) -> None:
    from musicvae import generate
    from musicvae.instrument import Instrument
    from musicvae.outputs import write_morph

    instrument = Instrument.load(args.instrument)
    result = generate.morph(
        instrument,
        args.a,
        args.b,
        steps=args.steps,
        bar=args.bar,
        method="lerp" if args.lerp else "slerp",
        temperature=args.temperature,
        seed=args.seed,
    )
    for warning in result.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    print_written(write_morph(result.steps, args.output, representation=instrument.config.model.representation,
                               bpm=args.bpm, per_step=args.per_step, plot=args.plot))


def cmd_live(args: argparse.Namespace) -> None:
    from musicvae.automation import parse_morph
    from musicvae.instrument import Instrument
    from musicvae.realtime import live
    from musicvae.realtime.midi_io import MidiOutput

    instrument = Instrument.load(args.instrument)
    curve = parse_morph(args.morph)
    params = live.parse_params(curve(0.0), args.temperature)
    core, warnings = live.build_player(instrument, a=args.a, b=args.b, respond=args.respond, params=params,
                                       channel=args.channel - 1, seed=args.seed)
    for warning in warnings:
        print(f"warning: {warning}", file=sys.stderr)
    output = MidiOutput(args.midi_out, api=args.midi_api)
    print(f"playing on MIDI output {output.name!r}" + (" (Ctrl-C stops)" if args.duration is None else ""),
          file=sys.stderr)
    try:
        report = live.run_live(core, output, params, bpm=args.bpm, clock=args.clock, midi_in=args.midi_in,
                               midi_api=args.midi_api, morph_cc=args.morph_cc, osc_port=args.osc_port,
                               automation=None if curve.constant else curve, duration=args.duration)
    finally:
        output.close()
    print(report.summary(), file=sys.stderr)
