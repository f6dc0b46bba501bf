"""Geometry: rigid frames, quaternions, SO(3) exp/log, Kabsch (pure jnp, no Haiku).

Conventions (frame axes, composition order, units) are in CONVENTIONS.md here.
"""

from alphafold_jax.geometry.alignment import kabsch, superpose, weighted_rmsd
from alphafold_jax.geometry.quaternion import (quat_conjugate, quat_multiply,
                                               quat_multiply_by_vec, quat_normalize,
                                               quat_to_rot, rigid_from_quat,
                                               rigid_to_quat, rot_to_quat, standardize)
from alphafold_jax.geometry.rigid import Rigid
from alphafold_jax.geometry.rotation import (axis_angle_to_rot, hat, quat_to_rotvec,
                                             random_rotation, relative_angle,
                                             rot_to_rotvec, rotation_angle,
                                             rotvec_to_quat, rotvec_to_rot, vee)
