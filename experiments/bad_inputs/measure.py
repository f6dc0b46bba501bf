"""Bad inputs as a new user would try them: the table of issue 23, re-measured.

    PYTHONPATH=. python experiments/bad_inputs/measure.py [--work DIR] [--no-bundled] [--no-kill]

Runs every case through the CLI in-process (`alphafold_jax.cli.main`, stdout/stderr captured;
an exception escaping it counts as a traceback), except the kill cases, which run
`python -m alphafold_jax.cli predict` as a subprocess and SIGKILL / SIGTERM it mid-run.
Cases: the 125 generated bad inputs of tests/cli/test_fuzz_bad_inputs.py (mutated FASTA, A3M,
Stockholm, npz, PDB, mmCIF through predict / score / train) plus hand-made cases for every
finding of the issue (long target, bad flags, name collisions, bad numbers, unwritable outputs,
bad training data, kills, resume, padding, misleading messages, evaluate) and the default
command of a new user (bundled nano_ipa weights, crambin + a 2000-residue target, on a machine
simulated to have 2 GiB free: ALPHAFOLD_JAX_AVAILABLE_MEMORY_MIB=2048).

Each case is classified as
  traceback      an exception escaped, or 'Traceback' / 'internal error' on stderr;
  silent wrong   exit code 0 for a bad input, or a wrong result (e.g. a wrong score, a lost or
                 overwritten target, NaN in JSON, an absolute path in JSON);
  clear          non-zero exit with ONE `error:` line naming the file/flag, or (for the cases
                 where a result is expected: isolation, skipped training files, translated
                 models) the right result with the problem named on stderr;
  unclear        anything else (non-zero exit with a message that does not name the input).
and, separately, 'partial files left': output written for a failed input, or hidden
`.*.tmp-*` staging directories left after the run (after the rerun, for SIGKILL).
Writes results.json (one row per case) into --work and prints the table.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import io
import json
import os
import pathlib
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[2]
# BAD_INPUTS_CODE_ROOT=/path/to/another/checkout measures that checkout's code with the same
# cases (the generated inputs still come from this checkout's tests/cli).
CODE_ROOT = pathlib.Path(os.environ.get('BAD_INPUTS_CODE_ROOT', ROOT)).resolve()
sys.path[:0] = [str(CODE_ROOT)] + ([str(ROOT)] if CODE_ROOT != ROOT else [])

from alphafold_jax import cli  # noqa: E402  pylint: disable=wrong-import-position
from alphafold_jax.common import protein as protein_lib  # noqa: E402
from alphafold_jax.params import save_alphafold_params  # noqa: E402
from tests.cli import test_fuzz_bad_inputs as fuzz  # noqa: E402  (the generated inputs)

DATA = ROOT / 'tests' / 'data'
NANO = DATA / 'structures' / 'nano'
SHORT = 'MKTAYIAKQRQISF'
CRAMBIN = (DATA / 'crambin.fasta').read_text().split('\n', 1)[1].replace('\n', '')


def run_cli(argv, env=None):
  """(code, stdout, stderr, escaped exception or None)."""
  out, err = io.StringIO(), io.StringIO()
  saved = {k: os.environ.get(k) for k in (env or {})}
  os.environ.update(env or {})
  escaped = None
  try:
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
      code = cli.main([str(a) for a in argv])
  except BaseException as e:  # pylint: disable=broad-except
    code, escaped = -1, f'{type(e).__name__}: {e}'
  finally:
    for k, v in saved.items():
      if v is None:
        os.environ.pop(k, None)
      else:
        os.environ[k] = v
  return code, out.getvalue(), err.getvalue(), escaped


def leftovers(directory):
  return [n for n in os.listdir(directory) if n.startswith('.') and '.tmp-' in n]


def has_abs_path_or_nan(path):
  text = pathlib.Path(path).read_text()
  return ('"/' in text or 'NaN' in text or 'Infinity' in text)


class Recorder:
  def __init__(self):
    self.rows = []

  def add(self, group, name, verdict, partial=False, detail=''):
    self.rows.append({'group': group, 'case': name, 'verdict': verdict, 'partial': bool(partial),
                      'detail': detail[:300]})
    print(f'  {verdict:12s} {"PARTIAL " if partial else ""}{group}/{name}: {detail[:150]}',
          flush=True)

  def error_case(self, group, name, result, must_name, out=None, parent=None):
    """A bad input that must give one clear error line and no output."""
    code, _, err, escaped = result
    lines = [l for l in err.splitlines() if l.strip()]
    errors = [l for l in lines if ': error: ' in l]
    if escaped or 'Traceback' in err or 'internal error' in err:
      verdict, detail = 'traceback', escaped or err.strip().splitlines()[-1]
    elif code == 0:
      verdict, detail = 'silent wrong', 'exit code 0 for a bad input'
    elif len(errors) == 1 and all(str(n) in errors[0] for n in must_name):
      verdict, detail = 'clear', errors[0]
    else:
      verdict, detail = 'unclear', ' | '.join(lines[-2:])
    partial = bool(out is not None and os.path.exists(out)) or bool(
        parent is not None and leftovers(parent))
    self.add(group, name, verdict, partial, detail)

  def table(self):
    counts = {k: sum(r['verdict'] == k for r in self.rows)
              for k in ('clear', 'unclear', 'traceback', 'silent wrong')}
    partial = sum(r['partial'] for r in self.rows)
    return counts, partial


def tiny_params(work):
  import jax  # pylint: disable=import-outside-toplevel
  from alphafold_jax.config import model_config  # pylint: disable=import-outside-toplevel
  from alphafold_jax.inference import weights  # pylint: disable=import-outside-toplevel
  shapes = weights.expected_param_shapes(model_config('tiny', num_recycle=0))
  rng = np.random.default_rng(0)
  params = jax.tree.map(lambda s: (0.1 * rng.normal(size=s.shape)).astype(s.dtype), shapes)
  path = work / 'tiny.npz'
  save_alphafold_params(params, path)
  return path, params


def generated_cases(rec, work, npz, params, texts):
  """The 125 generated bad inputs of the fuzz test."""
  for kind, count in fuzz.NUM_PER_KIND.items():
    for index in range(count):
      rng = np.random.default_rng([fuzz.SEED, list(fuzz.NUM_PER_KIND).index(kind), index])
      case = work / f'gen_{kind}_{index}'
      case.mkdir()
      out = case / 'out'
      if kind in ('fasta', 'a3m', 'stockholm', 'npz'):
        if kind == 'fasta':
          fasta, extra = fuzz._fasta_case(rng, case)  # pylint: disable=protected-access
          named = fasta
        elif kind == 'npz':
          fasta, extra, named = fuzz._npz_case(rng, case, params)  # pylint: disable=protected-access
        else:
          fasta, extra, named = fuzz._msa_case(rng, case, kind)  # pylint: disable=protected-access
        argv = ['predict', fasta, '--preset', 'tiny', '--out', out, '--quiet', *extra]
        if '--params' not in extra:
          argv += ['--params', npz]
        rec.error_case('generated', f'predict:{kind}-{index}', run_cli(argv), [named], out, case)
      elif kind in ('pdb', 'mmcif'):
        model = fuzz._structure_case(rng, case, texts, kind)  # pylint: disable=protected-access
        rec.error_case('generated', f'score:{kind}-{index}',
                       run_cli(['score', model, NANO / '1L2Y.pdb']), [model], None, case)
      else:
        data = fuzz._train_case(rng, case, texts)  # pylint: disable=protected-access
        rec.error_case('generated', f'train:{kind}-{index}',
                       run_cli(['train', '--preset', 'tiny_ca', '--data', data, '--steps', '1',
                                '--out', out, '--no-progress']), [data], out, case)


def predict_args(case, npz, fasta_text, *extra):
  fasta = case / 'in.fasta'
  fasta.write_text(fasta_text)
  return ['predict', fasta, '--preset', 'tiny', '--params', npz, '--num-recycle', '0',
          '--out', case / 'out', '--quiet', *extra]


def check_isolation(rec, group, name, result, out, ok_name, bad_name, flags):
  """A run with one target that cannot fit: the other written, the refusal recorded."""
  code, _, err, escaped = result
  if escaped or 'Traceback' in err or 'internal error' in err:
    rec.add(group, name, 'traceback', False, escaped or err[-200:])
    return
  summary = json.loads((out / 'summary.json').read_text()) if (out / 'summary.json').exists() \
      else {}
  status = {t['name']: t.get('status', 'ok') for t in summary.get('targets', [])}
  line = next((l for l in err.splitlines() if f"target '{bad_name}' failed" in l), '')
  ok = (code == 1 and (out / f'{ok_name}.pdb').exists() and status.get(ok_name) == 'ok'
        and status.get(bad_name) == 'failed' and all(f in line for f in flags))
  clean_json = not any(has_abs_path_or_nan(out / n) for n in os.listdir(out) if
                       n.endswith('.json'))
  verdict = 'clear' if ok and clean_json else 'silent wrong' if code == 0 else 'unclear'
  rec.add(group, name, verdict, bool(leftovers(out.parent)), line or err[-200:])


def issue_cases(rec, work, npz, params, texts):
  env8 = {'ALPHAFOLD_JAX_AVAILABLE_MEMORY_MIB': '8'}
  # 1. a long target next to a short one (tiny model, 8 MiB available)
  case = work / 'i1'
  case.mkdir()
  result = run_cli(predict_args(case, npz, f'>short\n{SHORT}\n>long\n{"ACDEFGHIKL" * 20}\n',
                                '--buckets', '16'), env=env8)
  check_isolation(rec, 'issue', 'predict:1-long-target', result, case / 'out', 'short', 'long',
                  ['needs about', 'available', '--max-length'])
  padded = "is padded to 512 residues" in result[2] and '--buckets' in result[2]
  rec.add('issue', 'predict:7-buckets-padding', 'clear' if padded else 'silent wrong', False,
          next((l for l in result[2].splitlines() if 'padded' in l), 'not announced'))
  # 2. tracebacks
  for label, extra, name in (('seed', ['--seed', str(10 ** 30)], '--seed'),
                             ('recycle', ['--num-recycle', str(10 ** 12)], '--num-recycle'),
                             ('samples0', ['--num-samples', '0'], '--num-samples'),
                             ('buckets-text', ['--buckets', 'a,b'], '--buckets'),
                             ('buckets-zero', ['--buckets', '0'], '--buckets'),
                             ('maxlen0', ['--max-length', '0'], '--max-length'),
                             ('chunk-nan', ['--chunk-budget-mib', 'nan'], '--chunk-budget-mib')):
    case = work / f'i2_{label}'
    case.mkdir()
    rec.error_case('issue', f'predict:2-{label}',
                   run_cli(predict_args(case, npz, f'>a\n{SHORT}\n', *extra)), [name],
                   case / 'out', case)
  case = work / 'i2_npy'
  case.mkdir()
  np.save(case / 'w.npy', np.zeros(3, np.float32))
  argv = predict_args(case, npz, f'>a\n{SHORT}\n')
  argv[argv.index('--params') + 1] = case / 'w.npy'
  rec.error_case('issue', 'predict:2-npy-params', run_cli(argv), [case / 'w.npy'],
                 case / 'out', case)
  # 3. silent overwrite
  case = work / 'i3'
  case.mkdir()
  rec.error_case('issue', 'predict:3-name-collision',
                 run_cli(predict_args(case, npz, f'>a\n{SHORT}\n>a.sample_0\n{SHORT}\n',
                                      '--num-samples', '2')), ['a.sample_0'], case / 'out', case)
  # 4. bad numbers
  for kind in ('nan', 'int32'):
    case = work / f'i4_{kind}'
    case.mkdir()
    bad = {s: {n: (np.full_like(v, np.nan) if kind == 'nan' else v.astype(np.int32))
               for n, v in leaves.items()} for s, leaves in params.items()}
    save_alphafold_params(bad, case / 'p.npz')
    argv = predict_args(case, npz, f'>a\n{SHORT}\n')
    argv[argv.index('--params') + 1] = case / 'p.npz'
    rec.error_case('issue', f'predict:4-{kind}-params', run_cli(argv), [case / 'p.npz'],
                   case / 'out', case)
  model = protein_lib.from_file(DATA / '1CRN_rotated.pdb')
  base = json.loads(run_cli(['score', DATA / '1CRN_rotated.pdb', NANO / '1CRN.pdb',
                             '--json'])[1])['ca_rmsd']
  case = work / 'i4_score'
  case.mkdir()
  nan_cif = case / 'nan.cif'
  nan_cif.write_text(protein_lib.to_mmcif(model).replace(
      f'{model.atom_positions[0, 0, 0]:.3f}', 'nan', 1))
  rec.error_case('issue', 'score:4-nan-coordinates', run_cli(['score', nan_cif, NANO / '1CRN.pdb']),
                 [nan_cif, 'MODEL'])
  for offset in (1e9, 5e4):
    path = case / f'far_{offset:g}.cif'
    path.write_text(protein_lib.to_mmcif(model.replace(
        atom_positions=model.atom_positions + np.float32(offset))))
    code, out, err, escaped = run_cli(['score', path, NANO / '1CRN.pdb', '--json'])
    if escaped or 'Traceback' in err:
      verdict, detail = 'traceback', escaped or err
    elif code == 0:
      rmsd = json.loads(out)['ca_rmsd']
      verdict = 'clear' if abs(rmsd - base) < 0.02 else 'silent wrong'
      detail = f'CA-RMSD {rmsd:.3f} (untranslated {base:.3f})'
    else:
      verdict = 'clear' if str(path) in err and err.count('error:') == 1 else 'unclear'
      detail = err.strip()
    rec.add('issue', f'score:4-translated-{offset:g}', verdict, False, detail)
  lines = (NANO / '1CRN.pdb').read_text().splitlines()
  i = next(k for k, l in enumerate(lines) if l.startswith('ATOM'))
  lines[i] = lines[i][:30] + f'{11.104:8.3f}{-1234.5:8.3f}{-1.0:8.3f}' + lines[i][54:]
  (case / 'glued.pdb').write_text('\n'.join(lines) + '\n')
  rec.error_case('issue', 'score:4-glued-columns',
                 run_cli(['score', case / 'glued.pdb', NANO / '1CRN.pdb']), [case / 'glued.pdb'])
  # 5. late failures
  case = work / 'i5'
  case.mkdir()
  (case / 'file.txt').write_text('x')
  for label, out in (('out-is-file', case / 'file.txt'), ('out-under-file', case / 'file.txt' / 's')):
    argv = predict_args(case, npz, f'>a\n{SHORT}\n')
    argv[argv.index('--out') + 1] = out
    started = time.time()
    result = run_cli(argv)
    rec.error_case('issue', f'predict:5-{label}', result, ['--out'], None, case)
    rec.rows[-1]['detail'] += f' ({time.time() - started:.1f} s)'
  data = case / 'data'
  data.mkdir()
  shutil.copy(NANO / '1L2Y.pdb', data / '1L2Y.pdb')
  (data / '1VII.pdb.gz').write_bytes(gzip.compress((NANO / '1VII.pdb').read_bytes()))
  no_ca = [l for l in (NANO / '1CRN.pdb').read_text().splitlines()
           if not (l.startswith('ATOM') and l[12:16].strip() == 'CA')]
  (data / 'noca.pdb').write_text('\n'.join(no_ca) + '\n')
  (data / 'corrupt.cif').write_text('data_x\nloop_\n_atom_site.id\n_atom_site.Cartn_x\n1\n')
  train = ['train', '--preset', 'tiny_ca', '--data', data, '--out', case / 'run', '--no-progress',
           '--set', 'warmup_steps=1', '--set', 'max_recycle=0']
  code, _, err, escaped = run_cli(train + ['--steps', '2', '--resume'])
  evaluation = json.loads((case / 'run' / 'eval.json').read_text()) if code == 0 else {}
  named = [r['name'] for r in evaluation.get('structures', [])]
  for label, ok in (('5-noca-skipped', 'noca.pdb' in err and 'no CA' in err),
                    ('5-corrupt-skipped', 'corrupt.cif' in err),
                    ('7-pdb-gz-read', '1VII' in named),
                    ('7-resume-without-checkpoint', 'no checkpoint' in err)):
    verdict = ('traceback' if escaped else 'clear' if code == 0 and ok else 'silent wrong'
               if code == 0 else 'unclear')
    rec.add('issue', f'train:{label}', verdict, False,
            f'code {code}; trained on {named}' if code == 0 else err.strip()[-200:])
  run = case / 'run'
  before = sorted(os.listdir(run)) if run.exists() else []
  rec.error_case('issue', 'train:7-resume-steps-below', run_cli(train + ['--steps', '1', '--resume']),
                 ['--steps 1', 'step 2'])
  rec.rows[-1]['partial'] = (sorted(os.listdir(run)) if run.exists() else []) != before
  bad = case / 'bad'
  bad.mkdir()
  (bad / 'noca.pdb').write_text('\n'.join(no_ca) + '\n')
  rec.error_case('issue', 'train:5-no-usable-data',
                 run_cli(train[:4] + [bad, '--out', case / 'run2', '--steps', '1']), [bad],
                 case / 'run2')
  # 7. parsers through the CLI
  for label, name, text in (('7-stockholm-no-header', 'x.sto', f'query {SHORT}\n//\n'),
                            ('7-a3m-digits', 'x.a3m', f'>q\n{SHORT}\n>h\n{"7" * len(SHORT)}\n'),
                            ('8-empty-a3m', 'e.a3m', '')):
    case = work / f'i_{label}'
    case.mkdir()
    (case / name).write_text(text)
    rec.error_case('issue', f'predict:{label}',
                   run_cli(predict_args(case, npz, f'>a\n{SHORT}\n', '--msa', case / name)),
                   [case / name], case / 'out', case)
  # 8. misleading messages
  case = work / 'i8'
  case.mkdir()
  (case / 'notes.txt').write_text('not parameters\n')
  (case / 'empty_run').mkdir()
  for label, flag, value, must in (('text-params', '--params', case / 'notes.txt', 'not an .npz'),
                                   ('dir-params', '--params', case, 'is a directory'),
                                   ('empty-checkpoint', '--checkpoint', case / 'empty_run',
                                    'no finalised checkpoint')):
    argv = predict_args(case, npz, f'>a\n{SHORT}\n')
    i = argv.index('--params')
    argv[i:i + 2] = [flag, value]
    if flag == '--checkpoint':
      argv.remove('--preset'), argv.remove('tiny')
    rec.error_case('issue', f'predict:8-{label}', run_cli(argv), [value, must], case / 'out', case)
  rows = texts[1].splitlines()
  k = next(j for j, l in enumerate(rows) if l.startswith('ATOM') and j > 40)
  rows[k] = ' '.join(rows[k].split()[:-3])
  (case / 'ragged.cif').write_text('\n'.join(rows) + '\n')
  (case / 'good.pdb').write_text(texts[0])
  rec.error_case('issue', 'score:8-ragged-mmcif-reference',
                 run_cli(['score', case / 'good.pdb', case / 'ragged.cif']),
                 ['REFERENCE', case / 'ragged.cif', 'missing or extra values'])
  # evaluate
  case = work / 'ev'
  (case / 'pred').mkdir(parents=True)
  (case / 'ref').mkdir()
  (case / 'empty').mkdir()
  shutil.copy(NANO / '1L2Y.pdb', case / 'ref' / '1L2Y.pdb')
  shutil.copy(NANO / '1VII.pdb', case / 'ref' / '1VII.pdb')
  shutil.copy(NANO / '1L2Y.pdb', case / 'pred' / '1L2Y.pdb')
  shutil.copy(nan_cif, case / 'pred' / '1VII.cif')
  rec.error_case('issue', 'evaluate:missing-pred',
                 run_cli(['evaluate', '--pred', case / 'nope', '--ref', case / 'ref']),
                 [case / 'nope'])
  rec.error_case('issue', 'evaluate:empty-ref',
                 run_cli(['evaluate', '--pred', case / 'pred', '--ref', case / 'empty']),
                 [case / 'empty'])
  rec.error_case('issue', 'evaluate:out-missing-dir',
                 run_cli(['evaluate', '--pred', case / 'pred', '--ref', case / 'ref', '--out',
                          case / 'no' / 'x.json']), ['--out'])
  code, out, err, escaped = run_cli(['evaluate', '--pred', case / 'pred', '--ref', case / 'ref',
                                     '--json'])
  report = json.loads(out) if out.strip().startswith('{') else {}
  failed = [t for t in report.get('targets', []) if 'error' in t]
  ok = code == 1 and len(failed) == 1 and 'non-finite' in failed[0]['error']
  rec.add('issue', 'evaluate:nan-prediction', 'traceback' if escaped else
          'clear' if ok else 'silent wrong' if code == 0 else 'unclear', False,
          failed[0]['error'] if failed else err[-200:])


def bundled_case(rec, work):
  """The default command of a new user: bundled nano_ipa weights, crambin + a long target."""
  case = work / 'bundled'
  case.mkdir()
  (case / 'in.fasta').write_text(f'>crambin\n{CRAMBIN}\n>giant\n{"ACDEFGHIKLMNPQRSTVWY" * 100}\n')
  started = time.time()
  result = run_cli(['predict', case / 'in.fasta', '--out', case / 'out', '--quiet'],
                   env={'ALPHAFOLD_JAX_AVAILABLE_MEMORY_MIB': '2048'})
  check_isolation(rec, 'issue', 'predict:1-bundled-2000-residues', result, case / 'out',
                  'crambin', 'giant', ['needs about', 'available', '--max-length'])
  rec.rows[-1]['detail'] += f' ({time.time() - started:.0f} s)'


def kill_cases(rec, work, npz):
  """SIGKILL and SIGTERM of a real `predict` process once its staging directory exists."""
  env = dict(os.environ, PYTHONPATH=str(CODE_ROOT))
  for sig in (signal.SIGKILL, signal.SIGTERM):
    case = work / f'kill_{sig.name}'
    case.mkdir()
    (case / 'in.fasta').write_text(f'>a\n{SHORT}\n')
    proc = subprocess.Popen(
        [sys.executable, '-m', 'alphafold_jax.cli', 'predict', case / 'in.fasta', '--preset',
         'tiny', '--params', npz, '--num-recycle', '0', '--buckets', '16', '--out',
         case / 'out', '--quiet'], env=env, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 180
    while not leftovers(case) and time.time() < deadline and proc.poll() is None:
      time.sleep(0.2)
    time.sleep(1.0)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=300)
    left = leftovers(case)
    if sig == signal.SIGKILL:  # unavoidable leftovers; the next run must remove them
      rerun = run_cli(['predict', case / 'in.fasta', '--preset', 'tiny', '--params', npz,
                       '--out', case / 'out', '--quiet', '--max-length', '1'])
      after = leftovers(case)
      verdict = 'traceback' if rerun[3] else 'clear' if left and not after else 'silent wrong'
      rec.add('kill', 'predict:6-sigkill-then-rerun', verdict, bool(after),
              f'{len(left)} staging dir(s) after the kill, {len(after)} after the rerun')
    else:
      ok = proc.returncode == 143 and 'terminated' in err and 'Traceback' not in err
      verdict = 'traceback' if 'Traceback' in err else 'clear' if ok else 'unclear'
      rec.add('kill', 'predict:6-sigterm', verdict, bool(left) or (case / 'out').exists(),
              f'exit {proc.returncode}; {err.strip().splitlines()[-1] if err.strip() else ""}')


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
  parser.add_argument('--work', default=None, help='working directory (default: a temp dir)')
  parser.add_argument('--no-bundled', action='store_true', help='skip the nano_ipa run')
  parser.add_argument('--no-kill', action='store_true', help='skip the subprocess kill runs')
  args = parser.parse_args()
  work = pathlib.Path(args.work or tempfile.mkdtemp(prefix='bad_inputs_'))
  work.mkdir(parents=True, exist_ok=True)
  started = time.time()
  import alphafold_jax  # pylint: disable=import-outside-toplevel
  print(f'code under test: {os.path.dirname(alphafold_jax.__file__)}')
  npz, params = tiny_params(work)
  prot = protein_lib.from_file(NANO / '1L2Y.pdb')
  texts = (protein_lib.to_pdb(prot), protein_lib.to_mmcif(prot, '1L2Y'))
  rec = Recorder()
  print('generated bad inputs (tests/cli/test_fuzz_bad_inputs.py):')
  generated_cases(rec, work, npz, params, texts)
  print('issue 23 findings, by hand:')
  issue_cases(rec, work, npz, params, texts)
  if not args.no_kill:
    kill_cases(rec, work, npz)
  if not args.no_bundled:
    bundled_case(rec, work)
  counts, partial = rec.table()
  table = (f'| bad inputs tried | clear errors | unclear | tracebacks (goal 0) | silent wrong results '
           f'(goal 0) | partial files left (goal 0) |\n|---|---|---|---|---|---|\n'
           f'| {len(rec.rows)} | {counts["clear"]} | {counts["unclear"]} | {counts["traceback"]} | '
           f'{counts["silent wrong"]} | {partial} |')
  print('\n' + table)
  print(f'\n{time.time() - started:.0f} s; rows in {work / "results.json"}')
  (work / 'results.json').write_text(json.dumps({'table': table, 'rows': rec.rows}, indent=1))
  return 0 if counts['traceback'] == counts['silent wrong'] == partial == 0 else 1


if __name__ == '__main__':
  sys.exit(main())
