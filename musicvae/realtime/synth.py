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

from collections import deque
from collections.abc import Callable

import numpy as np

from musicvae.audio.sustain import SustainedNote, release_start
from musicvae.errors import InputError
from musicvae.realtime.note_cache import MORPH_STEPS, NoteCache, NoteKey, prefetch_keys
from musicvae.realtime.params import ParamStore

__all__ = ["MORPH_STEPS", "NoteCache", "NoteKey", "SynthEngine", "held_note_decoder", "prefetch_keys",
           "timbre_note_decoder"]

_ON, _OFF, _ALL_OFF, _SUSTAIN = 0, 1, 2, 3


class SynthEngine:
    """Polyphonic playback of decoded notes with release, morph crossfades and voice stealing.

    A key held past its note's loop entry (a :class:`~musicvae.audio.sustain.SustainedNote`'s) loops
    the note's sustain for as long as it is held (the sustain pedal holds it too); its key-up then
    crossfades over the note's ``crossfade`` frames into the decoded release (``audio[release:]``, its start
    moved within half a period to meet the loop in phase: :func:`~musicvae.audio.sustain.release_start`), at
    the level the loop had decayed to. A key up before the entry fades out over ``release`` as ever, and
    so does every voice at an all-notes-off (a stop must end within ``release``).

    Parameters
    ----------
    cache : NoteCache
    params : ParamStore
        ``morph`` (on a pad's cache, ``x`` and ``y``: :meth:`NoteCache.point`) is read at each block: new notes
        take it, sounding notes crossfade to it.
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
        self.buffer: list[SustainedNote | None] = [None] * n  # None while its note is decoding
        self.position = [0] * n
        self.level = [0.0] * n
        self.released = [-1] * n  # frames into the release, -1 while held
        self.started = [0] * n
        self.target: list[SustainedNote | None] = [None] * n  # the note a morph crossfade goes to
        self.looped = [False] * n  # held past its note's loop entry: it plays the loop until it ends
        self.tail = [-1] * n  # frames into the decoded release of a note let go while looping, else -1
        self.tail_gain = [1.0] * n  # the loop's decay gain when it was let go
        self.tail_from = [0] * n  # the frame of its note its release is read from (release_start)
        self.target_key: list[NoteKey | None] = [None] * n
        self.faded = [0] * n
        self.pedal = False  # sustain pedal (CC 64) down: note-offs wait for it to come up
        self.pedalled = [False] * n  # voices whose key is up but the pedal holds
        self._out = np.zeros(max_block, np.float32)
        self._tmp = np.zeros(max_block, np.float32)
        self._env = np.zeros(max_block, np.float32)
        self._other = np.zeros(max_block, np.float32)  # the crossfade's other note
        self._decay = np.zeros(max_block, np.float32)
        self._third = np.zeros(max_block, np.float32)  # a morph target's loop under a release crossfade
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
            # All notes off (a stop, a lost port, CC 123): the short fade, never a decoded release, so that
            # a stop ends every voice within ``release`` whatever it was holding.
            self.pedal = False
            for i in range(self.max_voices):
                self.pedalled[i] = False
                if self.active[i] and self.released[i] < 0:
                    self._release(i, natural=False)

    def _release(self, i: int, *, natural: bool = True) -> None:
        note = self.buffer[i]
        if note is None:  # never sounded: nothing to fade
            self.active[i] = False
        elif natural and self.looped[i]:
            # Held into the loop: the note's own release follows, crossfaded from the loop.
            # A morph crossfade under way goes on in the loop's share of the release crossfade.
            self.tail[i], self.tail_gain[i] = 0, float(np.exp(note.decay * (self.position[i] - note.entry)))
            self.tail_from[i] = release_start(note, self.position[i])
            self.released[i] = 0
        else:
            self.released[i] = 0

    def _start(self, pitch: int, velocity: int) -> None:
        i = self._free_voice()
        if self.active[i]:
            self._fade_out(i)
        key = self.cache.key(pitch, self.cache.point(self.params.snapshot))
        self.active[i], self.pitch[i], self.key[i], self.pedalled[i] = True, pitch, key, False
        self.buffer[i] = self.cache.get(key)
        if self.buffer[i] is None:
            self.cold += 1
        self.position[i], self.released[i], self.started[i] = 0, -1, self.frame
        self.tail[i], self.tail_gain[i], self.looped[i] = -1, 1.0, False
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
        morph = self.cache.point(self.params.snapshot)
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
                    if note is not None and len(note) >= len(self.buffer[i]) and \
                            (note.loop is None) == (self.buffer[i].loop is None):
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

    def _read(self, note: SustainedNote, pos: int, k: int, dst: np.ndarray, loop: bool) -> None:
        """``dst[:k]`` = the note's frames ``pos .. pos + k`` from its onset; with ``loop``, looped past its entry."""
        entry = note.entry
        if not loop or note.loop is None or pos + k <= entry:
            np.copyto(dst[:k], note.audio[pos : pos + k])
            return
        a = max(0, entry - pos)  # frames before the entry
        if a:
            np.copyto(dst[:a], note.audio[pos:entry])
        loop, n = note.loop, len(note.loop)
        j, p = a, (pos + a - entry) % n
        while j < k:
            m = min(k - j, n - p)
            np.copyto(dst[j : j + m], loop[p : p + m])
            j, p = j + m, 0
        if note.decay:
            env = self._decay[: k - a]
            np.add(self._ramp[: k - a], pos + a - entry, out=env)
            env *= note.decay
            np.exp(env, out=env)
            dst[a:k] *= env

    def _render_voice(self, i: int, out: np.ndarray, start: int, stop: int) -> None:
        note, pos = self.buffer[i], self.position[i]
        if self.tail[i] >= 0:
            self._render_tail(i, out, start, stop)
            return
        held = self.released[i] < 0
        # A held note loops past its entry, and one let go in its loop fades out there (all notes off).
        looping = note.loop is not None and (held or self.looped[i])
        k = stop - start if looping else min(stop - start, len(note) - pos)
        if k <= 0:
            self.active[i] = False
            return
        tmp = self._tmp[:k]
        self._read(note, pos, k, tmp, looping)
        target = self.target[i]
        if target is not None:
            # Equal-gain crossfade from the old morph's note to the new one at the same position.
            mix = self._env[:k]
            np.add(self._ramp[:k], self.faded[i], out=mix)
            mix *= 1.0 / self.crossfade_frames
            np.minimum(mix, 1.0, out=mix)
            other = self._other[:k]
            self._read(target, pos, k, other, looping)
            other -= tmp
            other *= mix
            tmp += other
            self.faded[i] += k
            if self.faded[i] >= self.crossfade_frames:
                self.buffer[i], self.key[i], self.target[i] = target, self.target_key[i], None
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
        if looping:
            self.looped[i] = self.looped[i] or pos + k > note.entry
            # A held note whose decay has reached -80 dB (a plucked string held on) frees its voice.
            if note.decay * (pos + k - note.entry) < -9.2:
                self.active[i] = False
        elif pos + k >= len(note):
            self.active[i] = False

    def _render_tail(self, i: int, out: np.ndarray, start: int, stop: int) -> None:
        """A note let go while looping: its decoded release, the loop crossfading into it at first."""
        note, t = self.buffer[i], self.tail[i]
        release = note.audio[self.tail_from[i] :]
        k = min(stop - start, len(release) - t)
        if k <= 0:
            self.active[i] = False
            return
        tmp = self._tmp[:k]
        np.multiply(release[t : t + k], self.tail_gain[i], out=tmp)
        x = note.crossfade
        if t < x:
            m = min(k, x - t)
            loop = self._other[:m]
            self._read(note, self.position[i], m, loop, True)
            target = self.target[i]
            if target is not None:  # let go during a morph crossfade: the loop is still crossfading
                mix = self._env[:m]
                np.add(self._ramp[:m], self.faded[i], out=mix)
                mix *= 1.0 / self.crossfade_frames
                np.minimum(mix, 1.0, out=mix)
                other = self._third[:m]
                self._read(target, self.position[i], m, other, True)
                other -= loop
                other *= mix
                loop += other
                self.faded[i] += m
            mix = self._env[:m]  # the loop's share, 1 -> 0
            np.add(self._ramp[:m], t + 0.5, out=mix)
            mix *= -1.0 / x
            mix += 1.0
            loop -= tmp[:m]
            loop *= mix
            tmp[:m] += loop
            self.position[i] += m
        elif self.target[i] is not None:  # the crossfade into the release is over: so is the morph's
            self.target[i], self.target_key[i] = None, None
        tmp *= self.level[i]
        out[start : start + k] += tmp
        self.tail[i] = t + k
        if t + k >= len(release):
            self.active[i] = False

    @property
    def voices(self) -> int:
        """Voices sounding or waiting for their note."""
        return sum(self.active)


def timbre_note_decoder(instrument, *, sample_rate: int | None = None, source: str = "flute",
                        target: str = "guitar", method: str = "slerp", velocity: int = 100,
                        iters: int | None = None) -> Callable[[int, float], SustainedNote]:
    """A :class:`NoteCache` decode function for a timbre instrument: (pitch, amount) -> a held note.

    The latent is ``amount`` of the way from ``source``'s to ``target``'s mean
    latent at the note's pitch (:func:`musicvae.blend.family_mix`),
    decoded with :func:`musicvae.blend.decode`
    at the instrument's rate and resampled to ``sample_rate`` (the output's) when they differ.
    Its loop is chosen on the decoder's frames (:func:`musicvae.audio.sustain.choose_loop`), before
    the key-up of the instrument's training notes (:func:`musicvae.blend.hold_seconds`).
    """
    from musicvae import blend

    for family in (source, target):
        blend.family_latent(instrument, family)  # an unknown family fails now, not at the first note

    def latent(pitch: int, amount) -> np.ndarray:
        return blend.family_mix(instrument, source, target, float(amount), pitch=pitch, method=method)

    return held_note_decoder(instrument, latent, sample_rate=sample_rate, velocity=velocity, iters=iters)


def held_note_decoder(instrument, latent: Callable, *, sample_rate: int | None = None, velocity: int = 100,
                      iters: int | None = None) -> Callable[[int, object], SustainedNote]:
    """A :class:`NoteCache` decode function of the latent [Z] ``latent(pitch, amount)`` gives: (pitch, amount) ->
    a held note, as :func:`timbre_note_decoder` (and :func:`musicvae.realtime.pad.pad_note_decoder`) decode."""
    from math import gcd

    from musicvae import blend
    from musicvae.audio.sustain import choose_loop, sustained

    rate = blend.sample_rate(instrument)
    out_rate = rate if sample_rate is None else int(sample_rate)
    g = gcd(rate, out_rate)
    spec = instrument.config.model.spectrogram
    hold = blend.hold_seconds(instrument)

    def decode(pitch: int, amount) -> SustainedNote:
        z = latent(pitch, amount)
        frames = blend.decode_spectrograms(instrument, z[None], pitch, velocity)
        note = blend.invert(instrument, frames, iters=iters)[0]
        choice = choose_loop(frames[0], sample_rate=rate, hop_length=spec.hop_length, n_fft=spec.n_fft,
                             hold_seconds=hold, scale_db=spec.norm_scale_db)
        if out_rate != rate:
            from scipy.signal import resample_poly

            note = resample_poly(note, out_rate // g, rate // g)
        return sustained(note.astype(np.float32), choice, sample_rate=out_rate, pitch=pitch)

    return decode
