"""The nano table, regenerated through the CLI exactly as a user gets it (issue #19).

    python experiments/nano_reproduction/reproduce.py [--presets nano_ipa,nano_diffusion]
        [--seeds 0 1 2] [--params-nano_ipa FILE.npz] [--params-nano_diffusion FILE.npz]
        [--work DIR] [--keep]

For every preset and seed, ONE subprocess
    python -m alphafold_jax.cli predict experiments/nano_reproduction/nano_proteins.fasta \
        --preset P --seed S --out WORK/P/seed_S --no-plots --quiet [--params FILE]
(the bundled weights `alphafold_jax/weights/<preset>.npz` unless --params-<preset>; a preset
without weights is skipped with a message). Each predicted structure (`<out>/<name>.pdb`, or
`<out>/<name>/ranked_0.pdb` for the AF2 layout) is scored against
tests/data/structures/nano/<name>.pdb|.cif with the `score` machinery
(`metrics.scoring.score_proteins`: CA-RMSD after Kabsch, lDDT-Ca, TM-score; residues matched
as `alphafold-jax score` matches them). Geometry (C-N, CA-CA, cis-Pro) and AF2's violation count
come from the JSON `predict` writes (`<name>.confidence.json` "geometry"/"violations"); when a
preset's writer has no such keys they are computed from the structure file with the same
functions (`metrics.backbone_geometry`, `metrics.structural_violations`) and marked so.

Writes experiments/nano_reproduction/results_<preset>.json (every number per protein and seed,
wall time of every predict call, mean and worst over seeds) and TABLE.md (one section per preset
with a results file; printed too). Exit code 1 if a predict call failed.
Runtime (2-core CPU box, persistent compile cache warm): ~40-60 s per predict call for nano_ipa.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import time
from typing import Dict, List, Optional

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT))

# pylint: disable=wrong-import-position
from alphafold_jax.common import protein as protein_lib
from alphafold_jax.common.errors import UserError
from alphafold_jax.inference import targets as targets_lib
from alphafold_jax.inference import weights
from alphafold_jax.metrics.backbone_geometry import backbone_geometry
from alphafold_jax.metrics.scoring import score_proteins
from alphafold_jax.metrics.structural_violations import violation_report

PRESETS = ('nano_ipa', 'nano_diffusion')
FASTA = HERE / 'nano_proteins.fasta'
REFERENCES = ROOT / 'tests' / 'data' / 'structures' / 'nano'
# Figure -> which way is worse ('max': larger is worse, 'min': smaller is worse).
FIGURES = {
    'ca_rmsd': 'max', 'lddt_ca': 'min', 'tm_score': 'min',
    'c_n_median_abs_deviation': 'max', 'c_n_max': 'max', 'c_n_over_1_8': 'max',
    'ca_ca_min': 'min', 'ca_ca_max': 'max', 'ca_ca_outside_3_6_4_0': 'max',
    'num_residue_violations': 'max', 'mean_plddt': 'min',
}


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
  parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
  parser.add_argument('--presets', default=','.join(PRESETS),
                      help=f'comma-separated, from {", ".join(PRESETS)}')
  parser.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
  for preset in PRESETS:
    parser.add_argument(f'--params-{preset}', dest=f'params_{preset}', default=None,
                        metavar='FILE.npz', help=f'weights of {preset} (default: bundled)')
  parser.add_argument('--fasta', default=str(FASTA), help='targets (default: the five proteins)')
  parser.add_argument('--references', default=str(REFERENCES),
                      help='directory of <name>.pdb|.cif reference structures')
  parser.add_argument('--work', default=None, help='prediction directory (default: temporary)')
  parser.add_argument('--keep', action='store_true', help='keep the default temporary --work')
  parser.add_argument('--out-dir', default=str(HERE), help='where results_*.json and TABLE.md go')
  args = parser.parse_args(argv)
  args.fasta = os.path.abspath(args.fasta)  # the CLI runs with cwd = the repository root
  if args.work:
    args.work = os.path.abspath(args.work)
  args.presets = [p.strip() for p in args.presets.split(',') if p.strip()]
  unknown = sorted(set(args.presets) - set(PRESETS))
  if unknown:
    parser.error(f'--presets: unknown {", ".join(unknown)} (choose from {", ".join(PRESETS)})')
  return args


def params_for(preset: str, override: Optional[str]) -> Optional[pathlib.Path]:
  """The weights file of `preset` (override or bundled), None when the bundled one is missing."""
  if override:
    path = pathlib.Path(override).resolve()
    if not path.is_file():
      raise SystemExit(f'reproduce.py: --params-{preset}: no such file {override}')
    return path
  path = weights.weights_dir() / f'{preset}.npz'
  return path if path.is_file() else None


def _shown(path: pathlib.Path) -> str:
  """A path for the results: relative to the repository when inside it."""
  path = pathlib.Path(path).resolve()
  return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def sha256(path: pathlib.Path) -> str:
  return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def run_predict(preset: str, seed: int, params: Optional[str], fasta: str,
                out: pathlib.Path) -> Dict:
  """One CLI call; returns {seed, command, wall_s, returncode, stderr_tail}."""
  command = [sys.executable, '-m', 'alphafold_jax.cli', 'predict', fasta, '--preset', preset,
             '--seed', str(seed), '--out', str(out), '--no-plots', '--quiet']
  if params:
    command += ['--params', params]
  env = dict(os.environ)
  env['PYTHONPATH'] = os.pathsep.join([str(ROOT)] + [p for p in [env.get('PYTHONPATH')] if p])
  started = time.time()
  proc = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
  wall = time.time() - started
  shown = ['python', *command[1:]]
  shown[shown.index('--out') + 1] = f'WORK/{preset}/seed_{seed}'
  shown = [os.path.relpath(c, ROOT) if os.path.isabs(c) and c.startswith(str(ROOT)) else c
           for c in shown]
  return {'seed': seed, 'command': ' '.join(shown), 'wall_s': round(wall, 2),
          'returncode': proc.returncode,
          'stderr_tail': (proc.stderr or '').strip().splitlines()[-5:]}


def structure_file(out: pathlib.Path, name: str) -> Optional[pathlib.Path]:
  """The predicted structure of `name`: OUT/<name>.pdb, else OUT/<name>/ranked_0.pdb (AF2
  layout), else OUT/<name>/<name>.pdb; mmCIF when no PDB."""
  for suffix in ('.pdb', '.cif'):
    for path in (out / f'{name}{suffix}', out / name / f'ranked_0{suffix}',
                 out / name / f'{name}{suffix}'):
      if path.is_file():
        return path
  return None


def confidence_file(structure: pathlib.Path, name: str) -> Optional[pathlib.Path]:
  for path in (structure.parent / f'{name}.confidence.json',
               structure.with_name(structure.stem + '.confidence.json')):
    if path.is_file():
      return path
  return None


def reference_file(directory: pathlib.Path, name: str) -> pathlib.Path:
  for suffix in ('.pdb', '.cif', '.pdb.gz', '.cif.gz'):
    if (directory / f'{name}{suffix}').is_file():
      return directory / f'{name}{suffix}'
  raise SystemExit(f'reproduce.py: no reference structure {directory}/{name}.pdb|.cif')


def evaluate_one(out: pathlib.Path, name: str, reference: protein_lib.Protein) -> Dict:
  """Scores, geometry and violations of one predicted target."""
  path = structure_file(out, name)
  if path is None:
    return {'error': f'no structure for {name} in the predict output'}
  model = protein_lib.from_file(path)
  scores = score_proteins(model, reference)
  row = {'file': os.path.relpath(path, out), 'aligned_residues': scores['aligned_residues'],
         'ca_rmsd': scores['ca_rmsd'], 'lddt_ca': scores['lddt_ca'],
         'tm_score': scores['tm_score']}
  conf_path = confidence_file(path, name)
  conf = json.loads(conf_path.read_text()) if conf_path else {}
  if 'geometry' in conf and 'violations' in conf:
    geometry, violations, source = conf['geometry'], conf['violations'], 'predict JSON'
  else:
    args = (model.atom_positions, model.atom_mask, model.aatype, model.residue_index)
    geometry = backbone_geometry(*args)
    violations = violation_report(model.aatype, model.atom_positions, model.atom_mask,
                                  model.residue_index)
    source = 'computed from the structure file (not in the predict JSON)'
  row.update({k: v for k, v in geometry.items() if not k.endswith('_positions')})
  row['cis_proline'] = len(geometry.get('cis_proline_positions', []))
  row['num_residue_violations'] = violations.get('num_residue_violations')
  row['violations_per_residue'] = violations.get('violations_per_residue')
  row['geometry_source'] = source
  if 'mean_plddt' in conf:
    row['mean_plddt'] = conf['mean_plddt']
  return row


def summarise(rows: List[Dict]) -> Dict:
  """Mean and worst over seeds of every figure present in all rows."""
  mean, worst = {}, {}
  for figure, direction in FIGURES.items():
    values = [r[figure] for r in rows if r.get(figure) is not None]
    if len(values) != len(rows) or not values:
      continue
    mean[figure] = sum(values) / len(values)
    worst[figure] = max(values) if direction == 'max' else min(values)
  return {'mean': mean, 'worst': worst}


def run_preset(preset: str, params: pathlib.Path, override: bool, args, work: pathlib.Path
               ) -> Dict:
  targets = targets_lib.read_targets(args.fasta, [])
  refs = {t.name: protein_lib.from_file(reference_file(pathlib.Path(args.references), t.name))
          for t in targets}
  calls, per_protein = [], {t.name: [] for t in targets}
  for seed in args.seeds:
    out = work / preset / f'seed_{seed}'
    shutil.rmtree(out, ignore_errors=True)
    call = run_predict(preset, seed, str(params) if override else None, args.fasta, out)
    calls.append(call)
    print(f'{preset} seed {seed}: predict exit {call["returncode"]} in {call["wall_s"]:.1f} s',
          flush=True)
    if call['returncode'] != 0:
      print('\n'.join('  ' + line for line in call['stderr_tail']), file=sys.stderr)
    for target in targets:
      try:
        row = ({'error': 'predict failed'} if call['returncode'] not in (0, 1)
               else evaluate_one(out, target.name, refs[target.name]))
      except (UserError, ValueError) as e:  # unreadable / unscorable structure: report it
        row = {'error': f'{type(e).__name__}: {e}'}
        print(f'  {target.name}: {row["error"]}', file=sys.stderr)
      per_protein[target.name].append({'seed': seed, **row})
  proteins = {}
  for name, rows in per_protein.items():
    ok = [r for r in rows if 'error' not in r]
    proteins[name] = {'length': len(refs[name].aatype), 'per_seed': rows,
                      'num_failed': len(rows) - len(ok), **summarise(ok)}
  return {
      'preset': preset,
      'params': _shown(params),
      'params_sha256_16': sha256(params),
      'seeds': list(args.seeds),
      'date_utc': datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M'),
      'jax_compilation_cache': bool(os.environ.get('JAX_COMPILATION_CACHE_DIR')),
      'predict_calls': calls,
      'proteins': proteins,
  }


def _fmt(summary: Dict, figure: str, digits: int) -> str:
  if figure not in summary.get('mean', {}):
    return 'n/a'
  mean, worst = summary['mean'][figure], summary['worst'][figure]
  if digits == 0:  # counts: mean with one decimal, worst as an integer
    return f'{mean:.1f} ({worst:.0f})'
  return f'{mean:.{digits}f} ({worst:.{digits}f})'


def table_section(results: Dict) -> str:
  calls = results['predict_calls']
  walls = [c['wall_s'] for c in calls]
  lines = [
      f"## {results['preset']}",
      '',
      f"Weights `{results['params']}` (sha256 {results['params_sha256_16']}...), seeds "
      f"{' '.join(map(str, results['seeds']))}, run {results['date_utc']} UTC; "
      f"one `predict` call per seed (all proteins): {', '.join(f'{w:.1f}' for w in walls)} s "
      f"wall (start-up and compile included; compile cache "
      f"{'on' if results['jax_compilation_cache'] else 'off'}).",
      '',
      'Mean over seeds (worst in brackets). C-N dev: median |C-N - 1.329| A; C-N>1.8 and '
      'CA-CA out: counts of bonds / consecutive pairs (CA-CA outside 3.6-4.0 A, cis-Pro '
      'excluded); viol.: residues with an AF2 violation (bond + clash + within-residue).',
      '',
      '| protein | L | CA-RMSD (A) | lDDT-Ca | TM-score | C-N dev (A) | C-N max (A) | C-N>1.8 '
      '| CA-CA min-max (A) | CA-CA out | viol. | mean pLDDT |',
      '|---|---|---|---|---|---|---|---|---|---|---|---|',
  ]
  for name, p in results['proteins'].items():
    if 'mean' not in p or 'ca_rmsd' not in p['mean']:
      lines.append(f'| {name} | {p["length"]} | failed ({p["num_failed"]} of '
                   f'{len(p["per_seed"])} seeds) |' + ' |' * 9)
      continue
    m, w = p['mean'], p['worst']
    ca_range = (f"{m['ca_ca_min']:.2f}-{m['ca_ca_max']:.2f} ({w['ca_ca_min']:.2f}-"
                f"{w['ca_ca_max']:.2f})" if 'ca_ca_min' in m else 'n/a')
    lines.append(
        f"| {name} | {p['length']} | {_fmt(p, 'ca_rmsd', 2)} | {_fmt(p, 'lddt_ca', 3)} | "
        f"{_fmt(p, 'tm_score', 3)} | {_fmt(p, 'c_n_median_abs_deviation', 3)} | "
        f"{_fmt(p, 'c_n_max', 2)} | {_fmt(p, 'c_n_over_1_8', 0)} | {ca_range} | "
        f"{_fmt(p, 'ca_ca_outside_3_6_4_0', 0)} | {_fmt(p, 'num_residue_violations', 0)} | "
        f"{_fmt(p, 'mean_plddt', 1)} |")
  failed = [c for c in calls if c['returncode'] != 0]
  if failed:
    lines += ['', f'{len(failed)} predict call(s) exited non-zero: seeds '
              f"{', '.join(str(c['seed']) for c in failed)}."]
  return '\n'.join(lines)


def write_table(out_dir: pathlib.Path, notes: List[str]) -> str:
  """TABLE.md from every results_<preset>.json present (this run's and earlier ones)."""
  sections = []
  for preset in PRESETS:
    path = out_dir / f'results_{preset}.json'
    if path.is_file():
      sections.append(table_section(json.loads(path.read_text())))
  text = '\n\n'.join([
      '# nano reproduction through the CLI',
      'Regenerate: `python experiments/nano_reproduction/reproduce.py` (see its docstring). '
      'Every number comes from `alphafold-jax predict` on `nano_proteins.fasta` as a user runs '
      'it, scored against `tests/data/structures/nano/` (`metrics.scoring.score_proteins`, as '
      '`alphafold-jax score`).',
      *notes, *sections]) + '\n'
  (out_dir / 'TABLE.md').write_text(text)
  return text


def main(argv: Optional[List[str]] = None) -> int:
  args = parse_args(argv)
  out_dir = pathlib.Path(args.out_dir)
  chosen = {p: params_for(p, getattr(args, f'params_{p}')) for p in args.presets}  # checked first
  work = pathlib.Path(args.work) if args.work else pathlib.Path(
      tempfile.mkdtemp(prefix='nano_reproduction_'))
  notes, status = [], 0
  try:
    for preset in args.presets:
      params, override = chosen[preset], getattr(args, f'params_{preset}')
      if params is None:
        note = (f'{preset} skipped: no bundled weights ({_shown(weights.weights_dir())}/'
                f'{preset}.npz is missing); pass --params-{preset} FILE.npz')
        print(f'reproduce.py: {note}', file=sys.stderr)
        notes.append(f'Not run this time: {note}.')
        continue
      results = run_preset(preset, params, bool(override), args, work)
      status |= any(c['returncode'] != 0 for c in results['predict_calls'])
      (out_dir / f'results_{preset}.json').write_text(json.dumps(results, indent=1) + '\n')
    print(write_table(out_dir, notes))
  finally:
    if not args.work and not args.keep:
      shutil.rmtree(work, ignore_errors=True)
  return int(status)


if __name__ == '__main__':
  sys.exit(main())
