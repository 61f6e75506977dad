"""Helpers of the studio tests: the real ``musicvae studio`` command in a child process, audio and MIDI checks.

Chromium is Debian's (``apt-get install chromium``, in scripts/system-deps.sh), driven by Playwright
for Python without Playwright's own browser download. Tests skip only where it is not installed.
Screenshots go to ``tmp_path``; with ``MUSICVAE_SCREENSHOTS=docs/studio`` they are also kept there.
"""

from __future__ import annotations

import base64
import io
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--autoplay-policy=no-user-gesture-required"]
ROOT = Path(__file__).resolve().parents[2]


class StudioProcess:
    """``musicvae studio --no-browser --port 0 ...`` in a child process; ``url`` is the address it printed."""

    def __init__(self, *args: str, env: dict | None = None) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "musicvae.cli", "studio", "--no-browser", "--port", "0",
                                      *args], stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
                                     cwd=ROOT, env={**os.environ, **(env or {})})
        self.lines: list[str] = []
        found = threading.Event()

        def read() -> None:
            for line in self.proc.stderr:
                self.lines.append(line.rstrip())
                if "musicvae studio on " in line:
                    found.set()

        threading.Thread(target=read, daemon=True).start()
        if not found.wait(90):
            self.stop()
            pytest.fail("musicvae studio did not start:\n" + "\n".join(self.lines))
        self.url = re.search(r"(http://\S+)", next(x for x in self.lines if "musicvae studio on" in x)).group(1)
        self.base = self.url.split("?")[0].rstrip("/")

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


def screenshot(page, name: str, tmp_path: Path) -> Path:
    """A PNG of the page in ``tmp_path`` (and in $MUSICVAE_SCREENSHOTS when set)."""
    path = tmp_path / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    keep = os.environ.get("MUSICVAE_SCREENSHOTS")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(keep) / path.name)
    return path


def played_audio(page) -> tuple[np.ndarray, int]:
    """The WAV the page last played (the bytes its WebAudio decoded), as mono float audio and its rate."""
    import soundfile

    data = base64.b64decode(page.evaluate("studio.lastPlayedBase64()"))
    audio, rate = soundfile.read(io.BytesIO(data), dtype="float32")
    return (audio.mean(axis=1) if audio.ndim == 2 else audio), rate


def median_midi(audio: np.ndarray, rate: int, *, fmin: float = 65.0, fmax: float = 1100.0) -> float:
    """Median YIN pitch (MIDI number) over the frames within 30 dB of the loudest."""
    import librosa

    f0 = librosa.yin(audio, fmin=fmin, fmax=fmax, sr=rate, frame_length=2048, hop_length=512)
    rms = librosa.feature.rms(y=audio, frame_length=2048, hop_length=512)[0][: f0.size]
    loud = rms > rms.max() * 10 ** (-30 / 20)
    assert loud.any(), "silence"
    return float(np.median(librosa.hz_to_midi(f0[: rms.size][loud])))


def write_tune(path: Path, pitches: list[int], *, seconds: float = 0.5, program: int = 0) -> Path:
    """A one-track MIDI file of ``pitches`` in equal notes at 120 BPM (pretty_midi)."""
    import pretty_midi

    midi = pretty_midi.PrettyMIDI(initial_tempo=120)
    track = pretty_midi.Instrument(program=program)
    for i, pitch in enumerate(pitches):
        track.notes.append(pretty_midi.Note(velocity=90, pitch=pitch, start=i * seconds, end=(i + 0.95) * seconds))
    midi.instruments.append(track)
    midi.write(str(path))
    return path


def wait_ready(page, kind: str, count: int, *, timeout: float = 60_000) -> None:
    """Wait until the page says its ``count``-th ``kind`` result is ready to play, or show its error."""
    attr = {"morph": "morph-ready", "sample": "sample-ready", "blend": "blend-ready",
            "harmonize": "harmonize-ready"}[kind]
    page.wait_for_function(
        f"document.body.dataset['{kind}Ready'] == '{count}' || !document.getElementById('{kind}-error').hidden",
        timeout=timeout)
    error = page.locator(f"#{kind}-error")
    assert error.is_hidden(), f"{kind}: {error.text_content()}"
    assert page.evaluate(f"document.body.getAttribute('data-{attr}')") == str(count)
