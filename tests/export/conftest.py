"""The export tests' fixture: small instruments of every kind (:mod:`export_helpers`)."""

from __future__ import annotations

import pytest
from export_helpers import small_instrument


@pytest.fixture(scope="module")
def small():
    return small_instrument
