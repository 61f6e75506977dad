"""Stopping ``live`` and ``synth`` 100 times each, at seeded random moments: no hang, no late exit, no stuck note.

In-process, so that a start costs a JACK client rather than an interpreter: the main thread runs the engine as
the CLI does (:func:`run_live` then the output's close, every other run on the JACK-native port; :func:`run_synth`,
its input JACK-native), and a timer thread sends SIGINT
(4 in 5) or SIGTERM to the whole process (any of its threads may take it, as with a real Ctrl-C), once or twice
(the second 30 ms after the first, during the stop), at a moment of one of three kinds:

- set-up: from inside the first decode (the first phrase, or the synth's range before its stream and port open), which
  runs on the set-up worker while the main thread waits for it (``StopSignals.set_up``);
- decode: while the worker thread decodes (a phrase ahead; the notes of a morph step a control change moved to);
- playing: at a random point of the clock's ticks (the synth: while keys are played).

The stop latency runs from the signal to the end of the stop (``output.close()`` included for live). A few
real CLI processes are stopped too, signals sent at once after they report the port open. The test's bounds
have margin for a loaded 2-core machine (:data:`BOUND`); the product's target (:data:`TARGET`) is reported.
"""

from __future__ import annotations

import faulthandler
import os
import random
import signal
import threading
import time
from dataclasses import dataclass, field

import numpy as np
import pytest
from realtime_helpers import Capture, Sender, assert_no_stuck_notes

from musicvae.realtime.params import ParamStore

STOPS = 100
SEED = 20261203
#: The product's bound on the time from a signal to the end of the stop (seconds).
TARGET = 1.0
#: What a test on a loaded 2-core machine allows; a stop slower than this counts as late.
BOUND = 2.5
#: A stop still going after this long kills the test run with every thread's stack (a hang, with its evidence).
HANG = 30.0

pytestmark = pytest.mark.slow


@dataclass
class Tally:
    """Stops, their latencies and what went wrong, for one engine."""

    name: str
    latencies: list[float] = field(default_factory=list)
    stuck: list[str] = field(default_factory=list)
    wrong: list[str] = field(default_factory=list)

    def add(self, latency: float) -> None:
        self.latencies.append(latency)

    def summary(self) -> str:
        ms = np.asarray(self.latencies)
        return (f"{self.name}: {len(ms)} stops, stop latency p50 {np.median(ms):.3f} s, p99 "
                f"{np.percentile(ms, 99):.3f} s, max {ms.max():.3f} s; {int((ms > TARGET).sum())} over the "
                f"{TARGET:g}-s target, {int((ms > BOUND).sum())} late (over {BOUND:g} s), {len(self.stuck)} with "
                f"stuck notes, {len(self.wrong)} wrong outcomes; {self.stuck[:3]} {self.wrong[:3]}")

    def check(self) -> None:
        ms = np.asarray(self.latencies)
        assert len(ms) == STOPS and (ms <= BOUND).all() and not self.stuck and not self.wrong, self.summary()


def _stage() -> str:
    """Which kind of moment a decode is: "set-up" on the set-up worker (the main thread waits for it, see
    ``StopSignals.set_up``), "decode" on a decode worker while the run plays."""
    return "set-up" if threading.current_thread().name == "set-up" else "decode"


def _torch_modes_left() -> str | None:
    """What a stop left switched on in torch for this (the main) thread, if anything: a signal raised inside the
    entry of ``inference_mode()`` leaves the mode on for good (the next training in the process has no gradients)."""
    import torch

    if torch.is_inference_mode_enabled() or not torch.is_grad_enabled():
        return (f"torch left with inference mode {torch.is_inference_mode_enabled()}, grad mode "
                f"{torch.is_grad_enabled()} on the main thread")
    return None


class Trigger:
    """Sends ``signum`` to this process once armed (after ``delay`` s), and again 30 ms later if ``twice``."""

    def __init__(self, signum: int, *, twice: bool) -> None:
        self.signum, self.twice = signum, twice
        self.sent_at: float | None = None
        self._timer: threading.Timer | None = None
        self._lock = threading.Lock()

    def arm(self, delay: float) -> None:
        with self._lock:
            if self._timer is None:
                self._timer = threading.Timer(delay, self._fire)
                self._timer.daemon = True
                self._timer.start()

    def _fire(self) -> None:
        self.sent_at = time.perf_counter()
        os.kill(os.getpid(), self.signum)
        if self.twice:
            time.sleep(0.03)
            os.kill(os.getpid(), self.signum)

    def finish(self) -> None:
        if self._timer is not None:
            self._timer.join()


class Guard:
    """Takes the signals no run is there to take, so that none reaches pytest: a second signal that lands
    after its run's stop (it is handed on to the handler in place) is fine, one between stops is a stray."""

    def __init__(self) -> None:
        self.between_stops = True
        self.strays: list[int] = []

    def __call__(self, signum: int, _frame) -> None:
        if self.between_stops:
            self.strays.append(signum)


@pytest.fixture
def guard():
    guard = Guard()
    previous = {s: signal.signal(s, guard) for s in (signal.SIGINT, signal.SIGTERM)}
    yield guard
    for s, handler in previous.items():
        signal.signal(s, handler)


def _stopped(outcome: BaseException | None, trigger: Trigger) -> str | None:
    """What is wrong with how a run ended (None: it raised what its first signal means)."""
    if trigger.signum == signal.SIGINT and isinstance(outcome, KeyboardInterrupt):
        return None
    if trigger.signum == signal.SIGTERM and isinstance(outcome, SystemExit) and outcome.code == 143:
        return None
    return f"{signal.Signals(trigger.signum).name} ended the run with {outcome!r}"


def _watchdog() -> None:
    faulthandler.dump_traceback_later(HANG, exit=True)


def _carries(output, capture, *, timeout: float = 5.0) -> None:
    """Wait until the new port's connection to the capture carries messages.

    A loaded, non-realtime server applies a connection a few periods late, and what is sent before
    then never reaches the capture: the check below would count a stop's All Notes Off as lost. The
    probe is a controller on channel 16, so the port's own record of channel 1 stays untouched.
    """
    end = time.perf_counter() + timeout
    while True:
        output.send([0xBF, 2, 0])
        time.sleep(0.01)
        with capture._lock:
            if capture.messages:
                capture.messages.clear()
                return
        assert time.perf_counter() < end, "the JACK connection to the capture never carried a message"


def test_live_stops_100_times(jack_server, tiny_melody, guard):
    from musicvae.generate import window_from_midi
    from musicvae.instrument import Instrument
    from musicvae.realtime.jack_midi import JackMidiOutput
    from musicvae.realtime.live import run_live
    from musicvae.realtime.midi_io import MidiOutput
    from musicvae.realtime.player import MelodyPlayer, morph_decoder

    path, a, b = tiny_melody
    instrument = Instrument.load(path)
    real = morph_decoder(instrument, window_from_midi(instrument, a).events, window_from_midi(instrument, b).events,
                         seed=0)
    rng = random.Random(SEED)
    tally = Tally("live")
    capture = Capture("stress-cap")
    try:
        for i in range(STOPS):
            kind = rng.choice(["set-up", "decode", "playing"])
            trigger = Trigger(signal.SIGTERM if rng.random() < 0.2 else signal.SIGINT, twice=rng.random() < 0.2)
            delay = {"set-up": rng.uniform(0.0, 0.03), "decode": rng.uniform(0.0, 0.025),
                     "playing": rng.uniform(0.0, 0.6)}[kind]

            def decode(params, kind=kind, trigger=trigger, delay=delay):
                if kind == _stage():
                    trigger.arm(delay)
                phrase = real(params)
                time.sleep(0.02)  # a decode as long as a real instrument's: signals land inside it
                return phrase

            params = ParamStore()
            params.update(temperature=1.0)
            core = MelodyPlayer(decode, params, steps=32, lead_steps=28)  # the worker's first decode at step 4
            with capture._lock:
                capture.messages.clear()
            # Every other run through the JACK-native port (its process thread ends itself before the close).
            output = JackMidiOutput(capture.name, client="stress-live") if i % 2 else \
                MidiOutput(capture.name, api="jack", client="stress-live")  # connects to the capture
            _carries(output, capture)
            guard.between_stops = False
            _watchdog()
            outcome = None
            try:
                try:
                    run_live(core, output, params, bpm=480, morph_cc=None,
                             on_ready=lambda kind=kind, t=trigger, d=delay: kind == "playing" and t.arm(d))
                finally:
                    output.close()
            except (KeyboardInterrupt, SystemExit) as error:
                outcome = error
            finally:  # whatever ended the run: an armed watchdog would end the test run 30 s later, silently
                done = time.perf_counter()
                faulthandler.cancel_dump_traceback_later()
            trigger.finish()
            guard.between_stops = True
            if trigger.sent_at is None:
                tally.wrong.append(f"#{i} {kind}: the run ended before its signal ({outcome!r})")
                continue
            tally.add(done - trigger.sent_at)
            if (wrong := _stopped(outcome, trigger)) is not None:
                tally.wrong.append(f"#{i} {kind}: {wrong}")
            if (left := _torch_modes_left()) is not None:
                tally.wrong.append(f"#{i} {kind}: {left}")
            messages = capture.settled(quiet=0.05, timeout=2.0)
            try:
                assert not output.sounding, f"the port still counts {output.sounding} sounding"
                assert_no_stuck_notes(messages)
            except AssertionError as error:
                tally.stuck.append(f"#{i} {kind}: {error}")
    finally:
        capture.close()
    print(tally.summary())
    tally.check()
    assert not guard.strays, f"signals outside any run: {guard.strays}"


def test_synth_stops_100_times(jack_audio, monkeypatch, guard):
    from realtime_helpers import make_tiny_timbre

    from musicvae.realtime import synth
    from musicvae.realtime.synth_run import run_synth

    instrument = make_tiny_timbre()  # notes 60..62, decoded in a few ms each
    make_decoder = synth.timbre_note_decoder
    rng = random.Random(SEED + 1)
    tally = Tally("synth")
    keys = Sender("stress-keys")
    try:
        for i in range(STOPS):
            kind = rng.choice(["set-up", "decode", "playing"])
            trigger = Trigger(signal.SIGTERM if rng.random() < 0.2 else signal.SIGINT, twice=rng.random() < 0.2)
            delay = {"set-up": rng.uniform(0.0, 0.03), "decode": rng.uniform(0.0, 0.02),
                     "playing": rng.uniform(0.0, 0.4)}[kind]

            def decoder(*args, kind=kind, trigger=trigger, delay=delay, **kwargs):
                real = make_decoder(*args, **kwargs)

                def decode(pitch, amount):
                    if kind == _stage():
                        trigger.arm(delay)
                    note = real(pitch, amount)
                    time.sleep(0.01)
                    return note

                return decode

            monkeypatch.setattr(synth, "timbre_note_decoder", decoder)

            def play(kind=kind, trigger=trigger, delay=delay):
                if kind == "playing":
                    trigger.arm(delay)
                for n in range(20):
                    if trigger.sent_at is not None:
                        return
                    keys.send([0x90, 60 + n % 3, 100])  # every third key stays down: the stop releases it
                    if n == 2:
                        keys.send([0xB0, 1, 127])  # the morph moves: the worker decodes the range at morph 1
                    time.sleep(0.02)
                    if n % 3:
                        keys.send([0x80, 60 + n % 3, 0])

            guard.between_stops = False
            _watchdog()
            outcome = report = None
            try:
                report = run_synth(instrument, midi_in=keys.name, audio_api="jack", midi_api="jack",
                                   on_ready=lambda play=play: threading.Thread(target=play, daemon=True).start())
            except (KeyboardInterrupt, SystemExit) as error:
                outcome, report = error, getattr(error, "report", None)
            finally:
                done = time.perf_counter()
                faulthandler.cancel_dump_traceback_later()
            trigger.finish()
            guard.between_stops = True
            if trigger.sent_at is None:
                tally.wrong.append(f"#{i} {kind}: the run ended before its signal ({outcome!r})")
                continue
            tally.add(done - trigger.sent_at)
            if (wrong := _stopped(outcome, trigger)) is not None:
                tally.wrong.append(f"#{i} {kind}: {wrong}")
            if (left := _torch_modes_left()) is not None:
                tally.wrong.append(f"#{i} {kind}: {left}")
            if report is None or report.sounding_at_close or report.last_peak:
                tally.stuck.append(f"#{i} {kind}: {report and report.sounding_at_close} voices sounding, "
                                   f"last block peak {report and report.last_peak} when the stream closed")
    finally:
        keys.close()
    print(tally.summary())
    tally.check()
    assert not guard.strays, f"signals outside any run: {guard.strays}"


@pytest.mark.parametrize("command", ["live", "synth"])
def test_cli_stops_at_random_moments(jack_server, tiny_melody, tmp_path, command):
    """The real commands, 5 stops each: two during set-up (live: as soon as its port is open, before anything
    connects to it; synth: while it decodes its range, before its MIDI port opens), three while playing (live:
    after the first note-on; synth: with keys down); the third stop signals twice, the last with SIGTERM."""
    from realtime_helpers import CliProcess, connect_when_there, make_tiny_timbre, wait_for_note_on

    path, a, b = tiny_melody
    if command == "synth":
        path = make_tiny_timbre().save(tmp_path / "timbre")
    rng = random.Random(SEED + (command == "synth"))
    latencies, wrong = [], []
    for i in range(5):
        signum, playing = (signal.SIGTERM if i == 4 else signal.SIGINT), i >= 2
        capture = Capture(f"cli-stress-{i}")
        keys = Sender(f"cli-keys-{i}")
        if command == "live":
            args = ["live", path, "--a", a, "--b", b, "--bpm", "480", "--midi-out", f"virtual:stress{i}",
                    "--midi-api", "jack"]
        else:
            args = ["synth", path, "--midi-in", f"virtual:stress{i}", "--audio-api", "jack", "--midi-api", "jack"]
        cli = CliProcess(args)
        try:
            cli.wait_for("playing on MIDI output" if command == "live" else "decoding")
            if playing and command == "live":
                connect_when_there(f"musicvae:stress{i}", capture.name, alive=lambda cli=cli: cli.proc.poll() is None)
                wait_for_note_on(capture)
            elif playing:
                connect_when_there(keys.name, f"musicvae-in:stress{i}", alive=lambda cli=cli: cli.proc.poll() is None)
                for pitch in (60, 61, 62):
                    keys.send([0x90, pitch, 100])
            time.sleep(rng.uniform(0.0, 0.5 if playing else 0.2))
            elapsed = cli.stop(signum, again_after=0.03 if i == 2 else None)
            messages = capture.settled(quiet=0.05)
        finally:
            cli.kill()
            keys.close()
            capture.close()
        # A second signal that comes once the command is past its stop ends the process by that signal: the
        # shell reports the same status (130 or 143) for that. So does a Ctrl-C that lands inside code an
        # extension runs through PyRun_String (a set-up stop, while librosa or torch initialise): Python then
        # ends itself by SIGINT at exit, after the stop and the "interrupted" line, as it does for an uncaught
        # KeyboardInterrupt (seen in 1 of 3 set-up stops of the synth, before and after the JACK-native ports).
        expected = {143 if signum == signal.SIGTERM else 130} | ({-signum} if i == 2 or signum == signal.SIGINT
                                                                 else set())
        if elapsed is None or cli.proc.returncode not in expected or "Traceback" in cli.err:
            wrong.append(f"#{i}: status {cli.proc.returncode} after {elapsed} s: {cli.err[-300:]}")
        else:
            latencies.append(elapsed)
        if messages:
            assert_no_stuck_notes(messages)
    figures = f"{command} CLI exits after a signal: {', '.join(f'{t:.2f}' for t in latencies)} s (target {TARGET:g} s)"
    print(figures)
    assert not wrong and max(latencies) <= BOUND, f"{figures}; {wrong}"
