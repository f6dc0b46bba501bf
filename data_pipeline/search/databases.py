"""Sequence databases for the in-process HMMER search (pyhmmer): FASTA file -> digital block.

`load_database(path)` reads a protein FASTA file (optionally .gz) once per process (cached by
path, size and mtime) into a `pyhmmer.easel.DigitalSequenceBlock`. `open_database(path)` (what
the searches use) does that for files up to `STREAM_MIN_BYTES` (512 MiB) and streams larger ones
(real UniRef90 / MGnify / pdb_seqres sizes) from disk with `pyhmmer.easel.SequenceFile`, checking
only their first record up front. Record names are the first
word of each header, descriptions the rest, as HMMER reads them; `pdb_seqres.txt` (mol:na
records included) is read the same way.

Errors (`SearchError`, one line naming the file): missing file, a directory, an empty file or
one without '>' records, a record without residues, characters that are not amino-acid letters.
"""

import contextlib
import gzip
import os
from typing import Dict, Iterator, Tuple

from data_pipeline.errors import SearchError

_CACHE: Dict[Tuple[str, int, float], object] = {}
STREAM_MIN_BYTES = 512 * 2**20
_ALLOWED = set(b'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz*-.')


def amino_alphabet():
  import pyhmmer  # pylint: disable=import-outside-toplevel
  return pyhmmer.easel.Alphabet.amino()


def _read(path: str, what: str) -> bytes:
  if not os.path.exists(path):
    raise SearchError(f'{what} {path}: file not found')
  if os.path.isdir(path):
    raise SearchError(f'{what} {path}: is a directory, expected a FASTA file')
  with open(path, 'rb') as f:
    raw = f.read()
  if path.endswith('.gz'):
    try:
      raw = gzip.decompress(raw)
    except (OSError, EOFError) as e:
      raise SearchError(f'{what} {path}: broken gzip file ({e})') from None
  return raw


def parse_fasta_bytes(raw: bytes, path: str, what: str):
  """[(name, description, sequence bytes)] of a FASTA file, checked."""
  if not raw.strip():
    raise SearchError(f'{what} {path}: empty database (no sequences)')
  if not raw.lstrip().startswith(b'>'):
    raise SearchError(f'{what} {path}: not a FASTA file (does not start with ">")')
  records = []
  for number, chunk in enumerate(raw.lstrip()[1:].split(b'\n>'), start=1):
    header, _, body = chunk.partition(b'\n')
    sequence = b''.join(body.split())
    name, _, description = header.strip().partition(b' ')
    if not name:
      raise SearchError(f'{what} {path}: record {number} has an empty header')
    if not sequence:
      raise SearchError(f'{what} {path}: record {number} ({name.decode(errors="replace")}) '
                        'has no residues')
    bad = set(sequence) - _ALLOWED
    if bad:
      char = chr(min(bad)) if min(bad) < 128 else f'\\x{min(bad):02x}'
      raise SearchError(f'{what} {path}: record {number} ({name.decode(errors="replace")}) '
                        f'has a character that is not an amino-acid letter: {char!r}')
    records.append((name, description.strip(), sequence.replace(b'*', b'').replace(b'.', b'')
                    .replace(b'-', b'')))
  return records


def load_database(path: str, what: str = 'database'):
  """The FASTA file as a pyhmmer DigitalSequenceBlock (cached); SearchError on bad input."""
  import pyhmmer  # pylint: disable=import-outside-toplevel
  raw_key = (os.path.abspath(path), *(_stat(path)))
  if raw_key in _CACHE:
    return _CACHE[raw_key]
  records = parse_fasta_bytes(_read(path, what), path, what)
  alphabet = amino_alphabet()
  block = pyhmmer.easel.TextSequenceBlock(
      pyhmmer.easel.TextSequence(name=name.decode(), description=description.decode(),
                                 sequence=sequence.decode().upper())
      for name, description, sequence in records).digitize(alphabet)
  if len(_CACHE) >= 4:  # bound the memory kept across calls
    _CACHE.clear()
  _CACHE[raw_key] = block
  return block


def _stat(path: str) -> Tuple[int, float]:
  try:
    st = os.stat(path)
    return st.st_size, st.st_mtime
  except OSError:
    return -1, -1.0


def check_database(path: str, what: str = 'database') -> None:
  """Up-front check: small files are read completely, large ones by their first 64 KiB."""
  size, _ = _stat(path)
  if size < STREAM_MIN_BYTES or path.endswith('.gz'):
    load_database(path, what)
    return
  with open(path, 'rb') as f:
    head = f.read(65536)
  records = head.rsplit(b'\n>', 1)[0] if b'\n>' in head else head
  parse_fasta_bytes(records, path, what)


@contextlib.contextmanager
def open_database(path: str, what: str = 'database') -> Iterator[object]:
  """Sequences to search: the cached block (small files) or a streamed SequenceFile (large)."""
  import pyhmmer  # pylint: disable=import-outside-toplevel
  size, _ = _stat(path)
  if size < STREAM_MIN_BYTES or path.endswith('.gz'):
    yield load_database(path, what)
    return
  check_database(path, what)
  with pyhmmer.easel.SequenceFile(path, digital=True, alphabet=amino_alphabet(),
                                  format='fasta') as sequences:
    yield sequences
