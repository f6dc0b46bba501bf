"""`python -m alphafold_jax.cli ...` is the `alphafold-jax` command."""

import sys

from alphafold_jax.cli import main

sys.exit(main())
