"""NumPy + Biopython feature pipeline for alphafold_jax (never imports jax).

Public entry points:
  data_pipeline.parsers.parse_fasta / parse_a3m / parse_stockholm   file text -> records / Msa
  data_pipeline.make_raw_features(sequence, description, msas)      AF2 raw feature dict
  data_pipeline.process_features(raw, config, seed)                 AF2 processed feature dict
  data_pipeline.errors.PipelineError                                 base of every input error
  data_pipeline.templates   template hits / structure files -> AF2 template features
  data_pipeline.search      jackhmmer / hmmsearch (pyhmmer), hhblits / hhsearch -> msas/ + features

Submodules are imported lazily so that `import data_pipeline.parsers` stays light.
"""

import importlib

_LAZY = {
    'make_raw_features': 'data_pipeline.raw_features',
    'make_sequence_features': 'data_pipeline.raw_features',
    'make_msa_features': 'data_pipeline.raw_features',
    'process_features': 'data_pipeline.processed_features',
    'FeatureConfig': 'data_pipeline.processed_features',
    'Msa': 'data_pipeline.parsers',
    'PipelineError': 'data_pipeline.errors',
}

__all__ = sorted(_LAZY)


def __getattr__(name):
  if name in _LAZY:
    return getattr(importlib.import_module(_LAZY[name]), name)
  raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
