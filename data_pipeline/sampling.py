"""Sources of randomness for the feature pipeline.

Every random choice of the processed-feature pipeline (MSA shuffles, BERT mask positions and
replacement tokens, the crop seed) goes through one `Sampler`, so a run is reproducible from an
explicit seed and a test can substitute recorded draws (e.g. the oracle's) to check the
deterministic arithmetic around them. The call order is part of the contract: per pipeline run
`crop_seed()` once, then per ensemble member `permutation` (MSA clusters), `uniform` (BERT mask
positions), `categorical` (BERT replacement tokens), `permutation` (extra-MSA crop).
"""

from typing import Protocol, Union

import numpy as np


class Sampler(Protocol):
  """What the pipeline needs from a random source."""

  def permutation(self, values: np.ndarray) -> np.ndarray:
    """A random permutation of the 1-D array `values`."""

  def uniform(self, shape) -> np.ndarray:
    """float32 samples in [0, 1) of the given shape."""

  def categorical(self, probs: np.ndarray) -> np.ndarray:
    """int32 samples [...] from the categorical distributions probs [..., K] (rows sum to 1)."""

  def crop_seed(self) -> np.ndarray:
    """int32 [2] seed kept as `random_crop_to_size_seed`."""


class GeneratorSampler:
  """`Sampler` backed by a `numpy.random.Generator`."""

  def __init__(self, rng: np.random.Generator):
    self.rng = rng

  def permutation(self, values: np.ndarray) -> np.ndarray:
    return self.rng.permutation(np.asarray(values))

  def uniform(self, shape) -> np.ndarray:
    return self.rng.random(shape, dtype=np.float32)

  def categorical(self, probs: np.ndarray) -> np.ndarray:
    # Inverse-CDF sampling on the last axis; the cumulative sum as one matmul (fast for small K).
    num_classes = probs.shape[-1]
    flat = np.asarray(probs, np.float32).reshape(-1, num_classes)  # [M, K]
    cdf = flat @ np.triu(np.ones((num_classes, num_classes), np.float32))  # [M, K]
    u = self.rng.random(flat.shape[0], dtype=np.float32) * cdf[:, -1]  # [M]
    index = (cdf <= u[:, None]).sum(axis=-1)  # first class whose cdf exceeds u
    return np.minimum(index, num_classes - 1).astype(np.int32).reshape(probs.shape[:-1])

  def crop_seed(self) -> np.ndarray:
    info = np.iinfo(np.int32)
    return self.rng.integers(info.min, info.max, size=2, dtype=np.int32)


def make_sampler(seed: Union[int, np.random.Generator, Sampler]) -> Sampler:
  """An int seed or a Generator becomes a GeneratorSampler; a Sampler is returned as is."""
  if isinstance(seed, (int, np.integer)):
    return GeneratorSampler(np.random.default_rng(int(seed)))
  if isinstance(seed, np.random.Generator):
    return GeneratorSampler(seed)
  for method in ('permutation', 'uniform', 'categorical', 'crop_seed'):
    if not callable(getattr(seed, method, None)):
      raise TypeError(f'seed must be an int, a numpy Generator or a Sampler; got {type(seed)}.')
  return seed
