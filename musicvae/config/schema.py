"""The config dataclasses every kind shares: training runs, dataset recipes, instruments.

Each kind's model config (which carries its data representation: steps, pitch range,
spectrogram setting) lives in its package, ``musicvae/kinds/<kind>/config.py``, so an
instrument's config alone rebuilds its model and its data.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# ---------------------------------------------------------------------------
# Training
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings shared by every model kind.

    The learning rate follows MusicVAE: ``(lr - min_lr) * decay_rate**step + min_lr``.
    ``sampling_rate`` is k of the inverse-sigmoid scheduled-sampling schedule;
    0 means plain teacher forcing.
    """

    batch_size: int = 512
    max_steps: int = 200_000
    learning_rate: float = 1e-3
    min_learning_rate: float = 1e-5
    decay_rate: float = 0.9999
    grad_clip: float = 1.0
    sampling_rate: float = 1000.0
    transpose: int = 5
    val_every: int = 500
    seed: int = 0


# ---------------------------------------------------------------------------
# Dataset recipes (datasets/<name>.toml)
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class SourceConfig:
    """One source of a recipe.

    ``type`` is ``"music21-corpus"`` (``collections`` names music21 corpus
    folders, e.g. ``essenFolksong``) or ``"midi-folder"`` (``path`` is a folder
    searched recursively for .mid/.midi files; relative paths are taken from
    the recipe file's folder).
    """

    type: str
    collections: tuple[str, ...] = ()
    path: str = ""
    max_files: int = 0  # 0 = all; a cap for quick trials and tests
    # Timbre recipes (kind "timbre"): type "soundfont" renders ``programs`` from
    # ``soundfont`` (a name such as FluidR3_GM or TimGM6mb, or a .sf2 path);
    # "nsynth" reads an NSynth folder keeping ``families``; "audio-folder"
    # reads WAV/FLAC files labelled by their folder's name. ``split`` sends a
    # whole source to one split ("train", "valid", "test"); "" splits by hash.
    soundfont: str = ""
    programs: tuple[int, ...] = ()
    families: tuple[str, ...] = ()
    split: str = ""


@dataclass(frozen=True)
class SplitConfig:
    """Shares of held-out pieces; a piece's split is a stable hash of its id and ``salt``."""

    valid: float = 0.05
    test: float = 0.05
    salt: str = "musicvae"


@dataclass(frozen=True)
class NoteRecipe:
    """Single notes of a timbre recipe: which, how long, at what rate.

    ``families`` are the class labels in order (NSynth's family names; GM
    programs map to them, e.g. 73 -> flute, 24 and 25 -> guitar).
    Notes of a ``split = "train"`` source whose velocity is in
    ``valid_velocities`` go to the validation split instead: every pitch stays
    in training (the pitch embedding needs them all), one loudness is held out.
    """

    families: tuple[str, ...] = ("flute", "guitar")
    sample_rate: int = 16_000
    seconds: float = 1.0
    hold_seconds: float = 0.75
    min_pitch: int = 48
    max_pitch: int = 84
    velocities: tuple[int, ...] = (100,)
    valid_velocities: tuple[int, ...] = ()
    silence_db: float = -60.0


@dataclass(frozen=True)
class RecipeConfig:
    """A dataset recipe: where the pieces come from, how they split, how melodies are cut."""

    name: str
    kind: str = "melody"
    sources: tuple[SourceConfig, ...] = ()
    split: SplitConfig = SplitConfig()
    steps_per_bar: int = 16
    gap_bars: int = 1
    notes: NoteRecipe = NoteRecipe()  # kind "timbre" only
    # Melody recipes: the meter of the tunes a build keeps (a model of another meter builds its
    # own cache with its meter), and whether a 4/4 build also pairs 2/4 tunes into 4/4 bars.
    meter: str = "4/4"
    pair_two_four: bool = False

# ---------------------------------------------------------------------------
# Instruments
# ---------------------------------------------------------------------------

@dataclass(frozen=True)
class InstrumentConfig:
    """Everything needed to build, train and rebuild one instrument."""

    kind: str
    model: Any  # the kind's model config dataclass (see musicvae.kinds)
    data: str
    train: TrainConfig = TrainConfig()
