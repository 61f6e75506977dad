"""StopSignals.set_up: set-up work runs on a worker, so that a stop signal lands in the main thread's wait."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest
import torch

from musicvae.realtime.stopping import StopSignals


def _signal_soon(delay: float, signum: int = signal.SIGINT) -> threading.Timer:
    timer = threading.Timer(delay, lambda: os.kill(os.getpid(), signum))
    timer.start()
    return timer


def test_set_up_returns_the_jobs_value_and_raises_its_error():
    stop = threading.Event()
    with StopSignals(stop) as signals:
        assert signals.set_up(lambda: threading.current_thread() is threading.main_thread()) is False
        with pytest.raises(ZeroDivisionError):
            signals.set_up(lambda: 1 / 0)
    assert not stop.is_set()


def test_a_signal_during_set_up_cuts_the_wait_and_leaves_torch_as_it_was():
    """The job decodes in torch's inference mode, over and over, until it sees ``stop``; a SIGINT comes 50 ms in.
    It is raised in the waiting main thread at once, ``stop`` is set so the job ends after the decode in hand,
    and the main thread's grad mode is untouched (raised inside the job's ``inference_mode()`` entry on the
    main thread, it had been left on for good)."""
    stop = threading.Event()
    layer = torch.nn.Linear(64, 64)
    decodes = [0]
    ended = threading.Event()

    def job() -> None:
        try:
            while not stop.is_set():
                with torch.inference_mode():
                    layer(torch.randn(32, 64))
                decodes[0] += 1
        finally:
            ended.set()

    timer = _signal_soon(0.05)
    began = time.perf_counter()
    with StopSignals(stop) as signals, pytest.raises(KeyboardInterrupt):
        signals.set_up(job)
    took = time.perf_counter() - began
    timer.join()
    assert stop.is_set() and signals.received == signal.SIGINT
    assert took < 1.0, took
    assert ended.wait(2.0) and decodes[0] > 0
    assert torch.is_grad_enabled() and not torch.is_inference_mode_enabled()
    loss = layer(torch.randn(4, 64)).sum()  # and a training step still has its gradients
    loss.backward()
    assert layer.weight.grad is not None


def test_sigterm_during_set_up_is_exit_143():
    stop = threading.Event()
    timer = _signal_soon(0.05, signal.SIGTERM)
    with StopSignals(stop) as signals, pytest.raises(SystemExit) as raised:
        signals.set_up(lambda: stop.wait(5.0))
    timer.join()
    assert raised.value.code == 143 and stop.is_set()
