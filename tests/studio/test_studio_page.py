"""Each tab of the studio used as a person would, in headless Chromium on the real ``musicvae studio``.

Upload (files written here by pretty_midi and soundfile), click, hear (the WAV the page played through
WebAudio, decoded and checked for its length and pitch), download (read back by pretty_midi, music21
or soundfile). A bad upload shows the command line's own one-line message.
"""

from __future__ import annotations

import base64
import io

import numpy as np
import pretty_midi
import soundfile
from PIL import Image
from studio_helpers import median_midi, played_audio, screenshot, wait_ready, write_tune

from musicvae.cli import main
from musicvae.studio.sound import MidiRenderer

TWO_BARS = 4.0  # seconds of a 2-bar melody at 120 BPM


def _download(page, locator):
    with page.expect_download() as info:
        locator.click()
    return info.value.path()


def _notes_heard(audio: np.ndarray, rate: int, midi: pretty_midi.PrettyMIDI) -> float:
    """Share of the MIDI file's notes (of 0.2 s or more) whose pitch class pYIN hears in their middle."""
    import librosa

    notes = [n for n in midi.instruments[0].notes if n.end - n.start >= 0.2]
    assert notes
    heard = 0
    for note in notes:
        mid = audio[int((note.start + 0.05) * rate): int((note.end - 0.05) * rate)]
        f0 = librosa.yin(mid, fmin=80, fmax=1100, sr=rate, frame_length=1024)
        if f0.size and round(float(np.median(librosa.hz_to_midi(f0)))) % 12 == note.pitch % 12:
            heard += 1
    return heard / len(notes)


def test_morph_tab_shows_plays_and_downloads_every_step(page, tunes, tmp_path):
    a, b = tunes
    page.set_input_files("#morph-a", str(a))
    page.set_input_files("#morph-b", str(b))
    page.fill("#morph-steps", "3")
    page.click("#morph-run")
    wait_ready(page, "morph", 1)
    cards = page.locator("#morph-grid .card")
    assert cards.count() == 3
    assert "(A)" in cards.nth(0).text_content() and "(B)" in cards.nth(2).text_content()
    screenshot(page, "morph", tmp_path)
    assert page.evaluate("studio.timings.morph.length") == 1

    for step in (0, 2):
        cards.nth(step).locator("button.play").click()
        page.wait_for_function(f"studio.played.length == {step // 2 + 1}")
        audio, rate = played_audio(page)
        played = page.evaluate("studio.played[studio.played.length - 1]")
        assert abs(played["duration"] - len(audio) / rate) < 0.01  # what WebAudio decoded is this file
        assert TWO_BARS <= len(audio) / rate <= TWO_BARS + 2.5  # two bars, then the last note's release
        midi = pretty_midi.PrettyMIDI(_download(page, cards.nth(step).locator("a.download")))
        assert abs(midi.get_end_time() - TWO_BARS) < 1e-6 and midi.instruments[0].notes
        assert _notes_heard(audio, rate, midi) >= 0.7, f"step {step}: the audio does not play its notes"

    every = pretty_midi.PrettyMIDI(_download(page, page.locator("#morph-downloads a")))
    assert abs(every.get_end_time() - 3 * TWO_BARS) < 1e-6  # the three steps one after another, as `morph` writes
    assert main(["morph", "melody-2bar", str(a), str(b), "--steps", "3", "-o", str(tmp_path / "cli.mid")]) == 0
    cli = pretty_midi.PrettyMIDI(str(tmp_path / "cli.mid"))
    assert [(n.pitch, n.start, n.end) for n in every.instruments[0].notes] == \
        [(n.pitch, n.start, n.end) for n in cli.instruments[0].notes]  # the command's own morph

    # The progress bar followed the job: its steps in order, each step's render named.
    shown = [p for p in page.evaluate("studio.progress") if p["bar"] == "morph-progress"]
    assert [p["done"] for p in shown] == sorted(p["done"] for p in shown), shown
    assert shown[-1]["state"] == "done" and shown[-1]["done"] == shown[-1]["total"] == 5  # 3 steps + 2 stages
    assert any(p["state"] == "running" and p["done"] < p["total"] for p in shown), shown  # seen while working


def test_bad_uploads_show_the_command_lines_message(page, tunes, tmp_path, capsys):
    a, _ = tunes
    corrupt = tmp_path / "corrupt.mid"
    corrupt.write_bytes(b"MThd\x00\x00\x00\x06\x00\x01\x00\x01\x01\xe0MTrk\x00\x00\x01\x00\x90\x3c")
    silent = write_tune(tmp_path / "drums.mid", [36, 38, 36, 38], program=0)
    drums = pretty_midi.PrettyMIDI(str(silent))
    drums.instruments[0].is_drum = True
    drums.write(str(silent))
    for bad in (corrupt, silent):
        assert main(["morph", "melody-2bar", str(bad), str(a), "-o", str(tmp_path / "x.mid")]) == 2
        line = capsys.readouterr().err.strip().removeprefix("musicvae: error: ")
        page.set_input_files("#morph-a", str(bad))
        page.set_input_files("#morph-b", str(a))
        page.click("#morph-run")
        page.wait_for_selector("#morph-error:not([hidden])")
        shown = page.locator("#morph-error").text_content()
        assert shown == line.replace(str(bad), bad.name), (shown, line)
        assert "\n" not in shown and str(tmp_path) not in shown
    screenshot(page, "morph-error", tmp_path)


def test_upload_over_the_limit_is_refused_in_one_line(page, tmp_path):
    page.click("[data-tab=blend]")
    big = tmp_path / "long.wav"
    soundfile.write(str(big), np.zeros(48_000 * 50, dtype=np.float32), 48_000, subtype="PCM_32")  # 9.6 MB
    page.set_input_files("#blend-source-file", str(big))
    page.click(".key[data-pitch='60']")
    page.wait_for_selector("#blend-error:not([hidden])")
    assert page.locator("#blend-error").text_content() == ("the upload is larger than the studio's limit of 8 MB: "
                                                            "drop a shorter file")


def test_sample_tab_decodes_plays_and_downloads(page, tmp_path):
    page.click("[data-tab=sample]")
    page.fill("#sample-n", "2")
    page.locator("#sample-temperature").fill("1")
    page.click("#sample-run")
    wait_ready(page, "sample", 1)
    cards = page.locator("#sample-grid .card")
    assert cards.count() == 2
    screenshot(page, "sample", tmp_path)
    cards.nth(1).locator("button.play").click()
    page.wait_for_function("studio.played.length == 1")
    audio, rate = played_audio(page)
    assert TWO_BARS <= len(audio) / rate <= TWO_BARS + 2.5
    midi = pretty_midi.PrettyMIDI(_download(page, cards.nth(1).locator("a.download")))
    assert _notes_heard(audio, rate, midi) >= 0.7
    # The same seed and temperature give the command's own samples.
    assert main(["sample", "melody-2bar", "-n", "2", "--temperature", "1", "--seed", "0", "-o",
                 str(tmp_path / "cli")]) == 0
    cli = pretty_midi.PrettyMIDI(str(tmp_path / "cli" / "sample_01.mid"))
    assert [(n.pitch, n.start) for n in cli.instruments[0].notes] == [(n.pitch, n.start)
                                                                      for n in midi.instruments[0].notes]


def _note(path, pitch: int, *, rate: int = 16_000, seconds: float = 1.0):
    """A plucked sawtooth-like note (a few harmonics, decaying) at MIDI ``pitch``."""
    t = np.arange(int(rate * seconds)) / rate
    f = 440.0 * 2 ** ((pitch - 69) / 12)
    tone = sum(np.sin(2 * np.pi * f * k * t) / k for k in range(1, 6)) * np.exp(-3 * t)
    soundfile.write(str(path), (0.3 * tone).astype(np.float32), rate)
    return path


def test_blend_tab_plays_a_note_at_the_key_and_shows_its_spectrogram(page, tmp_path):
    page.click("[data-tab=blend]")
    assert page.locator("#blend-source").input_value() == "flute"
    assert page.locator("#blend-target").input_value() == "guitar"
    heard = {}
    for amount, pitch in (("0", 60), ("16", 67)):
        page.locator("#blend-amount").fill(amount)  # moving the blend replays the key last played
        page.wait_for_function(f"studio.played.length == {2 * len(heard)}")
        page.click(f".key[data-pitch='{pitch}']")
        page.wait_for_function(f"studio.played.length == {2 * len(heard) + 1}")
        audio, rate = played_audio(page)
        assert rate == 16_000 and len(audio) == 16_000  # one 1-s note at the instrument's rate
        heard[pitch] = median_midi(audio, rate)
        assert abs(heard[pitch] - pitch) < 0.6, heard
        assert page.locator("#blend-caption").text_content().startswith(f"MIDI {pitch}, flute → guitar at")
        png = page.evaluate("document.getElementById('blend-spectrogram').toDataURL('image/png')")
        pixels = np.asarray(Image.open(io.BytesIO(base64.b64decode(png.split(",", 1)[1]))).convert("RGB"))
        assert pixels.shape == (240, 640, 3) and pixels.std() > 20  # a spectrogram, not an empty canvas
    screenshot(page, "blend", tmp_path)
    # The file the page offers is the note it played.
    note = _download(page, page.locator("#blend-downloads a").first)
    data, rate = soundfile.read(note, dtype="float32")
    assert rate == 16_000 and np.allclose(data, played_audio(page)[0], atol=1e-4)

    # A user's own note as the blend's start.
    page.set_input_files("#blend-source-file", str(_note(tmp_path / "saw_e4.wav", 64)))
    page.locator("#blend-amount").fill("0")
    page.wait_for_function("studio.played.length == 4")
    page.click(".key[data-pitch='64']")
    page.wait_for_function("studio.played.length == 5")
    assert "read saw_e4.wav: pitch 64" in page.locator("#blend-messages").text_content()
    audio, rate = played_audio(page)
    assert abs(median_midi(audio, rate) - 64) < 0.6
    assert page.locator("#blend-label-a").text_content() == "saw_e4.wav"


def test_blend_tab_a_silent_note_gets_the_command_lines_message(page, tmp_path, capsys):
    page.click("[data-tab=blend]")
    silent = tmp_path / "silence.wav"
    soundfile.write(str(silent), np.zeros(16_000, dtype=np.float32), 16_000)
    assert main(["blend", "flute-guitar", "--from", str(silent), "-o", str(tmp_path / "b.wav")]) == 2
    line = capsys.readouterr().err.strip().splitlines()[-1].removeprefix("musicvae: error: ")
    page.set_input_files("#blend-source-file", str(silent))
    page.click(".key[data-pitch='60']")
    page.wait_for_selector("#blend-error:not([hidden])")
    assert page.locator("#blend-error").text_content() == line.replace(str(silent), silent.name)


def test_harmonize_tab_shows_hears_and_downloads_four_voices(page, tmp_path):
    import librosa
    from music21 import converter

    # Four bars of a soprano line in C major, in quarter notes at 120 BPM.
    melody = write_tune(tmp_path / "hymn.mid", [72, 71, 72, 74, 76, 74, 72, 71, 69, 71, 72, 74, 72, 71, 72, 72])
    page.click("[data-tab=harmonize]")
    page.set_input_files("#harmonize-melody", str(melody))
    page.click("#harmonize-run")
    wait_ready(page, "harmonize", 1)
    assert page.locator("#harmonize-legend span").all_text_contents() == ["Soprano", "Alto", "Tenor", "Bass"]
    assert page.locator("#harmonize-score svg").count() >= 1  # engraved by Verovio
    assert page.locator("#harmonize-title").text_content().startswith("Variation 1 (the most likely)")
    screenshot(page, "harmonize", tmp_path)

    page.click("#harmonize-play")
    page.wait_for_function("studio.played.length == 1")
    audio, rate = played_audio(page)
    downloads = page.locator("#harmonize-downloads a")
    midi = pretty_midi.PrettyMIDI(_download(page, downloads.nth(0)))
    assert [i.name for i in midi.instruments] == ["Soprano", "Alto", "Tenor", "Bass"]
    assert [n.pitch for n in midi.instruments[0].notes] == [72, 71, 72, 74, 76, 74, 72, 71, 69, 71, 72, 74, 72,
                                                            71, 72, 72]
    assert midi.get_end_time() - 0.1 <= len(audio) / rate <= midi.get_end_time() + 2.5
    # What is heard is this chorale: its chroma is that of the downloaded MIDI file rendered here through the
    # same SoundFont, and it follows the four voices' note lengths. (The second is loose because a chroma also
    # holds each note's overtones - an E's third harmonic counts as B - so it moves with the voicing.)
    chroma = librosa.feature.chroma_stft(y=audio, sr=rate).mean(axis=1)
    renderer = MidiRenderer(sample_rate=rate)
    try:
        rendered = renderer.render(_download(page, downloads.nth(0)))
    finally:
        renderer.close()
    expected = librosa.feature.chroma_stft(y=rendered, sr=rate).mean(axis=1)
    assert np.corrcoef(chroma, expected)[0, 1] > 0.98, (chroma.round(2), expected.round(2))
    written = np.zeros(12)
    for track in midi.instruments:
        for n in track.notes:
            written[n.pitch % 12] += n.end - n.start
    assert np.corrcoef(chroma, written)[0, 1] > 0.5, (chroma.round(2), written)
    score = converter.parse(_download(page, downloads.nth(1)), format="musicxml")
    assert [p.partName for p in score.parts] == ["Soprano", "Alto", "Tenor", "Bass"]

    page.click("#harmonize-next")
    wait_ready(page, "harmonize", 2)
    assert page.locator("#harmonize-title").text_content().startswith("Variation 2 (seed 0)")
    second = pretty_midi.PrettyMIDI(_download(page, page.locator("#harmonize-downloads a").nth(0)))
    assert [n.pitch for n in second.instruments[0].notes] == [n.pitch for n in midi.instruments[0].notes]

