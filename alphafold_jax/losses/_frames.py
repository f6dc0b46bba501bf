"""Adapters from the frame encodings found in prediction/batch dicts to `Rigid`.

Accepted encodings (trailing dims):
  * a `Rigid` (returned unchanged),
  * [..., 7]   AF2 QuatAffine tensor: quaternion (w, x, y, z) then translation,
  * [..., 12]  AF2 flat12: 9 row-major rotation entries then translation,
  * [..., 4, 4] homogeneous matrices.
"""

from __future__ import annotations

from typing import Union

import jax.numpy as jnp

from alphafold_jax.geometry.quaternion import quat_to_rot
from alphafold_jax.geometry.rigid import Rigid

FrameLike = Union[Rigid, jnp.ndarray]


def to_rigid(frames: FrameLike) -> Rigid:
  """Any accepted frame encoding -> `Rigid` (see module docstring)."""
  if isinstance(frames, Rigid):
    return frames
  frames = jnp.asarray(frames)
  if frames.ndim >= 2 and frames.shape[-2:] == (4, 4):
    return Rigid.from_tensor_4x4(frames)
  if frames.shape[-1] == 12:
    return Rigid.from_tensor_flat12(frames)
  if frames.shape[-1] == 7:
    # AF2's QuatAffine: (w, x, y, z) quaternion, normalised here.
    return Rigid(rot=quat_to_rot(frames[..., :4], normalize=True), trans=frames[..., 4:])
  raise ValueError(
      'frames must be a Rigid, a [..., 7] quaternion affine, a [..., 12] flat12 '
      f'or a [..., 4, 4] tensor; got an array of shape {frames.shape}')


def positions_array(x) -> jnp.ndarray:
  """Positions given as an array [..., 3] (or an object with .x/.y/.z) -> array."""
  if hasattr(x, 'x') and hasattr(x, 'y') and hasattr(x, 'z'):
    return jnp.stack([x.x, x.y, x.z], axis=-1)
  x = jnp.asarray(x)
  if x.shape[-1] != 3:
    raise ValueError(f'positions must have a trailing dimension 3, got shape {x.shape}')
  return x
