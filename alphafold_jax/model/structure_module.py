"""The AF2 structure module (Jumper et al. 2021, Suppl. Alg. 20, 23, 24).

Eight applications of ONE shared-weight `FoldIteration` (IPA -> transition -> backbone
update -> angle ResNet -> all-atom), started from identity frames ("black-hole
initialisation"), with the rotation gradient stopped between layers.

Units: frames are kept in nanometres inside the loop (AF2's `position_scale` = 10);
everything returned is in angstrom.

Shapes: N = residues, L = num_layer, c_s = single channels (384), c_z = pair channels (128),
c = num_channel (384).

Output dict of `StructureModule.__call__` (the losses consume these):
  'act'                     [N, c]          final single activations (pLDDT head input;
                                            AF2: representations['structure_module'])
  'traj'                    Rigid [L, N]    per-layer backbone frames, angstrom. AF2 returns
                                            [L, N, 7] quaternion+translation here;
                                            `traj_to_quat_affine` converts.
  'final_frames'            Rigid [N]       traj[-1] (AF2's 'final_affines' as a Rigid)
  'sidechains': {
    'frames'                Rigid [L, N, 8] rigid-group frames -> global, angstrom
    'atom_pos'              [L, N, 14, 3]   atom14 positions, angstrom
    'angles_sin_cos'        [L, N, 7, 2]    normalised (sin, cos) of the 7 torsions
    'unnormalized_angles_sin_cos' [L, N, 7, 2]
  }
  'final_atom14_positions'  [N, 14, 3]      'final_atom14_mask' [N, 14]
  'final_atom_positions'    [N, 37, 3]      'final_atom_mask'   [N, 37]
The masks are the residue-type atom masks (AF2's atom14/atom37_atom_exists); like AF2
they are NOT multiplied by seq_mask, so multiply by seq_mask[:, None] for padded inputs.

Parameter names follow AF2 v2.3 `structure_module/...` exactly (fold_iteration/
invariant_point_attention, attention_layer_norm, transition{,_1,_2},
transition_layer_norm, affine_update, rigid_sidechain/...).
"""

from __future__ import annotations

import dataclasses
from typing import Optional

import haiku as hk
import jax
import jax.numpy as jnp

from alphafold_jax.ops.global_config import GlobalConfig
from alphafold_jax.geometry import quaternion
from alphafold_jax.geometry.rigid import Rigid
from alphafold_jax.model import all_atom
from alphafold_jax.model.ipa import InvariantPointAttention, InvariantPointAttentionConfig
from alphafold_jax.nn import LayerNorm, Linear, final_init
from alphafold_jax.ops import memory_policy


@dataclasses.dataclass(frozen=True)
class SidechainConfig:
  """Angle ResNet widths (AF2 `structure_module.sidechain`). AF2's side-chain FAPE settings
  of that scope (atom_clamp_distance, length_scale, weight_frac) are loss settings: their one
  home is `LossConfig` (sidechain_clamp_distance, sidechain_length_scale, sidechain_weight_frac).
  """
  num_channel: int = 128
  num_residual_block: int = 2


@dataclasses.dataclass(frozen=True)
class StructureModuleConfig:
  """AF2 model_1_ptm `heads.structure_module` architecture fields (losses keep their own)."""
  num_layer: int = 8
  num_channel: int = 384
  num_head: int = 12
  num_scalar_qk: int = 16
  num_scalar_v: int = 16
  num_point_qk: int = 4
  num_point_v: int = 8
  num_layer_in_transition: int = 3
  position_scale: float = 10.0
  dropout: float = 0.1
  sidechain: SidechainConfig = dataclasses.field(default_factory=SidechainConfig)
  weight: float = 1.0

  def __post_init__(self):
    if self.num_layer < 1 or self.num_layer_in_transition < 1:
      raise ValueError('StructureModuleConfig: num_layer and num_layer_in_transition must be '
                       f'>= 1, got {self.num_layer}, {self.num_layer_in_transition}')
    if not 0.0 <= self.dropout < 1.0:
      raise ValueError(f'StructureModuleConfig.dropout must be in [0, 1), got {self.dropout}')

  def ipa_config(self) -> InvariantPointAttentionConfig:
    return InvariantPointAttentionConfig(
        num_head=self.num_head, num_scalar_qk=self.num_scalar_qk,
        num_scalar_v=self.num_scalar_v, num_point_qk=self.num_point_qk,
        num_point_v=self.num_point_v, num_channel=self.num_channel)


def backbone_update(frames: Rigid, update: jnp.ndarray) -> Rigid:
  """Suppl. Alg. 23: frames [N] composed with the predicted update [N, 6] (applied first).

  update = (b, c, d, t_x, t_y, t_z): rotation from the non-unit quaternion (1, b, c, d)
  normalised, translation t in the current frame's local coordinates.
  DISCREPANCY (form only): AF2 carries the quaternion q and sets q <- normalise(q + q*(0,b,c,d)),
  rebuilding the rotation from it each layer; composing rotation matrices as done here is
  the same map (q * (1,b,c,d) normalised) and agrees to fp32 round-off.
  """
  bcd, trans = update[..., :3], update[..., 3:]  # [N, 3], [N, 3]
  quat = jnp.concatenate([jnp.ones_like(bcd[..., :1]), bcd], axis=-1)  # [N, 4]
  step = Rigid(rot=quaternion.quat_to_rot(quat, normalize=True), trans=trans)
  return frames @ step


def traj_to_quat_affine(traj: Rigid) -> jnp.ndarray:
  """Rigid [..., N] -> AF2's QuatAffine tensor [..., N, 7] (w, x, y, z, t_x, t_y, t_z).

  The quaternion sign is canonicalised (w >= 0); AF2's may carry either sign.
  """
  quat, trans = quaternion.rigid_to_quat(traj)
  return jnp.concatenate([quat, trans], axis=-1)


def _l2_normalize(x: jnp.ndarray, epsilon: float = 1e-12) -> jnp.ndarray:
  return x / jnp.sqrt(jnp.maximum(jnp.sum(x * x, axis=-1, keepdims=True), epsilon))


class AngleResnet(hk.Module):
  """Torsion-angle ResNet + all-atom placement (Alg. 20 lines 11-14, Alg. 24).

  AF2 module name: 'rigid_sidechain' (MultiRigidSidechain).
  Call: (frames Rigid [N] in angstrom, act [N, c], initial_act [N, c_s], aatype [N]) ->
  dict(angles_sin_cos [N, 7, 2], unnormalized_angles_sin_cos [N, 7, 2],
       frames Rigid [N, 8], atom_pos [N, 14, 3]).
  """

  def __init__(self, config: SidechainConfig, global_config: GlobalConfig,
               name: str = 'rigid_sidechain'):
    super().__init__(name=name)
    self.c = config
    self.gc = global_config

  def __call__(self, frames: Rigid, act: jnp.ndarray, initial_act: jnp.ndarray,
               aatype: jnp.ndarray) -> dict:
    c = self.c
    n = act.shape[0]
    # a = Linear(relu(s_i)) + Linear(relu(s_i^initial))  (Alg. 20 line 11)
    a = (Linear(c.num_channel, name='input_projection')(jax.nn.relu(act)) +
         Linear(c.num_channel, name='input_projection_1')(jax.nn.relu(initial_act)))  # [N, 128]
    final = final_init(self.gc)
    for i in range(c.num_residual_block):
      suffix = '' if i == 0 else f'_{i}'
      hidden = Linear(c.num_channel, initializer='relu', name=f'resblock1{suffix}')(
          jax.nn.relu(a))
      a = a + Linear(c.num_channel, initializer=final, name=f'resblock2{suffix}')(
          jax.nn.relu(hidden))  # [N, 128]
    unnormalized = Linear(14, name='unnormalized_angles')(jax.nn.relu(a)).reshape(n, 7, 2)
    angles = _l2_normalize(unnormalized)  # [N, 7, 2] (sin, cos)

    group_frames = all_atom.torsion_angles_to_frames(aatype, frames, angles)  # [N, 8]
    atom_pos = all_atom.frames_to_atom14_positions(aatype, group_frames)  # [N, 14, 3]
    return {
        'angles_sin_cos': angles,
        'unnormalized_angles_sin_cos': unnormalized,
        'frames': group_frames,
        'atom_pos': atom_pos,
    }


class FoldIteration(hk.Module):
  """One structure-module layer (Suppl. Alg. 20 lines 6-21), weights shared across layers.

  Call: (act [N, c], frames Rigid [N] in nm, initial_act [N, c_s], pair [N, N, c_z],
  seq_mask [N], aatype [N], dropout key or None, is_training, pair_norm=None: see IPA) ->
  (new act, new frames in nm with rotation gradient stopped, outputs of this layer).
  """

  def __init__(self, config: StructureModuleConfig, global_config: GlobalConfig,
               name: str = 'fold_iteration'):
    super().__init__(name=name)
    self.c = config
    self.gc = global_config

  def _dropout(self, x: jnp.ndarray, key: Optional[jax.Array], is_training: bool):
    if not is_training or self.gc.deterministic or self.c.dropout == 0.0:
      return x
    if key is None:
      raise ValueError('FoldIteration: dropout is active but no PRNG key was given')
    keep = 1.0 - self.c.dropout
    return x * jax.random.bernoulli(key, keep, x.shape).astype(x.dtype) / keep

  def __call__(self, act, frames, initial_act, pair, seq_mask, aatype, key, is_training,
               pair_norm=None):
    c = self.c
    key_attn, key_trans = (None, None) if key is None else jax.random.split(key)

    # IPA + residual + dropout + LayerNorm (lines 6-8).
    act = act + InvariantPointAttention(c.ipa_config(), self.gc)(
        act, pair, seq_mask, frames, is_training, pair_norm=pair_norm)
    act = LayerNorm(name='attention_layer_norm')(self._dropout(act, key_attn, is_training))

    # Transition (line 9): Linear-relu x (n-1), Linear, residual, dropout, LayerNorm.
    final = final_init(self.gc)
    x = act
    for i in range(c.num_layer_in_transition):
      last = i == c.num_layer_in_transition - 1
      x = Linear(c.num_channel, initializer=final if last else 'relu',
                 name='transition' if i == 0 else f'transition_{i}')(x)
      if not last:
        x = jax.nn.relu(x)
    act = LayerNorm(name='transition_layer_norm')(self._dropout(act + x, key_trans, is_training))

    # Backbone update (line 10, Alg. 23).
    frames = backbone_update(
        frames, Linear(6, initializer=final, name='affine_update')(act))  # [N] nm

    # Torsions and all atoms (lines 11-14, Alg. 24) on angstrom frames.
    frames_ang = frames.scale_translation(c.position_scale)
    sidechains = AngleResnet(c.sidechain, self.gc)(frames_ang, act, initial_act, aatype)
    outputs = {'frames': frames_ang, 'sidechains': sidechains}

    # Line 20: no rotation gradient flows into the next layer.
    return act, frames.stop_rot_gradient(), outputs


class StructureModule(hk.Module):
  """AF2 structure module (Suppl. Alg. 20). See the module docstring for the output dict.

  Call: (single [N, c_s], pair [N, N, c_z], aatype [N] int, seq_mask [N],
         is_training=False, key=None). `key` is required only when dropout is active
  (is_training and not global_config.deterministic and config.dropout > 0); as in AF2,
  global_config.eval_dropout does not switch on structure-module dropout.
  Computation is float32 regardless of global_config.bfloat16 (as in AF2, whose trunk
  outputs are cast back to float32 before the heads).
  """

  def __init__(self, config: StructureModuleConfig, global_config: GlobalConfig,
               name: str = 'structure_module'):
    super().__init__(name=name)
    self.c = config
    self.gc = global_config

  def __call__(self, single: jnp.ndarray, pair: jnp.ndarray, aatype: jnp.ndarray,
               seq_mask: jnp.ndarray, is_training: bool = False,
               key: Optional[jax.Array] = None) -> dict:
    c = self.c
    if single.ndim != 2 or pair.ndim != 3 or aatype.ndim != 1 or seq_mask.ndim != 1:
      raise ValueError(
          'StructureModule expects single [N, c_s], pair [N, N, c_z], aatype [N], seq_mask [N]; '
          f'got {single.shape}, {pair.shape}, {aatype.shape}, {seq_mask.shape}')
    n = single.shape[0]
    if pair.shape[:2] != (n, n) or aatype.shape[0] != n or seq_mask.shape[0] != n:
      raise ValueError(
          f'StructureModule: residue axes disagree: single {single.shape}, pair {pair.shape}, '
          f'aatype {aatype.shape}, seq_mask {seq_mask.shape}')
    dropout_on = is_training and not self.gc.deterministic and c.dropout > 0.0
    if dropout_on and key is None:
      raise ValueError('StructureModule: a PRNG `key` is required when dropout is active '
                       '(is_training=True, deterministic=False, dropout > 0)')
    single = single.astype(jnp.float32)
    pair = pair.astype(jnp.float32)
    seq_mask = seq_mask.astype(jnp.float32)
    aatype = aatype.astype(jnp.int32)

    initial_act = LayerNorm(name='single_layer_norm')(single)  # [N, c_s]
    act = Linear(c.num_channel, name='initial_projection')(initial_act)  # [N, c]
    pair_norm = LayerNorm(name='pair_layer_norm')
    if memory_policy.inplace_pair(self.gc, is_training):  # the IPA normalises its row blocks
      pair_norm(pair[:1, :1])  # the parameters, made here (as without the policy)
    else:
      pair, pair_norm = pair_norm(pair), None  # [N, N, c_z]
    frames = Rigid.identity((n,), jnp.float32)  # black-hole initialisation, nm

    fold_iteration = FoldIteration(c, self.gc, name='fold_iteration')

    def body(carry, layer_key):
      act, frames = carry
      act, frames, out = fold_iteration(
          act, frames, initial_act, pair, seq_mask, aatype,
          layer_key if dropout_on else None, is_training, pair_norm=pair_norm)
      return (act, frames), out

    layer_keys = (jax.random.split(key, c.num_layer) if dropout_on
                  else jnp.zeros((c.num_layer,), jnp.uint32))  # placeholders when unused
    # hk.scan shares FoldIteration's parameters across the L layers (one set of weights).
    (act, _), per_layer = hk.scan(body, (act, frames), layer_keys)

    sidechains = per_layer['sidechains']
    atom14 = sidechains['atom_pos'][-1]  # [N, 14, 3]
    return {
        'act': act,
        'traj': per_layer['frames'],  # Rigid [L, N], angstrom
        'final_frames': per_layer['frames'][-1],
        'sidechains': sidechains,
        'final_atom14_positions': atom14,
        'final_atom14_mask': all_atom.atom14_mask(aatype),
        'final_atom_positions': all_atom.atom14_to_atom37(atom14, aatype),
        'final_atom_mask': all_atom.atom37_mask(aatype),
    }
