"""An accompanist with voice ranges other than Bach's trains, and harmonises, on its own token offsets.

The representation owns the ranges: the training windows are cut over them (not over the
codec's defaults), the model's vocabulary is sized by them and ``harmonize`` decodes with them.
"""

from __future__ import annotations

import numpy as np

from musicvae.config import apply_overrides, get_config
from musicvae.kinds.accompanist import KIND
from musicvae.kinds.accompanist import data as chorale_data
from musicvae.midi import chorale as codec

#: Narrower than Bach's alto (53..74) and tenor (48..69), with other lowest pitches: other token offsets.
ALTO, TENOR = (55, 72), (50, 67)
OVERRIDES = [f"model.representation.alto=[{ALTO[0]}, {ALTO[1]}]",
             f"model.representation.tenor=[{TENOR[0]}, {TENOR[1]}]"]


def _config(recipe_path, *extra):
    config = get_config("minibach-small")
    return apply_overrides(config, [f"data={recipe_path}", "model.hidden_size=16", "model.z_dim=4",
                                    "train.batch_size=8", *OVERRIDES, *extra])


def test_training_windows_use_the_representation_ranges(recipe, monkeypatch):
    path, cache = recipe
    monkeypatch.setenv("MUSICVAE_CACHE", str(cache))
    config = _config(path)
    rep = config.model.representation
    assert rep.ranges[1:3] == (ALTO, TENOR) and rep.ranges[1:3] != codec.VOICE_RANGES[1:3]

    data = KIND.training_data(config, progress=False, log=print)
    train = data.train
    assert len(train) and train.shape[1:] == (4, rep.steps)
    KIND.check_training_data(train, "train", config=config)  # every token inside the model's vocabulary

    # Each window's tokens decode, over the representation's ranges, to its chorale's own pitches.
    split = chorale_data.load_chorale_split(path, split="train", bars=rep.bars, ranges=rep.ranges)
    np.testing.assert_array_equal(train, split.windows)
    grids = chorale_data.load_chorale_grids(path, split="train")
    pitches, _ = codec.decode_grid(train, ranges=rep.ranges)
    for w, (piece, start) in enumerate(zip(split.piece, split.start)):
        expected = grids[str(split.piece_ids[piece])].pitches[:, start : start + rep.steps]
        np.testing.assert_array_equal(pitches[w], expected)
    for v, voice in ((1, "alto"), (2, "tenor")):
        tokens = train[:, v]
        starts = rep.token_pitches(voice, tokens[tokens >= rep.FIRST_PITCH])
        low, high = rep.ranges[v]
        assert starts.size and starts.min() >= low and starts.max() <= high
        np.testing.assert_array_equal(rep.pitch_tokens(voice, starts), tokens[tokens >= rep.FIRST_PITCH])

    # Windows cut with the codec's default ranges are other tokens (the defect: the model never saw these).
    default = chorale_data.load_chorale_split(path, split="train", bars=rep.bars, ranges=codec.VOICE_RANGES)
    assert default.dropped < split.dropped  # a narrower alto and tenor leave more windows out
    same = {(int(p), int(s)): w for w, (p, s) in enumerate(zip(default.piece, default.start))}
    rows = [same[(int(p), int(s))] for p, s in zip(split.piece, split.start)]
    alto_delta = ALTO[0] - codec.VOICE_RANGES[1][0]
    pitched = train[:, 1] >= rep.FIRST_PITCH
    # The same alto note is a token ``alto_delta`` lower over the custom range than over the default one.
    np.testing.assert_array_equal(default.windows[rows, 1][pitched].astype(int) - alto_delta,
                                  train[:, 1][pitched].astype(int))
    assert not np.array_equal(default.windows[rows], train)


def test_trains_and_harmonises_inside_the_custom_ranges(recipe, monkeypatch, tmp_path, capsys):
    from musicvae.cli import main
    from musicvae.harmonize import harmonize
    from musicvae.instrument import Instrument
    from musicvae.io import repo_root

    path, cache = recipe
    monkeypatch.setenv("MUSICVAE_CACHE", str(cache))
    out = tmp_path / "narrow"
    argv = ["train", str(out), "--config", "minibach-small", "--set", f"data={path}",
            "--set", "model.hidden_size=16", "--set", "model.z_dim=4", "--set", "train.batch_size=8",
            *(arg for o in OVERRIDES for arg in ("--set", o)),
            "--max-steps", "3", "--run-dir", str(tmp_path / "run"), "--threads", "1", "--quiet"]
    code = main(argv)
    assert code == 0, capsys.readouterr().err
    assert "building dataset" not in capsys.readouterr().out  # the fixture's cache was used

    instrument = Instrument.load(out)
    rep = instrument.config.model.representation
    assert rep.ranges[1:3] == (ALTO, TENOR)
    assert instrument.model.voice_classes == rep.num_classes[1:] != tuple(codec.num_classes(r)
                                                                           for r in codec.VOICE_RANGES[1:])

    result = harmonize(instrument, repo_root() / "examples" / "chorale_soprano.musicxml", variations=2, seed=0)
    for grid in result.grids:
        for v in range(1, 4):
            low, high = rep.ranges[v]
            sung = grid.pitches[v][grid.pitches[v] >= 0] + result.transposed  # at the range's pitch
            assert sung.size and sung.min() >= low and sung.max() <= high, (codec.VOICES[v], sung.min(), sung.max())

    verbs = KIND.verbs(instrument)
    lower = verbs.sample(2, seed=0)
    pitches, _ = verbs.pitches(lower)
    for v in range(3):
        low, high = rep.ranges[v + 1]
        sung = pitches[:, v][pitches[:, v] >= 0]
        assert sung.size == 0 or (sung.min() >= low and sung.max() <= high)
