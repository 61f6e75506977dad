"""Fixtures the accompanist tests share."""

from __future__ import annotations

import pytest

from musicvae.kinds.accompanist import data as chorale_data


@pytest.fixture(scope="session")
def recipe(tmp_path_factory):
    """A recipe of a few corpus chorales (train, valid and test ones), built once into its own cache folder.

    Returns
    -------
    (Path, Path)
        The recipe file and the cache folder to point ``MUSICVAE_CACHE`` at.
    """
    folder = tmp_path_factory.mktemp("few-chorales")
    path = folder / "few-chorales.toml"
    path.write_text('name = "few-chorales"\nkind = "chorale"\n[[sources]]\ntype = "music21-corpus"\n'
                    'collections = ["bach"]\nmax_files = 12\n[split]\nvalid = 0.2\ntest = 0.2\nsalt = "n"\n')
    chorale_data.build_chorale_dataset(path, cache_dir=folder / "cache", workers=1, progress=False)
    return path, folder / "cache"

