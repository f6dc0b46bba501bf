"""AlphaFold2 model modules; `RunModel` is the public face (features in, AF2 outputs out)."""
from alphafold_jax.model.run_model import RunModel
