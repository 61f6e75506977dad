"""The timbre synth's live run: what ``musicvae synth`` calls (MIDI notes in, blended notes out to audio).

It stops as :func:`musicvae.realtime.live.run_live` does: every voice is released and its fade plays out
before the stream closes, whatever ended the run, and signals are raised again afterwards
(:mod:`musicvae.realtime.stopping`). ``pad`` plays a point between four families
(:mod:`musicvae.realtime.pad`) instead of a two-timbre morph.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from musicvae.automation import MorphCurve
from musicvae.errors import InputError
from musicvae.realtime.clock import now, sleep_until
from musicvae.realtime.control import CCControl, MorphAutomation, OscControl
from musicvae.realtime.live import _PORT_CHECK, _check_inputs
from musicvae.realtime.midi_io import open_input
from musicvae.realtime.params import Params, ParamStore
from musicvae.realtime.stopping import StopSignals, exit_quickly
from musicvae.render import one_torch_thread

#: How often (in seconds) the live synth looks whether the morph reached a step whose notes it should decode.
_PREFETCH = 0.05
#: How long (in seconds), beyond the release fade itself, a stopping synth waits for its voices to fall silent.
_RELEASE_MARGIN = 0.25


def write_synth_file(instrument, midi_file: str | Path, output: str | Path, *, morph: str = "0.5",
                     sample_rate: int | None = None, voices: int = 8) -> Path:
    """``musicvae synth INSTRUMENT --midi-file M.mid --morph 0:0,8:1 -o out.wav``: the live engine, offline.

    The same render as ``blend --midi`` (:func:`musicvae.render.render_midi`).
    """
    from musicvae import blend
    from musicvae.render import render_midi

    instrument.require_kind("timbre")
    rate = sample_rate or blend.sample_rate(instrument)
    audio = render_midi(instrument, midi_file, morph=morph, voices=voices, sample_rate=rate)
    return blend.write_audio(audio, output, sample_rate=rate)


@dataclass
class SynthReport:
    """What a live synth run did."""

    notes_decoded: int = 0
    cold_notes: int = 0
    underflows: int = 0
    stolen: int = 0
    stopped_by: str = "duration"
    errors: list[str] = field(default_factory=list)
    sounding_at_close: int = 0  # voices still sounding when the stream closed (0: every note was released)
    last_peak: float = 0.0  # peak of the last block the stream played (0: it ended in silence)
    dropped: int = 0  # MIDI input events a full queue refused (JACK-native input)

    def summary(self) -> str:
        dropped = f", {self.dropped} MIDI input events DROPPED (queue full)" if self.dropped else ""
        return (f"{self.notes_decoded} notes decoded, {self.cold_notes} note-ons waited for their decode, "
                f"{self.stolen} voices stolen, {self.underflows} audio underflows{dropped}; "
                f"stopped by {self.stopped_by}")


def run_synth(instrument, *, midi_in: str, audio_out: str | None = "default", audio_api: str | None = None,
              midi_api: str | None = None, morph_cc: int | None = 1, osc_port: int | None = None,
              morph: float = 0.0, automation: MorphCurve | None = None, voices: int = 8, blocksize: int = 256,
              prefetch: bool = True, duration: float | None = None, stop: threading.Event | None = None,
              on_ready: Callable[[], None] | None = None, pad: list[str] | None = None,
              xy: tuple[float, float] = (0.5, 0.5), xy_cc: tuple[int, int] | None = (1, 2),
              params: ParamStore | None = None) -> SynthReport:
    """Play a timbre instrument live: MIDI notes in (``midi_in``), blended notes out through PortAudio.

    ``audio_api="jack"`` plays through a running JACK server. Notes of the
    instrument's range at the starting morph are decoded before the stream
    starts, so that first note-ons find their note ready. When the morph
    reaches another step, the cache's worker decodes the whole range there and
    at the next step in the same direction, behind any note a key is waiting
    for (``bench/bench_realtime.py``, a 20-s sweep played in eighths: 3 or 4 of 70
    note-ons waited for their decode, 56 without).
    ``prefetch=False`` decodes only the notes keys ask for. ``automation`` (a
    :class:`~musicvae.automation.MorphCurve`) moves the morph from the stream's start,
    from its own starting amount, until a control change or OSC message takes over.

    ``pad`` (four families, :mod:`musicvae.realtime.pad`) plays the point (x, y) between them instead of a
    morph: from ``xy`` on, moved by the controllers ``xy_cc`` and OSC ``/xy f f``, ``/x f``, ``/y f``.
    ``params`` (default: a new store) is the snapshot the controls write, for a caller to read or write too.

    Stopping (``duration``, ``stop``, SIGINT or SIGTERM, a lost input) releases every voice first and
    lets the release fade play out before the stream closes; signals are raised again afterwards as in
    :func:`~musicvae.realtime.live.run_live`.
    """
    from musicvae.realtime import synth
    from musicvae.realtime.audio_io import SoundDeviceOutput, find_output_device
    from musicvae.realtime.pad import pad_note_decoder

    instrument.require_kind("timbre")
    if pad is not None and automation is not None:
        raise InputError("--morph automation blends two timbres; a --pad's point moves by --xy-cc and OSC /xy")
    if pad is not None:
        from musicvae.blend import pad_latent

        pad_latent(instrument, pad, xy)  # the corners and the point, checked before any device or port opens
    device, rate = find_output_device(audio_out, api=audio_api)
    if automation is not None:
        morph = automation(0.0)
    params = ParamStore(Params()) if params is None else params
    params.update(morph=morph, x=xy[0], y=xy[1])
    low, high = instrument.model.pitch_range
    decode = synth.timbre_note_decoder(instrument, sample_rate=rate) if pad is None else \
        pad_note_decoder(instrument, pad, sample_rate=rate)
    cache = synth.NoteCache(decode, pad=pad is not None)
    engine = synth.SynthEngine(cache, params, sample_rate=rate, max_voices=voices, pitch_range=(low, high))
    cc = CCControl(params, morph_cc=None, xy_cc=xy_cc) if pad is not None else \
        CCControl(params, morph_cc=morph_cc) if morph_cc is not None else None
    stop = stop or threading.Event()
    muted = threading.Event()  # set at the stop: note-ons that arrive after it are dropped

    def on_message(message: list[int], _t: float) -> None:
        if muted.is_set():
            return
        if cc is None or not cc.handle(message):
            engine.handle_midi(message)

    report = SynthReport()
    port = osc = stream = mover = None
    exit_quickly()
    # One torch thread: the other core stays free for the audio callback.
    with StopSignals(stop) as signals, one_torch_thread():
        try:
            # Decode the starting morph's notes before the stream starts: decoding during playback competes
            # with the audio callback for the GIL and the cores (underflows on a 2-core machine).
            at = f"x,y {xy[0]:g},{xy[1]:g}" if pad is not None else f"morph {morph:g}"
            print(f"decoding {high - low + 1} notes at {at}...", file=sys.stderr)
            start = cache.point(params.snapshot)
            keys = [cache.key(pitch, start) for pitch in range(low, high + 1)]
            warm = signals.set_up(lambda: cache.warm(keys, stop=stop))  # nothing sounds and no port is open yet
            if warm:
                stream = SoundDeviceOutput(engine, device=device, blocksize=blocksize)
                port = open_input(midi_in, handler=on_message, api=midi_api)
                if osc_port is not None:
                    osc = OscControl(params, port=osc_port, pad=pad is not None)
                    print(f"OSC on {osc.host}:{osc.port}: {osc.addresses}", file=sys.stderr)
                stream.start()
                if automation is not None:
                    mover = MorphAutomation(params, automation, end=automation.end).start()
                if on_ready is not None and not stop.is_set():
                    on_ready()
            end = None if duration is None else now() + duration
            next_check = now() + _PORT_CHECK
            step = None
            while not stop.is_set() and (end is None or now() < end):
                stop.wait(_PREFETCH if end is None else max(0.0, min(_PREFETCH, end - now())))
                # The morph moved to a new step: decode the whole range there before the keys ask for it,
                # then the next step the same way, where a sweep or a turning knob is heading.
                current = cache.step(params.snapshot)
                if prefetch and current != step:
                    cache.prefetch(synth.prefetch_keys(step, current, pitches=range(low, high + 1),
                                                 morph_steps=cache.morph_steps))
                    step = current
                if now() >= next_check:
                    next_check = now() + _PORT_CHECK
                    _check_inputs([port], report)
                    if not port.alive():
                        report.stopped_by = "lost input"
                        raise InputError(f"MIDI input {port.source!r} vanished; stopped (all notes off)")
            if stop.is_set():
                report.stopped_by = "stop"
        except (KeyboardInterrupt, SystemExit) as error:  # a signal cut the set-up short, or a callback raised
            report.stopped_by = signals.reason or ("Ctrl-C" if isinstance(error, KeyboardInterrupt) else "exit")
            error.report = report
            raise
        finally:
            # Voices first: release them all, let the release fade play out (bounded), then close.
            muted.set()
            engine.all_notes_off()
            if signals.reason is not None:
                report.stopped_by = signals.reason
            if stream is not None:
                _wait_for_silence(engine, stream, timeout=engine.release_frames / rate + _RELEASE_MARGIN)
                report.sounding_at_close, report.last_peak = engine.voices, stream.last_peak
                report.underflows = stream.underflows
                stream.close()
            if port is not None:
                port.close()
                report.dropped = getattr(port, "dropped", 0)
            if osc is not None:
                osc.close()
            if mover is not None:
                mover.close()
            cache.close()
            report.notes_decoded, report.stolen, report.errors = cache.decoded, engine.stolen, cache.errors
            report.cold_notes = engine.cold
    signals.raise_received(report=report)
    return report


def _wait_for_silence(engine, stream, *, timeout: float) -> bool:
    """Wait until the audio callback has released every voice and played its fade (at most ``timeout``)."""
    end = now() + timeout
    while now() < end:
        if engine.voices == 0 and not engine.events and stream.last_peak == 0.0:
            return True
        sleep_until(now() + 0.005)
    return engine.voices == 0
