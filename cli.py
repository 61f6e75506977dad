"""`python cli.py ...` is the same as the `musicvae ...` console script."""

import sys

from musicvae.cli import main

if __name__ == "__main__":
    sys.exit(main())
