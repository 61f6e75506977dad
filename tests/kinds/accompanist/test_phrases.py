"""Phrases as a chorale net's input: fermatas read from the corpus and from MusicXML, phrase tokens on the
grid, windows that carry them, a net that reads them, training that never transposes them, and the whole
path (train, harmonize, evaluate) of a net that has them."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from chorale_fixtures import train_tiny_net

from musicvae.kinds.accompanist import data as chorale_data
from musicvae.midi import chorale as codec


def test_phrase_tokens_mark_the_fermata_and_count_down_to_it():
    onsets = np.zeros(40, bool)
    onsets[::4] = True  # quarter notes
    tokens = codec.phrase_tokens([8, 30], onsets)
    assert tokens.dtype == np.uint8 and len(tokens) == 40
    # Steps 0-3 are 5-8 steps before the first fermata, 4-7 are 1-4 before it.
    assert tokens[:4].tolist() == [3] * 4 and tokens[4:8].tolist() == [2] * 4
    # The fermata lasts its note: to the next soprano onset.
    assert tokens[8:12].tolist() == [codec.PHRASE_FERMATA] * 4
    assert tokens[12] == 5 and tokens[14] == 4  # 18 and 16 steps before the next one
    assert tokens[30:32].tolist() == [codec.PHRASE_FERMATA] * 2
    assert set(tokens[32:]) == {codec.PHRASE_CLASSES - 1}  # no fermata ahead
    assert tokens.max() < codec.PHRASE_CLASSES
    # No fermatas known: the phrases are unknown, which is not "one phrase without end".
    assert set(codec.phrase_tokens([], onsets)) == {codec.PHRASE_UNKNOWN}
    # Fermatas outside the melody are ignored.
    assert set(codec.phrase_tokens([99], onsets)) == {codec.PHRASE_UNKNOWN}


def test_the_chorale_cache_keeps_bach_fermatas_and_each_window_its_phrases(recipe):
    path, cache = recipe
    grids = {**chorale_data.load_chorale_grids(path, split="train", cache_dir=cache),
             **chorale_data.load_chorale_grids(path, split="valid", cache_dir=cache)}
    piece, grid = next(iter(grids.items()))
    # The cache holds the corpus's own fermatas, as fermata_steps reads them from the score.
    assert list(grid.fermatas) == codec.fermata_steps(codec.parse_corpus_chorale(piece))
    assert all(len(g.fermatas) >= 2 for g in grids.values())  # every chorale has phrases
    for f in grid.fermatas:
        assert grid.onsets[0, f] and grid.pitches[0, f] >= 0  # a soprano note starts there
    split = chorale_data.load_chorale_split(path, split="train", cache_dir=cache)
    assert split.phrase.shape == (len(split.windows), 64)
    for i in (0, len(split.windows) // 2, len(split.windows) - 1):
        g = chorale_data._grid_of(np.load(next(cache.rglob("chorales.npz"))), int(split.piece[i]))
        whole = codec.phrase_tokens(g.fermatas, g.onsets[0] | (g.pitches[0] < 0))
        assert np.array_equal(split.phrase[i], whole[split.start[i] : split.start[i] + 64])
    rows = chorale_data.with_phrase_row(split)
    assert rows.shape == (len(split.windows), 5, 64) and np.array_equal(rows[:, :4], split.windows)


def test_a_net_with_a_phrase_input_reads_it():
    from musicvae.models.chorale_net import ChoraleNet

    torch.manual_seed(0)
    net = ChoraleNet(soprano_classes=27, voice_classes=(24, 24, 31), channels=16, layers=2, embed_size=8, z_dim=4,
                     phrase_classes=codec.PHRASE_CLASSES).eval()
    soprano = torch.randint(0, 27, (2, 64))
    unknown = net.probabilities(soprano)
    assert all(torch.allclose(a, b) for a, b in zip(unknown, net.probabilities(soprano,
                                                                               phrase=torch.zeros_like(soprano))))
    phrase = torch.full_like(soprano, 3)
    phrase[:, 30:34] = codec.PHRASE_FERMATA
    known = net.probabilities(soprano, phrase=phrase)
    assert any((a - b).abs().max() > 1e-4 for a, b in zip(unknown, known))
    with pytest.raises(ValueError, match="phrase tokens"):
        net.probabilities(soprano, phrase=phrase[:, :32])
    # A net without the input ignores it (an old instrument's path).
    plain = ChoraleNet(soprano_classes=27, voice_classes=(24, 24, 31), channels=16, layers=2, embed_size=8,
                       z_dim=4).eval()
    assert all(torch.equal(a, b) for a, b in zip(plain.probabilities(soprano), plain.probabilities(soprano,
                                                                                                  phrase=phrase)))


def test_training_transposes_the_voices_never_the_phrase_row_and_hides_some_phrases():
    from musicvae.config.registry import get_config
    from musicvae.kinds.accompanist.training import AccompanistModule, check_chorale_windows

    config = get_config("chorale-net-phrases-small")
    rep = config.model.representation
    assert rep.phrases and rep.rows == 5
    module = AccompanistModule(config)
    rng = np.random.default_rng(0)
    windows = np.zeros((400, 5, 64), np.uint8)
    windows[:, :4] = codec.FIRST_PITCH + 6  # every voice sings its range's seventh pitch: room to move both ways
    windows[:, 4] = rng.integers(1, codec.PHRASE_CLASSES, (400, 64))
    check_chorale_windows(windows, "train", representation=rep)
    torch.manual_seed(0)
    out = module.prepare_batch(torch.from_numpy(windows), training=True).numpy()
    assert (out[:, :4] != windows[:, :4]).any()  # transposed
    kept = (out[:, 4] == windows[:, 4]).all(axis=1)
    hidden = (out[:, 4] == codec.PHRASE_UNKNOWN).all(axis=1)
    assert (kept | hidden).all()  # a window's phrases are kept whole or hidden whole, never shifted
    assert 0.15 < hidden.mean() < 0.35  # phrase_dropout 0.25
    assert np.array_equal(module.prepare_batch(torch.from_numpy(windows), training=False).numpy(), windows)
    bad = windows.copy()
    bad[0, 4, 0] = codec.PHRASE_CLASSES
    with pytest.raises(Exception, match="phrase row"):
        check_chorale_windows(bad, "train", representation=rep)


def test_a_musicxml_melody_keeps_its_fermatas_and_midi_has_none(tmp_path):
    from musicvae.harmonize import read_melody_grid
    from musicvae.io import repo_root

    xml = read_melody_grid(repo_root() / "examples" / "chorale_soprano.musicxml")
    assert len(xml.fermatas) == 6
    assert all(xml.onsets[f] for f in xml.fermatas)
    tokens = xml.phrase()
    assert (tokens[list(xml.fermatas)] == codec.PHRASE_FERMATA).all()
    midi = read_melody_grid(repo_root() / "examples" / "chorale_soprano.mid")
    assert midi.fermatas == () and set(midi.phrase()) == {codec.PHRASE_UNKNOWN}


@pytest.fixture(scope="module")
def phrase_net(recipe, tmp_path_factory):
    return train_tiny_net(recipe, tmp_path_factory.mktemp("phrases") / "net", config="chorale-net-phrases-small",
                          gibbs_steps=2)


def test_a_phrase_net_trains_harmonises_from_its_fermatas_and_evaluates(phrase_net, recipe, tmp_path, monkeypatch,
                                                                        capsys):
    from musicvae.cli import main
    from musicvae.harmonize import harmonize, read_melody_grid
    from musicvae.instrument import Instrument
    from musicvae.io import repo_root

    instrument = Instrument.load(phrase_net)
    assert instrument.config.model.representation.phrases and instrument.model.phrase_classes == codec.PHRASE_CLASSES
    assert instrument.extras["memory"].shape[1] == 4  # the memory holds voices, not phrases
    xml = repo_root() / "examples" / "chorale_soprano.musicxml"
    with_phrases = harmonize(instrument, xml, variations=2, seed=0)
    assert len(with_phrases.grids) == 2 and len(with_phrases.scores) == 2
    # The fermatas change what the net hears: the same melody without them (as from MIDI) is heard otherwise.
    melody = read_melody_grid(xml)
    from musicvae.harmonize import melody_harmonizer

    harmonizer = melody_harmonizer(instrument, variations=2, seed=0)
    melody.fermatas = ()
    without = harmonizer(melody)
    assert not np.isclose(without.scores, with_phrases.scores).all()
    out = tmp_path / "c.mid"
    assert main(["harmonize", str(phrase_net), str(xml), "-o", str(out), "--variations", "2", "--seed", "1"]) == 0
    assert out.is_file()
    path, cache = recipe
    monkeypatch.setenv("MUSICVAE_CACHE", str(cache))
    capsys.readouterr()
    assert main(["evaluate", str(phrase_net), "--json", "--quiet"]) == 0
    report = json.loads(capsys.readouterr().out)
    systems = report["systems"]
    assert {"model", "model_alone", "model_argmax", "nearest_neighbour", "bach"} <= set(systems)
    # The cadence measures read the same fermatas the net does.
    assert systems["bach"]["harmony_counts"]["cadences"] > 0
    assert 0 <= systems["model"]["frame_accuracy"]["mean"] <= 1
