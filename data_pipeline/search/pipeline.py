"""AF2's input pipeline: query -> MSA + template searches -> `msas/` -> raw feature dict.

    settings = SearchSettings(databases={'uniref90': 'uniref90.fasta', 'mgnify': 'mgy.fasta'},
                              pdb_seqres='pdb_seqres.txt', mmcif_dir='mmcif/',
                              max_template_date='2021-11-01')
    check_settings(settings)                      # every input checked before any search
    features = run_pipeline('T1', seq, 'T1 desc', 'out/T1/msas', settings)

`msas/` holds AF2's files (the names `run_alphafold.py` writes):
  uniref90_hits.sto   jackhmmer vs `uniref90` (at most 10,000 sequences)
  mgnify_hits.sto     jackhmmer vs `mgnify` (at most 501)
  small_bfd_hits.sto  jackhmmer vs `small_bfd` (AF2's reduced_dbs preset), when given
  bfd_uniref_hits.a3m hhblits vs `bfd` + `uniref30` (binary `hhblits` on PATH), when given
  pdb_hits.sto        hmmsearch of the uniref90 profile vs `pdb_seqres` (templates)
  pdb_hits.hhr        hhsearch vs `pdb70` (binary `hhsearch`), instead of pdb_seqres
With `use_precomputed_msas`, an existing file is read instead of running its search (also
pdb_hits.*; AF2 always reruns the template search), so a folder of alignments made elsewhere
(ColabFold, OpenFold, AF2) is used as is.

Features: AF2 sequence + MSA features of [uniref90, bfd (or small_bfd), mgnify] in that order
(`data_pipeline.make_raw_features`: duplicate rows dropped as DeepMind's AF2 v2.3), plus template
features: from hits (`templates.TemplateFeaturizer`, up to `max_template_hits` = 20; the model
uses the first 4), from a custom folder (`templates_dir`), or zero templates.
"""

import dataclasses
import logging
import os
from typing import Callable, Dict, List, Mapping, Optional

from data_pipeline import parsers
from data_pipeline.errors import PipelineError, SearchError, TemplateError
from data_pipeline.search import databases, hhsuite, hmmer
from data_pipeline.templates import custom
from data_pipeline.templates.features import TemplateFeaturizer, empty_template_features
from data_pipeline.templates.filters import parse_date
from data_pipeline.templates.hits import parse_hhr, parse_hmmsearch_sto, stockholm_to_a3m

log = logging.getLogger(__name__)

JACKHMMER_DATABASES = {'uniref90': ('uniref90_hits.sto', hmmer.UNIREF_MAX_HITS),
                       'mgnify': ('mgnify_hits.sto', hmmer.MGNIFY_MAX_HITS),
                       'small_bfd': ('small_bfd_hits.sto', None)}
HHBLITS_DATABASES = ('bfd', 'uniref30')
KNOWN_DATABASES = (*JACKHMMER_DATABASES, *HHBLITS_DATABASES, 'pdb70')


@dataclasses.dataclass(frozen=True)
class SearchSettings:
  """What to search and where the template structures are (see module docstring)."""
  databases: Mapping[str, str] = dataclasses.field(default_factory=dict)
  pdb_seqres: Optional[str] = None
  mmcif_dir: Optional[str] = None
  max_template_date: Optional[str] = None
  obsolete_pdbs: Optional[str] = None
  templates_dir: Optional[str] = None
  use_precomputed_msas: bool = False
  max_template_hits: int = 20
  cpus: int = 2


def check_settings(settings: SearchSettings) -> None:
  """Checks every database / template input exists and is usable; SearchError/TemplateError."""
  for name, path in settings.databases.items():
    if name not in KNOWN_DATABASES:
      raise SearchError(f'unknown database name {name!r} for {path} (known: '
                        f'{", ".join(KNOWN_DATABASES)})')
    if name in JACKHMMER_DATABASES:
      databases.check_database(path, f'{name} database')
  hh = [n for n in HHBLITS_DATABASES if n in settings.databases]
  if hh and len(hh) != len(HHBLITS_DATABASES):
    raise SearchError('hhblits needs both --db bfd=... and --db uniref30=...')
  template_sources = [bool(settings.pdb_seqres), 'pdb70' in settings.databases,
                      bool(settings.templates_dir)]
  if sum(template_sources) > 1:
    raise TemplateError('choose one template source: --pdb-seqres, --db pdb70=... or --templates')
  if settings.pdb_seqres or 'pdb70' in settings.databases:
    if settings.pdb_seqres:
      databases.check_database(settings.pdb_seqres, 'pdb_seqres')
      if 'uniref90' not in settings.databases:
        raise SearchError('the template search (--pdb-seqres) needs --db uniref90=... (its '
                          'profile is built from the uniref90 alignment)')
    if not settings.mmcif_dir or not settings.max_template_date:
      raise TemplateError('template search needs --mmcif-dir and --max-template-date')
    parse_date(settings.max_template_date)
    if not os.path.isdir(settings.mmcif_dir):
      raise TemplateError(f'{settings.mmcif_dir}: mmCIF directory not found')
  if settings.templates_dir:
    custom.check_template_folder(settings.templates_dir)


def _cached(path: str, settings: SearchSettings, run: Callable[[], str]) -> str:
  if settings.use_precomputed_msas and os.path.exists(path):
    log.info('reusing %s', path)
    with open(path) as f:
      return f.read()
  text = run()
  tmp = path + '.tmp'
  with open(tmp, 'w') as f:
    f.write(text)
  os.replace(tmp, path)
  return text


def run_searches(name: str, sequence: str, msa_dir: str, settings: SearchSettings,
                 progress: bool = False) -> Dict[str, str]:
  """Runs (or reuses) every configured search; {msas/ file name: text}."""
  from tqdm import tqdm  # pylint: disable=import-outside-toplevel
  os.makedirs(msa_dir, exist_ok=True)
  dbs = settings.databases
  steps: List[tuple] = []
  for db, (filename, cap) in JACKHMMER_DATABASES.items():
    if db in dbs:
      steps.append((filename, lambda db=db, cap=cap: hmmer.jackhmmer(
          name, sequence, dbs[db], cap, settings.cpus, f'{db} database')))
  if all(n in dbs for n in HHBLITS_DATABASES):
    steps.append(('bfd_uniref_hits.a3m', lambda: hhsuite.hhblits(
        name, sequence, [dbs[n] for n in HHBLITS_DATABASES], settings.cpus)))
  results: Dict[str, str] = {}
  with tqdm(total=len(steps) + bool(settings.pdb_seqres or 'pdb70' in dbs), unit='search',
            desc=f'{name} search', disable=not progress) as bar:
    for filename, run in steps:
      bar.set_postfix_str(filename)
      results[filename] = _cached(os.path.join(msa_dir, filename), settings, run)
      bar.update(1)
    if settings.pdb_seqres:
      bar.set_postfix_str('pdb_hits.sto')
      results['pdb_hits.sto'] = _cached(
          os.path.join(msa_dir, 'pdb_hits.sto'), settings,
          lambda: hmmer.hmmsearch_templates(hmmer.stockholm.truncate(
              results['uniref90_hits.sto'], hmmer.UNIREF_MAX_HITS), settings.pdb_seqres,
              settings.cpus))
      bar.update(1)
    elif 'pdb70' in dbs:
      bar.set_postfix_str('pdb_hits.hhr')
      a3m = stockholm_to_a3m(results['uniref90_hits.sto'])
      results['pdb_hits.hhr'] = _cached(os.path.join(msa_dir, 'pdb_hits.hhr'), settings,
                                        lambda: hhsuite.hhsearch(a3m, dbs['pdb70']))
      bar.update(1)
  if settings.use_precomputed_msas:  # alignments made elsewhere, no database given
    for filename in ('uniref90_hits.sto', 'bfd_uniref_hits.a3m', 'small_bfd_hits.sto',
                     'mgnify_hits.sto', 'pdb_hits.sto', 'pdb_hits.hhr'):
      path = os.path.join(msa_dir, filename)
      if filename not in results and os.path.exists(path):
        with open(path) as f:
          results[filename] = f.read()
  return results


def msas_from_results(results: Mapping[str, str], msa_dir: str = 'msas') -> List[parsers.Msa]:
  """Parsed MSAs in AF2's order: uniref90, bfd (hhblits or small_bfd), mgnify."""
  msas = []
  for filename in ('uniref90_hits.sto', 'bfd_uniref_hits.a3m', 'small_bfd_hits.sto',
                   'mgnify_hits.sto'):
    if filename in results:
      try:
        parse = parsers.parse_a3m if filename.endswith('.a3m') else parsers.parse_stockholm
        msas.append(parse(results[filename]))
      except PipelineError as e:
        raise SearchError(f'{os.path.join(msa_dir, filename)}: {e}') from None
  return msas


def template_features(sequence: str, results: Mapping[str, str], settings: SearchSettings,
                      msa_dir: str = 'msas'):
  """(template features, warnings) from pdb_hits.* or the custom folder; zero templates else."""
  if settings.templates_dir:
    features, _ = custom.custom_template_features(settings.templates_dir, sequence)
    return features, []
  hits_file = 'pdb_hits.sto' if 'pdb_hits.sto' in results else (
      'pdb_hits.hhr' if 'pdb_hits.hhr' in results else None)
  if hits_file is None or not settings.mmcif_dir:
    return empty_template_features(len(sequence)), []
  source = os.path.join(msa_dir, hits_file)
  if hits_file == 'pdb_hits.sto':
    hits = parse_hmmsearch_sto(sequence, results[hits_file], source=source)
  else:
    hits = parse_hhr(results[hits_file], source=source)
  featurizer = TemplateFeaturizer(settings.mmcif_dir, settings.max_template_date,
                                  max_hits=settings.max_template_hits,
                                  kind='hmmsearch' if hits_file.endswith('.sto') else 'hhsearch',
                                  obsolete_path=settings.obsolete_pdbs)
  result = featurizer.get_templates(sequence, hits)
  log.info('%d template(s) kept of %d hit(s): %s', len(result.kept), len(hits),
           ', '.join(result.kept) or '-')
  return result.features, result.warnings


def run_pipeline(name: str, sequence: str, description: str, msa_dir: str,
                 settings: SearchSettings, progress: bool = False) -> Dict[str, object]:
  """AF2's raw feature dict for one chain (sequence + MSA + template features)."""
  from data_pipeline.raw_features import make_raw_features  # pylint: disable=import-outside-toplevel
  results = run_searches(name, sequence, msa_dir, settings, progress)
  msas = msas_from_results(results, msa_dir)
  try:
    features = dict(make_raw_features(sequence, description, msas))
  except PipelineError as e:
    raise SearchError(f'{msa_dir}: {e}') from None
  templates, _ = template_features(sequence, results, settings, msa_dir)  # warnings logged there
  features.update(templates)
  return features
