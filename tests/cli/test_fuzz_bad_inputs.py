"""Fuzz (issue 23): generated bad inputs through the CLI and the parsers, seeded.

CLI part: NUM_CLI_CASES mutated FASTA / A3M / Stockholm / npz / PDB / mmCIF inputs, each made
surely bad, through `predict`, `score` and `train` in-process; every one must give exit code 2,
exactly one `error:` line naming the bad file (no traceback, no internal error) and leave no
output (no --out directory, no `.*.tmp-*` staging directory). No case reaches the model.

Parser part: NUM_PARSER_CASES random character-level mutations of real FASTA / A3M / Stockholm
/ PDB / mmCIF texts through `parse_fasta`, `parse_a3m`, `parse_stockholm` and
`protein.from_string`: each either parses or raises the documented `UserError` family; nothing
else may escape.
"""

import io
import os
import zipfile

import numpy as np
import pytest

from alphafold_jax.common import protein as protein_lib
from data_pipeline import parsers

from tests.cli.cli_testing import DATA, assert_one_error_line, cli_run, leftovers

SEED = 23
NUM_PER_KIND = {'fasta': 30, 'a3m': 20, 'stockholm': 15, 'npz': 20, 'pdb': 20, 'mmcif': 15,
                'train': 5}
NUM_CLI_CASES = sum(NUM_PER_KIND.values())  # 125
NUM_PARSER_CASES = 200
SEQ = 'MKTAYIAKQRQISFVKSHFSRQ'  # 22 residues
SEQ2 = 'GSHMWEDPVKC'
BAD_CHARS = list('0123456789!@#$%^&()+=[]{};:,<?/|\\~`"\'') + ['\u00e9', '\u2013', '\x01', '\t*']
LETTERS = 'ACDEFGHIKLMNPQRSTVWY'


def _mutate_char(rng, text, pool=BAD_CHARS):
  i = int(rng.integers(len(text)))
  return text[:i] + str(rng.choice(pool)) + text[i:]


# -- CLI cases: (kind, index) -> files written, argv, name the error must mention --------------

def _fasta_case(rng, work):
  seq = ''.join(rng.choice(list(LETTERS), size=int(rng.integers(5, 30))))
  kind = rng.choice(['badchar', 'nohdr', 'empty', 'binary', 'hdronly', 'dup', 'stopmid', 'nul'])
  if kind == 'badchar':
    text = f'>t1 x\n{_mutate_char(rng, seq)}\n>t2\n{SEQ2}\n'
  elif kind == 'nohdr':
    text = f'{seq}\n>t2\n{SEQ2}\n'
  elif kind == 'empty':
    text = rng.choice(['', '\n\n', '   \n'])
  elif kind == 'binary':
    text = bytes(rng.integers(128, 256, size=64).astype(np.uint8))
  elif kind == 'hdronly':
    text = '>t1 only a header\n'
  elif kind == 'dup':
    text = f'>T1 a\n{seq}\n>t1 b\n{SEQ2}\n'
  elif kind == 'stopmid':
    text = f'>t1\n{seq[:3]}*{seq[3:]}\n'
  else:
    text = f'>t1\n{seq[:2]}\x00{seq[2:]}\n'
  path = work / 'in.fasta'
  path.write_bytes(text if isinstance(text, bytes) else text.encode('utf-8'))
  return path, []


def _a3m_text(query):
  hit = query[:5] + 'kk' + query[5:-1] + '-'
  return f'>query\n{query}\n>hit1\n{hit}\n>hit2\n-{query[1:]}\n'


def _msa_case(rng, work, fmt):
  (work / 'in.fasta').write_text(f'>t1\n{SEQ}\n')
  if fmt == 'a3m':
    kind = rng.choice(['query', 'digit', 'ragged', 'empty', 'nohdr', 'nonascii', 'hash'])
    text = _a3m_text(SEQ)
    lines = text.splitlines()
    if kind == 'query':  # query row differs from the target sequence
      i = int(rng.integers(len(SEQ)))
      lines[1] = SEQ[:i] + ('W' if SEQ[i] != 'W' else 'G') + SEQ[i + 1:]
    elif kind == 'digit':
      lines[3] = _mutate_char(rng, lines[3], list('0123456789'))
    elif kind == 'ragged':
      lines[5] = lines[5][:-int(rng.integers(1, 4))]
    elif kind == 'empty':
      lines = []
    elif kind == 'nohdr':
      lines = lines[1:]
    elif kind == 'nonascii':
      lines[3] = _mutate_char(rng, lines[3], ['\u00e9', '\u00c5'])
    else:
      lines[5] = _mutate_char(rng, lines[5], list('#%&'))
    path = work / 'x.a3m'
  else:
    kind = rng.choice(['noheader', 'ragged', 'digit', 'query', 'headeronly'])
    rows = [f'query {SEQ}', f'hit1  {SEQ[:-2]}--', f'hit2  -{SEQ[1:]}']
    if kind == 'ragged':
      rows[1] = rows[1][:-int(rng.integers(1, 4))]
    elif kind == 'digit':
      rows[2] = _mutate_char(rng, rows[2][:6], list('0123456789')) + rows[2][6:]
      rows[2] = rows[2][:8] + str(int(rng.integers(10))) + rows[2][9:]
    elif kind == 'query':
      rows[0] = 'query ' + SEQ[::-1]
    elif kind == 'headeronly':
      rows = []
    lines = ([] if kind == 'noheader' else ['# STOCKHOLM 1.0', '']) + rows + ['//']
    path = work / 'x.sto'
  path.write_text('\n'.join(lines) + ('\n' if lines else ''), encoding='utf-8')
  return work / 'in.fasta', ['--msa', path], path


def _npz_case(rng, work, params):
  (work / 'in.fasta').write_text(f'>t1\n{SEQ}\n')
  flat = {f'{s}//{n}': v for s, leaves in params.items() for n, v in leaves.items()}
  keys = sorted(flat)
  key = keys[int(rng.integers(len(keys)))]
  kind = rng.choice(['truncate', 'zipheader', 'central', 'int', 'nan', 'inf', 'drop', 'extra',
                     'reshape', 'emptyzip', 'npy', 'text', 'object', 'directory'])
  path = work / 'p.npz'
  buffer = io.BytesIO()
  if kind in ('truncate', 'zipheader', 'central'):
    np.savez(buffer, **flat)
    raw = bytearray(buffer.getvalue())
    if kind == 'truncate':
      raw = raw[:int(rng.integers(1, len(raw) - 30))]
    elif kind == 'zipheader':
      raw[0:4] = b'XXXX'
    else:  # the end-of-central-directory record
      raw[-22:-18] = b'\x00\x00\x00\x00'
    path.write_bytes(bytes(raw))
  elif kind == 'directory':
    path.mkdir()
  elif kind == 'npy':
    np.save(work / 'p.npy', flat[key])
    (work / 'p.npy').rename(path)
  elif kind == 'text':
    path.write_text('scope//name = 1.0\n')
  elif kind == 'emptyzip':
    with zipfile.ZipFile(path, 'w'):
      pass
  elif kind == 'object':
    np.savez(path, **{**flat, key: np.array([{'a': 1}], dtype=object)})
  else:
    new = dict(flat)
    if kind == 'int':
      new[key] = flat[key].astype(np.int32)
    elif kind == 'nan':
      new[key] = flat[key].copy()
      new[key].reshape(-1)[int(rng.integers(new[key].size))] = np.nan
    elif kind == 'inf':
      new[key] = np.full_like(flat[key], -np.inf)
    elif kind == 'drop':
      del new[key]
    elif kind == 'extra':
      new['alphafold/extra//weights'] = np.zeros(3, np.float32)
    else:
      new[key] = flat[key].reshape(-1)[:max(1, flat[key].size - 1)]
    np.savez(path, **new)
  return work / 'in.fasta', ['--params', path], path


def _structure_case(rng, work, texts, fmt):
  pdb_text, cif_text = texts
  if fmt == 'pdb':
    lines = pdb_text.splitlines()
    atoms = [i for i, l in enumerate(lines) if l.startswith('ATOM')]
    i = atoms[int(rng.integers(len(atoms)))]
    kind = rng.choice(['nan', 'glued', 'cut', 'binary', 'garbage', 'empty', 'noatoms', 'inf'])
    if kind == 'nan':
      lines[i] = lines[i][:30] + f'{"nan":>8s}' + lines[i][38:]
    elif kind == 'inf':
      lines[i] = lines[i][:38] + f'{"inf":>8s}' + lines[i][46:]
    elif kind == 'glued':
      lines[i] = lines[i][:30] + f'{1.5:8.3f}{-1000 - 900 * rng.random():8.3f}{2.0:8.3f}' \
          + lines[i][54:]
    elif kind == 'cut':
      lines = lines[:i] + [lines[i][:int(rng.integers(20, 50))]]
    elif kind == 'garbage':
      lines[i] = lines[i][:30] + '  abc.de' + lines[i][38:]
    elif kind == 'empty':
      lines = []
    elif kind == 'noatoms':
      lines = ['HEADER    NOTHING', 'REMARK   1 no atoms here', 'END']
    text = '\n'.join(lines) + ('' if kind == 'cut' else '\n')
    data = bytes(rng.integers(0, 256, 200).astype(np.uint8)) if kind == 'binary' else \
        text.encode()
    path = work / 'model.pdb'
  else:
    lines = cif_text.splitlines()
    atoms = [i for i, l in enumerate(lines) if l.startswith('ATOM')]
    i = atoms[int(rng.integers(1, len(atoms) - 1))]
    fields = lines[i].split()
    kind = rng.choice(['nan', 'far', 'ragged', 'nodata', 'cut', 'question'])
    if kind == 'nan':
      fields[10] = 'nan'
    elif kind == 'far':
      fields[11] = f'{1e6 + 1e8 * rng.random():.3f}'
    elif kind == 'ragged':
      fields = fields[:-int(rng.integers(1, 4))]
    elif kind == 'question':
      fields[12] = 'x1.0'
    lines[i] = ' '.join(fields)
    if kind == 'nodata':
      lines = lines[1:]
    elif kind == 'cut':
      lines = lines[:atoms[-1]] + [lines[atoms[-1]][:30]]
    data = ('\n'.join(lines) + '\n').encode()
    path = work / 'model.cif'
  path.write_bytes(data)
  return path


def _train_case(rng, work, texts):
  data = work / 'data'
  data.mkdir()
  for k in range(int(rng.integers(1, 3))):
    path = _structure_case(rng, work, texts, str(rng.choice(['pdb', 'mmcif'])))
    path.rename(data / f'bad{k}{path.suffix}')
  if rng.random() < 0.5:  # and a structure without CA atoms
    lines = [l for l in texts[0].splitlines() if not (l.startswith('ATOM') and ' CA ' in l)]
    (data / 'noca.pdb').write_text('\n'.join(lines) + '\n')
  return data


def _cases():
  out = []
  for kind, count in NUM_PER_KIND.items():
    out += [(kind, i) for i in range(count)]
  return out


@pytest.mark.parametrize('kind,index', _cases(), ids=[f'{k}-{i}' for k, i in _cases()])
def test_cli_fuzz(kind, index, tmp_path, tiny_npz, one_model_pdb, monkeypatch):
  from alphafold_jax.inference import predict  # pylint: disable=import-outside-toplevel

  def forbidden(*args, **kwargs):
    raise AssertionError('a bad input reached the model')
  monkeypatch.setattr(predict.Predictor, 'predict', forbidden)
  rng = np.random.default_rng([SEED, list(NUM_PER_KIND).index(kind), index])
  work = tmp_path / 'work'
  work.mkdir()
  out = tmp_path / 'out'
  if kind in ('fasta', 'a3m', 'stockholm', 'npz'):
    if kind == 'fasta':
      fasta, extra = _fasta_case(rng, work)
      named = fasta
    elif kind == 'npz':
      fasta, extra, named = _npz_case(rng, work, tiny_npz[1])
    else:
      fasta, extra, named = _msa_case(rng, work, kind)
    argv = ['predict', fasta, '--preset', 'tiny', '--num-recycle', '0', '--buckets', '16',
            '--out', out, '--quiet', *extra]
    if '--params' not in extra:
      argv += ['--params', tiny_npz[0]]
    assert_one_error_line(cli_run(argv), 'predict', named)
  elif kind in ('pdb', 'mmcif'):
    model = _structure_case(rng, work, one_model_pdb, kind)
    reference = DATA / 'structures' / 'nano' / '1L2Y.pdb'
    assert_one_error_line(cli_run(['score', model, reference]), 'score', model)
  else:
    data = _train_case(rng, work, one_model_pdb)
    assert_one_error_line(cli_run(['train', '--preset', 'tiny_ca', '--data', data, '--steps',
                                   '1', '--out', out, '--no-progress']), 'train', data)
  assert not out.exists() and leftovers(tmp_path) == []  # no partial output


# -- parsers --------------------------------------------------------------------------------------

def _random_edit(rng, text):
  ops = int(rng.integers(1, 4))
  for _ in range(ops):
    if not text:
      break
    i, j = sorted(int(v) for v in rng.integers(0, len(text) + 1, 2))
    op = rng.choice(['replace', 'delete', 'insert', 'truncate', 'dupline', 'swapcase'])
    if op == 'replace':
      text = text[:i] + str(rng.choice(BAD_CHARS + list(LETTERS) + ['\n', ' ', '>', '-'])) \
          + text[i + 1:]
    elif op == 'delete':
      text = text[:i] + text[j:j + 0] + text[min(j, i + 8):]
    elif op == 'insert':
      text = text[:i] + ''.join(rng.choice(list('0123456789 .-\n>#'), size=3)) + text[i:]
    elif op == 'truncate':
      text = text[:i]
    elif op == 'dupline':
      lines = text.splitlines()
      k = int(rng.integers(len(lines))) if lines else 0
      text = '\n'.join(lines[:k + 1] + lines[k:])
    else:
      text = text[:i] + text[i:j].swapcase() + text[j:]
  return text


def test_parser_fuzz(one_model_pdb):
  from alphafold_jax.common.errors import UserError  # pylint: disable=import-outside-toplevel
  pdb_text, cif_text = one_model_pdb
  sto = (DATA / 'msa' / 'stockholm_hmmer' / 'globins4.sto').read_text()
  sources = {
      'fasta': (f'>t1 x\n{SEQ}\n>t2\n{SEQ2}\n', parsers.parse_fasta),
      'a3m': (_a3m_text(SEQ), parsers.parse_a3m),
      'stockholm': (sto, parsers.parse_stockholm),
      'pdb': (pdb_text, lambda t: protein_lib.from_string(t, 'pdb')),
      'mmcif': (cif_text, lambda t: protein_lib.from_string(t, 'mmcif')),
  }
  rng = np.random.default_rng(SEED)
  outcomes = {'parsed': 0, 'refused': 0}
  names = sorted(sources)
  for case in range(NUM_PARSER_CASES):
    name = names[case % len(names)]
    text, parse = sources[name]
    mutated = _random_edit(rng, text)
    try:
      parse(mutated)
      outcomes['parsed'] += 1
    except UserError as e:
      assert str(e).strip(), name
      outcomes['refused'] += 1
    except Exception as e:  # pylint: disable=broad-except
      pytest.fail(f'{name} case {case}: {type(e).__name__}: {e}\n--- input ---\n{mutated[:500]}')
  assert sum(outcomes.values()) == NUM_PARSER_CASES and outcomes['refused'] > 50, outcomes


def test_counts():
  assert NUM_CLI_CASES >= 100 and NUM_PARSER_CASES >= 100
  assert os.environ.get('ALPHAFOLD_JAX_AVAILABLE_MEMORY_MIB') is None
