"""Write the demo's two folk tunes (test split of folk-melodies) to examples/ as MIDI.

    python scripts/make_examples.py

Picks the first held-out O'Neill's and Essen tunes whose first two bars hold at
least six notes, and writes their first eight bars. Needs the folk-melodies
cache (`musicvae data build folk-melodies`).
"""

from __future__ import annotations

import numpy as np

from musicvae.data.recipes import cache_path
from musicvae.io import repo_root
from musicvae.kinds.melody.data import SPLITS, melody_recipe_hash
from musicvae.kinds.melody.sources import load_melody_recipe
from musicvae.midi.melody import FIRST_PITCH_CLASS, events_to_midi
from musicvae.outputs import write_midi

BARS = 8


def main() -> None:
    recipe = load_melody_recipe("folk-melodies")
    data = np.load(cache_path(recipe, digest=melody_recipe_hash(recipe)) / "melodies.npz")
    events, offsets = data["events"], data["offsets"]
    chosen = {}
    for m, (piece, split) in enumerate(zip(data["melody_piece"], data["melody_split"])):
        piece_id = str(data["piece_ids"][piece])
        collection = piece_id.split("/")[0]
        if SPLITS[int(split)] != "test" or collection in chosen or collection == "ryansMammoth":
            continue
        melody = events[offsets[m] : offsets[m + 1]][: BARS * 16]
        if len(melody) == BARS * 16 and (melody[:32] >= FIRST_PITCH_CLASS).sum() >= 6:
            chosen[collection] = (piece_id, melody)
    for name, (_collection, (piece_id, melody)) in zip(("folk_a", "folk_b"), sorted(chosen.items(), reverse=True)):
        path = write_midi(events_to_midi(melody, qpm=120.0), repo_root() / "examples" / f"{name}.mid")
        print(f"wrote {path} ({piece_id})")


if __name__ == "__main__":
    main()
