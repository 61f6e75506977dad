"""The blended-timbre synth engine core: polyphonic voices over notes the timbre VAE decoded.

:class:`SynthEngine` is I/O-free: ``process(frames)`` returns the next mono
block. Its hot path allocates no arrays (voice state is preallocated; numpy
works in place on views), and it never runs the model: a note-on looks up the
decoded note for (pitch, quantised morph) in a :class:`NoteCache`, whose worker
thread decodes misses off the audio thread; a voice whose note is still
decoding starts when it arrives. Events carry an absolute frame, so the output
does not depend on the block size (live events without a frame apply at the
next block).
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable

import numpy as np

from musicvae.errors import InputError
from musicvae.realtime.params import ParamStore
from musicvae.realtime.stopping import WORKER_JOIN, join, track_worker

_ON, _OFF, _ALL_OFF, _SUSTAIN = 0, 1, 2, 3
NoteKey = tuple[int, int]
#: Morph amounts are rounded to 1 / MORPH_STEPS for the note cache, live and offline (:mod:`musicvae.render`).
MORPH_STEPS = 16


class NoteCache:
    """Decoded notes keyed by (pitch, morph step), decoded on a worker thread.

    Parameters
    ----------
    decode : callable(pitch: int, amount: float) -> np.ndarray [n] float32
        Decodes one note at the engine's sample rate.
    morph_steps : int, keyword-only
        Morph amounts are rounded to ``1 / morph_steps`` (the cache key), so a
        moving control reuses a bounded set of notes.
    blocking : bool, keyword-only
        Decode misses synchronously in :meth:`get` (offline rendering: exact and repeatable).
    """

    def __init__(self, decode: Callable[[int, float], np.ndarray], *, morph_steps: int = MORPH_STEPS,
                 blocking: bool = False) -> None:
        self.decode, self.morph_steps, self.blocking = decode, morph_steps, blocking
        self._notes: dict[NoteKey, np.ndarray] = {}
        self._pending: set[NoteKey] = set()  # queued or decoding
        # Two queues: notes a key asked for go first; prefetched ones wait behind them and are
        # dropped when a newer prefetch replaces them (the morph moved on before they were needed).
        self._urgent: deque[NoteKey] = deque()
        self._background: deque[NoteKey] = deque()
        self._wake = threading.Condition()
        self._closing = False
        self.decoded = 0
        self.errors: list[str] = []
        self._thread: threading.Thread | None = None

    def key(self, pitch: int, morph: float) -> NoteKey:
        return int(pitch), int(round(morph * self.morph_steps))

    def get(self, key: NoteKey) -> np.ndarray | None:
        """The decoded note, or None (after queueing its decode first in line) if it is not ready."""
        note = self._notes.get(key)
        if note is not None:
            return note
        if self.blocking:
            self._decode(key)
            return self._notes.get(key)
        if key in self._pending and key not in self._background:
            return None  # already first in line or decoding: no lock on the audio thread's every block
        with self._wake:
            if key in self._background:  # prefetched but not reached yet: a key wants it now
                self._background.remove(key)
                self._urgent.append(key)
            elif key not in self._pending:
                self._pending.add(key)
                self._urgent.append(key)
            self._start_worker()
            self._wake.notify()
        return None

    def prefetch(self, keys) -> int:
        """Queue ``keys`` behind what keys asked for, replacing an earlier prefetch; never blocks.

        A performer moving the morph to a new step would otherwise wait for the
        first note-on of every pitch there (a cold note starts late).

        Returns
        -------
        int
            How many of ``keys`` were neither decoded nor queued already.
        """
        with self._wake:
            self._pending.difference_update(self._background)
            self._background.clear()
            for key in keys:
                if key not in self._notes and key not in self._pending:
                    self._pending.add(key)
                    self._background.append(key)
            self._start_worker()
            self._wake.notify()
            return len(self._background)

    def _start_worker(self) -> None:
        if self._thread is None and not self._closing:
            self._thread = track_worker(threading.Thread(target=self._run, name="note-decoder", daemon=True))
            self._thread.start()

    def warm(self, keys, *, stop: threading.Event | None = None) -> bool:
        """Decode ``keys`` now (before playing), so that their first note-on is warm.

        Returns False, having stopped after the note in hand, once ``stop`` is set (a Ctrl-C while
        a real instrument decodes its range takes effect within one note, not after the range).
        """
        for key in keys:
            if stop is not None and stop.is_set():
                return False
            if key not in self._notes:
                self._decode(key)
        return True

    def _decode(self, key: NoteKey) -> None:
        try:
            note = np.ascontiguousarray(self.decode(key[0], key[1] / self.morph_steps), dtype=np.float32)
        except Exception as error:  # noqa: BLE001 - a failed note stays silent; the synth plays on
            self.errors.append(f"pitch {key[0]}: {type(error).__name__}: {error}")
            note = np.zeros(0, np.float32)
        self._notes[key] = note
        self.decoded += 1

    def _run(self) -> None:
        while True:
            with self._wake:
                while not (self._urgent or self._background or self._closing):
                    self._wake.wait()
                if self._closing:
                    return
                key = self._urgent.popleft() if self._urgent else self._background.popleft()
            self._decode(key)
            with self._wake:
                self._pending.discard(key)

    def close(self, timeout: float = WORKER_JOIN) -> bool:
        """Drop what is queued and stop the worker after the note it is decoding (at most ``timeout``
        seconds: see :mod:`musicvae.realtime.stopping`). Returns whether the worker ended."""
        with self._wake:
            self._closing = True
            self._urgent.clear()
            self._background.clear()
            self._wake.notify()
        return join(self._thread, timeout)


def prefetch_keys(previous: int | None, current: int, *, pitches: range, morph_steps: int) -> list[NoteKey]:
    """The notes to decode ahead when the morph moved from step ``previous`` to ``current``.

    Every pitch at the current step, then every pitch at the next step in the
    direction of the move (where a sweep or a turning knob is heading), if
    there is one.
    """
    steps = [current]
    if previous is not None and previous != current:
        ahead = current + (1 if current > previous else -1)
        if 0 <= ahead <= morph_steps:
            steps.append(ahead)
    return [(pitch, step) for step in steps for pitch in pitches]


class SynthEngine:
    """Polyphonic playback of decoded notes with release, morph crossfades and voice stealing.

    Parameters
    ----------
    cache : NoteCache
    params : ParamStore
        ``morph`` is read at each block: new notes take it, sounding notes crossfade to it.
    sample_rate : int, keyword-only
        Of the notes the cache returns and of the output.
    max_voices : int, keyword-only
        Polyphony; a note-on beyond it steals the voice releasing longest, else the oldest.
        The stolen note is not cut: its next ``steal_fade`` seconds fade out under the new one.
    max_block : int, keyword-only
        Largest ``frames`` one :meth:`process` call renders (buffers are preallocated to it).
    release, crossfade, steal_fade : float, keyword-only
        Seconds of the linear fade after a note-off, of a morph crossfade, and of a stolen voice's fade
        (at most ``max_block`` frames).
    gain : float, keyword-only
        Output gain at velocity 127; a note plays at ``gain * velocity / 127`` (notes add up).
    pitch_range : (int, int), keyword-only
        Notes outside are ignored (counted in ``rejected``).
    clip : bool, keyword-only
        Clip each block to -1..1 (what a live output needs). Offline renders pass False and set the
        level of the whole file instead (:func:`musicvae.render.fit_level`), so that no file is clipped.
    """

    def __init__(self, cache: NoteCache, params: ParamStore, *, sample_rate: int, max_voices: int = 8,
                 max_block: int = 4096, release: float = 0.05, crossfade: float = 0.03, steal_fade: float = 0.005,
                 gain: float = 0.5, pitch_range: tuple[int, int] = (0, 127), clip: bool = True) -> None:
        if max_voices < 1:
            raise InputError(f"polyphony must be at least 1 voice, got {max_voices}")
        self.cache, self.params, self.sample_rate = cache, params, int(sample_rate)
        self.max_voices, self.max_block, self.gain, self.pitch_range = max_voices, max_block, gain, pitch_range
        self.clip = clip
        self.release_frames = max(1, int(round(release * sample_rate)))
        self.crossfade_frames = max(1, int(round(crossfade * sample_rate)))
        self.steal_frames = min(max_block, max(1, int(round(steal_fade * sample_rate))))
        self.frame = 0  # frames rendered so far: the time base of scheduled events
        self.events: deque = deque()
        n = max_voices
        self.active = [False] * n
        self.pitch = [-1] * n
        self.key: list[NoteKey | None] = [None] * n
        self.buffer: list[np.ndarray | None] = [None] * n  # None while its note is decoding
        self.position = [0] * n
        self.level = [0.0] * n
        self.released = [-1] * n  # frames into the release, -1 while held
        self.started = [0] * n
        self.target: list[np.ndarray | None] = [None] * n  # the note a morph crossfade goes to
        self.target_key: list[NoteKey | None] = [None] * n
        self.faded = [0] * n
        self.pedal = False  # sustain pedal (CC 64) down: note-offs wait for it to come up
        self.pedalled = [False] * n  # voices whose key is up but the pedal holds
        self._out = np.zeros(max_block, np.float32)
        self._tmp = np.zeros(max_block, np.float32)
        self._env = np.zeros(max_block, np.float32)
        self._ramp = np.arange(max_block, dtype=np.float32)
        # Stolen voices fade out through a ring of steal_frames samples that later blocks drain into the output;
        # cutting them would click (a step of up to the note's full level).
        self._steal_fade = (1.0 - (np.arange(self.steal_frames, dtype=np.float32) + 0.5) / self.steal_frames)
        self._steal_scratch = np.zeros(self.steal_frames, np.float32)
        self._tail = np.zeros(self.steal_frames, np.float32)
        self._tail_read = 0
        self._tail_pending = 0
        self.rejected = 0
        self.stolen = 0
        self.cold = 0  # note-ons whose note was still to be decoded: they start late

    # -- events (any thread) --------------------------------------------------

    def note_on(self, pitch: int, velocity: int = 100, *, frame: int | None = None) -> None:
        """Start a note at absolute ``frame`` (None = the next block). Velocity 0 is a note-off."""
        if velocity <= 0:
            self.note_off(pitch, frame=frame)
            return
        self.events.append((-1 if frame is None else frame, _ON, int(pitch), int(velocity)))

    def note_off(self, pitch: int, *, frame: int | None = None) -> None:
        self.events.append((-1 if frame is None else frame, _OFF, int(pitch), 0))

    def all_notes_off(self, *, frame: int | None = None) -> None:
        """Release every voice, pedal or not, and lift the pedal (MIDI CC 123, a stop, a lost port)."""
        self.events.append((-1 if frame is None else frame, _ALL_OFF, 0, 0))

    def sustain(self, down: bool, *, frame: int | None = None) -> None:
        """Sustain pedal: while down, released keys keep sounding; lifting it releases them."""
        self.events.append((-1 if frame is None else frame, _SUSTAIN, 0, int(bool(down))))

    def handle_midi(self, message: list[int]) -> bool:
        """Apply a note-on/off, sustain pedal (CC 64) or All Notes Off / All Sound Off message.

        Returns
        -------
        bool
            Whether the message was one of those.
        """
        if len(message) < 3:
            return False
        status = message[0] & 0xF0
        if status == 0x90:
            self.note_on(message[1], message[2])
        elif status == 0x80:
            self.note_off(message[1])
        elif status == 0xB0 and message[1] == 64:
            self.sustain(message[2] >= 64)  # MIDI: 64..127 is down
        elif status == 0xB0 and message[1] in (120, 123):
            self.all_notes_off()
        else:
            return False
        return True

    # -- audio thread ---------------------------------------------------------

    def process(self, frames: int) -> np.ndarray:
        """Render the next ``frames`` samples -> float32 [frames], a view of a buffer reused by the next call."""
        if not 0 < frames <= self.max_block:
            raise InputError(f"a block holds 1..{self.max_block} frames, got {frames}")
        out = self._out[:frames]
        out.fill(0.0)
        self._follow_morph()
        end = self.frame + frames
        done = 0
        while self.events and self.events[0][0] < end:
            at, kind, pitch, velocity = self.events.popleft()
            offset = max(done, at - self.frame)
            if offset > done:
                self._render(out, done, offset)
                done = offset
            self._apply(kind, pitch, velocity)
        self._render(out, done, frames)
        if self.clip:
            np.clip(out, -1.0, 1.0, out=out)
        self.frame = end
        return out

    def _apply(self, kind: int, pitch: int, velocity: int) -> None:
        if kind == _ON:
            low, high = self.pitch_range
            if not low <= pitch <= high:
                self.rejected += 1
                return
            self._start(pitch, velocity)
        elif kind == _OFF:
            for i in range(self.max_voices):
                if self.active[i] and self.pitch[i] == pitch and self.released[i] < 0:
                    if self.pedal:
                        self.pedalled[i] = True
                    else:
                        self._release(i)
        elif kind == _SUSTAIN:
            self.pedal = bool(velocity)
            if not self.pedal:
                for i in range(self.max_voices):
                    if self.pedalled[i] and self.active[i] and self.released[i] < 0:
                        self._release(i)
                    self.pedalled[i] = False
        else:
            self.pedal = False
            for i in range(self.max_voices):
                self.pedalled[i] = False
                if self.active[i] and self.released[i] < 0:
                    self._release(i)

    def _release(self, i: int) -> None:
        if self.buffer[i] is None:  # never sounded: nothing to fade
            self.active[i] = False
        else:
            self.released[i] = 0

    def _start(self, pitch: int, velocity: int) -> None:
        i = self._free_voice()
        if self.active[i]:
            self._fade_out(i)
        key = self.cache.key(pitch, self.params.snapshot.morph)
        self.active[i], self.pitch[i], self.key[i], self.pedalled[i] = True, pitch, key, False
        self.buffer[i] = self.cache.get(key)
        if self.buffer[i] is None:
            self.cold += 1
        self.position[i], self.released[i], self.started[i] = 0, -1, self.frame
        self.level[i] = self.gain * velocity / 127.0
        self.target[i], self.target_key[i], self.faded[i] = None, None, 0

    def _free_voice(self) -> int:
        for i in range(self.max_voices):
            if not self.active[i]:
                return i
        self.stolen += 1
        releasing = [i for i in range(self.max_voices) if self.released[i] >= 0]
        if releasing:
            return max(releasing, key=lambda i: self.released[i])
        return min(range(self.max_voices), key=lambda i: self.started[i])

    def _follow_morph(self) -> None:
        """Point held voices at the current morph step; a crossfade starts once its note is decoded."""
        morph = self.params.snapshot.morph
        for i in range(self.max_voices):
            if not self.active[i] or self.released[i] >= 0:
                continue
            if self.buffer[i] is None:  # still decoding: it will sound at the morph it was played with
                self.buffer[i] = self.cache.get(self.key[i])
                continue
            if self.target[i] is None:
                key = self.cache.key(self.pitch[i], morph)
                if key != self.key[i]:
                    note = self.cache.get(key)
                    if note is not None and len(note) >= len(self.buffer[i]):
                        self.target[i], self.target_key[i], self.faded[i] = note, key, 0

    def _fade_out(self, i: int) -> None:
        """Move the next ``steal_frames`` of voice ``i`` (a stolen one), faded to silence, into the tail ring."""
        if self.buffer[i] is None:  # never sounded: nothing to fade
            return
        scratch = self._steal_scratch
        scratch.fill(0.0)
        self._render_voice(i, scratch, 0, self.steal_frames)
        scratch *= self._steal_fade
        # Add at the ring's read point, wrapping; what an earlier steal left pending adds up with it.
        n, r = self.steal_frames, self._tail_read
        self._tail[r:] += scratch[: n - r]
        self._tail[:r] += scratch[n - r :]
        self._tail_pending = n

    def _drain_tail(self, out: np.ndarray, start: int, stop: int) -> None:
        """Add the pending stolen-voice fades to ``out[start:stop]`` and clear what was used."""
        n = min(stop - start, self._tail_pending)
        while n > 0:
            r = self._tail_read
            k = min(n, self.steal_frames - r)
            out[start : start + k] += self._tail[r : r + k]
            self._tail[r : r + k] = 0.0
            self._tail_read = (r + k) % self.steal_frames
            self._tail_pending -= k
            start, n = start + k, n - k

    def _render(self, out: np.ndarray, start: int, stop: int) -> None:
        if stop <= start:
            return
        if self._tail_pending:
            self._drain_tail(out, start, stop)
        for i in range(self.max_voices):
            if self.active[i] and self.buffer[i] is not None:
                self._render_voice(i, out, start, stop)

    def _render_voice(self, i: int, out: np.ndarray, start: int, stop: int) -> None:
        note, pos = self.buffer[i], self.position[i]
        k = min(stop - start, len(note) - pos)
        if k <= 0:
            self.active[i] = False
            return
        tmp = self._tmp[:k]
        target = self.target[i]
        if target is not None:
            # Equal-gain crossfade from the old morph's note to the new one at the same position.
            mix = self._env[:k]
            np.add(self._ramp[:k], self.faded[i], out=mix)
            mix *= 1.0 / self.crossfade_frames
            np.minimum(mix, 1.0, out=mix)
            np.subtract(target[pos : pos + k], note[pos : pos + k], out=tmp)
            tmp *= mix
            tmp += note[pos : pos + k]
            self.faded[i] += k
            if self.faded[i] >= self.crossfade_frames:
                self.buffer[i], self.key[i], self.target[i] = target, self.target_key[i], None
        else:
            np.copyto(tmp, note[pos : pos + k])
        if self.released[i] >= 0:
            env = self._env[:k]
            np.add(self._ramp[:k], self.released[i], out=env)
            env *= -1.0 / self.release_frames
            env += 1.0
            np.maximum(env, 0.0, out=env)
            tmp *= env
            self.released[i] += k
            if self.released[i] >= self.release_frames:
                self.active[i] = False
        tmp *= self.level[i]
        out[start : start + k] += tmp
        self.position[i] = pos + k
        if pos + k >= len(note):
            self.active[i] = False

    @property
    def voices(self) -> int:
        """Voices sounding or waiting for their note."""
        return sum(self.active)


def timbre_note_decoder(instrument, *, sample_rate: int | None = None, source: str = "flute",
                        target: str = "guitar", method: str = "slerp", velocity: int = 100,
                        iters: int | None = None) -> Callable[[int, float], np.ndarray]:
    """A :class:`NoteCache` decode function for a timbre instrument: (pitch, amount) -> note [n] float32.

    The latent is ``amount`` of the way from ``source``'s to ``target``'s mean
    latent (:func:`musicvae.blend.mix_latent`), decoded with :func:`musicvae.blend.decode`
    at the instrument's rate and resampled to ``sample_rate`` (the output's) when they differ.
    """
    from math import gcd

    from musicvae import blend

    za, zb = blend.family_latent(instrument, source), blend.family_latent(instrument, target)
    rate = blend.sample_rate(instrument)
    out_rate = rate if sample_rate is None else int(sample_rate)
    g = gcd(rate, out_rate)

    def decode(pitch: int, amount: float) -> np.ndarray:
        z = blend.mix_latent(za, zb, float(amount), method=method)
        note = blend.decode(instrument, z[None], pitch, velocity, iters=iters)[0]
        if out_rate != rate:
            from scipy.signal import resample_poly

            note = resample_poly(note, out_rate // g, rate // g)
        return note.astype(np.float32)

    return decode
