"""Running the engines against real ports: what ``musicvae live`` and ``musicvae synth`` call.

Every run stops the same way, whatever ends it (its duration, Ctrl-C,
SIGTERM, an error, a MIDI input that vanished, an external clock that
stopped, a JACK server that died): first every sounding note gets its note-off and every channel used
gets All Notes Off (CC 123), and from then on nothing is sent, from any
thread; only then are inputs, OSC, the automation and the decode worker
stopped, each within a bound (:mod:`musicvae.realtime.stopping`). Signals only
set the run's stop event, so the stop sequence is never cut short, and a
background job that inherited SIGINT "ignored" still stops on it.
"""

from __future__ import annotations

import contextlib
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from musicvae.automation import MorphCurve
from musicvae.errors import InputError, SystemDependencyError
from musicvae.realtime.clock import TICKS_PER_STEP, MidiClockFollower, StepClock, now, sleep_until
from musicvae.realtime.control import CCControl, MorphAutomation, OscControl
from musicvae.realtime.midi_io import MidiOutput, open_input
from musicvae.realtime.params import Params, ParamStore
from musicvae.realtime.player import CallAndResponse, MelodyPlayer, morph_decoder, response_decoder
from musicvae.realtime.stopping import StopSignals, exit_quickly

#: How often (in seconds) the run loop checks that the MIDI input still exists.
_PORT_CHECK = 0.5
#: How long (in seconds) the end of a duration waits for a JACK-native output to write what it was handed.
_DRAIN = 0.1


@dataclass
class LiveReport:
    """What a live run did. ``lateness`` holds, per step sent on the internal clock, seconds after its deadline."""

    steps: int = 0
    held: int = 0
    start: float | None = None  # deadline of step 0 on the internal clock (seconds on clock.now's base)
    period: float | None = None  # seconds per step on the internal clock
    messages: int = 0
    lateness: list[float] = field(default_factory=list)
    stopped_by: str = "duration"
    warnings: list[str] = field(default_factory=list)
    dropped: int = 0  # MIDI messages a full queue refused (JACK-native ports), out and in
    late_events: int = 0  # messages that reached JACK's process callback after their period began

    def summary(self) -> str:
        text = f"{self.steps} steps, {self.messages} MIDI messages, {self.held} phrases held (decode late)"
        if self.lateness:
            late = np.asarray(self.lateness) * 1e3
            text += (f"; lateness p50 {np.percentile(late, 50):.2f} ms, p99 {np.percentile(late, 99):.2f} ms, "
                     f"max {late.max():.2f} ms")
        if self.late_events:
            text += f"; {self.late_events} messages missed their JACK period (written at the next)"
        if self.dropped:
            text += f"; {self.dropped} MIDI messages DROPPED (queue full)"
        return text + f"; stopped by {self.stopped_by}"


def build_player(instrument, *, a=None, b=None, respond: bool = False, params: ParamStore,
                 channel: int = 0, seed: int | None = None, add: np.ndarray | None = None,
                 window: int | None = None):
    """The engine core for a melody instrument: :class:`MelodyPlayer` (A/B morph) or :class:`CallAndResponse`.

    The morph loops the whole tunes, window by window, as ``musicvae morph`` cuts them
    (:func:`musicvae.generate.tune_window_pairs`), or only window ``window`` (counted from 0).
    ``add`` [Z] (attribute vectors) is added to every code before it is decoded.
    """
    from musicvae.generate import tune_window_pairs

    instrument.require_kind("melody")
    rep = instrument.config.model.representation
    if respond:
        return CallAndResponse(response_decoder(instrument, seed=seed, add=add), params, steps=rep.steps,
                               channel=channel, min_pitch=rep.min_pitch, max_pitch=rep.max_pitch), []
    if a is None or b is None:
        raise InputError("live needs --a A.mid and --b B.mid (the melodies to morph between), or --respond")
    pair = tune_window_pairs(instrument, a, b, window=window)
    decode = morph_decoder(instrument, pair.a, pair.b, seed=seed, add=add)
    return MelodyPlayer(decode, params, steps=rep.steps, channel=channel, min_pitch=rep.min_pitch,
                        windows=len(pair.a)), pair.warnings


def run_live(core, output: MidiOutput, params: ParamStore, *, bpm: float = 120.0, clock: str = "internal",
             midi_in: str | None = None, midi_api: str | None = None, morph_cc: int | None = 1,
             osc_port: int | None = None, automation: MorphCurve | None = None, duration: float | None = None,
             stop: threading.Event | None = None, on_ready: Callable[[], None] | None = None) -> LiveReport:
    """Play ``core`` (a MelodyPlayer or CallAndResponse) to ``output`` until ``duration`` or ``stop``.

    SIGINT and SIGTERM (on the main thread) set ``stop`` too; once the run has stopped they are
    raised again, as :class:`KeyboardInterrupt` and ``SystemExit(143)``, the report on them as
    ``.report`` (:mod:`musicvae.realtime.stopping`). Closing ``output`` is the caller's (it repeats
    the all-notes-off and lets it leave).

    Parameters
    ----------
    core : MelodyPlayer or CallAndResponse
    output : MidiOutput or JackMidiOutput
        A JACK-native output (``lookahead`` > 0) gets each step's messages ahead of time, stamped with
        their deadline; an rtmidi one on the deadline.
    params : ParamStore
    bpm : float, keyword-only
        Internal clock tempo (with ``clock="link"``, the tempo proposed to a session without peers).
    clock : {"internal", "midi", "link"}, keyword-only
        "midi" follows Start/Stop/Continue/Song Position and 0xF8 pulses on ``midi_in``; "link" plays on
        an Ableton Link session's tempo and beat phase, starts its transport and follows its start/stop
        (:mod:`musicvae.realtime.link`).
    midi_in : str, optional, keyword-only
        Input port: control changes (``morph_cc``), the clock, the call in call-and-response.
    osc_port : int, optional, keyword-only
        Listen for ``/morph f`` and ``/temperature f`` on 127.0.0.1 (0 = any free port).
    automation : MorphCurve, optional, keyword-only
        Morph automation from the first step on (:func:`musicvae.automation.parse_morph`), until its end
        or until a control change or OSC message takes the morph over.
    duration : float, optional, keyword-only
        Seconds to run (None = until Ctrl-C or ``stop``).
    on_ready : callable, optional, keyword-only
        Called once ports are open and the first phrase is decoded (tests connect ports there).
    """
    if clock not in ("internal", "midi", "link"):
        raise InputError(f"unknown --clock {clock!r}; use internal, midi or link")
    if isinstance(core, CallAndResponse) and midi_in is None:
        raise InputError("--respond needs --midi-in PORT (where the call is played)")
    if clock == "midi" and midi_in is None:
        raise InputError("--clock midi needs --midi-in PORT (where the clock comes from)")
    stop = stop or threading.Event()
    report = LiveReport()
    send_lock = threading.Lock()
    muted = threading.Event()  # set by the stop's all-notes-off: nothing is sent after it, from any thread
    step_clock = StepClock(bpm) if clock == "internal" else None

    def send(messages, at: float | None = None) -> None:
        with send_lock:
            if muted.is_set():
                return
            for message in messages:
                output.send(message, at)
            report.messages += len(messages)

    def on_step(n: int, _t: float) -> None:
        send(core.step(n))
        report.steps += 1

    def silence(*, final: bool = False) -> None:
        with send_lock:
            if muted.is_set() and not final:
                return  # the stop's all-notes-off went out already (a Stop message racing the stop)
            if final:
                muted.set()
            core.all_notes_off()  # resets the engine; the port knows what was really sent and ends that
            report.messages += output.all_notes_off(channels=core.notes.channels_used)

    follower = MidiClockFollower(on_step=on_step, on_stop=silence) if clock == "midi" else None
    cc = CCControl(params, morph_cc=morph_cc) if morph_cc is not None else None

    def on_message(message: list[int], t: float) -> None:
        if muted.is_set():
            return
        if follower is not None and follower.feed(message, t):
            return
        if cc is not None and cc.handle(message):
            return
        if isinstance(core, CallAndResponse):
            if link is not None:
                core.record(message, link.step_at(t))
            elif step_clock is not None:
                core.record(message, step_clock.step_at(t))
            elif follower is not None:
                core.record(message, follower.position / TICKS_PER_STEP)

    inputs: list = []
    osc = mover = link = None
    exit_quickly()
    with StopSignals(stop) as signals:
        try:
            if hasattr(core, "prepare"):
                signals.set_up(core.prepare)  # the first phrase: nothing has been sent yet
            if clock == "link" and not stop.is_set():
                from musicvae.realtime.link import LinkClock

                link = LinkClock(bpm)
                peers = link.find_peers(stop=stop)  # so that the first steps play on the session's tempo
                print(f"Ableton Link: {peers} other peer{'s' * (peers != 1)}, {link.bpm:.1f} BPM", file=sys.stderr)
            if midi_in is not None and not stop.is_set():
                inputs.append(open_input(midi_in, handler=on_message, api=midi_api, clock=clock == "midi"))
            if osc_port is not None and not stop.is_set():
                osc = OscControl(params, port=osc_port)
                print(f"OSC on {osc.host}:{osc.port}: /morph f, /temperature f", file=sys.stderr)
            if on_ready is not None and not stop.is_set():
                on_ready()
            end = None if duration is None else now() + duration
            if automation is not None and not stop.is_set():
                mover = MorphAutomation(params, automation, end=automation.end).start()
            if link is not None:
                _link_loop(core, link, send, silence, report, stop=stop, end=end, inputs=inputs, output=output)
            elif step_clock is not None:
                step_clock = StepClock(bpm)  # anchor after the set-up so that step 0 is not already late
                report.start, report.period = step_clock.time_of(0), step_clock.period
                _internal_loop(core, step_clock, send, report, stop=stop, end=end, inputs=inputs, output=output)
            else:
                _follow_loop(follower, silence, report, stop=stop, end=end, inputs=inputs, output=output)
        except (KeyboardInterrupt, SystemExit) as error:  # a signal cut the set-up short, or a callback raised
            report.stopped_by = signals.reason or ("Ctrl-C" if isinstance(error, KeyboardInterrupt) else "exit")
            error.report = report
            raise
        finally:
            # Notes first, before anything that could wait: then nothing sounds whatever the rest takes.
            silence(final=True)
            if signals.reason is not None:
                report.stopped_by = signals.reason
            for port in inputs:
                with contextlib.suppress(Exception):
                    port.close()
            if osc is not None:
                osc.close()
            if mover is not None:
                mover.close()
            if link is not None:
                link.close()
            report.held = getattr(core, "held", 0)
            report.dropped = output.dropped + sum(getattr(port, "dropped", 0) for port in inputs)
            report.late_events = output.late
            core.close()
    signals.raise_received(report=report)
    return report


def _internal_loop(core, clock: StepClock, send, report: LiveReport, *, stop, end, inputs, output) -> None:
    n = 0
    next_check = now() + _PORT_CHECK
    ahead = output.lookahead  # JACK-native: handed over early, written at the deadline's frame
    while not stop.is_set():
        deadline = clock.time_of(n)
        if end is not None and deadline >= end:
            _play_out(output, clock.time_of(n - 1) if n else None, ahead, stop)
            return
        # Lookahead: the step's messages are computed before its deadline, then sent on it (or ahead of it).
        messages = core.step(n)
        late = sleep_until(deadline - ahead, stop=stop)
        if stop.is_set():
            break
        send(messages, deadline if ahead else None)
        report.lateness.append(late)
        report.steps += 1
        n += 1
        _check_output(output, report)
        if now() >= next_check:
            next_check = now() + _PORT_CHECK
            _check_inputs(inputs, report)
    report.stopped_by = "stop"


def _play_out(output, last: float | None, ahead: float, stop) -> None:
    """At the end of the duration, let the last step handed over ahead of its deadline play before the stop's
    all-notes-off cancels what is still queued."""
    if ahead and last is not None:
        sleep_until(last, stop=stop)
        output.drain(_DRAIN)  # a late JACK period may not have taken it yet


#: Longest wait (seconds) between two looks at the Link session while a step is due: a tempo change
#: mid-step moves the deadline, a peer's Stop must silence at once.
_LINK_POLL = 0.01


def _link_loop(core, link, send, silence, report: LiveReport, *, stop, end, inputs, output) -> None:
    """Steps on the Link session's beat grid; silent while the session's transport is stopped."""
    ahead = output.lookahead
    link.start()
    n = link.next_step()
    next_check = now() + _PORT_CHECK
    had_peers = warned = False
    playing = True
    sent_until = None
    while not stop.is_set():
        if end is not None and now() >= end:
            _play_out(output, sent_until, ahead, stop)
            return
        peers = link.peers
        if peers:
            had_peers = True
        elif had_peers and not warned:  # the session's other peers left: Link keeps its tempo, so do we
            warned = True
            line = f"the Link session's other peers left: playing on at {link.bpm:.1f} BPM"
            report.warnings.append(line)
            print(f"warning: {line}", file=sys.stderr)
        if not link.playing:
            if playing:  # a peer stopped the transport: silence, wait for its start
                silence()
                playing = False
            stop.wait(_LINK_POLL)
            continue
        if not playing:
            playing, n = True, link.next_step()
        deadline = link.time_of(n)
        if not -link.period < deadline - now() <= 1.5 * link.period:
            n = link.next_step()  # the timeline jumped (joining a session re-aligns the beat): catch up
            continue
        messages = core.step(n)
        while not stop.is_set():  # wait in short slices: the session's tempo may change meanwhile
            deadline = link.time_of(n)
            if deadline - ahead - now() <= _LINK_POLL or not link.playing:
                break
            stop.wait(_LINK_POLL)
        late = sleep_until(deadline - ahead, stop=stop)
        if stop.is_set():
            break
        if link.playing:
            send(messages, deadline if ahead else None)
            sent_until = deadline
            report.lateness.append(late)
            report.steps += 1
        n += 1
        _check_output(output, report)
        if now() >= next_check:
            next_check = now() + _PORT_CHECK
            _check_inputs(inputs, report)
    report.stopped_by = "stop"


def _follow_loop(follower: MidiClockFollower, silence, report: LiveReport, *, stop, end, inputs, output) -> None:
    silenced = False
    while not stop.is_set():
        if end is not None and now() >= end:
            return
        stop.wait(0.05)
        if follower.stalled(now()):
            if not silenced:  # the clock source went quiet mid-bar without a Stop: silence, wait for it
                silence()
                report.warnings.append("MIDI clock stopped without a Stop message: all notes off")
                silenced = True
        else:
            silenced = False
        _check_output(output, report)
        _check_inputs(inputs, report)
    report.stopped_by = "stop"


def _check_output(output, report: LiveReport) -> None:
    """A JACK server that died under a JACK-native port: stop with one line (nothing can reach it now)."""
    failure = getattr(output, "failure", None)
    if failure is not None:
        report.stopped_by = "JACK server stopped"
        raise SystemDependencyError(f"the JACK server stopped ({failure}); MIDI output {output.name!r} is gone, "
                                    "its notes could not be ended there: restart JACK and the command")


def _check_inputs(inputs, report: LiveReport) -> None:
    for port in inputs:
        if getattr(port, "failure", None) is not None:
            report.stopped_by = "JACK server stopped"
            raise SystemDependencyError(f"the JACK server stopped ({port.failure}); MIDI input {port.name!r} "
                                        "is gone: restart JACK and the command")
        if not port.alive():
            report.stopped_by = "lost input"
            raise InputError(f"MIDI input {port.source!r} vanished; stopped (all notes off)")


def parse_params(morph: float = 0.0, temperature: float = 0.0) -> ParamStore:
    params = ParamStore(Params())
    params.update(morph=morph, temperature=temperature)
    return params

