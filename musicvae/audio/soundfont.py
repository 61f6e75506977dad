"""Rendering single notes from General MIDI SoundFonts with FluidSynth.

pyfluidsynth drives Debian's ``libfluidsynth3`` directly (no audio driver:
samples are pulled with ``fluid_synth_write_float``). Notes are rendered dry
(reverb and chorus off, so a note's tail is its own) at 48 kHz, three times
the model rate, and decimated to 16 kHz with a polyphase anti-aliasing filter:
FluidSynth's own sample interpolation is not band-limited, and rendering
straight at 16 kHz folds the upper partials of high notes back down.

SoundFonts are found by name or path: ``FluidR3_GM`` (Debian
``fluid-soundfont-gm``, /usr/share/sounds/sf2/), ``TimGM6mb`` (ships inside
the ``pretty_midi`` package), ``MuseScore_General`` and ``FluidR3Mono_GM``
(Debian ``musescore-general-soundfont`` and ``fluidr3mono-gm-soundfont``,
/usr/share/sounds/sf3/: SoundFont 3, samples Ogg-compressed, which Debian's
FluidSynth reads), or any ``.sf2`` / ``.sf3`` file.
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from musicvae.errors import InputError, SystemDependencyError

#: Where Debian and Ubuntu put SoundFonts.
SYSTEM_SF2_DIRS = (Path("/usr/share/sounds/sf2"), Path("/usr/share/sounds/sf3"), Path("/usr/share/soundfonts"),
                   Path("/usr/local/share/soundfonts"))
#: What to install for each named SoundFont.
KNOWN_SOUNDFONTS = {
    "FluidR3_GM": "sudo apt-get install fluid-soundfont-gm",
    "TimGM6mb": "pip install pretty_midi",
    "MuseScore_General": "sudo apt-get install musescore-general-soundfont",
    "FluidR3Mono_GM": "sudo apt-get install fluidr3mono-gm-soundfont",
}
#: SoundFont file suffixes: version 2, and version 3 (Ogg-compressed samples).
SOUNDFONT_SUFFIXES = (".sf2", ".sf3")
#: Rendering rate; a multiple of the note rate so that decimation is a plain polyphase filter.
RENDER_RATE = 48_000

#: NSynth's instrument families for the 16 General MIDI program groups of 8 (program // 8):
#: piano, chromatic percussion, organ, guitar, bass, strings, ensemble, brass, reed, pipe,
#: synth lead, synth pad, synth effects, ethnic, percussive, sound effects.
GM_FAMILIES = (
    "keyboard", "mallet", "organ", "guitar", "bass", "string", "string", "brass",
    "reed", "flute", "synth_lead", "synth_lead", "synth_lead", "string", "mallet", "synth_lead",
)


def gm_family(program: int) -> str:
    """NSynth-style family of a General MIDI program (0-127), e.g. 73 -> "flute", 24 -> "guitar"."""
    if not 0 <= program <= 127:
        raise InputError(f"General MIDI program must lie in 0..127, got {program}")
    return GM_FAMILIES[program // 8]


@dataclass(frozen=True)
class NoteSpec:
    """One note to render.

    Attributes
    ----------
    pitch : int
        MIDI pitch 0-127.
    velocity : int
        MIDI velocity 1-127.
    hold_seconds : float
        Time between note-on and note-off.
    seconds : float
        Length of the rendered note, release included (the tail is cut there).
    """

    pitch: int
    velocity: int = 100
    hold_seconds: float = 0.75
    seconds: float = 1.0


def find_soundfont(name_or_path: str | Path) -> Path:
    """The ``.sf2`` file for a SoundFont name (``FluidR3_GM``, ``TimGM6mb``) or path.

    Raises
    ------
    SystemDependencyError
        For a known name whose package is not installed (the message says what to install).
    InputError
        For a path that does not exist or is not a SoundFont.
    """
    text = str(name_or_path)
    stem = Path(text).stem if text.endswith(SOUNDFONT_SUFFIXES) else text
    if stem in KNOWN_SOUNDFONTS and len(Path(text).parts) == 1:
        for candidate in _named_candidates(stem):
            if candidate.is_file():
                return candidate
        raise SystemDependencyError(f"SoundFont {stem} not found; install it with: {KNOWN_SOUNDFONTS[stem]}")
    path = Path(text).expanduser()
    if not path.is_file():
        known = ", ".join(KNOWN_SOUNDFONTS)
        raise InputError(f"SoundFont {text!r} not found (give a .sf2 or .sf3 path or one of: {known})")
    with path.open("rb") as handle:
        head = handle.read(12)
    if head[:4] != b"RIFF" or head[8:12] != b"sfbk":
        raise InputError(f"{path} is not a SoundFont (2 or 3) file")
    return path


def _named_candidates(stem: str) -> list[Path]:
    candidates = [d / f"{stem}{suffix}" for d in SYSTEM_SF2_DIRS for suffix in SOUNDFONT_SUFFIXES]
    if stem == "TimGM6mb":
        try:
            import pretty_midi

            candidates.insert(0, Path(pretty_midi.__file__).parent / "TimGM6mb.sf2")
        except ImportError:
            pass
    return candidates


def _fluidsynth():
    """Import pyfluidsynth, turning a missing library into one line saying what to install."""
    try:
        import fluidsynth
    except ImportError as error:
        if "fluidsynth" in str(error).lower() and "No module" not in str(error):
            raise SystemDependencyError(
                "the FluidSynth library is missing; install it with: sudo apt-get install libfluidsynth3"
            ) from None
        raise SystemDependencyError("pyfluidsynth is missing; install it with: pip install pyfluidsynth") from None
    except OSError as error:  # a broken or foreign libfluidsynth
        raise SystemDependencyError(
            f"the FluidSynth library cannot be loaded ({error}); install it with: sudo apt-get install libfluidsynth3"
        ) from None
    return fluidsynth


def _write_float_function(library: str):
    """``fluid_synth_write_float`` with a full prototype, from our own handle on the library.

    pyfluidsynth does not declare it, and an undeclared ctypes call would
    truncate the 64-bit synth pointer to an int; our own ``CDLL`` keeps the
    prototype out of pyfluidsynth's function table.
    """
    function = ctypes.CDLL(library).fluid_synth_write_float
    floats = ctypes.POINTER(ctypes.c_float)
    function.argtypes = [ctypes.c_void_p, ctypes.c_int, floats, ctypes.c_int, ctypes.c_int,
                         floats, ctypes.c_int, ctypes.c_int]
    function.restype = ctypes.c_int
    return function


class SoundFontRenderer:
    """A FluidSynth synthesiser with one SoundFont loaded, rendering notes one at a time.

    Loading a large SoundFont takes a second, so keep one renderer per
    SoundFont and render many notes with it. Use as a context manager or call
    :meth:`close`.

    Parameters
    ----------
    soundfont : str or Path
        A name known to :func:`find_soundfont` or a ``.sf2`` path.
    sample_rate : int, keyword-only
        Output rate in Hz (default 16 000); must divide 48 000.
    gain : float, keyword-only
        FluidSynth master gain.
    """

    def __init__(self, soundfont: str | Path, *, sample_rate: int = 16_000, gain: float = 0.5) -> None:
        if RENDER_RATE % sample_rate:
            raise InputError(f"sample_rate must divide {RENDER_RATE} Hz, got {sample_rate}")
        self.path = find_soundfont(soundfont)
        self.sample_rate = int(sample_rate)
        fluidsynth = _fluidsynth()
        self._write_float = _write_float_function(fluidsynth.lib)
        self._synth = fluidsynth.Synth(
            gain=gain,
            samplerate=float(RENDER_RATE),
            **{"synth.reverb.active": 0, "synth.chorus.active": 0, "synth.polyphony": 64},
        )
        self._sfid = self._synth.sfload(str(self.path))
        if self._sfid < 0:
            self.close()
            raise InputError(f"FluidSynth could not load {self.path}")

    def __enter__(self) -> SoundFontRenderer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Free the synthesiser (idempotent)."""
        synth, self._synth = getattr(self, "_synth", None), None
        if synth is not None:
            synth.delete()

    def has_program(self, program: int, *, bank: int = 0) -> bool:
        """Whether the SoundFont defines ``program`` in ``bank``."""
        return bool(self._synth.sfpreset_name(self._sfid, bank, program))

    def render(self, note: NoteSpec, *, program: int, bank: int = 0) -> np.ndarray:
        """Render one note of GM ``program``.

        Returns
        -------
        np.ndarray [round(note.seconds * sample_rate)] float32, mono at ``sample_rate``.

        Raises
        ------
        InputError
            For an out-of-range pitch, velocity, program or a program the SoundFont lacks.
        """
        if self._synth is None:
            raise InputError("this renderer is closed")
        if not 0 <= note.pitch <= 127 or not 1 <= note.velocity <= 127:
            raise InputError(f"pitch must lie in 0..127 and velocity in 1..127, got {note.pitch}, {note.velocity}")
        if not 0 < note.hold_seconds <= note.seconds:
            raise InputError(f"hold must lie in (0, {note.seconds}] s, got {note.hold_seconds}")
        if not self.has_program(program, bank=bank):
            raise InputError(f"{self.path.name} has no program {program} in bank {bank}")
        synth = self._synth
        synth.system_reset()
        synth.program_select(0, self._sfid, bank, program)
        hold = int(round(note.hold_seconds * RENDER_RATE))
        total = int(round(note.seconds * RENDER_RATE))
        synth.noteon(0, note.pitch, note.velocity)
        head = self._pull(hold)
        synth.noteoff(0, note.pitch)
        tail = self._pull(total - hold)
        # Silence whatever still sounds so the next note starts clean.
        synth.all_sounds_off(0)
        self._pull(512)
        stereo = np.concatenate([head, tail], axis=1)
        mono = stereo.mean(axis=0)
        return decimate(mono, RENDER_RATE, self.sample_rate)

    def _pull(self, frames: int) -> np.ndarray:
        """[2, frames] float32 from the synthesiser."""
        left = np.zeros(frames, dtype=np.float32)
        right = np.zeros(frames, dtype=np.float32)
        if frames:
            ptr = ctypes.POINTER(ctypes.c_float)
            self._write_float(
                self._synth.synth,
                frames,
                left.ctypes.data_as(ptr), 0, 1,
                right.ctypes.data_as(ptr), 0, 1,
            )  # fmt: skip
        return np.stack([left, right])


def decimate(audio: np.ndarray, from_rate: int, to_rate: int) -> np.ndarray:
    """Resample ``audio`` [N] from ``from_rate`` to ``to_rate`` Hz (polyphase, anti-aliased) -> float32."""
    from scipy.signal import resample_poly

    if from_rate == to_rate:
        return np.asarray(audio, dtype=np.float32)
    g = np.gcd(int(from_rate), int(to_rate))
    out = resample_poly(np.asarray(audio, dtype=np.float64), int(to_rate) // g, int(from_rate) // g)
    n = int(round(len(audio) * to_rate / from_rate))
    return np.asarray(out[:n], dtype=np.float32)


def render_notes(
    soundfont: str | Path,
    notes: list[tuple[NoteSpec, int]],
    *,
    sample_rate: int = 16_000,
) -> np.ndarray:
    """Render ``(note, program)`` pairs from one SoundFont -> [len(notes), n_samples] float32.

    All notes must have the same length ``seconds``.
    """
    lengths = {round(n.seconds * sample_rate) for n, _ in notes}
    if len(lengths) > 1:
        raise InputError("render_notes needs notes of one length")
    with SoundFontRenderer(soundfont, sample_rate=sample_rate) as renderer:
        out = [renderer.render(note, program=program) for note, program in notes]
    return np.stack(out) if out else np.zeros((0, lengths.pop() if lengths else 0), dtype=np.float32)
