"""A collapsed posterior is said out loud: by ``train`` after its run and by ``evaluate``."""

from __future__ import annotations

import numpy as np

from musicvae.cli import main
from musicvae.kinds import get_kind
from musicvae.kinds.melody.evaluate import collapse_check, collapse_warnings
from tests.kinds.melody.test_evaluate_melody import HoldModel, PerfectModel, random_melodies
from tests.test_cli import scale, write_midi

ADVICE = ("more data", "more steps", "lower beta")


def test_a_model_that_ignores_z_is_called_collapsed_and_a_good_one_is_not():
    windows = random_melodies(np.random.default_rng(1), 60, low=60, high=74, lengths=[2, 4, 4, 8])
    assert collapse_warnings(collapse_check(PerfectModel(), windows)) == []
    # HoldModel: its encoder outputs a constant (0 active units), its decoder always says "no event".
    lines = collapse_warnings(collapse_check(HoldModel(), windows, max_windows=20))
    assert len(lines) == 1 and "the posterior has collapsed" in lines[0] and "0 of 4 latent units active" in lines[0]
    assert all(advice in lines[0] for advice in ADVICE)
    # Either sign is enough: accuracy at the baseline with units in use, or no unit with a good accuracy.
    at_baseline = {"latent": {"active_units": 12, "z_dim": 128},
                   "reconstruction": {"sampled_accuracy": 0.665, "hold_baseline": 0.658}}
    assert collapse_warnings(at_baseline) and "accuracy 0.665" in collapse_warnings(at_baseline)[0]
    assert collapse_warnings({"latent": {"active_units": 0, "z_dim": 8}})
    assert collapse_warnings({"latent": {"active_units": 12, "z_dim": 128},
                              "reconstruction": {"sampled_accuracy": 0.90, "hold_baseline": 0.658}}) == []
    assert get_kind("melody").warnings({"kind": "melody", **at_baseline}) == collapse_warnings(at_baseline)
    assert get_kind("accompanist").warnings({}) == []  # the default: nothing to say


def test_train_and_evaluate_warn_of_a_collapsed_run(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("MUSICVAE_CACHE", str(tmp_path / "cache"))
    midi = tmp_path / "midi"
    midi.mkdir()
    for i in range(12):
        write_midi(midi / f"tune{i:02d}.mid", scale(55 + i, 16))
    recipe = tmp_path / "mine.toml"
    recipe.write_text(f'name = "mine"\n[[sources]]\ntype = "midi-folder"\npath = "{midi}"\n'
                      '[split]\nvalid = 0.3\ntest = 0.2\n')
    out = tmp_path / "inst"
    # A huge beta and three steps: the run learns nothing, and used to end as quietly as a good one.
    code = main(["train", str(out), "--config", "2bar-small", "--set", f"data={recipe}", "--set", "model.z_dim=4",
                 "--set", "model.encoder_sizes=[8]", "--set", "model.decoder_sizes=[8]", "--set", "model.kl_weight=50",
                 "--set", "train.batch_size=4", "--max-steps", "3", "--run-dir", str(tmp_path / "run"),
                 "--threads", "1", "--quiet"])
    stdout, err = capsys.readouterr()
    assert code == 0, err
    warning = [line for line in stdout.splitlines() if line.startswith("warning: the posterior has collapsed")]
    assert len(warning) == 1 and all(advice in warning[0] for advice in ADVICE), stdout
    assert f"wrote {out}" in stdout  # the instrument is still written
    code = main(["evaluate", str(out), "--split", "valid", "--n-prior", "4", "--quiet"])
    stdout, err = capsys.readouterr()
    assert code == 0, err
    assert "Melody evaluation" in stdout
    lines = [line for line in err.splitlines() if line.startswith("warning: the posterior has collapsed")]
    assert len(lines) == 1 and all(advice in lines[0] for advice in ADVICE), err
