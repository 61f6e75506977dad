"""``musicvae live`` and ``musicvae synth`` end to end, and their one-line errors."""

from __future__ import annotations

import threading
import time

import pytest
from realtime_helpers import Capture, assert_no_stuck_notes, jack_connect

from musicvae.cli import main
from musicvae.errors import SystemDependencyError


def test_live_plays_a_morph_on_a_jack_port(jack_server, tiny_melody, capsys):
    path, a, b = tiny_melody
    capture = Capture("cli-cap")

    def connect():  # the player's port appears once the instrument is loaded
        end = time.perf_counter() + 20
        while time.perf_counter() < end:
            try:
                jack_connect("musicvae:cli-out", capture.name)
                return
            except Exception:  # noqa: BLE001 - not there yet
                time.sleep(0.02)

    threading.Thread(target=connect, daemon=True).start()
    try:
        status = main(["live", str(path), "--a", str(a), "--b", str(b), "--bpm", "240", "--midi-out",
                       "virtual:cli-out", "--midi-api", "jack", "--temperature", "1.0", "--seed", "0",
                       "--duration", "2.5", "--morph", "0.5"])
        messages = capture.settled()
    finally:
        capture.close()
    err = capsys.readouterr().err
    assert status == 0, err
    assert "steps" in err and "lateness p50" in err
    assert any(m[0] == 0x90 for m in messages), messages
    assert_no_stuck_notes(messages)


def test_live_unknown_input_port_is_one_line(jack_server, tiny_melody, capsys):
    path, a, b = tiny_melody
    status = main(["live", str(path), "--a", str(a), "--b", str(b), "--midi-out", "virtual:x", "--midi-api", "jack",
                   "--midi-in", "no-such-keyboard", "--duration", "0.2"])
    err = capsys.readouterr().err
    assert status == 2 and "no MIDI input port 'no-such-keyboard'; available inputs:" in err
    assert "Traceback" not in err


def test_live_needs_a_and_b(tiny_melody, capsys):
    path, _, _ = tiny_melody
    assert main(["live", str(path), "--midi-api", "jack"]) == 2
    assert "--a A.mid and --b B.mid" in capsys.readouterr().err


def test_no_midi_system_says_to_start_jack():
    from musicvae.realtime.midi_io import MidiOutput

    try:
        port = MidiOutput("virtual:probe", api="alsa")
    except SystemDependencyError as error:
        assert "jackd" in str(error) and "--midi-api jack" in str(error)
    else:
        port.close()
        pytest.skip("this machine has an ALSA sequencer")


def test_synth_offline_from_the_cli(tmp_path, capsys):
    import pretty_midi
    from test_synth import tiny_timbre

    from musicvae.instrument import Instrument

    Instrument.save(tiny_timbre.__wrapped__(), tmp_path / "timbre")
    midi = pretty_midi.PrettyMIDI()
    inst = pretty_midi.Instrument(program=0)
    inst.notes += [pretty_midi.Note(velocity=100, pitch=60 + i % 3, start=i * 0.2, end=i * 0.2 + 0.3)
                   for i in range(4)]
    midi.instruments.append(inst)
    midi.write(str(tmp_path / "m.mid"))
    status = main(["synth", str(tmp_path / "timbre"), "--midi-file", str(tmp_path / "m.mid"), "--morph", "0:0,1:1",
                   "-o", str(tmp_path / "out.wav")])
    assert status == 0, capsys.readouterr().err
    assert (tmp_path / "out.wav").stat().st_size > 1000
    assert main(["synth", str(tmp_path / "timbre")]) == 2
    assert "--midi-in PORT" in capsys.readouterr().err


def test_live_synth_plays_through_jack_audio(jack_audio):
    """The sounddevice adapter on PortAudio's JACK host API: notes in over JACK MIDI, audio out, clean stop."""
    from realtime_helpers import Sender, make_tiny_timbre

    from musicvae.realtime.live import run_synth

    sender = Sender("synth-keys")

    def play():
        jack_connect(sender.name, "musicvae-in:keys")
        for pitch in (60, 61, 62, 61):
            sender.send([0x90, pitch, 100])
            time.sleep(0.1)
            sender.send([0x80, pitch, 0])
        sender.send([0xB0, 1, 127])
        sender.send([0x90, 62, 100])  # left sounding: the stop releases it

    try:
        report = run_synth(make_tiny_timbre(), midi_in="virtual:keys", audio_api="jack", midi_api="jack",
                           duration=1.2, on_ready=lambda: threading.Thread(target=play).start())
    finally:
        sender.close()
    assert report.stopped_by == "duration" and not report.errors
    assert report.notes_decoded >= 3  # the range at morph 0.0 before starting, then 62 at morph 1


def test_live_synth_follows_morph_automation(jack_audio):
    """Automation from the CLI's --morph text: notes played after its end are decoded at its last amount."""
    from realtime_helpers import Sender, make_tiny_timbre

    from musicvae.automation import parse_morph
    from musicvae.realtime.live import run_synth

    sender = Sender("auto-keys")

    def play():
        jack_connect(sender.name, "musicvae-in:keys")
        time.sleep(0.4)  # the automation reaches 1 at 0.2 s
        for pitch in (60, 61):
            sender.send([0x90, pitch, 100])
            time.sleep(0.1)
            sender.send([0x80, pitch, 0])

    try:
        report = run_synth(make_tiny_timbre(), midi_in="virtual:keys", audio_api="jack", midi_api="jack",
                           automation=parse_morph("0:0,0.2:1"), duration=1.2,
                           on_ready=lambda: threading.Thread(target=play).start())
    finally:
        sender.close()
    assert report.stopped_by == "duration" and not report.errors
    # The range (60..62) at morph 0 before the stream starts; once the morph reached 1 the whole range
    # there was decoded ahead, so the notes played after it found their note ready.
    assert report.notes_decoded >= 6 and report.cold_notes == 0


def test_live_bad_morph_is_one_line(tiny_melody, capsys):
    path, a, b = tiny_melody
    assert main(["live", str(path), "--a", str(a), "--b", str(b), "--morph", "0:0,4:2"]) == 2
    err = capsys.readouterr().err
    assert "amounts must lie in 0..1" in err and err.count("\n") == 1


def test_ctrl_c_stops_with_all_notes_off(jack_server, tiny_melody):
    import os
    import signal
    import subprocess
    import sys

    path, a, b = tiny_melody
    capture = Capture("sigint-cap")
    proc = subprocess.Popen([sys.executable, "-m", "musicvae.cli", "live", str(path), "--a", str(a), "--b", str(b),
                             "--bpm", "480", "--midi-out", "virtual:sigint", "--midi-api", "jack", "--temperature",
                             "1.0", "--seed", "1"], stderr=subprocess.PIPE, text=True, env=dict(os.environ))
    try:
        end = time.perf_counter() + 30
        while subprocess.run(["jack_connect", "musicvae:sigint", capture.name], capture_output=True).returncode:
            assert time.perf_counter() < end and proc.poll() is None, proc.stderr.read() if proc.poll() else ""
            time.sleep(0.05)
        time.sleep(1.0)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=20)
        messages = capture.settled()
    finally:
        if proc.poll() is None:
            proc.kill()
        capture.close()
    assert proc.returncode == 130 and "interrupted" in err and "Traceback" not in err
    assert any(m[0] == 0x90 for m in messages)
    assert_no_stuck_notes(messages)


def test_respond_needs_an_input(jack_server, tiny_melody, capsys):
    path, _, _ = tiny_melody
    assert main(["live", str(path), "--respond", "--midi-out", "virtual:r", "--midi-api", "jack"]) == 2
    assert "--respond needs --midi-in" in capsys.readouterr().err


def test_audio_outputs_are_found_by_name_or_listed(jack_audio):
    from musicvae.errors import InputError
    from musicvae.realtime.audio_io import find_output_device

    index, rate = find_output_device("default", api="jack")
    assert index is not None and rate == 48_000  # the session's dummy server runs at 48 kHz
    with pytest.raises(InputError, match=r"no audio output matches 'no-such-card'; outputs: '"):
        find_output_device("no-such-card", api="jack")
    with pytest.raises(InputError, match="no no-such-api audio output"):
        find_output_device(None, api="no-such-api")
