"""Record the golden outputs of the shipped instruments and the recipes' cache keys.

Run from the repository root::

    .venv/bin/python tests/golden/make_golden.py

It writes ``tests/golden/outputs.npz`` and ``tests/golden/cache_keys.json``;
``tests/test_golden.py`` recomputes the same outputs (with the functions of
``golden_outputs.py``) and compares. Re-record only when a change of output is
intended, and say so in the commit.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
from golden_outputs import CACHE_KEYS_FILE, OUTPUTS_FILE, all_cache_keys, all_outputs  # noqa: E402


def main() -> None:
    outputs = all_outputs()
    np.savez_compressed(OUTPUTS_FILE, **outputs)
    keys = all_cache_keys()
    CACHE_KEYS_FILE.write_text(json.dumps(keys, indent=2, sort_keys=True) + "\n")
    for name, value in outputs.items():
        print(f"{name:45s} {value.dtype!s:8s} {tuple(value.shape)}")
    print(f"wrote {OUTPUTS_FILE} ({OUTPUTS_FILE.stat().st_size / 1024:.1f} KiB, {len(outputs)} arrays)")
    dirs = ", ".join(f"{name}: {key['cache_dir']}" for name, key in keys.items())
    print(f"wrote {CACHE_KEYS_FILE} ({dirs})")


if __name__ == "__main__":
    main()
