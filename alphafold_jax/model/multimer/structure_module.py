"""The AlphaFold-Multimer v2.3 structure module (Suppl. Alg. 20 with the multimer IPA).

As the monomer (`model/structure_module.py`): black-hole initialisation, num_layer applications
of one shared `fold_iteration` (IPA -> transition -> backbone update -> angle ResNet ->
all-atom), rotation gradient stopped between layers. Multimer differences:
  * IPA with global point projections (`multimer/ipa.py`);
  * the backbone update is `quat_rigid/rigid` (same map as Alg. 23: quaternion (1, b, c, d)
    normalised, translation in the local frame, composed on the right);
  * frames are kept in angstrom / position_scale with position_scale = 20 (monomer: 10);
  * atom masks and positions are multiplied by seq_mask.
Frames are our one `Rigid`; the angle ResNet and all-atom maths are the monomer's.

Shapes: N = residues, L = num_layer, c_s = 384, c_z = 128, c = num_channel.
Output: act [N, c], traj Rigid [L, N] (angstrom), sidechains {...} per layer,
final_atom14_positions [N, 14, 3], final_atom14_mask [N, 14], final_atom_positions [N, 37, 3],
final_atom_mask [N, 37].
"""

from __future__ import annotations

from typing import Optional

import haiku as hk
import jax
import jax.numpy as jnp

from alphafold_jax.geometry.rigid import Rigid
from alphafold_jax.model import all_atom
from alphafold_jax.model.multimer.ipa import InvariantPointAttention
from alphafold_jax.model.structure_module import (AngleResnet, StructureModuleConfig,
                                                  backbone_update)
from alphafold_jax.nn import LayerNorm, Linear
from alphafold_jax.ops.global_config import GlobalConfig


class FoldIteration(hk.Module):
  """One layer (Alg. 20 lines 6-21). Call: (act, frames, initial_act, pair, seq_mask, aatype,
  key, is_training) -> (act, frames with rotation gradient stopped, outputs)."""

  def __init__(self, config: StructureModuleConfig, global_config: GlobalConfig,
               name: str = 'fold_iteration'):
    super().__init__(name=name)
    self.c, self.gc = config, global_config

  def _dropout(self, x, key, is_training):
    if not is_training or self.gc.deterministic or self.c.dropout == 0.0 or key is None:
      return x
    keep = 1.0 - self.c.dropout
    return x * jax.random.bernoulli(key, keep, x.shape).astype(x.dtype) / keep

  def __call__(self, act, frames: Rigid, initial_act, pair, seq_mask, aatype, key, is_training):
    c = self.c
    key_attn, key_trans = (None, None) if key is None else jax.random.split(key)
    act = act + InvariantPointAttention(c.ipa_config(), self.gc)(act, pair, seq_mask, frames)
    act = LayerNorm(name='attention_layer_norm')(self._dropout(act, key_attn, is_training))
    final_init = 'zeros' if self.gc.zero_init else 'linear'
    x = act
    for i in range(c.num_layer_in_transition):
      last = i == c.num_layer_in_transition - 1
      x = Linear(c.num_channel, initializer=final_init if last else 'relu',
                 name='transition' if i == 0 else f'transition_{i}')(x)
      if not last:
        x = jax.nn.relu(x)
    act = LayerNorm(name='transition_layer_norm')(self._dropout(act + x, key_trans, is_training))
    with hk.experimental.name_scope('quat_rigid'):
      update = Linear(6, initializer=final_init, name='rigid')(act)  # [N, 6]
    frames = backbone_update(frames, update)
    frames_ang = frames.scale_translation(c.position_scale)
    sidechains = AngleResnet(c.sidechain, self.gc)(frames_ang, act, initial_act, aatype)
    return act, frames.stop_rot_gradient(), {'frames': frames_ang, 'sidechains': sidechains}


class StructureModule(hk.Module):
  """Call: (single [N, c_s], pair [N, N, c_z], aatype [N], seq_mask [N], is_training, key)."""

  def __init__(self, config: StructureModuleConfig, global_config: GlobalConfig,
               name: str = 'structure_module'):
    super().__init__(name=name)
    self.c, self.gc = config, global_config

  def __call__(self, single, pair, aatype, seq_mask, is_training: bool = False,
               key: Optional[jax.Array] = None) -> dict:
    c = self.c
    n = single.shape[0]
    seq_mask = seq_mask.astype(jnp.float32)
    aatype = aatype.astype(jnp.int32)
    initial_act = LayerNorm(name='single_layer_norm')(single.astype(jnp.float32))
    act = Linear(c.num_channel, name='initial_projection')(initial_act)  # [N, c]
    pair = LayerNorm(name='pair_layer_norm')(pair.astype(jnp.float32))  # [N, N, c_z]
    fold = FoldIteration(c, self.gc)
    dropout_on = is_training and not self.gc.deterministic and c.dropout > 0.0 and key is not None

    def body(carry, layer_key):
      act, frames = carry
      act, frames, out = fold(act, frames, initial_act, pair, seq_mask, aatype,
                              layer_key if dropout_on else None, is_training)
      return (act, frames), out

    keys = (jax.random.split(key, c.num_layer) if dropout_on
            else jnp.zeros((c.num_layer,), jnp.uint32))
    (act, _), per_layer = hk.scan(body, (act, Rigid.identity((n,))), keys)
    atom14 = per_layer['sidechains']['atom_pos'][-1]  # [N, 14, 3]
    atom37_mask = all_atom.atom37_mask(aatype) * seq_mask[:, None]  # [N, 37]
    return {
        'act': act,
        'traj': per_layer['frames'],
        'final_frames': per_layer['frames'][-1],
        'sidechains': per_layer['sidechains'],
        'final_atom14_positions': atom14,
        'final_atom14_mask': all_atom.atom14_mask(aatype) * seq_mask[:, None],
        'final_atom_positions': all_atom.atom14_to_atom37(atom14, aatype) * atom37_mask[..., None],
        'final_atom_mask': atom37_mask,
    }
