"""Backbone atoms (N, CA, C) from residue frames with AF2's ideal positions (angstrom).

The local coordinates are the backbone rigid group (group 0) entries of
`residue_constants.rigid_group_atom_positions` (Engh & Huber; AF2 Suppl. Table 2 / Alg. 24):
CA at the origin, C on the +x axis, N in the xy plane. Unknown residues (index 20) use ALA's.

Shapes: N = residues; frames Rigid [..., N] (angstrom), aatype [..., N] int,
backbone [..., N, 3, 3] with atom order (N, CA, C).
"""

from __future__ import annotations

from typing import Optional

import jax.numpy as jnp
import numpy as np

from alphafold_jax.common import residue_constants as rc
from alphafold_jax.geometry.rigid import Rigid

BACKBONE_ATOMS = ('N', 'CA', 'C')


def ideal_backbone_table() -> np.ndarray:
  """[21, 3, 3] local (N, CA, C) positions per restype (AF2 order; UNK = ALA)."""
  table = np.zeros((len(rc.restypes) + 1, 3, 3), np.float32)
  for index, letter in enumerate(list(rc.restypes) + ['A']):
    positions = {name: xyz for name, group, xyz in
                 rc.rigid_group_atom_positions[rc.restype_1to3[letter]] if group == 0}
    table[index] = [positions[name] for name in BACKBONE_ATOMS]
  return table


def frames_to_backbone(frames: Rigid, aatype: Optional[jnp.ndarray] = None,
                       mask: Optional[jnp.ndarray] = None) -> jnp.ndarray:
  """Global (N, CA, C) coordinates [..., N, 3, 3]; padded residues (mask 0) set to 0.

  aatype None uses alanine geometry (the backbone differs by < 0.02 angstrom between types).
  """
  table = jnp.asarray(ideal_backbone_table())  # [21, 3, 3]
  if aatype is None:
    local = jnp.broadcast_to(table[0], (*frames.shape, 3, 3))  # [..., N, 3, 3]
  else:
    if tuple(aatype.shape) != tuple(frames.shape):
      raise ValueError(f'frames_to_backbone: aatype {aatype.shape} vs frames {frames.shape}')
    local = table[jnp.clip(aatype, 0, 20)]  # [..., N, 3, 3]
  per_atom = Rigid(rot=frames.rot[..., None, :, :], trans=frames.trans[..., None, :])
  atoms = per_atom.apply(local)  # [..., N, 3 atoms, 3]
  if mask is not None:
    atoms = atoms * mask.astype(atoms.dtype)[..., None, None]
  return atoms
