"""The Live tab on real JACK ports: a live morph started from the page, turned by its knob, and stopped.

The knob's morph reaches the run through its OSC server (the path a control surface takes), so the
session's parameter store reads it back; what the output port plays moves from A's decoded phrase to
B's; a stop ends every note. A synth session starts on JACK audio and stops the same way.
"""

from __future__ import annotations

import time

import pytest
from realtime.conftest import jack_server  # noqa: F401 - the JACK fixture
from realtime.realtime_helpers import Capture, assert_no_stuck_notes
from studio_helpers import StudioProcess, screenshot

from musicvae import generate
from musicvae.instrument import Instrument
from musicvae.midi.melody import decode


@pytest.fixture(scope="module")
def live_studio(jack_server):  # noqa: F811 - the fixture imported above
    server = StudioProcess()  # started after the JACK server: it inherits JACK_DEFAULT_SERVER
    yield server
    assert server.stop() in (0, 130), "\n".join(server.lines)


def _likeness(heard: list[int], phrase: list[int]) -> float:
    """How well some stretch of ``heard`` plays ``phrase`` in order (difflib's ratio, 1 = note for note):
    a loaded machine's capture may miss a note, which an exact match would count as a different phrase."""
    import difflib

    spans = [heard[i:i + len(phrase)] for i in range(max(1, len(heard) - len(phrase) + 1))]
    return max(difflib.SequenceMatcher(None, span, phrase).ratio() for span in spans)


def _sessions(page) -> list[dict]:
    return page.evaluate("fetch('/api/sessions').then((r) => r.json()).then((j) => j.sessions)")


@pytest.mark.slow  # it listens to four 2-s phrases
def test_live_session_is_morphed_by_the_knob_and_stopped(browser, live_studio, tunes, tmp_path):
    a, b = tunes
    ends = generate.morph(Instrument.load("melody-2bar"), a, b, steps=2).steps
    phrase_a, phrase_b = ([n.pitch for n in decode(e, min_pitch=21)] for e in ends)
    assert phrase_a != phrase_b
    capture = Capture("studio-cap")
    page = browser.new_page()
    try:
        page.goto(live_studio.url + "#live")
        page.wait_for_selector("body[data-ready='1']")
        page.select_option("#live-midi-api", "jack")
        page.click("#ports-refresh")
        page.wait_for_function("[...document.querySelectorAll('#ports-list li')].some((li) => "
                               "li.textContent.includes('studio-cap:in'))")
        page.set_input_files("#live-a", str(a))
        page.set_input_files("#live-b", str(b))
        page.fill("#live-midi-out", "studio-cap:in")
        page.fill("#live-bpm", "240")  # a 2-bar phrase every 2 s
        page.click("#live-start")
        page.wait_for_selector(".session .session-state:text('playing')", timeout=60_000)

        def heard(after: float, phrases: int) -> list[int]:
            end = time.perf_counter() + 30
            while time.perf_counter() < end:
                pitches = [p for t, p in capture.note_ons() if t > after]
                if len(pitches) >= phrases * max(len(phrase_a), len(phrase_b)):
                    return pitches
                time.sleep(0.1)
            return [p for t, p in capture.note_ons() if t > after]

        before = heard(0.0, 2)
        assert _likeness(before, phrase_a) >= 0.85 > _likeness(before, phrase_b), f"{before} {phrase_a}"
        knob = page.locator(".session .knob")
        knob.focus()
        knob.press("End")  # the knob to 1: B
        turned = time.perf_counter()
        end = time.perf_counter() + 10
        while _sessions(page)[-1]["morph"] != 1.0:  # the run's own parameter store, written by its OSC server
            assert time.perf_counter() < end, _sessions(page)
            time.sleep(0.05)
        assert page.locator(".session .knob").get_attribute("aria-valuenow") == "1.000"
        after = heard(turned + 2.5, 2)  # from the next phrase on, B's
        assert _likeness(after, phrase_b) >= 0.85 > _likeness(after, phrase_a), f"{after} {phrase_b}"
        screenshot(page, "live", tmp_path)

        page.click(".session button.stop")
        page.wait_for_selector(".session .session-state:text-matches('stopped.*stopped by stop')")
        messages = capture.settled()
        assert [0xB0, 123, 0] in messages  # All Notes Off on the stop
        assert_no_stuck_notes(messages)
        assert not _sessions(page)[-1]["running"]
    finally:
        page.close()
        capture.close()


def test_synth_session_starts_on_jack_audio_and_stops(browser, live_studio):
    page = browser.new_page()
    try:
        page.goto(live_studio.url + "#live")
        page.wait_for_selector("body[data-ready='1']")
        page.select_option("#live-midi-api", "jack")
        page.fill("#synth-midi-in", "virtual:studio-keys")
        page.fill("#synth-audio-api", "jack")
        page.click("#synth-start")
        card = page.locator(".session", has_text="synth #")
        card.locator(".session-state:text('playing')").wait_for(timeout=60_000)
        knob = card.locator(".knob")
        assert knob.get_attribute("aria-valuenow") == "0.500"  # the synth's starting blend
        box = knob.bounding_box()
        x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
        page.mouse.move(x, y)
        page.mouse.down()
        page.mouse.move(x, y + 90, steps=6)  # dragged down: towards A
        page.mouse.up()
        assert knob.get_attribute("aria-valuenow") == "0.000"
        card.locator("button.stop").click()
        card.locator(".session-state:text-matches('stopped.*stopped by stop')").wait_for()
        summary = _sessions(page)[-1]["summary"]
        assert "notes decoded" in summary and not summary.startswith("0 notes"), summary
    finally:
        page.close()
