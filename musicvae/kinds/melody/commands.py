"""The melody kind's commands: ``sample``, ``morph``, ``live`` and ``attributes``, thin calls into the library."""

from __future__ import annotations

import argparse
import sys

from musicvae import options as opt
from musicvae.io import print_written
from musicvae.realtime.midi_io import API_NAMES


class AttributeAmount(opt.Text):
    """``--add NAME=AMOUNT``: an attribute vector (one of ``attributes.ATTRIBUTES``) times an amount.

    Returns ``(name, amount)``; an unknown name's message lists the known ones.
    """

    def __init__(self) -> None:
        super().__init__("NAME=AMOUNT, e.g. density=+1.5")

    def __call__(self, text: str) -> tuple[str, float]:
        from musicvae.errors import InputError
        from musicvae.kinds.melody.attributes import parse_add

        try:
            return parse_add(text)
        except InputError as error:
            raise argparse.ArgumentTypeError(str(error)) from None


def _add_option(p) -> None:
    p.add_argument("--add", action="append", type=AttributeAmount(), metavar="NAME=AMOUNT",
                   help="add an attribute vector times AMOUNT to every code (repeatable; e.g. density=+1.5; "
                   "the instrument's vectors come from `musicvae attributes`)")


def add_commands(sub) -> None:
    """Add the melody subcommands to the ``musicvae`` parser's subparsers."""
    p = sub.add_parser("sample", help="decode melodies from the prior")
    p.add_argument("instrument", type=opt.Text("an instrument"))
    p.add_argument("-n", type=opt.integer(1, opt.MAX_SAMPLES), default=8,
                   help=f"how many (default 8, at most {opt.MAX_SAMPLES})")
    p.add_argument("--temperature", type=opt.TEMPERATURE, default=0.5, help="0 = argmax (default 0.5)")
    p.add_argument("-o", "--output", type=opt.OutputFolder(), default="out", help="output folder")
    p.add_argument("--plot", action="store_true", help="also write a piano-roll PNG")
    p.add_argument("--bpm", type=opt.BPM, default=120.0)
    p.add_argument("--seed", type=opt.SEED, default=None)
    _add_option(p)
    p.set_defaults(func=cmd_sample)

    p = sub.add_parser("morph", help="interpolate between two MIDI melodies, whole tunes window by window")
    p.add_argument("instrument", type=opt.Text("an instrument"))
    p.add_argument("a", type=opt.Text("a MIDI file"), help="MIDI file A")
    p.add_argument("b", type=opt.Text("a MIDI file"), help="MIDI file B")
    p.add_argument("--steps", type=opt.integer(2, opt.MAX_STEPS), default=5,
                   help=f"outputs, endpoints included (default 5, at most {opt.MAX_STEPS})")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--window", type=opt.integer(1, 100_000), default=None,
                       help="morph only this phrase: the Nth window of the model's length, counted from 1 "
                       "(default: the whole tune, every window)")
    where.add_argument("--bar", type=opt.integer(1, 100_000), default=None,
                       help="morph one window starting at this bar of each tune, counted from 1")
    p.add_argument("--lerp", action="store_true", help="linear instead of spherical interpolation")
    p.add_argument("--temperature", type=opt.TEMPERATURE, default=0.0, help="0 = argmax (default)")
    p.add_argument("-o", "--output", type=opt.Output(opt.MIDI), default="morph.mid", help="MIDI file (.mid)")
    p.add_argument("--per-step", action="store_true",
                   help="also write one file per step (always, for a tune longer than one window)")
    p.add_argument("--plot", metavar="PNG", type=opt.Output(opt.PNG), help="write a piano-roll PNG of the steps")
    p.add_argument("--bpm", type=opt.BPM, default=120.0)
    p.add_argument("--seed", type=opt.SEED, default=None)
    _add_option(p)
    p.set_defaults(func=cmd_morph)

    p = sub.add_parser("live", help="play a melody morph (or answer a call) live on a MIDI port")
    p.add_argument("instrument", type=opt.Text("an instrument"), help="a melody instrument, e.g. melody-2bar")
    p.add_argument("--a", type=opt.Text("a MIDI file"), help="MIDI file A (morph 0)")
    p.add_argument("--b", type=opt.Text("a MIDI file"), help="MIDI file B (morph 1)")
    p.add_argument("--window", type=opt.integer(1, 100_000), default=None,
                   help="loop only this phrase: the Nth window of the model's length, counted from 1 "
                   "(default: the whole tunes, window after window)")
    p.add_argument("--bpm", type=opt.BPM, default=120.0)
    p.add_argument("--midi-out", type=opt.Text("a port name"), default="musicvae",
                   help="output port: an existing one by name, else a new "
                   "virtual port of that name (default musicvae)")
    p.add_argument("--midi-in", type=opt.Text("a port name"),
                   help="input port for control changes, the clock and calls (virtual:NAME opens one)")
    p.add_argument("--midi-api", choices=list(API_NAMES),
                   help="MIDI system (default: the platform's; jack where there is no ALSA sequencer)")
    p.add_argument("--channel", type=opt.integer(1, 16), default=1, help="MIDI channel 1..16 (default 1)")
    p.add_argument("--morph", type=opt.Morph(), default="0",
                   help="morph amount 0..1 (default 0 = A), or automation 0:0,8:1 "
                   "(seconds:amount) that a control change or OSC message takes over")
    p.add_argument("--morph-cc", type=opt.CONTROLLER, default=1,
                   help="controller that sets the morph (default 1, mod wheel)")
    p.add_argument("--osc-port", type=opt.OSC_PORT, help="listen for OSC /morph f and /temperature f on 127.0.0.1")
    p.add_argument("--clock", choices=["internal", "midi", "link"], default="internal",
                   help="internal tempo, follow MIDI clock on --midi-in, or an Ableton Link session's "
                   "tempo, beat phase and start/stop")
    p.add_argument("--respond", action="store_true", help="call and response: listen two bars, answer two bars")
    p.add_argument("--temperature", type=opt.TEMPERATURE, default=0.0, help="decoding temperature (0 = argmax)")
    p.add_argument("--duration", type=opt.DURATION, help="seconds to play (default: until Ctrl-C)")
    p.add_argument("--seed", type=opt.SEED, default=None)
    _add_option(p)
    p.set_defaults(func=cmd_live)

    p = sub.add_parser("attributes", help="compute a melody instrument's attribute vectors (density, ...)")
    p.add_argument("instrument", type=opt.Text("an instrument"), help="a melody instrument, e.g. melody-2bar")
    p.add_argument("--data", type=opt.Text("a recipe"), help="recipe whose train split is ranked "
                   "(default: the instrument's)")
    p.add_argument("--max-windows", type=opt.integer(0, 10**9), default=0,
                   help="rank a seeded subset of at most this many windows (default 0 = all)")
    p.add_argument("--seed", type=opt.SEED, default=0)
    p.set_defaults(func=cmd_attributes)


def cmd_sample(args: argparse.Namespace) -> None:
    from musicvae import generate
    from musicvae.errors import InputError
    from musicvae.instrument import Instrument
    from musicvae.outputs import write_samples

    if args.plot and args.n > opt.MAX_PLOT_ROWS:
        raise InputError(f"--plot draws at most {opt.MAX_PLOT_ROWS} samples, one row each; -n {args.n} asks for "
                         "more: leave out --plot or ask for fewer")
    from musicvae.kinds.melody.attributes import latent_offset

    instrument = Instrument.load(args.instrument)
    add = latent_offset(instrument.require_kind("melody"), args.add)
    sequences = generate.sample(instrument, n=args.n, temperature=args.temperature, seed=args.seed, add=add)
    print_written(write_samples(sequences, args.output, representation=instrument.config.model.representation,
                                 bpm=args.bpm, plot=args.plot))


def cmd_morph(args: argparse.Namespace) -> None:
    from musicvae import generate
    from musicvae.instrument import Instrument
    from musicvae.kinds.melody.attributes import latent_offset
    from musicvae.outputs import write_morph

    instrument = Instrument.load(args.instrument)
    add = latent_offset(instrument.require_kind("melody"), args.add)
    method = "lerp" if args.lerp else "slerp"
    per_step = args.per_step
    if args.bar is not None:  # one window at a bar of each tune
        result = generate.morph(instrument, args.a, args.b, steps=args.steps, bar=args.bar - 1, method=method,
                                temperature=args.temperature, seed=args.seed, add=add)
    else:  # the whole tunes (or one phrase of them), every window at the step's blend amount
        result = generate.morph_tune(instrument, args.a, args.b, steps=args.steps,
                                     window=None if args.window is None else args.window - 1,  # counted from 0
                                     method=method, temperature=args.temperature, seed=args.seed, add=add)
        per_step = per_step or result.windows > 1
    for warning in result.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    print_written(write_morph(result.steps, args.output, representation=instrument.config.model.representation,
                               bpm=args.bpm, per_step=per_step, plot=args.plot))


def cmd_live(args: argparse.Namespace) -> None:
    from musicvae.automation import parse_morph
    from musicvae.errors import InputError
    from musicvae.instrument import Instrument
    from musicvae.realtime import live
    from musicvae.realtime.midi_io import open_output

    # Checked before the instrument loads and before any port opens.
    if args.respond and args.midi_in is None:
        raise InputError("--respond needs --midi-in PORT (where the call is played)")
    if args.clock == "midi" and args.midi_in is None:
        raise InputError("--clock midi needs --midi-in PORT (where the clock comes from)")
    if args.clock == "link" and args.bpm < 20:
        raise InputError(f"--bpm must lie in 20..999 with --clock link (Link's tempo range), got {args.bpm:g}")
    if args.respond and args.window is not None:
        raise InputError("--window picks a phrase of --a and --b; --respond answers what it hears")
    if not args.respond and (args.a is None or args.b is None):
        raise InputError("live needs --a A.mid and --b B.mid (the melodies to morph between), or --respond")
    from musicvae.kinds.melody.attributes import latent_offset

    instrument = Instrument.load(args.instrument)
    add = latent_offset(instrument.require_kind("melody"), args.add)
    curve = parse_morph(args.morph)
    params = live.parse_params(curve(0.0), args.temperature)
    core, warnings = live.build_player(instrument, a=args.a, b=args.b, respond=args.respond, params=params,
                                       channel=args.channel - 1, seed=args.seed, add=add,
                                       window=None if args.window is None else args.window - 1)  # from 0
    for warning in warnings:
        print(f"warning: {warning}", file=sys.stderr)
    output = open_output(args.midi_out, api=args.midi_api)
    print(f"playing on MIDI output {output.name!r}" + (" (Ctrl-C stops)" if args.duration is None else ""),
          file=sys.stderr)
    try:
        report = live.run_live(core, output, params, bpm=args.bpm, clock=args.clock, midi_in=args.midi_in,
                               midi_api=args.midi_api, morph_cc=args.morph_cc, osc_port=args.osc_port,
                               automation=None if curve.constant else curve, duration=args.duration)
    except (KeyboardInterrupt, SystemExit) as stopped:  # Ctrl-C ends most sessions: say what it did
        if getattr(stopped, "report", None) is not None:
            output.close()
            print(stopped.report.summary(), file=sys.stderr)
        raise
    finally:
        output.close()
    print(report.summary(), file=sys.stderr)


def cmd_attributes(args: argparse.Namespace) -> None:
    from musicvae.instrument import Instrument
    from musicvae.kinds.melody.attributes import format_attribute_info, instrument_attributes

    instrument = Instrument.load(args.instrument).require_kind("melody")
    path, info = instrument_attributes(instrument, data=args.data, max_windows=args.max_windows, seed=args.seed,
                                       log=lambda line: print(line, file=sys.stderr))
    print(format_attribute_info(info))
    print_written([path])
