"""The timbre kind's commands: ``blend`` and ``synth``, thin calls into the library."""

from __future__ import annotations

import argparse
import sys

from musicvae.io import print_written
from musicvae.realtime.midi_io import API_NAMES


def add_commands(sub) -> None:
    """Add the timbre subcommands to the ``musicvae`` parser's subparsers."""
    p = sub.add_parser("blend", help="blend two timbres (flute -> guitar), or play a MIDI melody with a blend")
    p.add_argument("instrument", help="a timbre instrument, e.g. flute-guitar")
    p.add_argument("--pitch", type=int, default=None, help="MIDI pitch of the notes (default: --from's, else 60)")
    p.add_argument("--steps", type=int, default=5, help="outputs, endpoints included (default 5)")
    p.add_argument("--from", dest="source", metavar="FAMILY|WAV", help="start: a family (default flute) or a note file")
    p.add_argument("--to", dest="target", metavar="FAMILY|WAV", help="end: a family (default guitar) or a note file")
    p.add_argument("--velocity", type=int, default=100)
    p.add_argument("--midi", metavar="MID", help="play this MIDI melody with the blended instrument instead")
    p.add_argument("--morph", default="0.5", help="blend amount 0..1 for --midi, or automation 0:0,4:1 (s:amount)")
    p.add_argument("--voices", type=int, default=8, help="--midi: polyphony (default 8), as synth --midi-file")
    p.add_argument("--lerp", action="store_true", help="linear instead of spherical interpolation")
    p.add_argument("-o", "--output", default="blend.wav", help="WAV/FLAC/OGG file (default blend.wav)")
    p.add_argument("--per-step", action="store_true", help="also write one file per step")
    p.add_argument("--plot", metavar="PNG", help="write a spectrogram strip of the steps")
    p.set_defaults(func=cmd_blend)

    p = sub.add_parser("synth", help="play a timbre instrument from MIDI: live to audio, or a MIDI file offline")
    p.add_argument("instrument", help="a timbre instrument, e.g. flute-guitar")
    p.add_argument("--midi-in", help="MIDI input port (live)")
    p.add_argument("--midi-file", help="render this MIDI file offline instead (with -o)")
    p.add_argument("-o", "--output", help="offline: WAV/FLAC/OGG file (default synth.wav)")
    p.add_argument("--audio-out", default="default", help="audio output device name (default: the default)")
    p.add_argument("--audio-api", help="audio system, e.g. jack (default: PortAudio's default)")
    p.add_argument("--midi-api", choices=list(API_NAMES))
    p.add_argument("--morph", default="0.5", help="blend amount 0..1, or automation 0:0,8:1 (seconds:amount; "
                   "live, a control change or OSC message takes over)")
    p.add_argument("--morph-cc", type=int, default=1, help="controller that sets the morph (default 1)")
    p.add_argument("--osc-port", type=int, help="listen for OSC /morph f on 127.0.0.1")
    p.add_argument("--voices", type=int, default=8, help="polyphony (default 8)")
    p.add_argument("--blocksize", type=int, default=256, help="audio frames per block (default 256)")
    p.add_argument("--duration", type=float, help="seconds to play (default: until Ctrl-C)")
    p.set_defaults(func=cmd_synth)


def cmd_blend(args: argparse.Namespace) -> None:
    from musicvae import blend
    from musicvae.instrument import Instrument

    instrument = Instrument.load(args.instrument).require_kind("timbre")
    method = "lerp" if args.lerp else "slerp"
    source, target = args.source or "flute", args.target or "guitar"
    if args.midi:
        audio = blend.play_midi(instrument, args.midi, morph=args.morph, source=source, target=target, method=method,
                                voices=args.voices)
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
    from musicvae.realtime import live

    instrument = Instrument.load(args.instrument).require_kind("timbre")
    if args.midi_file:
        print_written([live.write_synth_file(instrument, args.midi_file, args.output or "synth.wav",
                                              morph=args.morph, voices=args.voices)])
        return
    if args.midi_in is None:
        raise InputError("synth needs --midi-in PORT (live) or --midi-file M.mid -o out.wav (offline)")
    curve = parse_morph(args.morph)
    report = live.run_synth(instrument, midi_in=args.midi_in, audio_out=args.audio_out, audio_api=args.audio_api,
                            midi_api=args.midi_api, morph_cc=args.morph_cc, osc_port=args.osc_port,
                            morph=curve(0.0), automation=None if curve.constant else curve, voices=args.voices,
                            blocksize=args.blocksize, duration=args.duration)
    print(report.summary(), file=sys.stderr)
