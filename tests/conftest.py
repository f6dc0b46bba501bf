"""Shared test fixtures: paths to the bundled real data."""

import pathlib

import pytest

DATA_DIR = pathlib.Path(__file__).resolve().parent / 'data'


@pytest.fixture(scope='session')
def data_dir() -> pathlib.Path:
  return DATA_DIR
