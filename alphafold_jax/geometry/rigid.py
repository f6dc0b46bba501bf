"""Rigid transformations: the one frame representation of alphafold_jax.

A `Rigid` is a rotation matrix plus a translation, stored as two float arrays with
arbitrary (broadcastable) leading batch dimensions:

  rot:   [..., 3, 3]   columns are the frame's unit axes e1, e2, e3 in global coords
  trans: [..., 3]      the frame origin in global coords (angstrom unless stated)

It acts on a point x (local coords) as  T(x) = rot @ x + trans  (local -> global).
Composition `a @ b` (or `a.compose(b)`) means "first b, then a":
  (a @ b)(x) = a(b(x)),  i.e. rot = a.rot @ b.rot,  trans = a.rot @ b.trans + a.trans.
See CONVENTIONS.md in this folder.
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Sequence

import jax
import jax.numpy as jnp


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class Rigid:
  """Rotation + translation. Supplement 1.1 'rigid transformation' T = (R, t)."""

  rot: jnp.ndarray  # [..., 3, 3]
  trans: jnp.ndarray  # [..., 3]

  # ---- construction -------------------------------------------------------
  @classmethod
  def identity(cls, shape: Sequence[int] = (), dtype=jnp.float32) -> "Rigid":
    rot = jnp.broadcast_to(jnp.eye(3, dtype=dtype), (*shape, 3, 3))
    return cls(rot=rot, trans=jnp.zeros((*shape, 3), dtype))

  @classmethod
  def from_three_points(
      cls, point_on_neg_x_axis: jnp.ndarray, origin: jnp.ndarray,
      point_on_xy_plane: jnp.ndarray, eps: float = 1e-8) -> "Rigid":
    """Frame by Gram-Schmidt (Suppl. Alg. 21, AF2 code convention).

    e1 = normalise(origin - point_on_neg_x_axis)
    e2 = normalise(component of (point_on_xy_plane - origin) orthogonal to e1)
    e3 = e1 x e2 (right-handed).
    This is `alphafold.model.r3.rigids_from_3_points` (argument order as there).
    CAUTION: AF2's `atom37_to_frames` calls it with (C, CA, N), which puts C on the
    NEGATIVE x axis, and then post-multiplies by diag(-1, 1, -1) (a pi rotation about
    e2). The resulting backbone frame has C on the +x axis; use `from_backbone`.
    All inputs are [..., 3].
    """
    v1 = origin - point_on_neg_x_axis
    v2 = point_on_xy_plane - origin
    e1 = v1 / jnp.sqrt(jnp.maximum(jnp.sum(v1 * v1, -1, keepdims=True), eps))
    u2 = v2 - e1 * jnp.sum(e1 * v2, -1, keepdims=True)
    e2 = u2 / jnp.sqrt(jnp.maximum(jnp.sum(u2 * u2, -1, keepdims=True), eps))
    e3 = jnp.cross(e1, e2)
    rot = jnp.stack([e1, e2, e3], axis=-1)  # columns are the axes
    return cls(rot=rot, trans=origin)

  @classmethod
  def from_backbone(cls, n_xyz: jnp.ndarray, ca_xyz: jnp.ndarray,
                    c_xyz: jnp.ndarray, eps: float = 1e-8) -> "Rigid":
    """AF2 backbone frame (Suppl. Alg. 21 rigidFrom3Points(x1=N, x2=CA, x3=C)).

    origin = CA, e1 = normalise(C - CA), e2 = unit component of (N - CA) orthogonal
    to e1, e3 = e1 x e2. In this frame C = (1.526, 0, 0), N = (-0.525, 1.363, 0) and
    an L-residue's CB has z < 0. Equals the backbone group (0) of AF2's
    `all_atom.atom37_to_frames` and `quat_affine.make_transform_from_reference`.
    Inputs [..., 3].
    """
    r = cls.from_three_points(c_xyz, ca_xyz, n_xyz, eps)
    # (C, CA, N) gives columns (-e1, e2, -e3) of the backbone frame: flip x and z.
    flip = jnp.array([-1., 1., -1.], dtype=r.rot.dtype)
    return cls(rot=r.rot * flip, trans=r.trans)  # scales the columns

  @classmethod
  def from_tensor_4x4(cls, m: jnp.ndarray) -> "Rigid":
    """[..., 4, 4] homogeneous matrix -> Rigid."""
    return cls(rot=m[..., :3, :3], trans=m[..., :3, 3])

  @classmethod
  def from_tensor_flat12(cls, x: jnp.ndarray) -> "Rigid":
    """[..., 12] (9 row-major rotation entries, then 3 translation) -> Rigid.

    This is the layout of AF2's `rigidgroups_gt_frames` / `backbone_affine` labels.
    """
    rot = x[..., :9].reshape(*x.shape[:-1], 3, 3)
    return cls(rot=rot, trans=x[..., 9:])

  # ---- export ---------------------------------------------------------------
  def to_tensor_4x4(self) -> jnp.ndarray:
    m = jnp.concatenate([self.rot, self.trans[..., None]], axis=-1)  # [..., 3, 4]
    bottom = jnp.broadcast_to(
        jnp.array([0., 0., 0., 1.], self.trans.dtype), (*self.shape, 1, 4))
    return jnp.concatenate([m, bottom], axis=-2)

  def to_tensor_flat12(self) -> jnp.ndarray:
    return jnp.concatenate(
        [self.rot.reshape(*self.shape, 9), self.trans], axis=-1)

  # ---- group operations --------------------------------------------------
  @property
  def shape(self) -> tuple[int, ...]:
    return self.trans.shape[:-1]

  def compose(self, other: "Rigid") -> "Rigid":
    """self @ other: apply `other` first, then `self`."""
    rot = jnp.einsum('...ij,...jk->...ik', self.rot, other.rot)
    trans = jnp.einsum('...ij,...j->...i', self.rot, other.trans) + self.trans
    return Rigid(rot=rot, trans=trans)

  __matmul__ = compose

  def inverse(self) -> "Rigid":
    rot_t = jnp.swapaxes(self.rot, -1, -2)
    return Rigid(rot=rot_t, trans=-jnp.einsum('...ij,...j->...i', rot_t, self.trans))

  def apply(self, points: jnp.ndarray) -> jnp.ndarray:
    """Local -> global. points [..., 3] broadcast against the frame's batch shape."""
    return self.rotate(points) + self.trans

  def invert_apply(self, points: jnp.ndarray) -> jnp.ndarray:
    """Global -> local coordinates of `points` in this frame."""
    return self.invert_rotate(points - self.trans)

  def rotate(self, vectors: jnp.ndarray) -> jnp.ndarray:
    return jnp.einsum('...ij,...j->...i', self.rot, vectors)

  def invert_rotate(self, vectors: jnp.ndarray) -> jnp.ndarray:
    return jnp.einsum('...ji,...j->...i', self.rot, vectors)

  # ---- utilities -----------------------------------------------------------
  def map(self, fn: Callable[[jnp.ndarray], jnp.ndarray]) -> "Rigid":
    """Apply an indexing/reshaping fn to the batch dims of rot and trans alike.

    `fn` sees arrays whose trailing (3,3)/(3,) dims it must leave untouched, e.g.
    `r.map(lambda x: x[:, None])` adds a batch axis.
    """
    return Rigid(rot=fn(self.rot), trans=fn(self.trans))

  def __getitem__(self, index) -> "Rigid":
    if not isinstance(index, tuple):
      index = (index,)
    return Rigid(rot=self.rot[index + (slice(None), slice(None))],
                 trans=self.trans[index + (slice(None),)])

  def scale_translation(self, factor) -> "Rigid":
    return Rigid(rot=self.rot, trans=self.trans * factor)

  def stop_rot_gradient(self) -> "Rigid":
    return Rigid(rot=jax.lax.stop_gradient(self.rot), trans=self.trans)

  def astype(self, dtype) -> "Rigid":
    return Rigid(rot=self.rot.astype(dtype), trans=self.trans.astype(dtype))

  @staticmethod
  def stack(rigids: Sequence["Rigid"], axis: int = 0) -> "Rigid":
    ax = axis if axis >= 0 else axis - 2
    rot = jnp.stack([r.rot for r in rigids], axis=ax)
    ax = axis if axis >= 0 else axis - 1
    return Rigid(rot=rot, trans=jnp.stack([r.trans for r in rigids], axis=ax))
