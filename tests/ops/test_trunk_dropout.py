"""Tests for nn/dropout.py: shared masks per row/column, scaling, deterministic switches."""

import dataclasses

import haiku as hk
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from alphafold_jax.ops.global_config import GlobalConfig
from alphafold_jax.nn import dropout, dropout_residual, shared_axis
from alphafold_jax.nn.dropout import DropoutConfigError


def test_shared_masks_and_scaling():
  x = jnp.ones((7, 11, 5))
  key = jax.random.PRNGKey(0)
  rows = np.asarray(dropout(x, 0.25, key, broadcast_axis=shared_axis('per_row', True)))
  cols = np.asarray(dropout(x, 0.25, key, broadcast_axis=shared_axis('per_column', True)))
  free = np.asarray(dropout(x, 0.25, key, broadcast_axis=shared_axis('per_row', False)))
  assert np.allclose(np.unique(rows), [0.0, 1 / 0.75])
  assert (rows == rows[:1]).all() and not (rows == rows[:, :1]).all()  # same mask in every row
  assert (cols == cols[:, :1]).all() and not (cols == cols[:1]).all()  # same mask in every column
  assert not (free == free[:1]).all() and not (free == free[:, :1]).all()
  big = np.asarray(dropout(jnp.ones((200, 300)), 0.25, key))
  assert abs(big.mean() - 1.0) < 0.02  # inverted dropout keeps the expectation


def _apply(gc, is_training):
  t = hk.transform(lambda a, u: dropout_residual(a, u, rate=0.5, orientation='per_column',
                                                 shared_dropout=True, global_config=gc,
                                                 is_training=is_training))
  return np.asarray(t.apply({}, jax.random.PRNGKey(1), jnp.zeros((4, 6, 3)), jnp.ones((4, 6, 3))))


def test_switches():
  gc = GlobalConfig(deterministic=False)
  assert (_apply(gc, is_training=False) == 1).all()
  assert not (_apply(gc, is_training=True) == 1).all()
  assert not (_apply(dataclasses.replace(gc, eval_dropout=True), is_training=False) == 1).all()
  assert (_apply(dataclasses.replace(gc, deterministic=True), is_training=True) == 1).all()


def test_bad_arguments():
  with pytest.raises(DropoutConfigError, match='orientation'):
    shared_axis('diagonal', True)
  with pytest.raises(DropoutConfigError, match='rate'):
    dropout(jnp.ones(3), 1.0, jax.random.PRNGKey(0))
