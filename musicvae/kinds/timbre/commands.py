"""The timbre kind's commands: ``blend`` and ``synth``, thin calls into the library."""

from __future__ import annotations

import argparse
import contextlib
import sys
from pathlib import Path

from musicvae import options as opt
from musicvae.io import print_written
from musicvae.realtime.midi_io import API_NAMES


def add_commands(sub) -> None:
    """Add the timbre subcommands to the ``musicvae`` parser's subparsers."""
    p = sub.add_parser("blend", help="blend two timbres (flute -> guitar), or play a MIDI melody with a blend")
    p.add_argument("instrument", type=opt.Text("an instrument"), help="a timbre instrument, e.g. flute-guitar")
    p.add_argument("--pitch", type=opt.integer(0, 127), default=None,
                   help="MIDI pitch of the notes (default: --from's, else 60)")
    p.add_argument("--steps", type=opt.integer(2, opt.MAX_STEPS), default=5,
                   help=f"outputs, endpoints included (default 5, at most {opt.MAX_STEPS})")
    p.add_argument("--from", dest="source", type=opt.Text("a family or a note file"), metavar="FAMILY|WAV",
                   help="start: a family (default flute) or a note file")
    p.add_argument("--to", dest="target", type=opt.Text("a family or a note file"), metavar="FAMILY|WAV",
                   help="end: a family (default guitar) or a note file")
    p.add_argument("--pad", type=opt.Corners(), metavar="A,B,C,D",
                   help="four of the instrument's families at a pad's corners (A, B bottom, C, D top): "
                   "decode the note at --xy between them")
    p.add_argument("--xy", type=opt.Point(), metavar="X,Y", help="--pad: the point, each 0..1 (default 0.5,0.5)")
    p.add_argument("--velocity", type=opt.integer(1, 127), default=100, help="MIDI velocity 1..127 (default 100)")
    p.add_argument("--midi", metavar="MID", type=opt.Text("a MIDI file"),
                   help="play this MIDI melody with the blended instrument instead")
    p.add_argument("--morph", type=opt.Morph(), default="0.5",
                   help="blend amount 0..1 for --midi, or automation 0:0,4:1 (s:amount)")
    p.add_argument("--voices", type=opt.integer(1, opt.MAX_VOICES), default=8,
                   help="--midi: polyphony (default 8), as synth --midi-file")
    p.add_argument("--lerp", action="store_true", help="linear instead of spherical interpolation")
    p.add_argument("-o", "--output", type=opt.Output(opt.AUDIO), default="blend.wav",
                   help="WAV/FLAC/OGG file (default blend.wav)")
    p.add_argument("--per-step", action="store_true", help="also write one file per step")
    p.add_argument("--plot", metavar="PNG", type=opt.Output(opt.PNG), help="write a spectrogram strip of the steps")
    p.set_defaults(func=cmd_blend)

    p = sub.add_parser("synth", help="play a timbre instrument from MIDI: live to audio, or a MIDI file offline")
    p.add_argument("instrument", type=opt.Text("an instrument"), help="a timbre instrument, e.g. flute-guitar")
    p.add_argument("--midi-in", type=opt.Text("a port name"), help="MIDI input port (live)")
    p.add_argument("--midi-file", type=opt.Text("a MIDI file"), help="render this MIDI file offline instead (with -o)")
    p.add_argument("-o", "--output", type=opt.Output(opt.AUDIO), help="offline: WAV/FLAC/OGG file (default synth.wav)")
    p.add_argument("--audio-out", type=opt.Text("a device name"), default="default",
                   help="audio output device name (default: the default)")
    p.add_argument("--audio-api", type=opt.Text("an audio system"),
                   help="audio system, e.g. jack (default: PortAudio's default)")
    p.add_argument("--midi-api", choices=list(API_NAMES),
                   help="MIDI system (default: the platform's; jack where there is no ALSA sequencer)")
    p.add_argument("--morph", type=opt.Morph(), default=None,
                   help="blend amount 0..1 (default 0.5), or automation 0:0,8:1 (seconds:amount; "
                   "live, a control change or OSC message takes over)")
    p.add_argument("--morph-cc", type=opt.CONTROLLER, default=None, help="controller that sets the morph (default 1)")
    p.add_argument("--pad", type=opt.Corners(), metavar="A,B,C,D",
                   help="live: four families at a pad's corners (A, B bottom, C, D top); play the point x,y "
                   "between them instead of a morph")
    p.add_argument("--xy", type=opt.Point(), metavar="X,Y",
                   help="--pad: the starting point, each 0..1 (default 0.5,0.5)")
    p.add_argument("--xy-cc", type=opt.Controllers(), metavar="X,Y",
                   help="--pad: controllers that set x and y (default 1,2)")
    p.add_argument("--osc-port", type=opt.OSC_PORT,
                   help="listen for OSC /morph f (with --pad: /xy f f, /x f, /y f) on 127.0.0.1")
    p.add_argument("--voices", type=opt.integer(1, opt.MAX_VOICES), default=8,
                   help=f"polyphony (default 8, at most {opt.MAX_VOICES})")
    p.add_argument("--blocksize", type=opt.integer(16, 8192), default=256,
                   help="audio frames per block, 16..8192 (default 256)")
    p.add_argument("--duration", type=opt.DURATION, help="seconds to play (default: until Ctrl-C)")
    p.set_defaults(func=cmd_synth)


def cmd_blend(args: argparse.Namespace) -> None:
    from musicvae import blend
    from musicvae.errors import InputError
    from musicvae.instrument import Instrument

    if args.midi and (args.plot or args.per_step):
        raise InputError("--plot and --per-step draw and split a blend's steps; with --midi there are none")
    if args.xy is not None and args.pad is None:
        raise InputError("--xy places the point on a --pad A,B,C,D")
    if args.pad is not None and (args.midi or args.source or args.target):
        raise InputError("--pad decodes one note between four families; --from, --to and --midi blend two")
    instrument = Instrument.load(args.instrument).require_kind("timbre")
    if args.pad is not None:
        result = blend.pad(instrument, args.pad, args.xy or (0.5, 0.5), pitch=args.pitch, velocity=args.velocity)
        for line in result.messages():
            print(line, file=sys.stderr)
        print_written(blend.write_blend(result, args.output, per_step=args.per_step, plot=args.plot))
        return
    method = "lerp" if args.lerp else "slerp"
    source, target = args.source or "flute", args.target or "guitar"
    if args.midi:
        with _render_progress(args.midi) as progress:
            audio = blend.play_midi(instrument, args.midi, morph=args.morph, source=source, target=target,
                                    method=method, voices=args.voices, progress=progress)
        print_written([blend.write_audio(audio, args.output, sample_rate=blend.sample_rate(instrument))])
        return
    result = blend.blend(instrument, pitch=args.pitch, steps=args.steps, source=source, target=target,
                         velocity=args.velocity, method=method)
    for line in result.messages():  # read, warning: and level: lines
        print(line, file=sys.stderr)
    print_written(blend.write_blend(result, args.output, per_step=args.per_step, plot=args.plot))


def cmd_synth(args: argparse.Namespace) -> None:
    from musicvae.automation import parse_morph
    from musicvae.errors import InputError
    from musicvae.instrument import Instrument
    from musicvae.io import check_output
    from musicvae.realtime import synth_run
    from musicvae.realtime.pad import XY_CC

    # Checked before the instrument loads and before any port or audio device opens.
    if args.midi_file and args.midi_in:
        raise InputError("synth plays --midi-in PORT live or --midi-file M.mid offline, not both")
    if not args.midi_file and args.midi_in is None:
        raise InputError("synth needs --midi-in PORT (live) or --midi-file M.mid -o out.wav (offline)")
    if args.output and not args.midi_file:
        raise InputError("-o writes the offline render of --midi-file; live, the synth plays to --audio-out")
    if args.pad is None and (args.xy is not None or args.xy_cc is not None):
        raise InputError(f"{'--xy' if args.xy is not None else '--xy-cc'} places the point on a --pad A,B,C,D")
    if args.pad is not None and args.midi_file:
        raise InputError("synth --pad plays live (--midi-in PORT); offline, blend --pad A,B,C,D --xy X,Y "
                         "decodes a point")
    if args.pad is not None and (args.morph is not None or args.morph_cc is not None):
        raise InputError(f"{'--morph' if args.morph is not None else '--morph-cc'} blends two timbres; "
                         "a --pad's point moves by --xy-cc and OSC /xy")
    morph = "0.5" if args.morph is None else args.morph
    if args.midi_file:
        from musicvae import blend
        from musicvae.render import render_midi

        output = check_output(args.output or "synth.wav")
        instrument = Instrument.load(args.instrument).require_kind("timbre")
        rate = blend.sample_rate(instrument)  # what synth_run.write_synth_file does, with a progress bar
        with _render_progress(args.midi_file) as progress:
            audio = render_midi(instrument, args.midi_file, morph=morph, voices=args.voices, sample_rate=rate,
                                progress=progress)
        print_written([blend.write_audio(audio, output, sample_rate=rate)])
        return
    instrument = Instrument.load(args.instrument).require_kind("timbre")
    curve = parse_morph(morph)
    try:
        report = synth_run.run_synth(instrument, midi_in=args.midi_in, audio_out=args.audio_out,
                                     audio_api=args.audio_api, midi_api=args.midi_api,
                                     morph_cc=1 if args.morph_cc is None else args.morph_cc,
                                     osc_port=args.osc_port, morph=curve(0.0),
                                     automation=None if curve.constant else curve, voices=args.voices,
                                     blocksize=args.blocksize, duration=args.duration, pad=args.pad,
                                     xy=args.xy or (0.5, 0.5), xy_cc=args.xy_cc or XY_CC)
    except (KeyboardInterrupt, SystemExit) as stopped:  # Ctrl-C ends most sessions: say what it did
        if getattr(stopped, "report", None) is not None:
            print(stopped.report.summary(), file=sys.stderr)
        raise
    print(report.summary(), file=sys.stderr)


@contextlib.contextmanager
def _render_progress(midi_file):
    """A progress bar on a terminal's stderr for an offline render that takes more than a second."""
    from tqdm import tqdm

    with tqdm(desc=f"rendering {Path(midi_file).name}", unit="s", delay=1.0, leave=False, file=sys.stderr,
              disable=not sys.stderr.isatty(), bar_format="{desc}: {percentage:3.0f}% {bar} {elapsed}<{remaining}") \
            as bar:
        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.update(done - bar.n)

        yield progress
