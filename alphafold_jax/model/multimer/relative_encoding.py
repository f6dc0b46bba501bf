"""Chain-aware relative encoding of AlphaFold-Multimer (Evans et al. 2021, Methods;
AF2-Multimer v2.3 `_relative_encoding`), replacing the monomer's Suppl. Alg. 4.

For residues i, j (N = residues, r = max_relative_idx, s = max_relative_chain):
  rel_pos    one-hot over 2r + 2 bins: clip(res_i - res_j, -r, r) within a chain, the extra
             bin 2r + 1 across chains                                        [N, N, 2r + 2]
  same_ent   1 if i and j belong to the same entity (identical sequences)    [N, N, 1]
  rel_chain  one-hot over 2s + 2 bins: clip(sym_i - sym_j, -s, s) within an entity, the
             extra bin 2s + 1 across entities                                [N, N, 2s + 2]
concatenated (2r + 2s + 5 = 73 features for r=32, s=2) and projected by `position_activations`
to the pair channels. Without chain-relative features it is the monomer's clip + one-hot (2r+1).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from alphafold_jax import nn


def relative_features(residue_index: jnp.ndarray, asym_id: jnp.ndarray,
                      entity_id: jnp.ndarray, sym_id: jnp.ndarray, max_relative_idx: int,
                      max_relative_chain: int, use_chain_relative: bool = True) -> jnp.ndarray:
  """The parameter-free features above: [N] ids -> [N, N, 2r + 2s + 5] float32."""
  r, s = max_relative_idx, max_relative_chain
  offset = residue_index[:, None] - residue_index[None, :]  # [N, N]
  clipped = jnp.clip(offset + r, 0, 2 * r)
  if not use_chain_relative:
    return jax.nn.one_hot(clipped, 2 * r + 1)
  same_chain = asym_id[:, None] == asym_id[None, :]  # [N, N]
  rel_pos = jax.nn.one_hot(jnp.where(same_chain, clipped, 2 * r + 1), 2 * r + 2)
  same_entity = entity_id[:, None] == entity_id[None, :]  # [N, N]
  rel_sym = jnp.clip(sym_id[:, None] - sym_id[None, :] + s, 0, 2 * s)
  rel_chain = jax.nn.one_hot(jnp.where(same_entity, rel_sym, 2 * s + 1), 2 * s + 2)
  return jnp.concatenate([rel_pos, same_entity.astype(rel_pos.dtype)[..., None], rel_chain],
                         axis=-1)


def embed_relative_encoding(batch, pair_channel: int, max_relative_idx: int = 32,
                            max_relative_chain: int = 2, use_chain_relative: bool = True,
                            dtype=jnp.float32) -> jnp.ndarray:
  """[N, N, pair_channel]; parameters `position_activations` in the current Haiku scope."""
  feats = relative_features(batch['residue_index'], batch['asym_id'], batch['entity_id'],
                            batch['sym_id'], max_relative_idx, max_relative_chain,
                            use_chain_relative)
  return nn.Linear(pair_channel, name='position_activations')(feats.astype(dtype))
