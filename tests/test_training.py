"""Lightning training: real steps on toy configs and synthetic melodies (CPU, seconds)."""

from __future__ import annotations

import csv
import dataclasses
import json
import math
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

from musicvae.config import InstrumentConfig, get_config
from musicvae.errors import ConfigError, InputError
from musicvae.kinds.melody.training import sampling_probability, transpose_events
from musicvae.training import choose_threads, learning_rate_at, train_model

REPO = Path(__file__).resolve().parents[1]


def melodies(n: int, steps: int = 32, seed: int = 0) -> np.ndarray:
    """Random monophonic melodies: stepwise pitch walks with musical durations and some rests."""
    rng = np.random.default_rng(seed)
    out = np.zeros((n, steps), np.uint8)
    for i in range(n):
        t, pitch = 0, int(rng.integers(55, 75))
        while t < steps:
            if rng.random() < 0.15:
                out[i, t] = 1  # note off
            else:
                pitch = int(np.clip(pitch + rng.integers(-4, 5), 40, 90))
                out[i, t] = pitch - 21 + 2
            t += int(rng.choice([1, 2, 2, 4, 4, 8]))
    return out


def tiny(name: str = "2bar-small", **train) -> InstrumentConfig:
    cfg = get_config(name)
    model = dataclasses.replace(cfg.model, z_dim=16, encoder_sizes=(48,), decoder_sizes=(64,), beta_rate=0.99)
    if cfg.model.conductor_sizes:
        model = dataclasses.replace(model, conductor_sizes=(16,), decoder_sizes=(16,), encoder_sizes=(16,))
    options = dict(batch_size=8, val_every=50, max_steps=150, learning_rate=1e-2, min_learning_rate=1e-4)
    options.update(decay_rate=0.999, transpose=0)
    options.update(train)
    return dataclasses.replace(cfg, model=model, train=dataclasses.replace(cfg.train, **options))


def read_metrics(summary: dict) -> list[dict[str, str]]:
    with open(Path(summary["log_dir"]) / "metrics.csv") as f:
        return list(csv.DictReader(f))


def test_overfits_a_few_windows(tmp_path):
    config = tiny(model_kl := "2bar-small")
    config = dataclasses.replace(config, model=dataclasses.replace(config.model, kl_weight=0.05))
    windows = melodies(8)
    model, summary = train_model(config, windows, windows, out_dir=tmp_path, progress=False, threads=1)
    assert model_kl and not model.training and next(model.parameters()).device.type == "cpu"
    assert summary["steps"] == summary["steps_this_run"] == 150 and summary["world_size"] == 1
    assert summary["sequences_per_second"] > 0 and summary["stopped_by"] == "max_steps"
    # An untrained model is near uniform: 32 * ln 90 ~ 144 nats per window, ~1/90 of tokens right.
    assert summary["val"]["recon"] < 0.35 * 32 * math.log(90)
    assert summary["val"]["accuracy"] > 0.75
    rows = read_metrics(summary)
    train_losses = [float(r["train/loss"]) for r in rows if r.get("train/loss")]
    assert len(train_losses) >= 3 and train_losses[-1] < 0.5 * train_losses[0]
    assert any(r.get("val/accuracy") for r in rows) and any(r.get("train/beta") for r in rows)
    # The model returned is the best checkpoint's, and decodes the training melodies back.
    assert summary["weights"] == "best" and Path(summary["best_checkpoint"]).is_file()
    assert (tmp_path / "checkpoints" / "last.ckpt").is_file()
    events = torch.from_numpy(windows).long()
    with torch.no_grad():
        decoded = model.decode(model.encode(events)[0])
    assert (decoded == events).float().mean() > 0.6


def test_resume_continues_the_step_count(tmp_path):
    config = tiny(val_every=4)
    windows = melodies(16)
    _, first = train_model(config, windows, windows[:8], out_dir=tmp_path, max_steps=6, progress=False, threads=1)
    assert first["steps"] == 6
    with pytest.raises(InputError):  # a fresh run must not clobber the existing one
        train_model(config, windows, windows[:8], out_dir=tmp_path, max_steps=6, progress=False, threads=1)
    _, second = train_model(
        config, windows, windows[:8], out_dir=tmp_path, max_steps=10, resume=True, progress=False, threads=1
    )
    assert second["steps"] == 10 and second["steps_this_run"] == 4
    with pytest.raises(InputError):
        train_model(config, windows, windows, out_dir=tmp_path / "none", resume=True, progress=False, threads=1)


def test_autoencoder_trains_with_z_equal_to_mu(tmp_path):
    config = tiny("2bar-small-ae", max_steps=5, val_every=5, transpose=5)
    windows = melodies(16)
    model, summary = train_model(config, windows, windows[:8], out_dir=tmp_path, progress=False, threads=1)
    assert not model.variational and summary["steps"] == 5
    model.train()
    out = model(torch.from_numpy(windows[:4]).long())
    assert torch.equal(out["z"], out["mu"])
    betas = [float(r["train/beta"]) for r in read_metrics(summary) if r.get("train/beta")]
    assert betas and all(b == 0 for b in betas)


def test_hierarchical_denoising_with_scheduled_sampling_trains(tmp_path):
    config = tiny("16bar-hier-small", max_steps=3, val_every=3, batch_size=4, sampling_rate=1.0, transpose=3)
    config = dataclasses.replace(config, model=dataclasses.replace(config.model, input_dropout=0.2))
    windows = melodies(8, steps=256)
    model, summary = train_model(config, windows, windows[:4], out_dir=tmp_path, progress=False, threads=1)
    assert model.hierarchical and summary["steps"] == 3 and np.isfinite(summary["val"]["loss"])
    probs = [float(r["train/sample_prob"]) for r in read_metrics(summary) if r.get("train/sample_prob")]
    assert probs and all(p > 0 for p in probs)


def test_max_minutes_stops_the_run(tmp_path):
    windows = melodies(16)
    _, summary = train_model(tiny(), windows, windows, out_dir=tmp_path, max_minutes=0.0, progress=False, threads=1)
    assert summary["stopped_by"] == "max_minutes" and summary["steps"] == 1
    assert (tmp_path / "checkpoints" / "last.ckpt").is_file()


def test_bad_windows_raise_input_error(tmp_path):
    with pytest.raises(InputError):
        train_model(tiny(), melodies(4, steps=48), melodies(4), out_dir=tmp_path, progress=False)
    with pytest.raises(InputError):
        train_model(tiny(), melodies(4), np.zeros((0, 32), np.uint8), out_dir=tmp_path, progress=False)
    with pytest.raises(InputError):
        train_model(tiny(), np.full((4, 32), 90, np.int64), melodies(4), out_dir=tmp_path, progress=False)


def test_transposition_keeps_every_window_in_range():
    gen = torch.Generator().manual_seed(0)
    events = torch.from_numpy(melodies(64)).long()
    events[0] = torch.where(events[0] >= 2, 89, events[0])  # already at the top: may only go down
    events[1] = torch.where(events[1] >= 2, 2, events[1])  # at the bottom: may only go up
    events[2] = torch.randint(0, 2, (32,))  # no pitches at all
    shifted = transpose_events(events, 5, num_classes=90, generator=gen)
    is_pitch = events >= 2
    assert torch.equal(shifted[~is_pitch], events[~is_pitch])  # holds and note-offs untouched
    assert shifted.min() >= 0 and shifted.max() <= 89 and (shifted[is_pitch] >= 2).all()
    delta = torch.where(is_pitch, shifted - events, 0)
    for row, mask in zip(delta, is_pitch):
        values = row[mask].unique()
        assert len(values) <= 1 and (values.abs() <= 5).all()  # one shift per window
    assert (delta[0] <= 0).all() and (delta[1] >= 0).all()
    assert len({int(r[m][0]) for r, m in zip(delta[3:], is_pitch[3:]) if m.any()}) > 5  # shifts vary
    assert torch.equal(transpose_events(events, 0, num_classes=90), events)


def test_schedules():
    assert sampling_probability(0, 0.0) == 0.0 and sampling_probability(10**9, 0.0) == 0.0
    assert sampling_probability(0, 1000.0) == pytest.approx(1 - 1000 / 1001)
    assert sampling_probability(10**9, 1000.0) == 1.0
    assert sampling_probability(5000, 1000.0) > sampling_probability(1000, 1000.0)
    assert learning_rate_at(0, lr=1e-3, min_lr=1e-5, decay=0.9999) == pytest.approx(1e-3)
    assert learning_rate_at(10**7, lr=1e-3, min_lr=1e-5, decay=0.9999) == pytest.approx(1e-5)


def test_choose_threads():
    previous = torch.get_num_threads()
    try:
        assert choose_threads(1) == 1 and torch.get_num_threads() == 1
        chosen = choose_threads()
        assert 1 <= chosen <= (os.cpu_count() or 1) and torch.get_num_threads() == chosen
        assert choose_threads(processes=64) == 1
        with pytest.raises(ConfigError):
            choose_threads(0)
    finally:
        torch.set_num_threads(previous)


DDP_SCRIPT = """
import dataclasses, json, os, pathlib, sys
import numpy as np
from musicvae.config import get_config
from musicvae.training import train_model

if __name__ == "__main__":
    cfg = get_config("2bar-small")
    cfg = dataclasses.replace(
        cfg,
        model=dataclasses.replace(cfg.model, z_dim=8, encoder_sizes=(16,), decoder_sizes=(16,)),
        train=dataclasses.replace(cfg.train, batch_size=8, val_every=3, max_steps=4),
    )
    windows = np.random.default_rng(0).integers(30, 60, (64, 32)).astype(np.uint8)
    model, summary = train_model(cfg, windows, windows[:16], out_dir=sys.argv[1], devices=2, strategy="ddp",
                                 accelerator="cpu", threads=1, progress=False)
    # One file per process: the two ranks share stdout, and their lines can interleave.
    out = pathlib.Path(sys.argv[1]) / f"summary-{os.getpid()}.json"
    out.write_text(json.dumps({**summary, "has_model": model is not None}))
"""


@pytest.mark.slow  # 10-35 s: two processes start, import torch and Lightning, and meet over gloo
def test_ddp_on_two_cpu_processes(tmp_path):
    # Lightning's "ddp" strategy re-launches the script for rank 1, so it runs as a script of its own.
    script = tmp_path / "ddp_train.py"
    script.write_text(textwrap.dedent(DDP_SCRIPT))
    env = {**os.environ, "PYTHONPATH": str(REPO), "MASTER_PORT": str(29500 + os.getpid() % 1000)}
    done = subprocess.run(
        [sys.executable, str(script), str(tmp_path / "run")], capture_output=True, text=True, env=env, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    summaries = [json.loads(p.read_text()) for p in (tmp_path / "run").glob("summary-*.json")]
    assert len(summaries) == 2 and all(s["world_size"] == 2 and s["steps"] == 4 for s in summaries)
    assert sum(s["has_model"] for s in summaries) == 1  # only rank 0 returns the model
    assert "gloo" in done.stdout + done.stderr
    assert (tmp_path / "run" / "checkpoints" / "last.ckpt").is_file()


# ---------------------------------------------------------------------------
# Every kind's objective, logged metrics and RNG use, pinned by a few real steps
# ---------------------------------------------------------------------------


def _kind_run(kind: str) -> tuple[InstrumentConfig, object, object]:
    """A tiny config of ``kind`` that exercises its augmentation, free bits and beta ramp, and synthetic data."""
    if kind == "melody":
        config = tiny(max_steps=3, val_every=1, transpose=3, sampling_rate=2.0)
        config = dataclasses.replace(config, model=dataclasses.replace(
            config.model, input_dropout=0.2, kl_weight=0.5, free_bits=1.0))
        windows = melodies(24)
        return config, windows[:16], windows[16:]
    if kind == "accompanist":
        from musicvae.kinds.accompanist.config import ChoraleRepresentation

        config = get_config("minibach-small")
        # The ranges pinned, so that a change of the default voice ranges does not move these numbers.
        representation = ChoraleRepresentation(soprano=(57, 81), alto=(53, 74), tenor=(48, 69), bass=(36, 64))
        config = dataclasses.replace(
            config,
            model=dataclasses.replace(config.model, representation=representation, hidden_size=16, z_dim=4,
                                      free_bits=0.5, kl_weight=0.3, beta_rate=0.9),
            train=dataclasses.replace(config.train, batch_size=8, max_steps=3, val_every=1))
        rng = np.random.default_rng(1)
        windows = np.stack([rng.integers(0, c, (24, representation.steps)) for c in representation.num_classes],
                           axis=1).astype(np.uint8)
        return config, windows[:16], windows[16:]
    from musicvae.config import apply_overrides
    from musicvae.kinds.timbre import build_spectrogram
    from musicvae.kinds.timbre.training import SpectrogramSet

    config = apply_overrides(get_config("timbre-small"), [
        "model.channels=[4, 8]", "model.z_dim=4", "model.pitch_embedding=4", "model.min_pitch=60",
        "model.max_pitch=62", "model.spectrogram.n_samples=8000", "model.input_noise=0.1", "model.free_bits=0.5",
        "model.beta_rate=0.9", "train.batch_size=4", "train.val_every=1", "train.max_steps=3"])
    shape = build_spectrogram(config).shape
    gen = torch.Generator().manual_seed(2)

    def notes(n: int) -> SpectrogramSet:
        return SpectrogramSet(torch.rand(n, *shape, generator=gen) * 2 - 1, torch.randint(60, 63, (n,), generator=gen),
                              torch.full((n,), 100.0), torch.randint(0, 2, (n,), generator=gen))

    return config, notes(12), notes(6)


#: What the three runs of :func:`_kind_run` logged (metrics.csv, in row order), recorded with the three
#: per-kind Lightning modules before they were put on one shared VAE base: a refactor must keep every number.
LOGGED_BEFORE = {
    "melody": {
        "train/accuracy": [0.015625, 0.3085938, 0.6835938],
        "train/beta": [0.0, 0.005, 0.00995],
        "train/kl": [1.784931, 2.029739, 2.735737],
        "train/loss": [143.4956, 138.836, 129.4515],
        "train/recon": [143.4956, 138.8293, 129.4312],
        "train/sample_prob": [0.3333333, 0.4518628, 0.5761169],
        "val/accuracy": [0.2578125, 0.7070312, 0.7070312, 0.7070312],
        "val/kl": [2.029204, 2.700744, 6.059421, 6.059421],
        "val/loss": [139.313, 130.8523, 105.9901, 105.9901],
        "val/recon": [138.645, 129.8485, 103.3069, 103.3069],
    },
    "accompanist": {
        "train/beta": [0.0, 0.03, 0.057],
        "train/frame_accuracy": [0.04492188, 0.04492188, 0.04231771],
        "train/kl": [0.4827815, 0.4976312, 0.5034224],
        "train/loss": [631.3416, 634.6982, 632.595],
        "train/recon": [631.3416, 634.6937, 632.5861],
        "val/accuracy": [0.046875, 0.04752604, 0.04752604, 0.04752604],
        "val/frame_accuracy": [0.04752604, 0.04882812, 0.04882812, 0.04882812],
        "val/kl": [0.4886284, 0.4978945, 0.5079166, 0.4978945],
        "val/loss": [629.3841, 629.3096, 629.2515, 629.3096],
        "val/recon": [629.3415, 629.2642, 629.2031, 629.2642],
    },
    "timbre": {
        "train/beta": [0.0, 0.005, 0.0095],
        "train/kl": [0.3513885, 0.4532501, 0.5155346],
        "train/loss": [869.1045, 903.0081, 875.976],
        "train/lsd_db": [29.08923, 29.65608, 29.20548],
        "val/kl": [0.4764078, 0.5592797, 0.6258737, 0.6258737],
        "val/loss": [880.6989, 878.033, 875.1418, 875.1418],
        "val/lsd_db": [29.28749, 29.24346, 29.19566, 29.19566],
        "val/recon": [880.6924, 878.0223, 875.1277, 875.1277],
    },
}


def _logged(summary: dict) -> dict[str, list[float]]:
    series: dict[str, list[float]] = {}
    for row in read_metrics(summary):
        for name, value in row.items():
            if value and name.startswith(("train/", "val/")):
                series.setdefault(name, []).append(float(value))
    return series


@pytest.mark.parametrize("kind", ["melody", "accompanist", "timbre"])
def test_every_kind_logs_the_same_numbers_as_before(kind, tmp_path):
    config, train, valid = _kind_run(kind)
    _, summary = train_model(config, train, valid, out_dir=tmp_path, threads=1, progress=False, accelerator="cpu",
                             devices=1, seed=0)
    logged = _logged(summary)
    expected = LOGGED_BEFORE[kind]
    assert sorted(logged) == sorted(expected)  # the metric names too: checkpoints and plots read them
    for name, values in expected.items():
        assert logged[name] == pytest.approx(values, rel=1e-4, abs=1e-6), name


def test_every_kind_trains_through_the_shared_vae_module():
    from musicvae.config import to_dict
    from musicvae.kinds import get_kind
    from musicvae.kinds.melody.training import SequenceVAEModule
    from musicvae.training.vae import VAEModule

    for kind in ("melody", "accompanist", "timbre"):
        config, _, _ = _kind_run(kind)
        module = get_kind(kind).lightning_module(config)
        assert isinstance(module, VAEModule) and type(module) is not VAEModule
        # The keys checkpoints of earlier runs hold, so that they still resume.
        assert module.state_dict() and all(key.startswith("model.") for key in module.state_dict())
        assert module.hparams["config"] == to_dict(config)
    with pytest.raises(ConfigError, match="trains melody models"):
        SequenceVAEModule(config)  # the timbre config


def test_a_16_bar_model_starts_from_a_2_bar_one_where_names_and_shapes_match(tmp_path):
    from musicvae.builders import build_model
    from musicvae.training.warm_start import warm_start

    flat, long = tiny("2bar-small"), tiny("16bar-hier-small")
    long = dataclasses.replace(long, model=dataclasses.replace(
        long.model, z_dim=16, encoder_sizes=(48,), decoder_sizes=(64,), conductor_sizes=(16,)))
    torch.manual_seed(0)
    source = build_model(flat).state_dict()
    torch.manual_seed(1)
    model = build_model(long)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    started = warm_start(model, source)
    after = model.state_dict()
    # The encoder, posterior and bar decoder have the flat model's shapes (conductor as wide as z): copied.
    assert {k for k in started.copied} == set(source) and started.copied_values < started.total_values
    assert all(torch.equal(after[k], source[k]) for k in started.copied)
    assert set(started.fresh) == {k for k in after if k.startswith("conductor")} and not started.reshaped
    assert all(torch.equal(after[k], before[k]) for k in started.fresh)
    assert "conductor.0.weight_hh_l0" in started.summary()
    # A wider conductor: the bar decoder's shapes differ, so only the encoder and posterior carry over.
    wide = build_model(dataclasses.replace(long, model=dataclasses.replace(long.model, conductor_sizes=(24,))))
    partial = warm_start(wide, source)
    assert "decoder.0.weight_ih_l0" in partial.reshaped and "encoder.0.weight_ih_l0" in partial.copied
    with pytest.raises(InputError):  # nothing in common
        warm_start(model, {"other.weight": torch.zeros(3)})

    # Through the trainer: applied to a fresh run and reported, not to a resumed one (its checkpoint has it).
    windows = melodies(8, steps=256)
    _, summary = train_model(long, windows, windows[:4], out_dir=tmp_path, max_steps=2, progress=False, threads=1,
                             init_from=source)
    assert summary["warm_start"].startswith(f"{len(source)} of {len(after)} tensors")
    _, resumed = train_model(long, windows, windows[:4], out_dir=tmp_path, max_steps=3, resume=True, progress=False,
                             threads=1, init_from=source)
    assert resumed["steps"] == 3 and "warm_start" not in resumed
