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

    from musicvae.realtime.synth_run import run_synth

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
    from musicvae.realtime.synth_run import run_synth

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


#: Seconds within which a stopped ``musicvae live`` must have exited in a test (the product's target is 1 s; a
#: loaded 2-core CI machine gets margin, and every assertion message reports the measured figure).
EXIT_BOUND = 3.0


@pytest.mark.parametrize("how", ["ctrl-c", "ctrl-c twice", "ctrl-c, SIGINT inherited ignored", "SIGTERM"])
def test_ctrl_c_stops_with_all_notes_off(jack_server, tiny_melody, how):
    """A signal stops ``musicvae live`` within the bound, status 130 (143 for SIGTERM), every note ended.

    "inherited ignored" starts the process the way a background job of a non-interactive shell is started
    (``make test &``): Python keeps SIGINT ignored there, and such a run used to play on forever. The signal
    goes once the capture hears the first note-on (the clock runs), not after a fixed sleep.
    """
    import signal

    from realtime_helpers import CliProcess, connect_when_there, wait_for_note_on

    path, a, b = tiny_melody
    signum = signal.SIGTERM if how == "SIGTERM" else signal.SIGINT
    capture = Capture("sigint-cap")
    cli = CliProcess(["live", path, "--a", a, "--b", b, "--bpm", "480", "--midi-out", "virtual:sigint", "--midi-api",
                      "jack", "--temperature", "1.0", "--seed", "1"], ignore_sigint="ignored" in how)
    try:
        cli.wait_for("playing on MIDI output")
        connect_when_there("musicvae:sigint", capture.name, alive=lambda: cli.proc.poll() is None)
        wait_for_note_on(capture)
        # Twice: the second Ctrl-C lands during the stop (the port's close); it must not cut the stop short.
        elapsed = cli.stop(signum, again_after=0.05 if "twice" in how else None)
        messages = capture.settled()
    finally:
        cli.kill()
        capture.close()
    assert elapsed is not None, f"still running 20 s after {how}: {cli.err}"
    assert elapsed < EXIT_BOUND, f"exited {elapsed:.2f} s after {how} (target 1 s)"
    assert cli.proc.returncode == (143 if signum == signal.SIGTERM else 130), cli.err
    assert "Traceback" not in cli.err
    if signum == signal.SIGINT:
        assert "interrupted" in cli.err
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
