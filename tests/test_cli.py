"""The CLI end to end on a tiny instrument: outputs written, bad input gives one line and exit 2."""

import subprocess
import sys

import pretty_midi
import pytest

from musicvae.cli import main
from tests.test_instrument import make_instrument


def write_midi(path, notes, *, bpm=120.0, drum=False, time_signature=(4, 4), program=0):
    """Write ``notes`` = [(pitch, start_beat, end_beat)] as a real MIDI file."""
    midi = pretty_midi.PrettyMIDI(initial_tempo=bpm)
    midi.time_signature_changes.append(pretty_midi.TimeSignature(*time_signature, 0.0))
    inst = pretty_midi.Instrument(program=program, is_drum=drum)
    beat = 60.0 / bpm
    for pitch, start, end in notes:
        inst.notes.append(pretty_midi.Note(velocity=90, pitch=pitch, start=start * beat, end=end * beat))
    midi.instruments.append(inst)
    midi.write(str(path))
    return path


def scale(root=60, beats=8):
    return [(root + [0, 2, 4, 5, 7, 9, 11, 12][i % 8], i * 1.0, i * 1.0 + 0.75) for i in range(beats)]


@pytest.fixture(scope="module")
def instrument(tmp_path_factory):
    return make_instrument(tmp_path_factory.mktemp("cli"))


@pytest.fixture
def tunes(tmp_path):
    a = write_midi(tmp_path / "a.mid", scale(60))
    b = write_midi(tmp_path / "b.mid", scale(67)[::-1])
    return a, b


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_morph_writes_midi_and_plot(capsys, tmp_path, instrument, tunes):
    out = tmp_path / "o" / "morph.mid"
    code, stdout, err = run(capsys, "morph", instrument, *tunes, "--steps", "3", "-o", out,
                            "--plot", tmp_path / "o" / "m.png", "--per-step")
    assert code == 0, err
    midi = pretty_midi.PrettyMIDI(str(out))
    # three 2-bar steps at 120 BPM: the file is padded to the bar line, 3 * 4 s.
    assert midi.get_end_time() == pytest.approx(12.0, abs=1e-3)
    assert (tmp_path / "o" / "m.png").read_bytes()[:4] == b"\x89PNG"
    assert sorted(p.name for p in out.parent.glob("morph_step*.mid")) == [f"morph_step0{i}.mid" for i in range(3)]
    assert stdout.count("wrote ") == 5


def test_sample_writes_n_files(capsys, tmp_path, instrument):
    code, stdout, err = run(capsys, "sample", instrument, "-n", "3", "-o", tmp_path / "s", "--seed", "1")
    assert code == 0, err
    assert len(list((tmp_path / "s").glob("sample_*.mid"))) == 3


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda d: (d / "x.mid").write_text("hello, not midi") and d / "x.mid", "not a midi file"),
        (lambda d: d / "missing.mid", "no such file"),
        (lambda d: write_midi(d / "drums.mid", scale(40), drum=True), "drum"),
        (lambda d: write_midi(d / "empty.mid", []), "no notes"),
        (lambda d: write_midi(d / "waltz.mid", scale(60, 12), time_signature=(3, 4)), "3/4"),
        (lambda d: write_midi(d / "five.mid", scale(60, 10), time_signature=(5, 4)), "no shipped instrument takes 5/4"),
    ],
    ids=["not-midi", "missing", "drums", "empty", "three-four", "five-four"],
)
def test_bad_midi_is_one_line_exit_2(capsys, tmp_path, instrument, tunes, make, message):
    bad = make(tmp_path)
    code, stdout, err = run(capsys, "morph", instrument, bad, tunes[1], "-o", tmp_path / "m.mid")
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("musicvae: error:"), err
    assert message in err.lower()
    assert not (tmp_path / "m.mid").exists()


def test_truncated_midi(capsys, tmp_path, instrument, tunes):
    data = tunes[0].read_bytes()
    (tmp_path / "cut.mid").write_bytes(data[: len(data) // 2])
    code, _, err = run(capsys, "morph", instrument, tmp_path / "cut.mid", tunes[1], "-o", tmp_path / "m.mid")
    assert code == 2 and err.startswith("musicvae: error:") and err.count("\n") == 1


def test_polyphony_and_out_of_range_warn_but_work(capsys, tmp_path, instrument, tunes):
    chords = [(p, i, i + 1) for i in range(8) for p in (48 + i, 52 + i, 55 + i)] + [(110, 0, 1)]
    poly = write_midi(tmp_path / "poly.mid", chords)
    code, _, err = run(capsys, "morph", instrument, poly, tunes[1], "-o", tmp_path / "m.mid")
    assert code == 0
    assert "top line" in err and "outside midi pitch 21..108" in err.lower()


def test_tempo_changes_do_not_change_the_window(capsys, tmp_path, instrument):
    # The same notes at 90 and at 150 BPM, one with a tempo change: the morph's endpoints are identical.
    slow = write_midi(tmp_path / "slow.mid", scale(60), bpm=90)
    fast = write_midi(tmp_path / "fast.mid", scale(60), bpm=150)
    code, _, err = run(capsys, "morph", instrument, slow, fast, "--steps", "2", "-o", tmp_path / "m.mid",
                       "--per-step")
    assert code == 0, err
    one = pretty_midi.PrettyMIDI(str(tmp_path / "m_step00.mid")).instruments[0].notes
    two = pretty_midi.PrettyMIDI(str(tmp_path / "m_step01.mid")).instruments[0].notes
    assert [(n.pitch, n.start) for n in one] == [(n.pitch, n.start) for n in two]


def test_unknown_config_key_and_instrument(capsys, tmp_path):
    code, _, err = run(capsys, "train", tmp_path / "new", "--config", "2bar-small", "--set", "model.zdim=3")
    assert code == 2 and "unknown config key 'model.zdim'" in err and "z_dim" in err
    code, _, err = run(capsys, "sample", tmp_path / "nothing")
    assert code == 2 and "no instrument at" in err
    # Starting weights of another kind, or none at all: one line, before any data is built or run folder made.
    code, _, err = run(capsys, "train", tmp_path / "long", "--config", "16bar-hier-small", "--init-from",
                       "bach-chorale-net", "--run-dir", tmp_path / "run")
    assert code == 2 and "is an accompanist instrument, this is a melody one" in err and len(err.splitlines()) == 1
    code, _, err = run(capsys, "train", tmp_path / "long", "--config", "16bar-hier-small", "--init-from",
                       tmp_path / "nothing", "--run-dir", tmp_path / "run")
    assert code == 2 and "no instrument at" in err
    assert not (tmp_path / "long").exists() and not (tmp_path / "run").exists()


def test_unwritable_output(capsys, tmp_path, instrument, tunes):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    code, _, err = run(capsys, "morph", instrument, *tunes, "-o", blocker / "m.mid")
    assert code == 2 and "cannot create" in err


def test_debug_shows_traceback_and_console_script_exits_2(tmp_path):
    result = subprocess.run([sys.executable, "cli.py", "--debug", "sample", str(tmp_path / "none")],
                            capture_output=True, text=True)
    assert result.returncode == 2
    assert "Traceback" in result.stderr and "no instrument at" in result.stderr
    result = subprocess.run([sys.executable, "cli.py", "configs"], capture_output=True, text=True)
    assert result.returncode == 0 and "2bar-small" in result.stdout


def test_train_on_a_midi_folder_builds_trains_and_writes_the_instrument(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("MUSICVAE_CACHE", str(tmp_path / "cache"))
    midi = tmp_path / "midi"
    midi.mkdir()
    for i in range(12):
        write_midi(midi / f"tune{i:02d}.mid", scale(55 + i, 16))
    recipe = tmp_path / "mine.toml"
    recipe.write_text(f'name = "mine"\n[[sources]]\ntype = "midi-folder"\npath = "{midi}"\n'
                      '[split]\nvalid = 0.3\ntest = 0.2\n')
    out = tmp_path / "inst"
    code, stdout, err = run(capsys, "train", out, "--config", "2bar-small", "--set", f"data={recipe}",
                            "--set", "model.z_dim=4", "--set", "model.encoder_sizes=[8]",
                            "--set", "model.decoder_sizes=[8]", "--set", "train.batch_size=4",
                            "--max-steps", "2", "--run-dir", tmp_path / "run", "--threads", "1", "--quiet", "--half")
    assert code == 0, err
    assert "building dataset 'mine' first" in stdout and f"wrote {out}" in stdout
    card = (out / "card.md").read_text()
    assert "--max-steps 2" in card and "- steps: 2" in card and "train windows" in card
    code, stdout, err = run(capsys, "sample", out, "-n", "2", "-o", tmp_path / "s")
    assert code == 0, err


def test_train_a_timbre_instrument_then_blend_with_it(capsys, tmp_path, monkeypatch):
    from timbre_fixtures import RECIPE

    from musicvae.instrument import Instrument

    monkeypatch.setenv("MUSICVAE_CACHE", str(tmp_path / "cache"))
    recipe = tmp_path / "tiny-flute-guitar.toml"
    recipe.write_text(RECIPE)
    out = tmp_path / "timbre"
    sets = [f"data={recipe}", "model.channels=[4, 8]", "model.z_dim=4", "model.pitch_embedding=4",
            "model.min_pitch=60", "model.max_pitch=62", "model.spectrogram.n_samples=8000",
            "model.spectrogram.inversion_iters=4", "train.batch_size=4", "train.val_every=2"]
    code, stdout, err = run(capsys, "train", out, "--config", "timbre-small", *[a for s in sets for a in ("--set", s)],
                            "--max-steps", "3", "--run-dir", tmp_path / "run", "--threads", "1", "--quiet")
    assert code == 0, err
    assert "building dataset 'tiny-flute-guitar' first" in stdout and "(flute, guitar)" in stdout
    curves = tmp_path / "run" / "logs" / "version_0" / "curves.png"
    assert f"wrote {curves}" in stdout and curves.stat().st_size > 5000  # loss curves beside metrics.csv
    trained = Instrument.load(out)
    assert set(trained.extras) == {"mean_latent.flute", "mean_latent.guitar", "pitch_latent.flute",
                                   "pitch_latent.guitar"}
    assert tuple(trained.extras["pitch_latent.flute"].shape) == (3, 4)  # MIDI 60..62, z_dim 4
    assert "- steps: 3" in (out / "card.md").read_text()
    code, stdout, err = run(capsys, "blend", out, "--pitch", "61", "--steps", "3", "-o", tmp_path / "b.wav")
    assert code == 0, err
    assert (tmp_path / "b.wav").stat().st_size > 3 * 8000 * 2


def test_train_an_accompanist_then_harmonize_with_it(capsys, tmp_path, monkeypatch):
    from musicvae.io import repo_root

    monkeypatch.setenv("MUSICVAE_CACHE", str(tmp_path / "cache"))
    recipe = tmp_path / "few-chorales.toml"
    recipe.write_text('name = "few-chorales"\nkind = "chorale"\n[[sources]]\ntype = "music21-corpus"\n'
                      'collections = ["bach"]\nmax_files = 12\n[split]\nvalid = 0.2\ntest = 0.1\n')
    out = tmp_path / "acc"
    code, stdout, err = run(capsys, "train", out, "--config", "minibach-small", "--set", f"data={recipe}",
                            "--set", "model.hidden_size=16", "--set", "model.z_dim=4", "--set", "train.batch_size=8",
                            "--max-steps", "2", "--run-dir", tmp_path / "run", "--threads", "1", "--quiet")
    assert code == 0, err
    assert "building dataset 'few-chorales' first" in stdout and "train /" in stdout
    melody = repo_root() / "examples" / "chorale_soprano.musicxml"
    code, stdout, err = run(capsys, "harmonize", out, melody, "-o", tmp_path / "c.mid")
    assert code == 0, err
    chorale = pretty_midi.PrettyMIDI(str(tmp_path / "c.mid"))
    assert [i.name for i in chorale.instruments] == ["Soprano", "Alto", "Tenor", "Bass"]


def test_morph_of_whole_tunes_writes_each_step_at_their_length(capsys, tmp_path, instrument):
    a = write_midi(tmp_path / "a.mid", scale(60, 32))  # 8 bars
    b = write_midi(tmp_path / "b.mid", scale(67, 24)[::-1])  # 6 bars: sets the length
    out = tmp_path / "o" / "tune.mid"
    code, stdout, err = run(capsys, "morph", instrument, a, b, "--steps", "4", "-o", out)
    assert code == 0, err
    assert "a.mid is 8 bars, b.mid 6: the morph keeps the shorter tune's 6 bars" in err
    steps = sorted(out.parent.glob("tune_step*.mid"))
    assert [p.name for p in steps] == [f"tune_step0{i}.mid" for i in range(4)]
    for path in steps:  # 6 bars at 120 BPM
        assert pretty_midi.PrettyMIDI(str(path)).get_end_time() == pytest.approx(12.0, abs=1e-3)
    assert pretty_midi.PrettyMIDI(str(out)).get_end_time() == pytest.approx(48.0, abs=1e-3)
    assert stdout.count("wrote ") == 5


def test_morph_of_one_phrase_and_a_short_tune(capsys, tmp_path, instrument):
    a, b = write_midi(tmp_path / "a.mid", scale(60, 32)), write_midi(tmp_path / "b.mid", scale(64, 32))
    code, _, err = run(capsys, "morph", instrument, a, b, "--steps", "2", "--window", "3", "-o", tmp_path / "w.mid")
    assert code == 0, err
    assert pretty_midi.PrettyMIDI(str(tmp_path / "w.mid")).get_end_time() == pytest.approx(8.0, abs=1e-3)
    code, _, err = run(capsys, "morph", instrument, a, b, "--window", "5", "-o", tmp_path / "x.mid")
    assert code == 2 and "--window 5: the tunes hold 4 windows of 2 bars" in err and not (tmp_path / "x.mid").exists()
    code, _, err = run(capsys, "morph", instrument, a, b, "--window", "1", "--bar", "2", "-o", tmp_path / "x.mid")
    assert code == 2 and "not allowed with argument" in err and err.count("\n") == 1
    short = write_midi(tmp_path / "short.mid", scale(60, 3))  # under one bar: padded, with a warning
    code, _, err = run(capsys, "morph", instrument, short, b, "--steps", "2", "-o", tmp_path / "s.mid")
    assert code == 0 and "shorter than the model's 2-bar window: padded with rests" in err
    code, _, err = run(capsys, "morph", instrument, short, b, "--bar", "1", "-o", tmp_path / "s.mid")
    assert code == 2 and "too short" in err  # one window at a bar still needs the window


def test_add_takes_known_attributes_and_needs_the_vectors(capsys, tmp_path, instrument, tunes):
    code, _, err = run(capsys, "morph", instrument, *tunes, "--add", "loudness=+1", "-o", tmp_path / "m.mid")
    assert code == 2 and err.count("\n") == 1
    assert "unknown attribute 'loudness'; known: density, interval, syncopation, range, pitch, length" in err
    code, _, err = run(capsys, "sample", instrument, "--add", "density=1e9", "-o", tmp_path / "s")
    assert code == 2 and "amount from -100 to 100" in err
    code, _, err = run(capsys, "sample", instrument, "--add", "density=+1.5", "-o", tmp_path / "s")
    assert code == 2 and "has no attribute vectors" in err and "musicvae attributes" in err
    assert not (tmp_path / "s").exists()
