"""Every bad input gets one line: the real parser's options walked with hostile values.

The cases come from ``build_parser()``'s actions, so a new option is walked as soon as it exists, and an
option whose value nothing checks fails :func:`test_every_option_value_is_checked`. Each case runs
``main()`` in-process on the shipped instruments and examples with one value replaced, and asserts
exit status 2, at most 3 lines on stderr, no traceback, and no file left behind. Values an option
accepts (``--temperature 0``) are not hostile and are left out; live and synth never reach a port:
their hostile values fail while parsing, or (bad files) before any port opens.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from musicvae import options as opt
from musicvae.cli import build_parser, main
from musicvae.io import repo_root

ROOT = repo_root()
EXAMPLES = ROOT / "examples"
A, B, SOPRANO = (str(EXAMPLES / name) for name in ("folk_a.mid", "folk_b.mid", "chorale_soprano.mid"))
TMP = "{tmp}"  # replaced by the case's folder

#: A valid command line for each command: positionals by name, then options. The walk replaces one value.
BASE: dict[tuple[str, ...], tuple[dict[str, str], list[str]]] = {
    ("configs",): ({}, []),
    ("data", "build"): ({"recipe": "folk-melodies"}, []),
    ("train",): ({"instrument": f"{TMP}/inst"}, ["--config", "2bar-small"]),
    ("sample",): ({"instrument": "melody-2bar"}, ["-o", f"{TMP}/out"]),
    ("morph",): ({"instrument": "melody-2bar", "a": A, "b": B}, ["-o", f"{TMP}/m.mid"]),
    ("live",): ({"instrument": "melody-2bar"}, ["--a", A, "--b", B]),
    ("harmonize",): ({"instrument": "bach-accompanist", "melody": SOPRANO}, ["-o", f"{TMP}/c.mid"]),
    ("blend",): ({"instrument": "flute-guitar"}, ["-o", f"{TMP}/b.wav"]),
    ("synth",): ({"instrument": "flute-guitar"}, ["--midi-file", A, "-o", f"{TMP}/s.wav"]),
    ("evaluate",): ({"instrument": "melody-2bar"}, []),
    ("attributes",): ({"instrument": "melody-2bar"}, []),
    ("demo",): ({}, ["-o", f"{TMP}/demo"]),
    ("studio",): ({}, ["--no-browser"]),
    ("export",): ({"instrument": "melody-2bar"}, ["--format", "onnx", "-o", f"{TMP}/decoder.onnx"]),
}
NUMBERS = ["0", "-1", "-60", "100000000", "1e12", "nan", "inf", "-inf", "", "abc", "1.5", "0x10"]
#: Text values the parser cannot judge (a file, an instrument, a recipe) but the command refuses, cheaply.
RUNTIME = {"a MIDI file", "a MIDI or MusicXML file", "an instrument", "a family or a note file", "a recipe",
           "a config name (see musicvae configs)"}
#: Those only ports or devices can judge: only the empty value is walked (nothing opens a port here).
PORTS = {"a port name", "a device name", "an audio system"}


@dataclass(frozen=True)
class Case:
    command: tuple[str, ...]
    dest: str
    flag: str | None  # None for a positional
    value: str
    at_parse: bool  # the parser itself must refuse it

    @property
    def id(self) -> str:
        return f"{' '.join(self.command)} {self.flag or self.dest}={self.value!r}"


def leaf_parsers(parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from leaf_parsers(sub, (*prefix, name))
            return
    yield prefix, parser


def valued_actions(parser: argparse.ArgumentParser):
    """The actions that take a value (flags, --help and --debug take none)."""
    for action in parser._actions:
        if action.nargs == 0 or isinstance(action, argparse._SubParsersAction):
            continue
        yield action


def number_values(kind: opt.Number) -> list[str]:
    values = list(NUMBERS)
    step = 1 if kind.integer else 0.5
    if kind.low is not None:
        values += [f"{kind.low - step:g}"] + ([f"{kind.low:g}"] if kind.low_open else [])
    if kind.high is not None:
        values += [f"{kind.high + step:g}"] + ([f"{kind.high:g}"] if kind.high_open else [])
    return [v for v in dict.fromkeys(values) if not _valid_number(kind, v)]


def _valid_number(kind: opt.Number, text: str) -> bool:
    try:
        kind(text)
    except argparse.ArgumentTypeError:
        return False
    return True


def hostile_values(action: argparse.Action) -> list[tuple[str, bool]]:
    """(value, must the parser refuse it) for one action."""
    kind = action.type
    if action.choices is not None:
        return [(v, True) for v in ("", "abc", "0", "nan")]
    if isinstance(kind, opt.Number):
        return [(v, True) for v in number_values(kind)]
    if isinstance(kind, opt.Output):
        suffix = kind.suffixes[0]
        return [(v, True) for v in (f"/proc/x{suffix}", f"/proc/sub/x{suffix}", f"/sys/x{suffix}",
                                    f"{TMP}/blocker/x{suffix}", f"{TMP}/dir{suffix}", f"{TMP}/x.txt",
                                    f"{TMP}/x", "")]
    if isinstance(kind, opt.OutputFolder):
        return [(v, True) for v in ("/proc/x", "/sys/x", f"{TMP}/blocker", f"{TMP}/blocker/x", "")]
    if isinstance(kind, opt.Morph):
        return [(v, True) for v in ("", "nan", "inf", "-1", "2", "1e12", "abc", "0:0,4:2", "0:0,x:1", "0:0,")]
    if isinstance(kind, (opt.Devices, opt.Strategy)):
        return [(v, True) for v in ("", "0", "-1", "1.5", "nan", "abc", "0,0")]
    if isinstance(kind, opt.Corners):
        return [(v, True) for v in ("", "flute", "flute,guitar,string", "a,b,c,d,e", "a,,c,d", ",,,")]
    if isinstance(kind, opt.Controllers):
        return [(v, True) for v in ("", "1", "1,1", "1,2,3", "120,1", "-1,2", "a,b", "1.5,2", "1,nan")]
    if isinstance(kind, opt.Point):
        return [(v, True) for v in ("", "0.5", "1.5,0", "0,-0.1", "nan,0.5", "0.5,inf", "a,b", "0.5,0.5,0.5")]
    if isinstance(kind, opt.KeyValue):
        return [(v, True) for v in ("", "abc", "=1", " =1")]
    if isinstance(kind, opt.Text):
        values = [("", True), (" ", True)]
        if kind.what in RUNTIME:
            values += [("0", False), (str(ROOT / "README.md"), False), (f"{TMP}/dir.mid", False)]
        return values
    return []


def all_cases() -> list[Case]:
    cases = []
    for command, parser in leaf_parsers(build_parser()):
        for action in valued_actions(parser):
            flag = action.option_strings[-1] if action.option_strings else None
            for value, at_parse in hostile_values(action):
                cases.append(Case(command, action.dest, flag, value, at_parse))
    return cases


CASES = all_cases()
PARSERS = dict(leaf_parsers(build_parser()))


def argv_of(case: Case, tmp: Path) -> list[str]:
    positionals, options = BASE[case.command]
    positionals = dict(positionals)
    options = list(options)
    if case.flag is None:
        positionals[case.dest] = case.value
    else:
        flags = next(set(a.option_strings) for a in PARSERS[case.command]._actions if a.dest == case.dest)
        for i, item in enumerate(options):
            if item in flags:
                del options[i:i + 2]
                break
        options.append(f"{case.flag}={case.value}")  # "--bpm=-inf": "--bpm -inf" would read -inf as an option
    argv = [*case.command, *positionals.values(), *options]
    return [a.replace(TMP, str(tmp)) for a in argv]


def test_every_option_value_is_checked():
    """Every option that takes a value has choices or a checked type from musicvae.options."""
    unchecked = []
    for command, parser in leaf_parsers(build_parser()):
        assert command in BASE, f"tests/test_bad_input.py needs a valid command line for {' '.join(command)}"
        for action in valued_actions(parser):
            if action.choices is None and not isinstance(action.type, (opt.Number, opt.Text)):
                unchecked.append(f"{' '.join(command)} {action.option_strings or action.dest}")
    assert not unchecked, f"options whose values nothing checks: {unchecked}"
    assert len(CASES) > 400


@pytest.fixture
def case_dir(tmp_path, monkeypatch):
    folder = tmp_path / "case"
    folder.mkdir()
    (folder / "blocker").write_text("a file where a folder is expected")
    for suffix in {s for _, suffixes in (opt.MIDI, opt.AUDIO, opt.MUSICXML, opt.PNG) for s in suffixes}:
        (folder / f"dir{suffix}").mkdir()
    monkeypatch.chdir(folder)  # defaults such as -o morph.mid land here
    return folder


def _tree(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_hostile_value_gets_one_line_and_exit_2(case, case_dir, capsys):
    before = _tree(case_dir)
    argv = argv_of(case, case_dir)
    status = main(argv)
    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert status == 2, f"{argv}: exit {status}\n{err}"
    assert 1 <= len(lines) <= 3, f"{argv}:\n{err}"
    assert "Traceback" not in err and "Error:" not in err, err
    assert _tree(case_dir) == before, f"{argv} left {_tree(case_dir) - before}"
    if case.at_parse:
        name = case.flag or case.dest
        assert lines[-1].startswith(f"musicvae {' '.join(case.command)}: error: argument "), err
        assert name in lines[-1] or "/" in lines[-1], err
        action_type = next(a.type for a in PARSERS[case.command]._actions if a.dest == case.dest)
        if isinstance(action_type, opt.Number):
            assert action_type.describe() in lines[-1], err  # names the range
    else:
        assert lines[-1].startswith("musicvae: error: "), err


# ---------------------------------------------------------------------------
# The inputs of the issue, word for word
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("argv, words", [
    (["morph", "melody-2bar", A, B, "-o", "/proc/x.mid"], "argument -o/--output: cannot write to /proc"),
    (["morph", "melody-2bar", A, B, "--plot", "/proc/x.png"], "argument --plot: cannot write to /proc"),
    (["harmonize", "bach-accompanist", SOPRANO, "--musicxml", "/proc/x.musicxml"], "cannot write to /proc"),
    (["synth", "flute-guitar", "--midi-file", A, "-o", "/proc/x.wav"], "cannot write to /proc"),
    (["evaluate", "melody-2bar", "--plot", "/proc/x.png"], "cannot write to /proc"),
    (["evaluate", "melody-2bar", "--baseline", "melody-2bar-waltz"], "--baseline melody-2bar-waltz: its bars are 3/4"),
    (["evaluate", "melody-2bar", "--baseline", "flute-guitar"], "is a timbre instrument; this command needs a melody"),
    (["morph", "melody-2bar", A, B, "--bpm", "0"], "argument --bpm: expected a number from 10 to 1000, got '0'"),
    (["morph", "melody-2bar", A, B, "--bpm", "-60"], "argument --bpm: expected a number from 10 to 1000"),
    (["morph", "melody-2bar", A, B, "--steps", "100000000"], "argument --steps: expected a whole number from 2 to 101"),
    (["sample", "melody-2bar", "-n", "100000000"], "argument -n: expected a whole number from 1 to 1000"),
    (["blend", "flute-guitar", "--steps", "100000000"], "argument --steps: expected a whole number from 2 to 101"),
    (["harmonize", "bach-accompanist", SOPRANO, "--variations", "100000"], "from 1 to 32"),
    (["morph", "melody-2bar", A, B, "--temperature", "-1"], "argument --temperature: expected a number from 0 to 10"),
    (["blend", "flute-guitar", "--velocity", "300"], "argument --velocity: expected a whole number from 1 to 127"),
    (["morph", "melody-2bar", A, B, "-o", "m.txt"], "a MIDI file name ends in .mid or .midi"),
    (["morph", "melody-2bar", A, B, "--bar", "0"], "argument --bar: expected a whole number from 1 to"),
    (["morph", "melody-2bar", A, B, "--add", "loud=1"], "unknown attribute 'loud'; known: density, interval"),
    (["harmonize", "melody-2bar", SOPRANO], "is a melody instrument; this command needs an accompanist one"),
    (["harmonize", "flute-guitar", SOPRANO], "is a timbre instrument; this command needs an accompanist one"),
    (["live", "melody-2bar", "--respond"], "--respond needs --midi-in PORT"),
    (["live", "melody-2bar", "--a", A, "--b", B, "--clock", "midi"], "--clock midi needs --midi-in PORT"),
    (["live", "melody-2bar", "--a", A, "--b", B, "--clock", "link", "--bpm", "10"], "20..999 with --clock link"),
    (["synth", "flute-guitar", "--midi-in", "keys", "-o", "x.wav"], "-o writes the offline render of --midi-file"),
])
def test_the_issue_inputs(argv, words, case_dir, capsys):
    before = _tree(case_dir)
    status = main(argv)
    err = capsys.readouterr().err
    assert status == 2 and len(err.strip().splitlines()) == 1 and words in err, err
    assert _tree(case_dir) == before


def test_bad_files_get_one_wording_without_exception_names(tmp_path, capsys):
    cut = tmp_path / "cut.mid"
    cut.write_bytes((EXAMPLES / "folk_a.mid").read_bytes()[:40])  # mido: EOFError with no message
    header = tmp_path / "header.mid"
    header.write_bytes(b"MThd\x00\x00\x00\x06")
    xml = tmp_path / "cut.musicxml"
    xml.write_text((EXAMPLES / "chorale_soprano.musicxml").read_text()[:300])
    wav = tmp_path / "cut.wav"
    wav.write_bytes(b"RIFF\x00\x00")
    for argv, words in [
        (["morph", "melody-2bar", cut, B, "-o", tmp_path / "m.mid"], f"{cut}: unreadable or truncated MIDI file"),
        (["morph", "melody-2bar", header, B, "-o", tmp_path / "m.mid"], f"{header}: unreadable or truncated MIDI"),
        (["harmonize", "bach-accompanist", cut, "-o", tmp_path / "c.mid"], f"{cut}: unreadable or truncated MIDI"),
        (["harmonize", "bach-accompanist", xml, "-o", tmp_path / "c.mid"], f"{xml}: not a readable MusicXML file"),
        (["harmonize", "bach-accompanist", tmp_path, "-o", tmp_path / "c.mid"], "is a folder"),
        (["blend", "flute-guitar", "--from", wav, "-o", tmp_path / "b.wav"], f"{wav}: not a readable audio file"),
    ]:
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err == f"musicvae: error: {err.split('error: ', 1)[1]}" and words in err, err
        assert "Error" not in err and "Exception" not in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in (cut, header, xml, wav))


def test_debug_after_the_command_shows_the_traceback(capsys):
    assert main(["sample", "/nonexistent-instrument", "--debug"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" in err and err.strip().splitlines()[-1].startswith("musicvae: error: no instrument at")
    assert main(["sample", "/nonexistent-instrument"]) == 2
    assert "Traceback" not in capsys.readouterr().err


def test_bar_counts_from_one(case_dir, capsys):
    # folk_a has 8 bars: a 2-bar window starts at bars 1..7; bar 8 has no second bar.
    assert main(["morph", "melody-2bar", A, B, "--bar", "7", "-o", "m.mid"]) == 0
    assert main(["morph", "melody-2bar", A, B, "--bar", "8", "-o", "n.mid"]) == 2
    err = capsys.readouterr().err
    assert "from bar 8 needs 9" in err and not (case_dir / "n.mid").exists()


def test_closed_stdout_is_quiet():
    """``musicvae configs --show | head -1``: no traceback, exit 141 (128 + SIGPIPE) or 0."""
    proc = subprocess.Popen([sys.executable, "cli.py", "configs", "--show"], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    proc.stdout.readline()
    proc.stdout.close()  # the reader leaves, as head does
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) in (0, 141) and err == "", err


def test_default_midi_system_is_jack_without_an_alsa_sequencer(tmp_path, monkeypatch):
    rtmidi = pytest.importorskip("rtmidi")
    from musicvae.realtime import midi_io

    if rtmidi.API_UNIX_JACK not in rtmidi.get_compiled_api() or not sys.platform.startswith("linux"):
        pytest.skip("this python-rtmidi has no JACK")
    monkeypatch.setattr(midi_io, "ALSA_SEQUENCER", str(tmp_path / "no-seq"))
    assert midi_io.resolve_api(None) == rtmidi.API_UNIX_JACK
    (tmp_path / "seq").write_text("")
    monkeypatch.setattr(midi_io, "ALSA_SEQUENCER", str(tmp_path / "seq"))
    assert midi_io.resolve_api(None) == rtmidi.API_UNSPECIFIED
    assert midi_io.resolve_api("alsa") == rtmidi.API_LINUX_ALSA
