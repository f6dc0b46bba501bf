"""Fixtures for the loss tests (inputs are built in loss_inputs.py)."""

import pytest

from tests.losses.loss_inputs import build_case


@pytest.fixture(scope='session')
def case(data_dir):
  return build_case(data_dir, seed=0)
