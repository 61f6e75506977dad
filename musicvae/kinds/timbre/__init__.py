"""The timbre kind: a convolutional VAE over log-spectrograms of single notes, conditioned on pitch.

- :mod:`.config`: the spectrogram, :class:`~.config.SpectrogramVAEConfig` and the named configs;
- :mod:`.data`: notes rendered from SoundFonts or read from NSynth and audio folders, cached;
- :mod:`.training`: spectrogram sets, augmentation, the Lightning module and the family latents;
- :mod:`.evaluate`: pitch, endpoints, monotonicity of every pair of families, and the unseen-SoundFont distance
  (:mod:`.classifier`: the family classifier; :mod:`.latent_map`; :mod:`.report`: pair summaries and the table);
- :mod:`.figures`: the evaluation figure (blend, confusion matrix of the decoded family means, latent map);
- :mod:`.verbs`: :class:`~.verbs.TimbreVerbs` (the job verbs, blend and play, are in :mod:`musicvae.blend`).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from musicvae.errors import ConfigError, DataError
from musicvae.kinds.base import EvaluateOptions, Kind, TrainingData
from musicvae.kinds.timbre.config import SpectrogramVAEConfig, named_configs


def build_spectrogram(config: Any):
    """The :class:`~musicvae.audio.spectrogram.Spectrogram` (analysis and inversion) of a timbre config.

    Parameters
    ----------
    config : SpectrogramVAEConfig or InstrumentConfig

    Raises
    ------
    ConfigError
        For a config that is not a timbre one, or an STFT setting that does not fit.
    """
    model = getattr(config, "model", config)
    if not isinstance(model, SpectrogramVAEConfig):
        raise ConfigError(f"a {type(model).__name__} has no spectrogram")
    s = model.spectrogram
    if s.n_fft < 16 or s.hop_length < 1 or s.n_fft % s.hop_length or s.n_samples < s.n_fft:
        raise ConfigError("spectrogram needs n_fft >= 16, a multiple of hop_length, and n_samples >= n_fft")
    if s.n_mels < 0 or s.norm_scale_db <= 0:
        raise ConfigError("spectrogram n_mels must be >= 0 and norm_scale_db > 0")
    from musicvae.audio.spectrogram import Spectrogram

    return Spectrogram(sample_rate=s.sample_rate, n_samples=s.n_samples, n_fft=s.n_fft, hop_length=s.hop_length,
                       n_mels=s.n_mels, floor_db=s.floor_db, norm_center_db=s.norm_center_db,
                       norm_scale_db=s.norm_scale_db)


class TimbreKind(Kind):
    name = "timbre"
    model_config = SpectrogramVAEConfig
    recipe_kind = "timbre"
    export_formats = ("nn-tilde", "onnx", "torchscript")

    def named_configs(self) -> dict:
        return named_configs()

    def model_kwargs(self, model_config: SpectrogramVAEConfig) -> dict[str, Any]:
        m = model_config
        if not 0 <= m.min_pitch <= m.max_pitch <= 127:
            raise ConfigError(f"model pitches {m.min_pitch}..{m.max_pitch} are not a MIDI range")
        if not m.channels or min(m.channels) < 1 or m.z_dim < 1 or m.pitch_embedding < 1:
            raise ConfigError("timbre model channels, z_dim and pitch_embedding must be at least 1")
        spectrogram = build_spectrogram(m)
        return {
            "n_bins": spectrogram.n_bins,
            "n_frames": spectrogram.n_frames,
            "z_dim": m.z_dim,
            "channels": tuple(m.channels),
            "min_pitch": m.min_pitch,
            "max_pitch": m.max_pitch,
            "pitch_embedding": m.pitch_embedding,
            "condition_velocity": m.condition_velocity,
            # kl_weight 0 means a plain autoencoder: z is the posterior mean.
            "variational": m.kl_weight > 0,
            "input_noise": m.input_noise,
        }

    def add_commands(self, sub) -> None:
        from musicvae.kinds.timbre.commands import add_commands

        add_commands(sub)

    def model_class(self) -> type:
        from musicvae.models.spectrogram_vae import SpectrogramVAE

        return SpectrogramVAE

    # -- data ----------------------------------------------------------------------

    def load_recipe(self, name_or_path):
        from musicvae.kinds.timbre.data import load_timbre_recipe

        return load_timbre_recipe(name_or_path)

    def build_data(self, recipe, *, workers: int | None, force: bool, progress: bool) -> str:
        from musicvae.kinds.timbre.data import build_timbre_dataset, format_timbre_report

        return format_timbre_report(build_timbre_dataset(recipe, workers=workers, force=force, progress=progress))

    def training_data(self, config, *, progress: bool, log: Callable[[str], None]) -> TrainingData:
        from musicvae.kinds.timbre.data import load_timbre_notes
        from musicvae.kinds.timbre.training import family_mean_latents, spectrogram_set

        recipe = self.load_recipe(config.data)
        report = ""
        try:
            train = load_timbre_notes(recipe, split="train")
        except DataError:
            log(f"building dataset {recipe.name!r} first")
            report = self.build_data(recipe, workers=None, force=False, progress=progress)
            log(report)
            train = load_timbre_notes(recipe, split="train")
        valid = load_timbre_notes(recipe, split="valid")
        spectrogram = build_spectrogram(config)
        train_set, valid_set = spectrogram_set(train, spectrogram), spectrogram_set(valid, spectrogram)

        def extras_of(model) -> dict:
            # The blend endpoints: each family's mean latent over its (clean) training notes.
            return family_mean_latents(model, train_set, train.families)

        return TrainingData(train_set, valid_set, counts={"train notes": len(train_set), "valid notes": len(valid_set)},
                            summary=f"{len(train_set)} train / {len(valid_set)} valid notes "
                                    f"({', '.join(train.families)}), spectrograms {tuple(train_set.spec.shape[1:])}",
                            report=report, extras_of=extras_of)

    # -- training ------------------------------------------------------------------

    def check_training_data(self, data, what: str, *, config):
        from musicvae.kinds.timbre.training import check_spectrogram_set

        return check_spectrogram_set(data, what, config.model)

    def lightning_module(self, config):
        from musicvae.kinds.timbre.training import SpectrogramVAEModule

        return SpectrogramVAEModule(config)

    def dataset(self, data):
        return data  # a SpectrogramSet is its own dataset (it draws whole augmented batches)

    # -- playing and evaluation ----------------------------------------------------

    def verbs(self, instrument):
        from musicvae.kinds.timbre.verbs import TimbreVerbs

        return TimbreVerbs(instrument)

    def export_module(self, instrument, fmt: str, *, sample_rate: int | None = None):
        from musicvae.export.graphs.timbre import exportable

        return exportable(instrument, fmt, sample_rate=sample_rate)

    def evaluate(self, instrument, options: EvaluateOptions) -> dict:
        from musicvae.kinds.timbre.evaluate import evaluate_instrument

        # Each prior sample is pitch-checked with pYIN: a hundred say what a thousand would, in a tenth the time.
        return evaluate_instrument(instrument, data=options.data, n_prior=min(options.n_prior, 100),
                                   max_test=options.max_items, seed=options.seed, progress=options.progress)

    def format_report(self, report: dict) -> str:
        from musicvae.kinds.timbre.evaluate import format_timbre_metrics

        return format_timbre_metrics(report)

    def figure(self, report: dict, path: str | Path) -> Path:
        from musicvae.kinds.timbre.figures import evaluation_figure

        return evaluation_figure(report, path)


KIND = TimbreKind()
