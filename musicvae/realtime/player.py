"""The live melody engine core: two-bar phrases on a step clock, decoded ahead on a background thread.

:class:`MelodyPlayer` loops phrases decoded from the latent ``morph`` of the
way from A to B (slerp); :class:`CallAndResponse` listens to two bars and
answers with a variation. Both are I/O-free: ``step(n)`` returns the MIDI
messages (lists of ints) due at step ``n`` and a driver sends them on time.
The clock never waits for the model: a phrase that is not decoded by the bar
that needs it is replaced by the previous one (held), counted in ``held``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import numpy as np

from musicvae.errors import InputError
from musicvae.midi import melody as codec
from musicvae.realtime.params import Params, ParamStore
from musicvae.realtime.stopping import WORKER_JOIN, join, track_worker

NOTE_ON, NOTE_OFF, CONTROL_CHANGE = 0x90, 0x80, 0xB0
ALL_NOTES_OFF_CC = 123

Message = list[int]


class PhraseDecoder:
    """Runs decode jobs on one background thread; the newest finished result is taken with :meth:`poll`.

    A new request replaces a queued one that has not started: only the newest
    parameters matter, so a slow model never builds a backlog. Nothing here
    blocks the clock: a request only swaps the waiting job under a lock that
    the worker never holds while decoding.
    """

    def __init__(self) -> None:
        self._wake = threading.Condition()
        self._job: tuple[int, Callable[[], np.ndarray]] | None = None
        self._closing = False
        self._lock = threading.Lock()
        self._result: tuple[int, np.ndarray] | None = None
        self.errors: list[str] = []
        self._thread = track_worker(threading.Thread(target=self._run, name="phrase-decoder", daemon=True))
        self._thread.start()

    def request(self, tag: int, job: Callable[[], np.ndarray]) -> None:
        """Queue ``job`` (returns events [T]) under ``tag``; drops a queued job that has not started."""
        with self._wake:
            self._job = (tag, job)
            self._wake.notify()

    def poll(self, tag: int) -> np.ndarray | None:
        """The newest finished result tagged ``tag`` or earlier (taken once), else None.

        Earlier tags count: a decode that missed its own phrase still brings fresh music to the next.
        """
        with self._lock:
            if self._result is not None and self._result[0] <= tag:
                result, self._result = self._result[1], None
                return result
        return None

    def ready(self, tag: int) -> bool:
        """Whether :meth:`poll` would return a result for ``tag`` now (without taking it)."""
        with self._lock:
            return self._result is not None and self._result[0] <= tag

    def _run(self) -> None:
        while True:
            with self._wake:
                while self._job is None and not self._closing:
                    self._wake.wait()
                if self._closing:
                    return
                (tag, job), self._job = self._job, None
            try:
                result = np.asarray(job())
            except Exception as error:  # noqa: BLE001 - a failed decode holds the phrase, never kills the clock
                self.errors.append(f"{type(error).__name__}: {error}")
                continue
            with self._lock:
                self._result = (tag, result)

    def close(self, timeout: float = WORKER_JOIN) -> bool:
        """Drop the queued job and stop the worker; a decode in flight gets ``timeout`` seconds to finish
        (a daemon thread still inside torch when the interpreter exits would abort it). Returns whether
        the worker ended."""
        with self._wake:
            self._closing, self._job = True, None
            self._wake.notify()
        return join(self._thread, timeout)


class NoteTracker:
    """Sounding notes of one monophonic line; turns event classes into note-on/off messages."""

    def __init__(self, *, channel: int = 0, velocity: int = 90, min_pitch: int = 21) -> None:
        if not 0 <= channel <= 15:
            raise InputError(f"MIDI channel must lie in 1..16, got {channel + 1}")
        self.channel, self.velocity, self.min_pitch = channel, velocity, min_pitch
        self.sounding: set[int] = set()
        self.channels_used: set[int] = {channel}

    def event(self, value: int, out: list[Message]) -> None:
        """Apply one event class (NO_EVENT, NOTE_OFF or a pitch class) at the current step."""
        if value == codec.NO_EVENT:
            return
        self.release(out)
        if value >= codec.FIRST_PITCH_CLASS:
            self.start(int(value) - codec.FIRST_PITCH_CLASS + self.min_pitch, out)

    def start(self, pitch: int, out: list[Message]) -> None:
        out.append([NOTE_ON | self.channel, pitch, self.velocity])
        self.sounding.add(pitch)

    def release(self, out: list[Message]) -> None:
        # Note-offs first: a repeated pitch must end before it restarts.
        for pitch in sorted(self.sounding):
            out.append([NOTE_OFF | self.channel, pitch, 0])
        self.sounding.clear()

    def all_notes_off(self) -> list[Message]:
        """A note-off for every sounding note, then CC 123 (All Notes Off) on every channel used."""
        out: list[Message] = []
        self.release(out)
        out += [[CONTROL_CHANGE | ch, ALL_NOTES_OFF_CC, 0] for ch in sorted(self.channels_used)]
        return out


def sounding_at(events: np.ndarray, step: int) -> int:
    """The event class of the note sounding at ``step`` (its onset may be earlier), or NO_EVENT."""
    for value in events[step::-1]:
        if value != codec.NO_EVENT:
            return int(value) if value >= codec.FIRST_PITCH_CLASS else codec.NO_EVENT
    return codec.NO_EVENT


class MelodyPlayer:
    """Loops two-bar phrases decoded at the current morph amount.

    Parameters
    ----------
    decode_phrase : callable(Params) -> np.ndarray [steps], or callable(Params, int) with ``windows``
        Decodes one phrase (event classes) for a parameter snapshot; runs on the decode thread.
    params : ParamStore
        Read when a decode is requested.
    steps : int, keyword-only
        Steps per phrase (32 = two bars of 16ths).
    lead_steps : int, keyword-only
        How many steps before a phrase starts its decode is requested (16 = one bar ahead).
    channel, velocity, min_pitch : int, keyword-only
        MIDI channel (0-based), note velocity, and the pitch of the first pitch class.
    windows : int, keyword-only
        Phrases of a whole tune: above 1, phrase ``n`` plays the tune's window ``n % windows``
        (``decode_phrase`` is given that window), so the player loops the whole tune.
    """

    def __init__(self, decode_phrase: Callable[..., np.ndarray], params: ParamStore, *, steps: int = 32,
                 lead_steps: int = 16, channel: int = 0, velocity: int = 90, min_pitch: int = 21,
                 windows: int = 1) -> None:
        if windows < 1:
            raise InputError(f"windows must be at least 1, got {windows}")
        self.decode_phrase, self.params, self.windows = decode_phrase, params, windows
        self.steps, self.lead_steps = steps, max(1, min(lead_steps, steps))
        self.notes = NoteTracker(channel=channel, velocity=velocity, min_pitch=min_pitch)
        self.decoder = PhraseDecoder()
        self.phrase: np.ndarray | None = None
        self.phrase_index = -1
        self._requested = -1
        self.held = 0  # phrases repeated because their decode was late
        self.played = 0

    def prepare(self, index: int = 0) -> None:
        """Decode phrase ``index`` (the first, by default) synchronously, before the clock starts."""
        self.phrase = np.asarray(self._decode(self.params.snapshot, index))

    def _decode(self, snapshot: Params, index: int) -> np.ndarray:
        if self.windows == 1:
            return self.decode_phrase(snapshot)
        return self.decode_phrase(snapshot, index % self.windows)

    def step(self, n: int) -> list[Message]:
        """Messages due at step ``n`` (steps count from the song start; they may jump on Song Position)."""
        out: list[Message] = []
        index, s = divmod(n, self.steps)
        if index != self.phrase_index:
            self._enter_phrase(index, out)
        if s >= self.steps - self.lead_steps and self._requested != index + 1:  # once per phrase, jumps included
            self._request(index + 1)
        if self.phrase is not None:
            self.notes.event(int(self.phrase[s]), out)
        return out

    def _enter_phrase(self, index: int, out: list[Message]) -> None:
        fresh = self.decoder.poll(index)
        if fresh is not None:
            self.phrase = fresh
        elif self.phrase is None:  # prepare() was not called: decode now rather than play nothing forever
            self.prepare(index)
        elif self.phrase_index >= 0:
            self.held += 1
        self.phrase_index = index
        self.played += 1
        # A phrase starts clean: a note held over the loop point would otherwise sound into a rest.
        self.notes.release(out)

    def _request(self, index: int) -> None:
        snapshot = self.params.snapshot
        self.decoder.request(index, lambda: self._decode(snapshot, index))
        self._requested = index

    def all_notes_off(self) -> list[Message]:
        return self.notes.all_notes_off()

    def close(self, timeout: float = WORKER_JOIN) -> bool:
        return self.decoder.close(timeout)


class CallAndResponse:
    """Listens to two bars on the input, then answers with a variation; repeats.

    Even phrases listen (silent), odd phrases play the answer to the phrase
    before. The answer is decoded once the call is complete, so it joins its
    phrase at the first step after decoding finishes (a step is 125 ms at
    120 BPM; a two-bar decode takes a few ms), starting the note sounding then.

    Parameters
    ----------
    respond : callable(np.ndarray [steps], Params) -> np.ndarray [steps]
        Turns the recorded call (event classes) into the answer; runs on the decode thread.
    params : ParamStore
    steps, channel, velocity, min_pitch, max_pitch : int, keyword-only
    """

    def __init__(self, respond: Callable[[np.ndarray, Params], np.ndarray], params: ParamStore, *,
                 steps: int = 32, channel: int = 0, velocity: int = 90, min_pitch: int = 21,
                 max_pitch: int = 108) -> None:
        self.respond, self.params = respond, params
        self.steps, self.max_pitch = steps, max_pitch
        self.notes = NoteTracker(channel=channel, velocity=velocity, min_pitch=min_pitch)
        self.decoder = PhraseDecoder()
        self._lock = threading.Lock()
        self._heard: list[codec.StepNote] = []
        self._open: dict[int, int] = {}  # pitch -> onset step (global)
        self.answer: np.ndarray | None = None
        self.phrase_index = -1
        self.answers = 0

    def record(self, message: list[int], position: float) -> None:
        """Take one input message at fractional global step ``position`` (any thread)."""
        if len(message) < 3 or message[0] & 0xE0 != NOTE_OFF:  # 0x80..0x9F: note off / on
            return
        status, pitch, velocity = message[0] & 0xF0, message[1], message[2]
        step = int(round(position))
        with self._lock:
            if status == NOTE_ON and velocity > 0:
                self._close(pitch, step)
                self._open[pitch] = step
            else:
                self._close(pitch, step)

    def _close(self, pitch: int, step: int) -> None:
        start = self._open.pop(pitch, None)
        if start is not None:
            self._heard.append(codec.StepNote(pitch, start, max(step, start + 1)))

    def step(self, n: int) -> list[Message]:
        out: list[Message] = []
        index, s = divmod(n, self.steps)
        if index != self.phrase_index:
            self.phrase_index = index
            self.notes.release(out)
            self.answer = None
            if index % 2 == 1:
                self._request_answer(index)
        if index % 2 == 1:
            if self.answer is None:
                self.answer = self.decoder.poll(index)
                if self.answer is not None and s > 0:  # late join: start the note that should be sounding
                    value = sounding_at(self.answer, s)
                    self.notes.event(value, out)
                    return out
            if self.answer is not None:
                self.notes.event(int(self.answer[s]), out)
        return out

    def _request_answer(self, index: int) -> None:
        start, end = (index - 1) * self.steps, index * self.steps
        with self._lock:
            for pitch, onset in list(self._open.items()):  # notes still held at the bar line end there
                self._heard.append(codec.StepNote(pitch, onset, end))
                self._open[pitch] = end
            heard = [n for n in self._heard if start <= n.start < end]
            self._heard = [n for n in self._heard if n.start >= end]
        line, _ = codec.top_line(heard)
        line, _ = codec.clip_range(line, min_pitch=self.notes.min_pitch, max_pitch=self.max_pitch)
        if not line:
            return  # nothing was played: stay silent
        call = codec.encode(line, num_steps=self.steps, start_step=start, min_pitch=self.notes.min_pitch,
                            max_pitch=self.max_pitch)
        snapshot = self.params.snapshot
        self.decoder.request(index, lambda: self.respond(call, snapshot))
        self.answers += 1

    def all_notes_off(self) -> list[Message]:
        return self.notes.all_notes_off()

    def close(self, timeout: float = WORKER_JOIN) -> bool:
        return self.decoder.close(timeout)


# ---------------------------------------------------------------------------
# Decoding with a melody instrument
# ---------------------------------------------------------------------------


def morph_decoder(instrument, a: np.ndarray, b: np.ndarray, *, method: str = "slerp",
                  seed: int | None = None, add: np.ndarray | None = None) -> Callable[..., np.ndarray]:
    """A ``decode_phrase`` for :class:`MelodyPlayer`: the phrase ``morph`` of the way from A to B.

    Parameters
    ----------
    instrument : Instrument
        A melody instrument.
    a, b : np.ndarray [T] or [K, T]
        Event windows of A and B (see :func:`musicvae.generate.window_from_midi`), or whole tunes cut
        into K aligned windows (:func:`musicvae.generate.tune_window_pairs`).
    method : {"slerp", "lerp"}, keyword-only
    seed : int, optional, keyword-only
        Seeds temperature sampling (each phrase draws anew from one generator).
    add : np.ndarray [Z], optional, keyword-only
        Added to every code before it is decoded (attribute vectors).

    Returns
    -------
    callable(Params, window=0) -> np.ndarray [T]
        Window ``window`` of the tune at ``params.morph``; in a tune of several windows, one with no note
        in either tune stays silent, as in :func:`musicvae.generate.morph_tune`.
    """
    import torch

    from musicvae.models.latent import lerp, slerp

    a, b = np.atleast_2d(a), np.atleast_2d(b)
    count = len(a)
    verbs = instrument.verbs
    mu = torch.as_tensor(verbs.encode(np.concatenate([a, b]))[0])
    silent = codec.silent_windows(a, b)
    mix = slerp if method == "slerp" else lerp
    generator = torch.Generator().manual_seed(0 if seed is None else seed)

    def decode_phrase(params: Params, window: int = 0) -> np.ndarray:
        if count > 1 and silent[window]:
            return np.full(a.shape[1], codec.NO_EVENT, dtype=np.int64)
        z = mix(mu[window], mu[count + window], float(params.morph))[None].numpy()
        return verbs.decode(z if add is None else z + add, temperature=params.temperature, seed=generator)[0]

    return decode_phrase


def response_decoder(instrument, *, seed: int | None = None,
                     add: np.ndarray | None = None) -> Callable[[np.ndarray, Params], np.ndarray]:
    """A ``respond`` for :class:`CallAndResponse`: encode the call, decode its latent at the temperature.

    The answer keeps the call's latent mean (plus ``add`` [Z], if given); sampling at ``params.temperature``
    (and a draw from the posterior when the temperature is above 0) varies it.
    """
    import torch

    verbs = instrument.verbs
    generator = torch.Generator().manual_seed(0 if seed is None else seed)

    def respond(call: np.ndarray, params: Params) -> np.ndarray:
        mu, sigma = verbs.encode(call[None])
        z = torch.as_tensor(mu)
        if params.temperature > 0:
            z = z + params.temperature * torch.as_tensor(sigma) * torch.randn(z.shape, generator=generator)
        z = z.numpy() if add is None else z.numpy() + add
        return verbs.decode(z, temperature=params.temperature, seed=generator)[0]

    return respond
