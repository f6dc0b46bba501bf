"""`alphafold-jax features`: FASTA -> MSA + template searches -> AF2 `msas/` + features.pkl.

    alphafold-jax features IN.fasta --db uniref90=FASTA [--db mgnify=FASTA] [--db small_bfd=F]
        [--db bfd=HHDB --db uniref30=HHDB]            (hhblits, when on PATH)
        [--pdb-seqres pdb_seqres.txt --mmcif-dir DIR --max-template-date YYYY-MM-DD
         [--obsolete-pdbs obsolete.dat] | --db pdb70=HHDB ... | --templates DIR]
        [--use-precomputed-msas] [--cpus N] --out OUT

For every FASTA record NAME: OUT/NAME/msas/{uniref90_hits.sto, mgnify_hits.sto,
bfd_uniref_hits.a3m, pdb_hits.sto|pdb_hits.hhr} and OUT/NAME/features.pkl, the raw feature dict
AF2's `run_alphafold.py` pickles (sequence, MSA and template features; see
data_pipeline/search/pipeline.py). features.pkl is written to a temporary file and renamed, so
a failure never leaves a partial pickle; every input (databases, template folder, date) is
checked before the first search. `--templates DIR` uses the PDB/mmCIF files of DIR as templates
(global alignment to the query, data_pipeline/templates/custom.py) instead of a search.

`predict` takes the same flags (`add_feature_arguments`) plus `--features features.pkl`;
`raw_features_for_targets(args, targets)` builds its raw features from them.

Registration: `register(subparsers)` adds the subcommand; `run(args)` executes it.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from typing import Dict, Sequence

from data_pipeline.feature_io import read_features_pickle, write_features_pickle

log = logging.getLogger('alphafold_jax.inference.features')

_FEATURE_FLAGS = ('db', 'pdb_seqres', 'mmcif_dir', 'max_template_date', 'obsolete_pdbs',
                  'templates', 'use_precomputed_msas')


def add_feature_arguments(parser: argparse.ArgumentParser, predict: bool = False) -> None:
  """The search / template flags shared by `features` and `predict`."""
  group = parser.add_argument_group('sequence search and templates')
  group.add_argument('--db', action='append', default=[], metavar='NAME=PATH',
                     help='database to search: uniref90, mgnify, small_bfd (FASTA, jackhmmer); '
                          'bfd + uniref30 (hhblits), pdb70 (hhsearch); repeatable')
  group.add_argument('--pdb-seqres', default=None, metavar='FILE',
                     help='pdb_seqres.txt for the hmmsearch template search')
  group.add_argument('--mmcif-dir', default=None, metavar='DIR',
                     help='template structures <pdbid>.cif')
  group.add_argument('--max-template-date', default=None, metavar='YYYY-MM-DD',
                     help='templates released after this date are not used')
  group.add_argument('--obsolete-pdbs', default=None, metavar='FILE',
                     help="PDB's obsolete.dat (obsolete template ids -> replacements)")
  group.add_argument('--templates', default=None, metavar='DIR',
                     help='custom templates: a folder of PDB/mmCIF files (no search)')
  group.add_argument('--use-precomputed-msas', action='store_true',
                     help='reuse files already in the msas/ folder instead of searching')
  group.add_argument('--cpus', type=int, default=2, metavar='N',
                     help='threads per search (default 2)')
  if predict:
    group.add_argument('--features', default=None, metavar='[NAME=]features.pkl',
                       action='append',
                       help='precomputed raw features (from `features`) for a target; '
                            'repeatable')
    group.add_argument('--msa-dir', default=None, metavar='DIR',
                       help='where searches write <name>/msas/ (default: OUT/msas)')


def register(subparsers) -> argparse.ArgumentParser:
  """Adds `features` to an argparse subparsers object; sets func=run."""
  parser = subparsers.add_parser('features', help='search MSAs + templates, write features.pkl',
                                 description=__doc__.split('\n\n')[0])
  parser.add_argument('fasta', metavar='IN.fasta', help='FASTA file, one target per record')
  add_feature_arguments(parser)
  parser.add_argument('--out', required=True, metavar='DIR', help='output directory')
  parser.add_argument('--quiet', action='store_true', help='no progress bar or log lines')
  parser.set_defaults(func=run)
  return parser


def settings_from_args(args):
  """SearchSettings of the parsed flags (checked: databases exist, are not empty, ...)."""
  # pylint: disable=import-outside-toplevel
  from data_pipeline.search import SearchSettings, check_settings
  from data_pipeline.errors import SearchError
  dbs = {}
  for spec in args.db:
    name, sep, path = spec.partition('=')
    if not sep or not name or not path:
      raise SearchError(f'--db expects NAME=PATH, got {spec!r}')
    if name in dbs:
      raise SearchError(f'--db {name} given twice')
    dbs[name] = path
  if args.cpus < 1:
    raise SearchError(f'--cpus must be >= 1, got {args.cpus}')
  settings = SearchSettings(databases=dbs, pdb_seqres=args.pdb_seqres, mmcif_dir=args.mmcif_dir,
                            max_template_date=args.max_template_date,
                            obsolete_pdbs=args.obsolete_pdbs, templates_dir=args.templates,
                            use_precomputed_msas=args.use_precomputed_msas, cpus=args.cpus)
  check_settings(settings)
  return settings


def wants_search(args) -> bool:
  return bool(args.db or args.pdb_seqres or args.templates or args.use_precomputed_msas)


def raw_features_for_target(args, name: str, sequence: str, description: str, msa_dir: str,
                            settings=None) -> dict:
  """Raw features of one target from the search / template flags (searches run here)."""
  from data_pipeline.search import run_pipeline  # pylint: disable=import-outside-toplevel
  settings = settings_from_args(args) if settings is None else settings
  return run_pipeline(name, sequence, description, msa_dir, settings,
                      progress=not getattr(args, 'quiet', False))


def raw_features_for_targets(args, targets: Sequence, raw: Dict[str, dict],
                             out_dir: str) -> Dict[str, dict]:
  """`predict`: raw features per target name from --features / search flags, else `raw`."""
  from data_pipeline.errors import FeatureError  # pylint: disable=import-outside-toplevel
  raw = dict(raw)
  by_name = {t.name: t for t in targets}
  from_pickle = set()
  for spec in getattr(args, 'features', None) or []:
    name, sep, path = spec.partition('=')
    if not sep or os.path.exists(spec):
      name, path = None, spec
    if name is None:
      if len(targets) != 1:
        raise FeatureError(f'--features {spec}: several targets; use --features NAME={spec}')
      name = targets[0].name
    if name not in by_name:
      raise FeatureError(f'--features {spec}: no target named {name!r}')
    raw[name] = read_features_pickle(path, by_name[name].sequence)
    from_pickle.add(name)
  if wants_search(args):
    settings = settings_from_args(args)  # every input checked before the first search
    msa_root = args.msa_dir or os.path.join(out_dir, 'msas')
    for target in targets:
      if target.name not in from_pickle:
        raw[target.name] = raw_features_for_target(
            args, target.name, target.sequence, target.description,
            os.path.join(msa_root, target.name, 'msas'), settings)
  return raw


def run(args: argparse.Namespace) -> int:
  """Executes `features`; input problems raise PipelineError/ValueError (exit 2, no pickle)."""
  # pylint: disable=import-outside-toplevel
  from alphafold_jax.inference import targets as targets_lib
  package_log = logging.getLogger('alphafold_jax')
  pipeline_log = logging.getLogger('data_pipeline')
  handler = None
  if not args.quiet:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter('%(asctime)s %(message)s', '%H:%M:%S'))
    for logger in (package_log, pipeline_log):
      logger.addHandler(handler)
      logger.setLevel(logging.INFO)
  try:
    target_list = targets_lib.read_targets(args.fasta)
    settings = settings_from_args(args)
    for target in target_list:
      folder = os.path.join(args.out, target.name)
      features = raw_features_for_target(args, target.name, target.sequence,
                                         target.description, os.path.join(folder, 'msas'),
                                         settings)
      path = os.path.join(folder, 'features.pkl')
      write_features_pickle(features, path)
      num_templates = sum(1 for n in features['template_domain_names'] if n)
      print(f'{target.name}: {len(target)} residues, {features["msa"].shape[0]} MSA rows, '
            f'{num_templates} template(s) -> {path}')
    return 0
  finally:
    if handler is not None:
      for logger in (package_log, pipeline_log):
        logger.removeHandler(handler)
