"""Prediction targets: FASTA records + their MSAs, read and checked before any model work.

    targets = read_targets('in.fasta', msa_specs=['crambin=crambin.a3m', 'other.sto'])

A target is one FASTA record: a file-safe name (first word of the header), the sequence
(upper-cased, one trailing '*' dropped) and the MSAs assigned to it. Residue letters must be
the 20 standard amino acids or X (unknown); anything else is an error naming the letter and
its position, as are an empty FASTA, duplicate names and MSAs whose query row is not the
target sequence.

MSA assignment (`--msa [NAME=]FILE`, repeatable; .a3m or .sto/.stockholm, else by content):
  NAME=FILE  the MSA belongs to target NAME;
  FILE       with one target, it belongs to that target; with several, to the target whose
             sequence equals the MSA's query row (an error if none does).
Every MSA's query row must equal its target's sequence (checked by `make_raw_features`).
A target without MSA is predicted from its single sequence.

Errors are `InputError` (a ValueError): the CLI prints the message and exits non-zero.
"""

from __future__ import annotations

import dataclasses
import os
import re
from typing import Dict, List, Optional, Sequence, Tuple

from alphafold_jax.common.errors import UserError
from alphafold_jax.common import residue_constants as rc
from data_pipeline import parsers
from data_pipeline.errors import PipelineError

ALLOWED_LETTERS = ''.join(rc.restypes) + 'X'
_NAME_UNSAFE = re.compile(r'[^A-Za-z0-9._-]+')


class InputError(UserError):
  """A FASTA/MSA input problem (one-line message naming file, record and position)."""


@dataclasses.dataclass(frozen=True)
class Target:
  """One chain to predict."""
  name: str  # file-safe output stem
  description: str  # full FASTA header (without '>')
  sequence: str  # upper-case, letters in ALLOWED_LETTERS
  msas: Tuple[parsers.Msa, ...] = ()
  msa_sources: Tuple[str, ...] = ()  # file of each MSA, for the log / summary

  def __len__(self) -> int:
    return len(self.sequence)


def _read_text(path: str, what: str) -> str:
  try:
    with open(path, encoding='utf-8') as f:
      return f.read()
  except FileNotFoundError:
    raise InputError(f'{what} not found: {path}') from None
  except IsADirectoryError:
    raise InputError(f'{what} {path} is a directory, not a file') from None
  except UnicodeDecodeError as e:
    raise InputError(f'{what} {path} is not UTF-8/ASCII text (byte {e.start})') from None
  except OSError as e:
    raise InputError(f'cannot read {what} {path}: {e.strerror or e}') from None


def target_name(description: str, index: int) -> str:
  """File-safe name: the header's first word with unsafe characters replaced by '_'."""
  words = description.split()
  name = _NAME_UNSAFE.sub('_', words[0]).strip('._') if words else ''
  return name or f'target_{index + 1}'


def check_sequence(sequence: str, name: str) -> str:
  """Upper-cased sequence (one trailing '*' stop dropped); raises on any other letter."""
  seq = sequence.upper()
  if seq.endswith('*'):
    seq = seq[:-1]
  if not seq:
    raise InputError(f'target {name!r} has an empty sequence')
  for i, letter in enumerate(seq):
    if letter not in ALLOWED_LETTERS:
      raise InputError(
          f'target {name!r}: unknown residue letter {letter!r} at position {i + 1} '
          f'(allowed: {ALLOWED_LETTERS}, X for an unknown residue)')
  return seq


def parse_fasta_records(text: str, source: str = '<string>'):
  """(sequences, descriptions) of a FASTA string; one InputError naming `source` otherwise."""
  if not text.strip():
    raise InputError(f'FASTA file {source} is empty')
  try:
    return parsers.parse_fasta(text)
  except PipelineError as e:
    raise InputError(f'FASTA file {source}: {e}') from None


def parse_fasta_targets(text: str, source: str = '<string>') -> List[Target]:
  """Targets of a (multi-record) FASTA string, sequences checked, names unique."""
  sequences, descriptions = parse_fasta_records(text, source)
  targets, seen = [], {}
  for index, (sequence, description) in enumerate(zip(sequences, descriptions)):
    name = target_name(description, index)
    if name.lower() in seen:
      raise InputError(f'FASTA file {source}: records {seen[name.lower()] + 1} and {index + 1} '
                       f'both give the output name {name!r}; make the first words of the '
                       'headers unique')
    seen[name.lower()] = index
    try:
      sequence = check_sequence(sequence, name)
    except InputError as e:
      raise InputError(f'FASTA file {source}: {e}') from None
    targets.append(Target(name=name, description=description, sequence=sequence))
  return targets


def read_msa(path: str) -> parsers.Msa:
  """A3M (.a3m) or Stockholm (.sto/.stockholm) file; other extensions are sniffed."""
  text = _read_text(path, 'MSA file')
  lower = path.lower()
  if lower.endswith(('.sto', '.stockholm', '.sth')):
    fmt = 'stockholm'
  elif lower.endswith(('.a3m', '.fasta', '.fa', '.afa')):
    fmt = 'a3m'
  else:
    fmt = 'stockholm' if text.lstrip().startswith('# STOCKHOLM') else 'a3m'
  try:
    msa = parsers.parse_stockholm(text) if fmt == 'stockholm' else parsers.parse_a3m(text)
  except PipelineError as e:
    raise InputError(f'MSA file {path}: {e}') from None
  if len(msa) == 0:
    raise InputError(f'MSA file {path} has no rows')
  return msa


def split_msa_spec(spec: str) -> Tuple[Optional[str], str]:
  """'NAME=FILE' -> (NAME, FILE); 'FILE' -> (None, FILE). A FILE containing '=' that exists
  is taken as a file."""
  name, sep, path = spec.partition('=')
  if not sep or os.path.exists(spec) or not name:
    return None, spec
  return name, path


def assign_msas(targets: Sequence[Target], msa_specs: Sequence[str]) -> List[Target]:
  """Targets with their MSAs attached (see module docstring); queries are checked later."""
  by_name: Dict[str, int] = {t.name.lower(): i for i, t in enumerate(targets)}
  by_sequence: Dict[str, List[int]] = {}
  for i, t in enumerate(targets):
    by_sequence.setdefault(t.sequence, []).append(i)
  msas: List[List[Tuple[parsers.Msa, str]]] = [[] for _ in targets]
  for spec in msa_specs:
    name, path = split_msa_spec(spec)
    msa = read_msa(path)
    if name is not None:
      if name.lower() not in by_name:
        raise InputError(f'--msa {spec}: no target named {name!r} (targets: '
                         f'{", ".join(t.name for t in targets)})')
      owners = [by_name[name.lower()]]
    elif len(targets) == 1:
      owners = [0]
    else:
      owners = by_sequence.get(msa.sequences[0].upper(), [])
      if not owners:
        raise InputError(f'MSA file {path}: its query row matches none of the '
                         f'{len(targets)} target sequences; use --msa NAME={path}')
    for i in owners:
      msas[i].append((msa, path))
  return [dataclasses.replace(t, msas=tuple(m for m, _ in found),
                              msa_sources=tuple(p for _, p in found))
          for t, found in zip(targets, msas)]


def read_targets(fasta_path: str, msa_specs: Sequence[str] = ()) -> List[Target]:
  """Targets of a FASTA file with their MSAs attached."""
  return assign_msas(parse_fasta_targets(_read_text(fasta_path, 'FASTA file'), fasta_path),
                     msa_specs)


def raw_features(target: Target) -> dict:
  """AF2 raw features of a target; an MSA whose query is not the sequence raises InputError."""
  from data_pipeline import make_raw_features  # pylint: disable=import-outside-toplevel
  try:
    return make_raw_features(target.sequence, target.description, list(target.msas))
  except PipelineError as e:
    message = str(e)
    for index, source in enumerate(target.msa_sources):  # name the file, not only its index
      message = message.replace(f'MSA {index} ', f'MSA {index} ({source}) ')
    raise InputError(f'target {target.name!r}: {message}') from None
