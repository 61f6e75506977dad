"""Realtime figures: MIDI timing through a JACK loopback, the synth's block budget, note-on latency.

- MIDI: the live melody player at 120 BPM sends a note-on on every 16th step
  through a synchronous JACK dummy server (started here, with a name of its own) to a
  receiver in its own process that reads each note-on's frame; lateness = arrival -
  scheduled deadline, p50 / p90 / p99 / max, on the python-rtmidi path and the JACK-native
  one, against DIN MIDI's own ~0.64 ms jitter (REFERENCE.md). Target: jitter (p99 - p50)
  < 0.1 ms. Then 10,000 note-ons at 16ths, 240 BPM, on each path: sent against received
  (target 0 lost).
- Synth: ``SynthEngine.process`` at 256-frame blocks, 48 kHz, 8 voices always
  sounding, morph sweeping 0 -> 1 (crossfades included): per-block compute
  time p50 / p99 / p99.9 / max against the 5.33 ms block deadline, deadline
  misses, and the realtime factor against RAVE v2's 4.1x streaming figure.
- Latency from note-on to the first audible sample, warm cache (the note was
  decoded before) and cold (decoded on the cache's worker after the note-on).
- Phrase decode time of the melody instrument against the one-bar lead the
  player gives it.
- The live synth through PortAudio on JACK while an automation sweeps the
  morph over 20 s and a key plays eighths: note-ons that had to wait for their
  note's decode, with the background prefetch of the morph's next steps and
  without it.
- Stop latency after SIGINT, p50 / p99 / max over 100 stops at random moments
  of playing, against the 1-s target: ``musicvae live`` as a process (signal
  -> process exited) and ``run_live`` in this process (signal -> run stopped
  and its port closed, all notes off twice and flushed).

The JACK server runs realtime (``jackd -R``) where this machine allows SCHED_FIFO (``--realtime auto``).

Run: ``python bench/bench_realtime.py [--seconds 60] [--instrument flute-guitar] [--stops 100] [--realtime auto]``.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

import numpy as np
import torch

DIN_JITTER_MS = 0.64
RAVE_STREAMING = 4.1
TARGET_JITTER_MS = 0.1
STOP_TARGET_S = 1.0
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def realtime_allowed() -> bool:
    """Whether this process may schedule a thread SCHED_FIFO (what ``jackd -R`` needs: root, or rtprio limits)."""
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(10))
    except (PermissionError, OSError, AttributeError):
        return False
    os.sched_setscheduler(0, os.SCHED_OTHER, os.sched_param(0))
    return True


def start_jack(log, *, period: int = 64, realtime: bool = False) -> subprocess.Popen | None:
    """A JACK dummy server of this process's own, its log (xruns included) written to ``log``.

    Synchronous (``--sync``), as the tests' server: in JACK's default asynchronous mode a client that
    finishes its cycle late has its MIDI output dropped (746 of 4,000 notes lost at 64 frames, 0 with
    ``--sync``), which measures the server's scheduling, not the ports'. ``realtime``: the server and its
    clients' process threads run SCHED_FIFO (``-R -P 70``), as a musician's JACK does; else ``--no-realtime``,
    as the tests' (which must run where realtime scheduling is not allowed).
    """
    if shutil.which("jackd") is None:
        return None
    os.environ["JACK_DEFAULT_SERVER"] = f"musicvae-bench-{os.getpid()}-{period}"
    os.environ["JACK_NO_START_SERVER"] = "1"
    mode = ["-R", "-P", "70"] if realtime else ["--no-realtime"]
    proc = subprocess.Popen(["jackd", *mode, "--sync", "--timeout", "20",
                             "-d", "dummy", "-r", "48000", "-p", str(period)], stdout=log, stderr=subprocess.STDOUT)
    for _ in range(300):
        if subprocess.run(["jack_wait", "-c"], capture_output=True, text=True).stdout.strip() == "running":
            return proc
        time.sleep(0.05)
    proc.kill()
    return None


class FrameCapture:
    """A JACK-Client input recording every note-on at the time of its frame (what a DAW or a synth plays, to the
    frame), beside an rtmidi input (C callback, polled) that counts what arrives. Both are the bench's own."""

    def __init__(self, name: str) -> None:
        import jack
        import rtmidi

        self.frames: list[tuple[float, int]] = []  # (time of the event's frame, pitch)
        self.counted = 0
        self._client = jack.Client(name, no_start_server=True)
        self._port = self._client.midi_inports.register("in")
        rate = self._client.samplerate

        def process(_frames: int) -> None:
            start = time.perf_counter() - self._client.frames_since_cycle_start / rate
            for offset, data in self._port.incoming_midi_events():
                message = bytes(data)
                if len(message) == 3 and message[0] & 0xF0 == 0x90 and message[2] > 0:
                    self.frames.append((start + offset / rate, message[1]))
            if self._closing:
                raise jack.CallbackExit

        self._closing = False
        self._client.set_process_callback(process)
        self._client.activate()
        self.name = f"{name}:in"
        self._rt = rtmidi.MidiIn(rtapi=rtmidi.API_UNIX_JACK, name=f"{name}-rt")
        self._rt.open_virtual_port("in")
        self.rt_name = f"{name}-rt:in"
        self._done = threading.Event()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:  # polled, as MidiInput does (no Python on JACK's process thread)
        while not self._done.is_set():
            event = self._rt.get_message()
            if event is None:
                time.sleep(0.0002)
            elif event[0][0] & 0xF0 == 0x90 and event[0][2] > 0:
                self.counted += 1

    def reset(self) -> None:
        self.frames, self.counted = [], 0

    def close(self) -> None:
        self._closing = True
        time.sleep(0.3)  # the callback ends its own thread (closing cancels a thread that may be in Python)
        self._client.close()
        self._done.set()
        self._reader.join()
        self._rt.close_port()
        self._rt.delete()


class CaptureProcess:
    """:class:`FrameCapture` in a process of its own (``--serve-capture``), as a DAW or a synth would be: the
    receiver's Python callback must not share an interpreter lock with the player it measures."""

    def __init__(self, name: str) -> None:
        self.name, self.rt_name = f"{name}:in", f"{name}-rt:in"
        self._out = tempfile.NamedTemporaryFile(suffix=".npz", delete=False)
        self._out.close()
        self._proc = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--serve-capture", name,
                                       self._out.name], stdout=subprocess.PIPE, text=True)
        assert self._proc.stdout.readline().strip() == "ready"

    def finish(self) -> tuple[np.ndarray, int]:
        """Stop it; (frame times of the note-ons it heard, note-ons the rtmidi input counted)."""
        self._proc.send_signal(signal.SIGTERM)
        self._proc.wait(timeout=30)
        data = np.load(self._out.name)
        os.unlink(self._out.name)
        return data["frames"], int(data["counted"])


def serve_capture(name: str, out: str) -> None:
    """``--serve-capture NAME FILE``: run a FrameCapture until SIGTERM, then write what it heard to FILE."""
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    capture = FrameCapture(name)
    print("ready", flush=True)
    while not done.wait(0.1):
        pass
    time.sleep(0.1)
    frames = np.asarray([t for t, _ in capture.frames], dtype=np.float64)
    with open(out, "wb") as file:  # first: the close below is JACK's, and a JACK client's close can crash
        np.savez(file, frames=frames, counted=capture.counted)
    capture.close()


def _play(path: str, capture: CaptureProcess, *, bpm: float, seconds: float, client: str):
    """run_live with a note-on on every 16th step, through the rtmidi port or the JACK-native one."""
    from musicvae.realtime.jack_midi import JackMidiOutput
    from musicvae.realtime.live import run_live
    from musicvae.realtime.midi_io import MidiOutput
    from musicvae.realtime.params import ParamStore
    from musicvae.realtime.player import MelodyPlayer

    output = JackMidiOutput("virtual:out", client=client) if path == "jack" else \
        MidiOutput("virtual:out", api="jack", client=client)
    for destination in (capture.name, capture.rt_name):
        subprocess.run(["jack_connect", f"{client}:out", destination], check=True, timeout=10)
    time.sleep(0.5)  # a loaded server may apply the connection a few periods late
    phrase = np.array([2 + 39 + (i % 12) for i in range(32)], dtype=np.int64)  # a note-on on every step
    report = run_live(MelodyPlayer(lambda p: phrase, ParamStore()), output, ParamStore(), bpm=bpm,
                      duration=seconds, morph_cc=None)
    output.close()
    time.sleep(0.2)
    frames, counted = capture.finish()
    return report, output, frames, counted


def _xruns(log) -> int:
    log.seek(0)
    return sum("was not finished" in line for line in log)


def _written(output, sent: int) -> str:
    """How many of the messages queued the JACK-native port's process callback wrote (a loss beyond that is
    JACK's: a cycle the server or the receiver did not finish)."""
    written = getattr(output, "written", None)
    return "" if written is None else f", {written} of {output.sent} messages written by the callback"


PATHS = (("rtmidi", "python-rtmidi (the old path: next period's start)"),
         ("jack", "JACK-native (JACK-Client: at the deadline's frame)"))


def bench_midi(seconds: float, notes: int, *, paths=("rtmidi", "jack"), realtime: bool = False) -> None:
    """Arrival lateness and jitter, rtmidi against JACK-native, then notes sent against notes received."""
    log = tempfile.TemporaryFile("w+")
    proc = start_jack(log, realtime=realtime)
    if proc is None:
        print("MIDI timing: skipped (jackd not installed: apt-get install jackd2)")
        return
    try:
        server = "realtime (SCHED_FIFO)" if realtime else "not realtime"
        print(f"MIDI through JACK (dummy server, {server}, synchronous, 64-frame periods = 1.33 ms), "
              f"load average {os.getloadavg()[0]:.1f}, a note-on every 16th at 120 BPM for "
              f"{seconds:g} s; arrival = the time of the frame a receiver reads it at; jitter = p99 - p50 "
              f"(target < 0.1 ms; DIN MIDI's own jitter {DIN_JITTER_MS} ms):")
        for path, label in PATHS:
            if path not in paths:
                continue
            before = _xruns(log)
            report, output, arrive, counted = _play(path, CaptureProcess(f"bench-capture-{path}"), bpm=120.0,
                                                    seconds=seconds, client=f"bench-{path}")
            steps = np.round((arrive - report.start) / report.period)
            late = (arrive - (report.start + steps * report.period)) * 1e3
            p50, p99 = np.percentile(late, 50), np.percentile(late, 99)
            jitter = p99 - p50
            print(f"  {label}: {len(arrive)} (JACK-Client input) and {counted} (rtmidi input) of {report.steps} "
                  f"note-ons arrived, server logged {_xruns(log) - before} "
                  f"cycles a client did not finish, {output.late} messages written a period late")
            on_time = np.mean(np.abs(late) < TARGET_JITTER_MS) * 100
            verdict = "met" if jitter < TARGET_JITTER_MS else "MISSED"
            print(f"    arrival lateness  p50 {p50:6.3f} ms  p90 {np.percentile(late, 90):6.3f} ms  p99 {p99:6.3f} ms"
                  f"  max {late.max():6.3f} ms;  jitter {jitter:.3f} ms ({verdict} < {TARGET_JITTER_MS} ms; "
                  f"{jitter / DIN_JITTER_MS:.2f}x DIN MIDI); {on_time:.1f}% within 0.1 ms of the deadline")
        if notes:
            seconds_needed = notes * 60.0 / 240.0 / 4
            print(f"notes sent vs received, {notes} note-ons at 16ths, 240 BPM ({seconds_needed:.0f} s a path):")
            for path, label in PATHS:
                if path not in paths:
                    continue
                before = _xruns(log)
                # The player stops at the duration's end: a hair more than the notes' span, then count.
                report, output, frames, counted = _play(path, CaptureProcess(f"bench-loss-capture-{path}"),
                                                        bpm=240.0, seconds=seconds_needed + 0.01,
                                                        client=f"bench-loss-{path}")
                sent = report.steps
                print(f"  {label}: sent {sent}, received {counted} (rtmidi input), {len(frames)} "
                      f"(JACK-Client input): lost {sent - counted} / {sent - len(frames)}; "
                      f"{output.dropped} dropped by the queue{_written(output, sent)}; the server logged "
                      f"{_xruns(log) - before} cycles a client did not finish")
    finally:
        proc.terminate()
        proc.wait(timeout=5)
        log.close()


def timbre_instrument(name: str):
    from musicvae.instrument import Instrument, resolve_instrument

    if (resolve_instrument(name) / "weights.safetensors").is_file():
        return Instrument.load(name), name
    from musicvae.builders import build_model
    from musicvae.config import get_config

    config = get_config("timbre-small")
    z = config.model.z_dim
    extras = {"mean_latent.flute": torch.zeros(z), "mean_latent.guitar": torch.ones(z)}
    return Instrument(config=config, model=build_model(config).eval(), extras=extras), "untrained timbre-small"


def bench_synth(seconds: float, name: str, *, rate: int = 48000, block: int = 256, voices: int = 8) -> None:
    from musicvae.realtime.params import ParamStore
    from musicvae.realtime.synth import NoteCache, SynthEngine, timbre_note_decoder

    instrument, label = timbre_instrument(name)
    low, high = instrument.model.pitch_range
    decode = timbre_note_decoder(instrument, sample_rate=rate)
    pitches = [p for p in (60, 62, 64, 65, 67, 69, 71, 72) if low <= p <= high] or [low]

    # Latency note-on -> first audible sample. Warm: the note is in the cache.
    cache = NoteCache(decode, morph_steps=16)
    cache.warm([cache.key(pitches[0], 0.0)])  # also the model's first-call set-up: cold means cache, not process
    cold_ms = []
    for i, pitch in enumerate(pitches[:4]):
        engine = SynthEngine(cache, ParamStore(), sample_rate=rate, max_voices=voices, pitch_range=(low, high))
        engine.params.update(morph=(i + 1) / 17)
        cold_ms.append(_note_on_latency(engine, pitch, block=block, realtime=True))
    warm_ms = [_note_on_latency(SynthEngine(cache, ParamStore(), sample_rate=rate, pitch_range=(low, high)),
                                pitches[0], block=block, realtime=False) for _ in range(20)]
    cache.close()

    # Block budget: 8 voices always sounding, morph sweeping, every note decoded beforehand.
    cache = NoteCache(decode, morph_steps=16)
    started = time.perf_counter()
    cache.warm([cache.key(p, m / 16) for p in pitches for m in range(17)])
    warm_s = time.perf_counter() - started
    engine = SynthEngine(cache, ParamStore(), sample_rate=rate, max_voices=voices, pitch_range=(low, high))
    blocks = int(seconds * rate / block)
    per_note = max(1, int(0.125 * rate / block))  # a new note every ~125 ms: 8 overlapping 1-second notes
    times = np.zeros(blocks)
    sounding = np.zeros(blocks)
    for b in range(blocks):
        if b % per_note == 0:
            engine.note_on(pitches[(b // per_note) % len(pitches)], 100)
        engine.params.update(morph=b / blocks)
        t = time.perf_counter()
        engine.process(block)
        times[b] = time.perf_counter() - t
        sounding[b] = engine.voices
    deadline = block / rate * 1e3
    ms = times * 1e3
    rtf = seconds / times.sum()
    print(f"synth ({label}), {seconds:g} s at {rate} Hz, {block}-frame blocks (deadline {deadline:.2f} ms), "
          f"{voices} voices (mean {sounding[blocks // 4:].mean():.1f} sounding), morph sweep 0 -> 1:")
    print(f"  block compute  p50 {np.percentile(ms, 50):.3f} ms  p99 {np.percentile(ms, 99):.3f} ms  "
          f"p99.9 {np.percentile(ms, 99.9):.3f} ms  max {ms.max():.3f} ms;  "
          f"deadline misses {int((ms > deadline).sum())} of {blocks}")
    print(f"  realtime factor {rtf:.0f}x (RAVE v2 streaming 4.1x: {rtf / RAVE_STREAMING:.0f}x)")
    notes = len(pitches) * 17
    print(f"  model: {notes} notes decoded in {warm_s:.1f} s = {warm_s / notes * 1e3:.0f} ms per 1-s note "
          f"(decode realtime factor {notes / warm_s:.0f}x, {notes / warm_s / RAVE_STREAMING:.1f}x RAVE streaming)")
    print(f"  note-on -> first audible sample: warm p50 {np.median(warm_ms):.2f} ms (max {max(warm_ms):.2f}), "
          f"cold p50 {np.median(cold_ms):.1f} ms (max {max(cold_ms):.1f}), plus the device's buffer")


def _note_on_latency(engine, pitch: int, *, block: int, realtime: bool) -> float:
    """Milliseconds from a note-on to its first audible sample, blocks rendered at the audio clock's pace."""
    period = block / engine.sample_rate
    t0 = time.perf_counter()
    engine.note_on(pitch, 100)
    for b in range(2000):
        out = engine.process(block)
        audible = np.flatnonzero(np.abs(out) > 1e-4)
        if audible.size:
            # The block is due at the end of its period; its first audible sample plays that much into it.
            return ((b + 1) * period + audible[0] / engine.sample_rate) * 1e3 if not realtime else \
                (time.perf_counter() - t0 + audible[0] / engine.sample_rate) * 1e3
        if realtime:
            time.sleep(period)
    return float("nan")


def bench_phrase_decode(name: str = "melody-2bar", runs: int = 20) -> None:
    """Time to decode one two-bar phrase at a morph amount, against the one-bar lead the player gives it."""
    from musicvae.instrument import Instrument, resolve_instrument
    from musicvae.realtime.params import Params
    from musicvae.realtime.player import morph_decoder

    if (resolve_instrument(name) / "weights.safetensors").is_file():
        instrument, label = Instrument.load(name), name
    else:
        from musicvae.builders import build_model
        from musicvae.config import get_config

        config = get_config("2bar-small")
        instrument, label = Instrument(config=config, model=build_model(config).eval()), "untrained 2bar-small"
    steps = instrument.config.model.representation.steps
    a = np.zeros(steps, np.int64)
    a[::4] = 2 + 39
    b = np.zeros(steps, np.int64)
    b[::2] = 2 + 46
    decode = morph_decoder(instrument, a, b, seed=0)
    times = []
    for i in range(runs):
        t = time.perf_counter()
        decode(Params(morph=i / runs, temperature=0.5))
        times.append((time.perf_counter() - t) * 1e3)
    lead = 60.0 / 120.0 * 4 * 1e3
    print(f"phrase decode ({label}): p50 {np.median(times):.1f} ms, max {max(times):.1f} ms; the player asks one bar "
          f"ahead ({lead:.0f} ms at 120 BPM): {lead / max(times):.0f}x headroom")


def bench_prefetch(instrument_name: str, seconds: float = 8.0) -> None:
    """Note-ons that waited for their decode during an automated sweep, with and without prefetching."""
    import rtmidi

    from musicvae.automation import parse_morph
    from musicvae.realtime.synth_run import run_synth

    instrument, label = timbre_instrument(instrument_name)
    log = tempfile.TemporaryFile("w+")
    proc = start_jack(log, period=256)
    if proc is None:
        print("live synth prefetch: skipped (jackd not installed: apt-get install jackd2)")
        return
    import sounddevice  # imported once the server runs, so that PortAudio finds its JACK host API

    try:
        low, _ = instrument.model.pitch_range
        results = {}
        for prefetch in (True, False):
            keys = rtmidi.MidiOut(rtapi=rtmidi.API_UNIX_JACK, name="bench-keys")
            keys.open_virtual_port("out")

            def play(keys=keys) -> None:
                subprocess.run(["jack_connect", "bench-keys:out", "musicvae-in:keys"], check=True)
                for i in range(int(seconds * 10) - 10):  # eighths at 150 BPM, over the pitches of an octave
                    pitch = low + 12 + (i * 5) % 12
                    keys.send_message([0x90, pitch, 100])
                    time.sleep(0.1)
                    keys.send_message([0x80, pitch, 0])

            player = threading.Thread(target=play)
            report = run_synth(instrument, midi_in="virtual:keys", audio_api="jack", midi_api="jack",
                               automation=parse_morph("0:0,20:1"), prefetch=prefetch, duration=seconds,
                               on_ready=player.start)
            player.join()
            keys.close_port()
            keys.delete()
            results[prefetch] = report
        on, off = results[True], results[False]
        notes = int(seconds * 10) - 10
        print(f"live synth ({label}) on JACK, morph swept over 20 s, {notes} note-ons in {seconds:g} s: "
              f"{on.cold_notes} waited for their decode with prefetching ({on.notes_decoded} notes decoded, "
              f"{on.underflows} underflows), {off.cold_notes} without ({off.notes_decoded} decoded, "
              f"{off.underflows} underflows)")
    finally:
        sounddevice._terminate()  # before the server goes: PortAudio's JACK client must say goodbye to it
        proc.terminate()
        proc.wait(timeout=5)
        log.close()


def _connect(source: str, destination: str, *, alive, timeout: float = 30.0) -> bool:
    """``jack_connect`` once ``source`` exists; bounded, since the tool can wait forever for the server's notice
    of the connection (then ``jack_lsp -c`` says whether it was made)."""
    end = time.perf_counter() + timeout
    while alive() and time.perf_counter() < end:
        try:
            if subprocess.run(["jack_connect", source, destination], capture_output=True, timeout=5).returncode == 0:
                return True
        except subprocess.TimeoutExpired:
            pass
        listing = subprocess.run(["jack_lsp", "-c", source], capture_output=True, text=True, timeout=5).stdout
        if f"\n   {destination}" in listing:
            return True
        time.sleep(0.02)
    return False


def bench_stop(stops: int, instrument_name: str = "melody-2bar", *, realtime: bool = False) -> None:
    """Seconds from a SIGINT to the stop's end, for the real command and for ``run_live`` in this process."""
    import rtmidi

    from musicvae.instrument import Instrument, resolve_instrument
    from musicvae.realtime.live import build_player, parse_params, run_live
    from musicvae.realtime.midi_io import MidiOutput

    a, b = os.path.join(REPO, "examples", "folk_a.mid"), os.path.join(REPO, "examples", "folk_b.mid")
    if not (resolve_instrument(instrument_name) / "weights.safetensors").is_file():
        print(f"stop latency: skipped (no trained {instrument_name})")
        return
    log = tempfile.TemporaryFile("w+")
    proc = start_jack(log, realtime=realtime)
    if proc is None:
        print("stop latency: skipped (jackd not installed: apt-get install jackd2)")
        return
    capture = rtmidi.MidiIn(rtapi=rtmidi.API_UNIX_JACK, name="bench-stop-capture")
    capture.open_virtual_port("in")
    note_ons = [0]
    done = threading.Event()

    def read() -> None:  # polled, as MidiInput does
        while not done.is_set():
            event = capture.get_message()
            if event is None:
                time.sleep(0.0005)
            elif event[0][0] & 0xF0 == 0x90 and event[0][2] > 0:
                note_ons[0] += 1

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    rng = random.Random(0)
    try:
        # The command: a process per stop, SIGINT at a random moment once its notes are heard.
        exits, failures = [], []
        for i in range(stops):
            cli = subprocess.Popen([sys.executable, "-m", "musicvae.cli", "live", instrument_name, "--a", a, "--b", b,
                                    "--bpm", "480", "--midi-out", f"virtual:stop{i}", "--midi-api", "jack"],
                                   stderr=subprocess.PIPE, text=True, cwd=REPO)
            cli.stderr.readline()  # "playing on MIDI output ..."
            heard = note_ons[0]
            _connect(f"musicvae:stop{i}", "bench-stop-capture:in", alive=lambda cli=cli: cli.poll() is None)
            deadline = time.perf_counter() + 30
            while note_ons[0] == heard and cli.poll() is None and time.perf_counter() < deadline:
                time.sleep(0.005)
            time.sleep(rng.uniform(0.0, 0.5))
            sent = time.perf_counter()
            cli.send_signal(signal.SIGINT)
            try:
                _, err = cli.communicate(timeout=30)
                exits.append(time.perf_counter() - sent)
            except subprocess.TimeoutExpired:
                cli.kill()
                _, err = cli.communicate()
            if cli.returncode != 130:
                failures.append(f"status {cli.returncode}" + (" (no exit in 30 s: killed)" if cli.returncode == -9
                                                               else "") + f": {err.strip().splitlines()[-1:]}")
        # In this process: the stop of run_live and the port's close, without an interpreter's start or exit.
        instrument = Instrument.load(instrument_name)
        stray = signal.signal(signal.SIGINT, lambda *_: None)  # a signal between runs must not end the bench
        inside = []
        try:
            for _ in range(stops):
                params = parse_params(0.0, 0.5)
                core, _ = build_player(instrument, a=a, b=b, params=params)
                output = MidiOutput("bench-stop-capture:in", api="jack", client="bench-stop")
                sent = []
                timer = threading.Timer(rng.uniform(0.05, 0.5),
                                        lambda sent=sent: (sent.append(time.perf_counter()),
                                                           os.kill(os.getpid(), signal.SIGINT)))
                try:
                    try:
                        run_live(core, output, params, bpm=480, morph_cc=None, on_ready=timer.start)
                    finally:
                        output.close()
                except KeyboardInterrupt:
                    pass
                inside.append(time.perf_counter() - sent[0])
                timer.join()
        finally:
            signal.signal(signal.SIGINT, stray)
        server = "realtime" if realtime else "not realtime"
        print(f"stop latency after SIGINT ({instrument_name}, 480 BPM, JACK dummy server, {server}, load average "
              f"{os.getloadavg()[0]:.1f}), {stops} stops at random "
              f"moments of playing (target {STOP_TARGET_S:g} s):")
        for label, values in (("musicvae live exited", exits), ("run_live stopped, port closed", inside)):
            v = np.asarray(values)
            print(f"  {label:30s} p50 {np.median(v):.3f} s  p99 {np.percentile(v, 99):.3f} s  max {v.max():.3f} s"
                  f"  ({int((v > STOP_TARGET_S).sum())} over the target)")
        if failures:
            print(f"  {len(failures)} of {stops} processes did not exit with status 130: {failures[:3]}")
    finally:
        done.set()
        reader.join()
        capture.close_port()
        capture.delete()
        proc.terminate()
        proc.wait(timeout=5)
        log.close()


def _proc_sample(pid: int) -> tuple[float, int]:
    """(resident memory in MB, open file descriptors) of a process, from /proc."""
    with open(f"/proc/{pid}/status") as status:
        rss = next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))
    return rss / 1024.0, len(os.listdir(f"/proc/{pid}/fd"))


class Flood:
    """MIDI clock at 120 BPM, control changes and OSC messages at ``rate`` a second each, and (for a synth) a
    note every eighth, into one process's MIDI input and OSC port, until ``stop``."""

    def __init__(self, midi_port: str, osc_port: int, *, rate: float, notes: bool, client: str) -> None:
        import rtmidi
        from pythonosc.udp_client import SimpleUDPClient

        self.out = rtmidi.MidiOut(rtapi=rtmidi.API_UNIX_JACK, name=client)
        self.out.open_virtual_port("out")
        subprocess.run(["jack_connect", f"{client}:out", midi_port], check=True, timeout=10)
        self.osc = SimpleUDPClient("127.0.0.1", osc_port)
        self.rate, self.notes, self.sent = rate, notes, 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        rng = random.Random(0)
        t0 = time.perf_counter()
        pulse, tick = 60.0 / 120.0 / 24, 1.0 / self.rate
        next_pulse = next_note = t0
        self.out.send_message([0xFA])  # Start
        n = 0
        while not self.stop.is_set():
            deadline = t0 + n * tick
            while time.perf_counter() < deadline:
                time.sleep(0.0002)
            t = time.perf_counter()
            if t >= next_pulse:
                self.out.send_message([0xF8])
                next_pulse += pulse
            if self.notes and t >= next_note:
                pitch = 60 + rng.randrange(12)
                self.out.send_message([0x90, pitch, 100])
                self.out.send_message([0x80, pitch, 0])  # the key is released at once; the note's decay plays
                next_note += 0.25
            self.out.send_message([0xB0, 1, rng.randrange(128)])
            self.osc.send_message("/morph" if n % 2 else "/temperature", rng.random())
            self.sent += 2
            n += 1

    def close(self) -> None:
        self.stop.set()
        self.thread.join()
        self.out.send_message([0xFC])
        self.out.close_port()
        self.out.delete()


def _free_udp_port() -> int:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _start_cli(args: list[str], port: str):
    """A ``musicvae`` process listening for OSC on a free port; returns (process, the JACK name of its MIDI
    input ``port`` once it exists, the OSC port)."""
    osc = _free_udp_port()
    proc = subprocess.Popen([sys.executable, "-m", "musicvae.cli", *args, "--osc-port", str(osc)],
                            stderr=subprocess.PIPE, text=True, cwd=REPO)
    proc.lines = []
    threading.Thread(target=lambda: proc.lines.extend(proc.stderr), daemon=True).start()
    deadline = time.perf_counter() + 120
    while time.perf_counter() < deadline and proc.poll() is None:
        ports = subprocess.run(["jack_lsp"], capture_output=True, text=True, timeout=10).stdout.split()
        hits = [p for p in ports if p.endswith(f":{port}")]
        if hits:
            time.sleep(1.0)  # the OSC server opens beside the port
            return proc, hits[0], osc
        time.sleep(0.1)
    raise RuntimeError(f"{args[0]} never opened {port}: {''.join(proc.lines)[-500:]}")


def bench_soak(seconds: float, melody: str, timbre: str, *, rate: float = 1000.0) -> None:
    """``live`` (following MIDI clock) and ``synth`` (playing notes) for ``seconds`` under a flood of control
    changes and OSC messages: their memory and open descriptors, sampled from /proc, first minute against the
    rest."""
    a, b = os.path.join(REPO, "examples", "folk_a.mid"), os.path.join(REPO, "examples", "folk_b.mid")
    log = tempfile.TemporaryFile("w+")
    proc = start_jack(log, period=256)
    if proc is None:
        print("soak: skipped (jackd not installed: apt-get install jackd2)")
        return
    runs, floods = {}, []
    try:
        runs["live"] = _start_cli(["live", melody, "--a", a, "--b", b, "--clock", "midi", "--midi-in",
                                   "virtual:soak-live", "--midi-out", "virtual:soak-out", "--midi-api", "jack",
                                   "--temperature", "0.5"], "soak-live")
        runs["synth"] = _start_cli(["synth", timbre, "--midi-in", "virtual:soak-synth", "--audio-api", "jack",
                                    "--midi-api", "jack"], "soak-synth")
        for name, (_, port, osc) in runs.items():
            floods.append(Flood(port, osc, rate=rate, notes=name == "synth", client=f"soak-flood-{name}"))
        for flood in floods:
            flood.thread.start()
        samples = {name: [] for name in runs}
        t0 = time.perf_counter()
        while time.perf_counter() - t0 < seconds:
            for name, (cli, _, _) in runs.items():
                if cli.poll() is None:
                    samples[name].append((time.perf_counter() - t0, *_proc_sample(cli.pid)))
            time.sleep(5.0)
        for flood in floods:
            flood.close()
        statuses = {}
        for name, (cli, _, _) in runs.items():
            cli.send_signal(signal.SIGINT)
            try:
                statuses[name] = cli.wait(timeout=30)
            except subprocess.TimeoutExpired:
                cli.kill()
                statuses[name] = "hung (killed)"
        sent = sum(flood.sent for flood in floods)
        print(f"soak, {seconds / 60:g} min: live ({melody}, MIDI clock in) and synth ({timbre}, a note every 8th) "
              f"under {rate:g} control changes + {rate:g} OSC messages a second each ({sent} in all):")
        for name, rows in samples.items():
            v = np.asarray(rows)
            warm = v[v[:, 0] >= min(60.0, seconds / 3)]
            slope = np.polyfit(warm[:, 0] / 60.0, warm[:, 1], 1)[0] if len(warm) > 2 else float("nan")
            print(f"  {name:5s} RSS {warm[0, 1]:.1f} MB after {warm[0, 0]:.0f} s -> {v[-1, 1]:.1f} MB at "
                  f"{v[-1, 0]:.0f} s (max {v[:, 1].max():.1f}; trend {slope:+.2f} MB/min after the first minute);"
                  f" open descriptors {int(v[:, 2].min())}..{int(v[:, 2].max())}; exit status {statuses[name]}")
            cli = runs[name][0]
            time.sleep(0.2)
            last = [line.strip() for line in cli.lines if line.strip() and not line.startswith("musicvae:")][-1:]
            print(f"        its summary: {last[0] if last else '(none)'}")
    finally:
        for cli, _, _ in runs.values():
            if cli.poll() is None:
                cli.kill()
        proc.terminate()
        proc.wait(timeout=5)
        log.close()


SECTIONS = ("midi", "decode", "synth", "prefetch", "stop", "soak")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="length of each measurement (default 60)")
    parser.add_argument("--instrument", default="flute-guitar")
    parser.add_argument("--skip-midi", action="store_true")
    parser.add_argument("--stops", type=int, default=100, help="stops measured for the stop latency (default 100)")
    parser.add_argument("--notes", type=int, default=10_000,
                        help="note-ons counted sent against received, per path (default 10000; 0 skips)")
    parser.add_argument("--soak", type=float, default=600.0, help="seconds of the live + synth soak (default 600)")
    parser.add_argument("--only", default=",".join(SECTIONS),
                        help=f"comma-separated sections to run (default all: {','.join(SECTIONS)})")
    parser.add_argument("--paths", default="rtmidi,jack", help="MIDI paths measured (default rtmidi,jack)")
    parser.add_argument("--realtime", choices=("auto", "yes", "no"), default="auto",
                        help="MIDI and stop sections: run the JACK server realtime (-R); auto = where this "
                             "machine allows SCHED_FIFO (default)")
    parser.add_argument("--serve-capture", nargs=2, metavar=("NAME", "FILE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_capture:
        serve_capture(*args.serve_capture)
        return
    only = set(args.only.split(","))
    torch.set_num_threads(1)
    realtime = realtime_allowed() if args.realtime == "auto" else args.realtime == "yes"
    if "midi" in only and not args.skip_midi:
        bench_midi(args.seconds, args.notes, paths=tuple(args.paths.split(",")), realtime=realtime)
    if "decode" in only:
        bench_phrase_decode()
    if "synth" in only:
        bench_synth(args.seconds, args.instrument)
    if "prefetch" in only:
        bench_prefetch(args.instrument)
    if "soak" in only and args.soak > 0:
        bench_soak(args.soak, "melody-2bar", args.instrument)
    if "stop" in only:
        bench_stop(args.stops, realtime=realtime)


if __name__ == "__main__":
    sys.exit(main())
