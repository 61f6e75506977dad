"""The Kind contract: a kind written here, in the test, runs through every generic path.

``ToyKind`` is what a contributor adding a kind writes (one package; here one test file):
its config class, model, data builder, Lightning module, verbs, evaluation and figure.
The test then uses only the core: ``musicvae configs``, ``data build``, ``train``,
``Instrument.load``, the verbs and ``evaluate --json --plot``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import lightning
import numpy as np
import pytest
import torch
from torch import nn

from musicvae.cli import main
from musicvae.config import InstrumentConfig, TrainConfig, to_dict
from musicvae.errors import ConfigError, DataError, InputError
from musicvae.instrument import Instrument
from musicvae.kinds import EvaluateOptions, Kind, TrainingData, Verbs, all_kinds, get_kind, registered

DIM = 6


# ---------------------------------------------------------------------------
# The toy kind: a linear VAE over short real vectors
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ToyConfig:
    dim: int = DIM
    z_dim: int = 2
    kl_weight: float = 0.01


class ToyVAE(nn.Module):
    def __init__(self, *, dim: int, z_dim: int) -> None:
        super().__init__()
        self.encoder = nn.Linear(dim, 2 * z_dim)
        self.decoder = nn.Linear(z_dim, dim)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mu, log_sigma = self.encoder(x).chunk(2, dim=-1)
        return mu, log_sigma.exp()


class ToyModule(lightning.LightningModule):
    def __init__(self, config: InstrumentConfig) -> None:
        super().__init__()
        self.config = config
        self.model = get_kind("toy").build_model(config.model)
        self.save_hyperparameters({"config": to_dict(config)})

    def _loss(self, x: torch.Tensor) -> torch.Tensor:
        mu, sigma = self.model.encode(x)
        recon = (self.model.decoder(mu + sigma * torch.randn_like(sigma)) - x).square().sum(-1).mean()
        kl = 0.5 * (mu.square() + sigma.square() - 2 * sigma.log() - 1).sum(-1).mean()
        return recon + self.config.model.kl_weight * kl

    def training_step(self, batch, batch_idx):
        loss = self._loss(batch)
        self.log("train/loss", loss)
        return loss

    def validation_step(self, batch, batch_idx):
        self.log("val/loss", self._loss(batch), batch_size=len(batch))

    def configure_optimizers(self):
        from musicvae.training.optim import decaying_adam

        return decaying_adam(self.parameters(), self.config.train)


class VectorSet(torch.utils.data.Dataset):
    def __init__(self, rows: np.ndarray) -> None:
        self.rows = torch.as_tensor(rows, dtype=torch.float32)

    def __len__(self) -> int:
        return len(self.rows)

    def __getitems__(self, indices: list[int]) -> torch.Tensor:
        return self.rows[indices]


class ToyVerbs:
    def __init__(self, instrument) -> None:
        self.instrument = instrument.require_kind("toy")

    def encode(self, inputs):
        with torch.inference_mode():
            mu, sigma = self.instrument.model.encode(torch.as_tensor(np.asarray(inputs), dtype=torch.float32))
        return mu.numpy(), sigma.numpy()

    def decode(self, z, condition=None, *, temperature=0.0, seed=None):
        with torch.inference_mode():
            return self.instrument.model.decoder(torch.as_tensor(np.asarray(z), dtype=torch.float32)).numpy()

    def sample(self, n, condition=None, *, temperature=0.5, seed=None):
        z = torch.randn(n, self.instrument.config.model.z_dim, generator=torch.Generator().manual_seed(seed or 0))
        return self.decode(z.numpy(), condition)

    def interpolate(self, a, b, condition=None, *, steps=5, method="slerp", temperature=0.0, seed=None):
        mu, _ = self.encode(np.stack([a, b]))
        path = np.linspace(mu[0], mu[1], steps)
        return self.decode(path, condition)


def _cache_file(recipe) -> Path:
    from musicvae.data.recipes import cache_root, json_hash

    return cache_root() / f"{recipe.name}-{json_hash(to_dict(recipe))[:12]}.npz"


class ToyKind(Kind):
    name = "toy"
    model_config = ToyConfig
    recipe_kind = "toy-vectors"

    def named_configs(self):
        small = InstrumentConfig(kind="toy", model=ToyConfig(), data="toy-vectors",
                                 train=TrainConfig(batch_size=16, max_steps=200, learning_rate=1e-2,
                                                   sampling_rate=0.0, transpose=0, val_every=50))
        return {"toy-small": small}

    def model_kwargs(self, model_config):
        if model_config.dim < 1 or model_config.z_dim < 1:
            raise ConfigError("toy dim and z_dim must be at least 1")
        return {"dim": model_config.dim, "z_dim": model_config.z_dim}

    def model_class(self):
        return ToyVAE

    def load_recipe(self, name_or_path):
        from musicvae.data.recipes import find_recipe_file, read_recipe_file

        return read_recipe_file(find_recipe_file(name_or_path))

    def build_data(self, recipe, *, workers, force, progress):
        # Points near a line in DIM dimensions, so a 2-D latent can reconstruct them.
        rng = np.random.default_rng(0)
        t = rng.normal(size=(120, 1))
        rows = (t * np.linspace(-1, 1, DIM) + 0.05 * rng.normal(size=(120, DIM))).astype(np.float32)
        path = _cache_file(recipe)
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(path, train=rows[:100], valid=rows[100:110], test=rows[110:])
        return f"{recipe.name}: 120 vectors (100 train, 10 valid, 10 test)"

    def _split(self, recipe, split):
        path = _cache_file(recipe)
        if not path.is_file():
            raise DataError(f"dataset {recipe.name!r} is not built; run: musicvae data build {recipe.name}")
        return np.load(path)[split]

    def training_data(self, config, *, progress, log):
        recipe = self.load_recipe(config.data)
        train, valid = self._split(recipe, "train"), self._split(recipe, "valid")
        return TrainingData(train, valid, counts={"train vectors": len(train)},
                            summary=f"{len(train)} train / {len(valid)} valid vectors")

    def check_training_data(self, data, what, *, config):
        if data.ndim != 2 or data.shape[1] != config.model.dim:
            raise InputError(f"{what} vectors must be [N, {config.model.dim}]")
        return data

    def lightning_module(self, config):
        return ToyModule(config)

    def dataset(self, data):
        return VectorSet(data)

    def verbs(self, instrument):
        return ToyVerbs(instrument)

    def evaluate(self, instrument, options: EvaluateOptions):
        test = self._split(self.load_recipe(options.data or instrument.config.data), options.split)
        verbs = instrument.verbs
        error = float(np.square(verbs.decode(verbs.encode(test)[0]) - test).mean())
        return {"instrument": instrument.name, "split": options.split, "vectors": len(test), "mse": error,
                "variance": float(test.var(axis=0).mean())}

    def format_report(self, report):
        return f"{report['instrument']}: MSE {report['mse']:.4f} (data variance {report['variance']:.4f})"

    def figure(self, report, path):
        from musicvae.plots import new_figure, save_png

        figure = new_figure(3, 2)
        figure.subplots().bar(["MSE", "variance"], [report["mse"], report["variance"]])
        return save_png(figure, path)


# ---------------------------------------------------------------------------
# Tests
# ---------------------------------------------------------------------------


@pytest.fixture
def toy_kind(tmp_path, monkeypatch):
    datasets = tmp_path / "datasets"
    datasets.mkdir()
    (datasets / "toy-vectors.toml").write_text('kind = "toy-vectors"\n\n[[sources]]\ntype = "generated"\n')
    monkeypatch.setenv("MUSICVAE_DATASETS", str(datasets))
    monkeypatch.setenv("MUSICVAE_CACHE", str(tmp_path / "cache"))
    with registered(ToyKind()) as kind:
        yield kind


def test_a_kind_defined_in_a_test_runs_through_the_generic_paths(toy_kind, tmp_path, capsys):
    assert main(["configs"]) == 0
    assert any(line.startswith("toy-small") and " toy " in line for line in capsys.readouterr().out.splitlines())

    folder = tmp_path / "toy-instrument"
    assert main(["train", str(folder), "--config", "toy-small", "--quiet"]) == 2  # data not built yet
    assert "musicvae data build toy-vectors" in capsys.readouterr().err

    assert main(["data", "build", "toy-vectors"]) == 0
    assert "120 vectors" in capsys.readouterr().out
    assert main(["train", str(folder), "--config", "toy-small", "--quiet", "--run-dir", str(tmp_path / "run"),
                 "--seed", "0"]) == 0
    assert "training toy-instrument: 100 train / 10 valid vectors" in capsys.readouterr().out

    instrument = Instrument.load(folder)
    assert instrument.kind == "toy" and isinstance(instrument.verbs, Verbs)
    assert "train vectors" in (folder / "card.md").read_text()
    samples = instrument.verbs.sample(4, seed=1)
    assert samples.shape == (4, DIM)
    a, b = np.linspace(-1, 1, DIM, dtype=np.float32), np.linspace(1, -1, DIM, dtype=np.float32)
    path = instrument.verbs.interpolate(a, b, steps=3)
    assert path.shape == (3, DIM) and np.corrcoef(path[0], a)[0, 1] > 0.9 and np.corrcoef(path[-1], b)[0, 1] > 0.9

    plot = tmp_path / "eval.png"
    assert main(["evaluate", str(folder), "--json", "--plot", str(plot), "--quiet"]) == 0
    report = json.loads(capsys.readouterr().out.split("\nwrote")[0])
    assert report["kind"] == "toy" and report["vectors"] == 10
    assert report["mse"] < report["variance"]  # it learned the line: better than predicting the mean
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    from musicvae.plots import evaluation_figure

    assert evaluation_figure(report, tmp_path / "again.png").is_file()


def test_registration_is_scoped_and_names_are_unique(toy_kind):
    assert "toy" in all_kinds()
    with pytest.raises(ConfigError, match="registered already"):
        with registered(ToyKind()):
            pass
    with pytest.raises(ConfigError, match="unknown instrument kind 'drums'; choose one of: melody, accompanist, "
                                          "timbre, toy"):
        get_kind("drums")


def test_the_registry_forgets_a_kind_after_its_block():
    with registered(ToyKind()):
        assert "toy" in all_kinds()
    assert "toy" not in all_kinds()
    with pytest.raises(ConfigError, match="unknown instrument kind 'toy'"):
        get_kind("toy")


def test_every_builtin_kind_fills_the_contract():
    for name, kind in all_kinds().items():
        assert kind.name == name
        assert kind.named_configs(), name
        for method in ("model_kwargs", "model_class", "load_recipe", "build_data", "training_data",
                       "lightning_module", "verbs", "evaluate", "format_report", "figure"):
            assert getattr(type(kind), method) is not getattr(Kind, method), f"{name} lacks {method}"
        for config in kind.named_configs().values():
            assert config.kind == name and isinstance(config.model, kind.model_config)
