"""What the shipped instruments and dataset recipes output, computed in one place.

``make_golden.py`` records these outputs (``outputs.npz``, ``cache_keys.json``)
and ``tests/test_golden.py`` recomputes them and compares, so that a refactor
can prove it changed nothing. Everything here goes through the package's
public, user-level verbs; when modules move, only the imports at the top of this
file (and the fingerprint patch points in :func:`pinned_fingerprints`) need
updating.

Public APIs this module depends on:

- ``musicvae.instrument.Instrument.load`` (and ``Instrument.extras``, ``.config.model.z_dim``);
- ``musicvae.generate``: ``window_from_midi``, ``encode``, ``decode``, ``sample``, ``interpolate``, ``morph``;
- ``musicvae.blend``: ``families``, ``family_latent``, ``decode_spectrograms``, ``blend``, ``sample_rate``;
- ``musicvae.harmonize.harmonize``;
- ``musicvae.data.recipes``: ``available_recipes``, ``recipe_kind``, ``load_recipe`` (chorale recipes),
  ``cache_path``; ``musicvae.kinds.melody.sources``: ``load_melody_recipe``, ``source_fingerprint``;
  ``musicvae.kinds.melody.data``: ``melody_recipe_hash``, ``CODE_VERSION``;
  ``musicvae.kinds.accompanist.data``: ``chorale_hash``, ``CODE_VERSION``, ``_source_fingerprint``;
  ``musicvae.kinds.timbre.data``: ``load_timbre_recipe``, ``timbre_recipe_hash``,
  ``TIMBRE_CODE_VERSION``, ``_source_fingerprint``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from unittest import mock

import numpy as np
import torch

# --- the package's public API (update these imports when modules move) ---------------------------
from musicvae import blend as timbre_verbs
from musicvae import generate as melody_verbs
from musicvae.data import recipes
from musicvae.harmonize import harmonize
from musicvae.instrument import Instrument
from musicvae.kinds.accompanist import data as chorale_data
from musicvae.kinds.melody import data as melody_data
from musicvae.kinds.melody import sources as melody_sources
from musicvae.kinds.timbre import data as timbre_data

# ----------------------------------------------------------------------------------------------------

GOLDEN_DIR = Path(__file__).resolve().parent
REPO = GOLDEN_DIR.parents[1]
EXAMPLES = REPO / "examples"
OUTPUTS_FILE = GOLDEN_DIR / "outputs.npz"
CACHE_KEYS_FILE = GOLDEN_DIR / "cache_keys.json"

MELODY_INSTRUMENTS = ("melody-2bar",)
TIMBRE_INSTRUMENT = "flute-guitar"
ACCOMPANIST_INSTRUMENT = "bach-accompanist"
INSTRUMENTS = (*MELODY_INSTRUMENTS, TIMBRE_INSTRUMENT, ACCOMPANIST_INSTRUMENT)

#: Bars of examples/folk_*.mid (8 bars each) at which 2-bar windows start.
MELODY_BARS = (0, 2, 4, 6)
MELODY_FILES = ("folk_a.mid", "folk_b.mid")
LATENT_SEED = 1234
N_LATENTS = 4
SAMPLE_N = 4
SAMPLE_TEMPERATURE = 0.5
SAMPLE_SEED = 0
MORPH_STEPS = 5

TIMBRE_PITCHES = (48, 60, 67, 84)
TIMBRE_VELOCITY = 100
BLEND_PITCH = 67
BLEND_STEPS = 3
#: Audio samples of the blend stored (the first 0.25 s of each step at 16 kHz), to keep the file small.
BLEND_AUDIO_SAMPLES = 4000

CHORALE_FILE = "chorale_soprano.mid"
HARMONY_VARIATIONS = 2
HARMONY_SEED = 0


def setup() -> None:
    """One CPU thread and a fixed global torch seed: every output below is then deterministic."""
    torch.set_num_threads(1)
    torch.manual_seed(0)


def _key(instrument: str, what: str) -> str:
    return f"{instrument}/{what}"


def fixed_latents(z_dim: int, n: int = N_LATENTS, seed: int = LATENT_SEED) -> np.ndarray:
    """``n`` latents [n, z_dim] float32 from a seeded generator (independent of any package code)."""
    return torch.randn(n, z_dim, generator=torch.Generator().manual_seed(seed)).numpy()


# ---------------------------------------------------------------------------
# Instruments
# ---------------------------------------------------------------------------


def melody_outputs(name: str) -> dict[str, np.ndarray]:
    setup()
    instrument = Instrument.load(name, device="cpu")
    z = fixed_latents(instrument.config.model.z_dim)
    windows = np.stack(
        [
            melody_verbs.window_from_midi(instrument, EXAMPLES / file, bar=bar).events
            for file in MELODY_FILES
            for bar in MELODY_BARS
        ]
    ).astype(np.int64)
    mu, sigma = melody_verbs.encode(instrument, windows)
    a, b = windows[0], windows[len(MELODY_BARS)]
    out = {
        "latents": z,
        "decode_argmax": melody_verbs.decode(instrument, z, temperature=0.0),
        "windows": windows,
        "encode_mu": mu,
        "encode_sigma": sigma,
        "reconstruct_argmax": melody_verbs.decode(instrument, mu, temperature=0.0),
        "sample_t05_seed0": melody_verbs.sample(
            instrument, n=SAMPLE_N, temperature=SAMPLE_TEMPERATURE, seed=SAMPLE_SEED
        ),
        "interpolate_slerp": melody_verbs.interpolate(instrument, a, b, steps=MORPH_STEPS, method="slerp"),
        "morph_slerp": melody_verbs.morph(
            instrument, EXAMPLES / MELODY_FILES[0], EXAMPLES / MELODY_FILES[1], steps=MORPH_STEPS
        ).steps,
    }
    return {_key(name, k): np.asarray(v) for k, v in out.items()}


def timbre_outputs(name: str = TIMBRE_INSTRUMENT) -> dict[str, np.ndarray]:
    setup()
    instrument = Instrument.load(name, device="cpu")
    z = fixed_latents(instrument.config.model.z_dim)
    pitches = np.asarray(TIMBRE_PITCHES, dtype=np.int64)
    families = timbre_verbs.families(instrument)
    out: dict[str, np.ndarray] = {
        "latents": z,
        "pitches": pitches,
        "decode_spectrograms": timbre_verbs.decode_spectrograms(instrument, z, pitches, TIMBRE_VELOCITY),
        "families": np.asarray(families),
    }
    for family in families:
        out[f"family_latent/{family}"] = timbre_verbs.family_latent(instrument, family)
    for key, tensor in sorted(instrument.extras.items()):
        out[f"extras/{key}"] = tensor.detach().cpu().numpy()
    setup()
    result = timbre_verbs.blend(instrument, pitch=BLEND_PITCH, steps=BLEND_STEPS, source="flute", target="guitar")
    out["blend_spectrograms"] = result.spectrograms
    out["blend_audio_head"] = result.audio[:, :BLEND_AUDIO_SAMPLES]
    out["blend_audio_rms"] = np.sqrt(np.mean(np.square(result.audio.astype(np.float64)), axis=1))
    out["blend_amounts"] = result.amounts
    out["blend_sample_rate"] = np.asarray(result.sample_rate)
    return {_key(name, k): np.asarray(v) for k, v in out.items()}


def accompanist_outputs(name: str = ACCOMPANIST_INSTRUMENT) -> dict[str, np.ndarray]:
    setup()
    instrument = Instrument.load(name, device="cpu")
    result = harmonize(instrument, EXAMPLES / CHORALE_FILE, variations=HARMONY_VARIATIONS, seed=HARMONY_SEED)
    out: dict[str, np.ndarray] = {"transposed": np.asarray(result.transposed), "qpm": np.asarray(result.qpm)}
    for k, grid in enumerate(result.grids):
        out[f"variation{k}/pitches"] = np.asarray(grid.pitches)
        out[f"variation{k}/onsets"] = np.asarray(grid.onsets)
        out[f"variation{k}/pickup_steps"] = np.asarray(grid.pickup_steps)
    return {_key(name, k): v for k, v in out.items()}


def all_outputs() -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    for name in MELODY_INSTRUMENTS:
        out.update(melody_outputs(name))
    out.update(timbre_outputs())
    out.update(accompanist_outputs())
    return out


#: Outputs compared exactly (tokens, grids, integers, names); every other float output with a tolerance.
def is_exact(key: str, value: np.ndarray) -> bool:
    return not np.issubdtype(value.dtype, np.floating)


# ---------------------------------------------------------------------------
# Dataset recipes: cache keys
# ---------------------------------------------------------------------------


#: Where each kind's per-source fingerprint function lives (module, attribute).
_FINGERPRINTS = {
    "melody": (melody_sources, "source_fingerprint"),
    "chorale": (chorale_data, "_source_fingerprint"),
    "timbre": (timbre_data, "_source_fingerprint"),
}


def _fingerprint_targets() -> list[tuple[object, str]]:
    """(module, attribute) of every per-source fingerprint function the recipe hashes call."""
    return list(_FINGERPRINTS.values())


def source_fingerprints(name: str) -> list[str]:
    """What each source of a recipe contributes to its hash on this machine (music21 version, SoundFont stats)."""
    recipe, kind = _load(name)
    module, attribute = _FINGERPRINTS[kind]
    return [getattr(module, attribute)(source) for source in recipe.sources]


@contextlib.contextmanager
def pinned_fingerprints(recorded: dict[str, list[str]]) -> Iterator[None]:
    """Make every source fingerprint the one recorded for it, so hashes do not depend on this machine's files.

    ``recorded`` maps a recipe name to its sources' fingerprints, in order.
    """
    table: list[tuple[object, str]] = []
    for name, prints in recorded.items():
        recipe, _ = _load(name)
        table += list(zip(recipe.sources, prints, strict=True))

    def fake(source):
        for known, value in table:
            if known == source:
                return value
        raise KeyError(f"no recorded fingerprint for source {source!r}")

    with contextlib.ExitStack() as stack:
        for module, attribute in _fingerprint_targets():
            stack.enter_context(mock.patch.object(module, attribute, fake))
        yield


def recipe_names() -> list[str]:
    return recipes.available_recipes()


def _load(name: str):
    kind = recipes.recipe_kind(name)
    if kind == "timbre":
        return timbre_data.load_timbre_recipe(name), kind
    if kind == "chorale":
        return recipes.load_recipe(name), kind
    return melody_sources.load_melody_recipe(name), kind


def cache_key(name: str) -> dict[str, str]:
    """The hash a recipe's cache is keyed by and the cache folder's name, as ``musicvae data build`` computes them."""
    recipe, kind = _load(name)
    if kind == "timbre":
        digest, code_version = timbre_data.timbre_recipe_hash(recipe), timbre_data.TIMBRE_CODE_VERSION
    elif kind == "chorale":
        digest, code_version = chorale_data.chorale_hash(recipe), chorale_data.CODE_VERSION
    else:
        digest, code_version = melody_data.melody_recipe_hash(recipe), melody_data.CODE_VERSION
    return {
        "kind": kind,
        "code_version": code_version,
        "hash": digest,
        "cache_dir": recipes.cache_path(recipe, cache_dir="/cache", digest=digest).name,
    }


def all_cache_keys() -> dict[str, dict]:
    """Every recipe in ``datasets/``: its cache key, and its sources' fingerprints on this machine."""
    return {name: {**cache_key(name), "source_fingerprints": source_fingerprints(name)} for name in recipe_names()}
