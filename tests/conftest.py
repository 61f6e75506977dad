"""Suite-wide settings: one torch thread, a private cache folder.

PyTorch's default of one thread per core thrashes when the 2-core CI machine runs
anything else (2 threads under load ran 13x slower than 1 in a trial), and tests
measure correctness, not speed.
"""

import sys
from pathlib import Path

import pytest
import torch

# The suite's shared helpers (timbre_fixtures.py) import from every test folder, and the realtime
# folder's (realtime_helpers.py, which its conftest imports) from the studio's live tests too, whichever
# folder pytest collects first.
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent / "realtime"))


@pytest.fixture(autouse=True, scope="session")
def one_torch_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
