from alphafold_jax.nn.dropout import dropout, dropout_residual, shared_axis
from alphafold_jax.nn.layer_norm import LayerNorm
from alphafold_jax.nn.linear import Linear, weight_initializer
