"""The studio's Morph tab: time from a click on "Morph" to audio ready, for two 2-bar tunes, in the browser.

The real ``musicvae studio`` runs in a child process and headless Chromium (Debian's, driven by
Playwright) uses its page as a person would: the two tunes dropped once, then "Morph" clicked
``--runs`` times (after two warm-up clicks). The page measures each run itself, from the click to every
step's WAV fetched and decoded by WebAudio (``studio.timings.morph``): the upload, the job (the morph,
each step's MIDI file and its FluidSynth render), the long poll that reports it, the piano rolls drawn
and the audio decoded.

Peers in the same run, in this process: the library call the job makes (``generate.morph``, what
``musicvae morph`` calls), and the whole job without the browser or HTTP (``musicvae.studio.work.morph``:
the same call, then the step files and their audio). Ratios are printed against both.

Run: ``python bench/bench_studio.py [--runs 20] [--steps 5]``
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--autoplay-policy=no-user-gesture-required"]


def write_tunes(folder: Path) -> tuple[Path, Path]:
    """Two 2-bar tunes in eighths at 120 BPM: a C major line up and down, an arpeggio in G."""
    import pretty_midi

    paths = []
    for name, pitches in (("a.mid", [60, 62, 64, 65, 67, 69, 71, 72, 71, 69, 67, 65, 64, 62, 60, 60]),
                          ("b.mid", [67, 71, 74, 79, 74, 71, 67, 62, 67, 71, 74, 71, 67, 62, 59, 62])):
        midi = pretty_midi.PrettyMIDI(initial_tempo=120)
        track = pretty_midi.Instrument(program=0)
        for i, pitch in enumerate(pitches):
            track.notes.append(pretty_midi.Note(velocity=90, pitch=pitch, start=i * 0.25, end=i * 0.25 + 0.24))
        midi.instruments.append(track)
        midi.write(str(folder / name))
        paths.append(folder / name)
    return paths[0], paths[1]


def start_studio() -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([sys.executable, "-m", "musicvae.cli", "studio", "--no-browser", "--port", "0"],
                            stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, cwd=ROOT)
    found: list[str] = []
    ready = threading.Event()

    def read() -> None:
        for line in proc.stderr:
            if "musicvae studio on " in line:
                found.append(re.search(r"(http://\S+)", line).group(1))
                ready.set()

    threading.Thread(target=read, daemon=True).start()
    if not ready.wait(120):
        proc.kill()
        raise SystemExit("musicvae studio did not start")
    return proc, found[0]


def browser_runs(url: str, a: Path, b: Path, *, runs: int, steps: int, warmup: int = 2):
    """Milliseconds, as the page measured them, from each click on Morph to every step's audio decoded,
    and to the job's result arriving; and the milliseconds each job ran on the studio's thread."""
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as profile, sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(profile, executable_path=CHROMIUM, headless=True,
                                                                args=CHROMIUM_ARGS)
        page = context.new_page()
        page.goto(url)
        page.wait_for_selector("body[data-ready='1']", timeout=60_000)
        page.set_input_files("#morph-a", str(a))
        page.set_input_files("#morph-b", str(b))
        page.fill("#morph-steps", str(steps))
        for i in range(warmup + runs):
            page.click("#morph-run")
            page.wait_for_function(f"document.body.dataset.morphReady == '{i + 1}' || "
                                   "!document.getElementById('morph-error').hidden", timeout=120_000)
            if page.locator("#morph-error").is_visible():
                raise SystemExit(f"the page failed: {page.locator('#morph-error').text_content()}")
        times = np.array(page.evaluate("studio.timings.morph"), dtype=float)[warmup:]
        results = np.array(page.evaluate("studio.timings.morphResult"), dtype=float)[warmup:]
        jobs = np.array(page.evaluate("studio.jobSeconds['/api/morph']"), dtype=float)[warmup:] * 1e3
        context.close()
    return times, results, jobs


def library_runs(a: Path, b: Path, *, runs: int, steps: int) -> tuple[np.ndarray, np.ndarray]:
    """Milliseconds of ``generate.morph`` alone and of the studio's whole job, in this process."""
    from musicvae import generate
    from musicvae.instrument import Instrument
    from musicvae.studio.work import Studio
    from musicvae.studio.work import morph as morph_job

    calls, jobs = [], []
    with tempfile.TemporaryDirectory() as root:
        studio = Studio(melody=Instrument.load("melody-2bar"), timbre=Instrument.load("flute-guitar"),
                        accompanist=Instrument.load("bach-accompanist"), root=Path(root))
        studio.warm()
        for _ in range(2 + runs):
            start = time.perf_counter()
            generate.morph(studio.melody, a, b, steps=steps)
            calls.append(time.perf_counter() - start)
            job = studio.runner.new("morph")
            start = time.perf_counter()
            morph_job(studio, job, a, b, steps=steps, temperature=0.0, seed=None)
            jobs.append(time.perf_counter() - start)
        studio.close()
    return np.array(calls[2:]) * 1e3, np.array(jobs[2:]) * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--steps", type=int, default=5)
    args = parser.parse_args()
    if not Path(CHROMIUM).exists():
        raise SystemExit("needs Debian's chromium (apt-get install chromium)")
    import torch

    torch.set_num_threads(1)  # as the studio's job runs the model: one thread a job
    with tempfile.TemporaryDirectory() as folder:
        a, b = write_tunes(Path(folder))
        proc, url = start_studio()
        try:
            page, result, served = browser_runs(url, a, b, runs=args.runs, steps=args.steps)
        finally:
            proc.terminate()
            proc.wait(timeout=20)
        call, job = library_runs(a, b, runs=args.runs, steps=args.steps)

    def row(name: str, ms: np.ndarray) -> str:
        return (f"{name:44s} p50 {np.percentile(ms, 50):8.1f} ms  p90 {np.percentile(ms, 90):8.1f} ms  "
                f"max {ms.max():8.1f} ms")

    print(f"two 2-bar tunes, {args.steps} steps, {args.runs} runs each (after 2 warm-ups), torch threads 1")
    print(row("studio page: click Morph -> audio decoded", page))
    print(row("  of which: click -> the job's result", result))
    print(row("  of which: the job on the studio's thread", served))
    print(row("studio job in-process (morph + files + audio)", job))
    print(row("generate.morph (the library call, peer)", call))
    p50 = {name: float(np.percentile(ms, 50)) for name, ms in (("page", page), ("job", job), ("call", call))}
    print(f"ratio page / generate.morph p50: {p50['page'] / p50['call']:.1f}x; page / job: "
          f"{p50['page'] / p50['job']:.2f}x (HTTP, long poll, drawing and WebAudio decoding: "
          f"{p50['page'] - p50['job']:.0f} ms)")


if __name__ == "__main__":
    main()
