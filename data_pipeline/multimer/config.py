"""Input-pipeline settings of the AF2-Multimer presets (their one home)."""

from __future__ import annotations

import dataclasses
from typing import Mapping

import numpy as np

from data_pipeline.errors import FeatureError
from data_pipeline.multimer.merging import MAX_TEMPLATES, MIN_MSA_ROWS, MSA_CROP_SIZE

REQUIRED = ('aatype', 'residue_index', 'seq_mask', 'msa', 'deletion_matrix', 'msa_mask',
            'bert_mask', 'cluster_bias_mask', 'asym_id', 'entity_id', 'sym_id')


@dataclasses.dataclass(frozen=True)
class MultimerFeatureConfig:
  """num_recycle: recycling iterations (the model reads it from here); msa_crop_size,
  max_templates, min_msa_rows: `data_pipeline.multimer.assemble`. The MSA is sampled inside
  the model (per recycle), so `process` only checks the merged example."""
  num_recycle: int = 20
  msa_crop_size: int = MSA_CROP_SIZE
  max_templates: int = MAX_TEMPLATES
  min_msa_rows: int = MIN_MSA_ROWS

  def process(self, example: Mapping[str, np.ndarray], random_seed: int = 0) -> dict:
    del random_seed  # sampling happens in the model
    missing = [k for k in REQUIRED if k not in example]
    if missing:
      raise FeatureError(f'multimer features lack {missing}; build them with '
                         'data_pipeline.multimer.make_multimer_features')
    if np.ndim(example['aatype']) != 1:
      raise FeatureError(f"multimer features have no ensemble axis: aatype must be [N], got "
                         f"shape {np.shape(example['aatype'])}")
    return dict(example)
