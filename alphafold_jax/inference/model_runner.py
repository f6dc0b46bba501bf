"""Several models x several seeds on one target, ranked as AF2 v2.3's `run_alphafold.py` does.

    models = resolve_models(['model_1_ptm', 'model_3'], params_dir='params/')
    runner = ModelRunner(buckets)
    runs = runner.run_target(models, target, raw_features, num_seeds=2, random_seed=0)
    order = rank_runs(runs)                       # run names, best first

Run names and seeds follow AF2: for every model (in the order given) and every seed index i,
the run `<model>_pred_<i>`; run k of K uses `model_random_seed = k + random_seed * K` for the
input pipeline (MSA sampling, masking) and the model's PRNG key.

Ranking (AF2 monomer): `ranking_confidence` = mean pLDDT of the run (0-100), highest first,
for ptm and non-ptm models alike (AF2 ranks monomers by pLDDT even for _ptm models);
`rank_by='ptm'` ranks by pTM instead (every model must have the PAE head). Ties keep run order
(Python's stable sort, as AF2's `sorted(..., reverse=True)`).

Compilation: the compiled program depends on the model config and the padded input shapes,
not on the preset's name or its parameter values. Models whose configs differ only by name
share one `RunModel` (the parameters are an argument of the jitted function), so they share
the compiled program per length bucket: among AF2's presets model_3 and model_4 share (same
config: no templates, 5120 extra MSA rows), as do model_3_ptm and model_4_ptm; model_1 and
model_2 differ (max_extra_msa 5120 vs 1024), model_5 too (1024 extra rows, no templates), and
every _ptm preset differs from its plain twin by the PAE head. `num_compiles` counts distinct
(config, input shapes) pairs, i.e. the executables jax builds.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from alphafold_jax.config import PRESETS, model_config
from alphafold_jax.inference import predict as predict_lib
from alphafold_jax.inference import weights
from alphafold_jax.params import ParamsError

log = logging.getLogger('alphafold_jax.inference.predict')

RANK_BY = ('plddt', 'ptm')


def param_file_name(model_name: str) -> str:
  """DeepMind's parameter file name of a model: params_<model>.npz."""
  return f'params_{model_name}.npz'


@dataclasses.dataclass
class ModelSpec:
  """One model to run: its preset name, config, and parameters (loaded by `load`)."""
  name: str
  config: Any
  params_path: Optional[str] = None  # None: the bundled weights of the preset
  params: Optional[Mapping] = None
  source: str = ''


def parse_model_names(text: str) -> List[str]:
  """'model_1_ptm,model_3' -> names; each a known preset, no repeats."""
  names = [n.strip() for n in text.split(',') if n.strip()]
  if not names:
    raise ValueError(f'--models expects comma-separated model names, got {text!r}')
  for name in names:
    if name not in PRESETS:
      raise ValueError(f'unknown model {name!r} in --models; available: '
                       f'{", ".join(sorted(PRESETS))}')
  repeated = sorted({n for n in names if names.count(n) > 1})
  if repeated:
    raise ValueError(f'--models names {", ".join(repeated)} more than once; use --num-seeds '
                     'for several predictions per model')
  return names


def resolve_models(names: Sequence[str], params_dir: Optional[str] = None,
                   overrides: Optional[Mapping[str, Any]] = None,
                   config_fn: Optional[Callable[..., Any]] = None) -> List[ModelSpec]:
  """ModelSpecs of `names` with configs (overrides applied) and parameter paths, checked:
  an unknown name or a missing params_<model>.npz in params_dir fails before any work."""
  if params_dir is not None and not os.path.isdir(params_dir):
    raise ParamsError(f'--params-dir {params_dir} is not a directory')
  config_fn = config_fn or preset_config
  specs = []
  for name in names:
    if name not in PRESETS:
      raise ValueError(f'unknown model {name!r}; available: {", ".join(sorted(PRESETS))}')
    config = config_fn(name, **dict(overrides or {}))
    path = None
    if params_dir is not None:
      path = os.path.join(params_dir, param_file_name(name))
      if not os.path.isfile(path):
        raise ParamsError(f'--params-dir {params_dir} has no {param_file_name(name)} '
                          f'(parameters of model {name})')
    specs.append(ModelSpec(name=name, config=config, params_path=path))
  return specs


def preset_config(name: str, **overrides: Any):
  """The config of a model name (`model_config`; tests may swap it for smaller widths)."""
  return model_config(name, **overrides)


def shared_config_key(config) -> Any:
  """What decides the compiled program: the config without its name (hashable)."""
  return dataclasses.replace(config, name='')


def load_all_params(specs: Sequence[ModelSpec]) -> None:
  """Loads and shape-checks every model's parameters (in place), tracing shapes once per
  shared config."""
  expected: Dict[Any, Any] = {}
  for spec in specs:
    key = shared_config_key(spec.config)
    if key not in expected:
      expected[key] = weights.expected_param_shapes(spec.config)
    spec.params, spec.source = weights.load_params(spec.config, spec.params_path,
                                                   expected=expected[key])


@dataclasses.dataclass
class Run:
  """One (model, seed) prediction of one target; outputs cut to the target length."""
  name: str  # <model>_pred_<i>
  model: str
  seed: int  # model_random_seed
  sample: predict_lib.Sample
  ranking_confidence: float
  outputs: Optional[dict] = None  # full (cut) model outputs, when kept
  timings: Dict[str, float] = dataclasses.field(default_factory=dict)


def ranking_confidence(sample: predict_lib.Sample, rank_by: str = 'plddt') -> float:
  """AF2 monomer ranking confidence (mean pLDDT), or pTM with rank_by='ptm'."""
  if rank_by == 'ptm':
    if sample.ptm is None:
      raise ValueError('--rank-by ptm needs models with the PAE head (_ptm models)')
    return float(sample.ptm)
  return float(np.mean(sample.plddt))


def rank_runs(runs: Sequence[Run]) -> List[str]:
  """Run names by decreasing ranking confidence (ties: run order, as AF2)."""
  return [r.name for r in sorted(runs, key=lambda r: r.ranking_confidence, reverse=True)]


# Residue axes of the model outputs, by key path: cut from the bucket size to the target length.
_RESIDUE_AXES = {
    'final_atom_positions': (0,), 'final_atom_mask': (0,), 'plddt': (0,),
    'predicted_aligned_error': (0, 1), 'aligned_confidence_probs': (0, 1),
    'distogram/logits': (0, 1), 'predicted_lddt/logits': (0,),
    'experimentally_resolved/logits': (0,), 'masked_msa/logits': (1,),
    'predicted_aligned_error_head/logits': (0, 1),
    'representations/single': (0,), 'representations/pair': (0, 1),
    'representations/msa': (1,), 'representations/msa_first_row': (0,),
    'representations/structure_module': (0,),
}


def cut_outputs(outputs: Mapping[str, Any], n: int, prefix: str = '') -> dict:
  """Model outputs with residue axes cut to the first n residues (see _RESIDUE_AXES)."""
  out = {}
  for key, value in outputs.items():
    path = f'{prefix}{key}'
    if isinstance(value, Mapping):
      out[key] = cut_outputs(value, n, path + '/')
      continue
    value = np.asarray(value)
    for axis in _RESIDUE_AXES.get(path, ()):
      if value.ndim > axis:
        value = np.take(value, np.arange(n), axis=axis)
    out[key] = value
  return out


class ModelRunner:
  """Runs ModelSpecs, one RunModel (and compiled program per bucket) per shared config."""

  def __init__(self, buckets: Sequence[int] = predict_lib.DEFAULT_BUCKETS,
               num_devices: Optional[int] = None):
    """num_devices > 1: each prediction split over that many devices (RunModel)."""
    self.buckets = tuple(sorted(int(b) for b in buckets))
    self.num_devices = num_devices
    self._runners: Dict[Any, Any] = {}
    self._signatures: set = set()
    self.compiles: List[Tuple[str, int]] = []  # (first model, bucket) of each compile

  @property
  def num_compiles(self) -> int:
    return len(self._signatures)

  def runner_for(self, spec: ModelSpec):
    from alphafold_jax.model import RunModel  # pylint: disable=import-outside-toplevel
    key = shared_config_key(spec.config)
    if key not in self._runners:
      self._runners[key] = RunModel(spec.config, num_devices=self.num_devices)
    return self._runners[key]

  def run_options(self) -> List[dict]:
    """What the RunModels used hold (summary.json): devices per prediction, memory policy."""
    return [{'devices': 1 if r.mesh is None else int(r.mesh.size),
             'long_sequence_policy': bool(r.config.global_config.inplace_pair_updates)}
            for r in self._runners.values()]

  def process_features(self, spec: ModelSpec, raw: Mapping[str, Any], length: int,
                       seed: int) -> dict:
    """Processed features of a raw feature dict, padded to the length's bucket."""
    from data_pipeline import process_features  # pylint: disable=import-outside-toplevel
    bucket = predict_lib.bucket_length(length, self.buckets)
    data = dataclasses.replace(spec.config.data, num_res=bucket)
    return process_features(dict(raw), data, seed)

  def predict_one(self, spec: ModelSpec, features: Mapping[str, Any], length: int, seed: int,
                  keep_outputs: bool = False) -> Tuple[predict_lib.Sample, Optional[dict]]:
    """Sample (and, if asked, all outputs with representations) of processed features."""
    if spec.params is None:
      raise ValueError(f'model {spec.name}: parameters not loaded (load_all_params)')
    runner = self.runner_for(spec)
    bucket = int(np.asarray(features['aatype']).shape[-1])
    signature = (shared_config_key(spec.config), predict_lib.input_signature(features))
    if signature not in self._signatures:
      self._signatures.add(signature)
      self.compiles.append((spec.name, bucket))
      log.info('compiling %s for bucket %d; compile #%d', spec.name, bucket, self.num_compiles)
    runner.params = spec.params
    out = runner.predict(features, random_seed=seed, return_representations=keep_outputs)
    out = cut_outputs(out, length)
    pae = out.get('predicted_aligned_error')
    sample = predict_lib.Sample(
        seed=int(seed), final_atom_positions=out['final_atom_positions'].astype(np.float32),
        final_atom_mask=out['final_atom_mask'].astype(np.float32),
        plddt=out['plddt'].astype(np.float32), num_recycles=int(out['num_recycles']),
        bucket=bucket,
        predicted_aligned_error=None if pae is None else pae.astype(np.float32),
        max_predicted_aligned_error=(None if 'max_predicted_aligned_error' not in out
                                     else float(out['max_predicted_aligned_error'])),
        ptm=None if 'ptm' not in out else float(out['ptm']))
    return sample, (out if keep_outputs else None)

  def run_target(self, specs: Sequence[ModelSpec], length: int, raw: Mapping[str, Any],
                 num_seeds: int = 1, random_seed: int = 0, rank_by: str = 'plddt',
                 keep_outputs: bool = False, benchmark: bool = False) -> List[Run]:
    """Every (model, seed index) run of one target, in AF2's order and seeds.

    Each Run's timings hold AF2's per-model keys: process_features_<run>,
    predict_and_compile_<run> (and predict_benchmark_<run> with benchmark: a second,
    compiled call).
    """
    if num_seeds < 1:
      raise ValueError(f'--num-seeds must be >= 1, got {num_seeds}')
    if rank_by not in RANK_BY:
      raise ValueError(f'rank_by must be one of {RANK_BY}, got {rank_by!r}')
    if rank_by == 'ptm':
      plain = [s.name for s in specs if not s.config.has_pae_head]
      if plain:
        raise ValueError(f'--rank-by ptm needs _ptm models; {", ".join(plain)} has no PAE head')
    jobs = [(spec, f'{spec.name}_pred_{i}') for spec in specs for i in range(num_seeds)]
    runs = []
    for index, (spec, name) in enumerate(jobs):
      seed = index + random_seed * len(jobs)  # AF2's model_random_seed
      timings = {}
      t0 = time.time()
      features = self.process_features(spec, raw, length, seed)
      timings[f'process_features_{name}'] = time.time() - t0
      t0 = time.time()
      sample, outputs = self.predict_one(spec, features, length, seed, keep_outputs)
      timings[f'predict_and_compile_{name}'] = time.time() - t0
      if benchmark:
        t0 = time.time()
        self.predict_one(spec, features, length, seed)
        timings[f'predict_benchmark_{name}'] = time.time() - t0
      log.info('%s: mean pLDDT %.2f%s, %d recycles, %.1f s', name, sample.mean_plddt,
               '' if sample.ptm is None else f', pTM {sample.ptm:.3f}', sample.num_recycles,
               timings[f'predict_and_compile_{name}'])
      confidence = ranking_confidence(sample, rank_by)
      if outputs is not None:
        outputs['ranking_confidence'] = np.float64(confidence)
      runs.append(Run(name=name, model=spec.name, seed=seed, sample=sample,
                      ranking_confidence=confidence, outputs=outputs, timings=timings))
    return runs
