from alphafold_jax.nn.dropout import dropout, dropout_residual, shared_axis
from alphafold_jax.nn.layer_norm import LayerNorm
from alphafold_jax.nn.linear import Linear, final_init, linear_params, weight_initializer
