"""Complex (AF2-Multimer) prediction: FASTA -> multi-chain PDB, confidence JSON with ipTM.

    alphafold-jax predict complex.fasta --preset model_1_multimer_v3 --params P.npz \
        [--msa [CHAIN=]FILE.a3m|.sto ...] [--num-samples K] [--seed S] [--out DIR]

Which records form a complex (the documented rule):
  * ColabFold style: a record whose sequence contains ':' is one complex, its chains separated
    by ':' (`>dimer` / `MKV...:GSH...`); when any record has ':', every record is a complex.
  * AF2 style: a file without ':' is ONE complex whose chains are its records, in order.
Chains get the ids A, B, C, ... in order. MSAs: `--msa A=FILE` attaches FILE to chain A of
every complex; a bare `--msa FILE` goes to every chain whose sequence is the file's query row.
Each chain's MSAs serve both as unpaired MSAs and as pairing MSAs (species from UniProt ids in
the descriptions, `data_pipeline.multimer`); a chain without an MSA runs single-sequence.

Complexes are padded to the length buckets of `predict` (`--buckets`) and their MSAs to a
multiple of 512 rows, so complexes of a bucket share one compiled model.

Files per complex NAME: NAME.pdb and NAME.cif (chains A, B, ... with residues 1..L_c, pLDDT
B-factors; the mmCIF is Biopython's atom_site only),
NAME.confidence.json (plddt, mean_plddt, ptm, iptm, ranking_confidence = 0.8 ipTM + 0.2 pTM,
chain ids and lengths, PAE), NAME.ranking.json (samples by ranking confidence, best first),
NAME.pae.png (with chain boundaries); plus OUT/summary.json. Bad input (an empty chain, an MSA
whose query matches no chain, too many chains) gives one error line and no files.
"""

from __future__ import annotations

import dataclasses
import io
import os
from typing import Dict, List, Sequence, Tuple

import numpy as np

from alphafold_jax.common import residues
from alphafold_jax.inference import outputs
from alphafold_jax.inference import targets as targets_lib
from alphafold_jax.inference.targets import (InputError, _read_text, check_sequence, read_msa,
                                             split_msa_spec, target_name)
from data_pipeline import parsers
from data_pipeline.errors import PipelineError
from data_pipeline.multimer import MAX_CHAINS, PDB_CHAIN_IDS, ChainInput, make_multimer_features


@dataclasses.dataclass(frozen=True)
class Complex:
  name: str
  sequences: Tuple[str, ...]
  msas: Tuple[Tuple[parsers.Msa, ...], ...] = ()

  @property
  def chain_ids(self) -> Tuple[str, ...]:
    return tuple(PDB_CHAIN_IDS[i] for i in range(len(self.sequences)))


def parse_complexes(text: str, source: str = '<string>') -> List[Complex]:
  """Complexes of a FASTA string by the rule of the module docstring."""
  sequences, descriptions = targets_lib.parse_fasta_records(text, source)
  if any(':' in s for s in sequences):
    groups = [(target_name(d, i), s.split(':'))
              for i, (s, d) in enumerate(zip(sequences, descriptions))]
  else:
    groups = [(target_name(descriptions[0], 0), list(sequences))]
  complexes = []
  for name, chains in groups:
    if len(chains) > MAX_CHAINS:
      raise InputError(f'complex {name!r} has {len(chains)} chains; at most {MAX_CHAINS} '
                       '(one PDB chain id each) are supported')
    checked = []
    for i, seq in enumerate(chains):
      chain = f'{name} chain {PDB_CHAIN_IDS[i]}'
      if not seq.strip('*'):
        raise InputError(f'{chain} is empty')
      checked.append(check_sequence(seq, chain))
    complexes.append(Complex(name, tuple(checked)))
  return complexes


def assign_msas(complexes: Sequence[Complex], msa_specs: Sequence[str]) -> List[Complex]:
  """Attach MSAs to chains (module docstring); queries must equal the chain sequences."""
  attached = [[[] for _ in c.sequences] for c in complexes]
  for spec in msa_specs:
    chain_id, path = split_msa_spec(spec)
    msa = read_msa(path)
    query = msa.sequences[0].upper()
    hits = 0
    for ci, cplx in enumerate(complexes):
      for k, (cid, seq) in enumerate(zip(cplx.chain_ids, cplx.sequences)):
        if chain_id is not None and cid != chain_id:
          continue
        if query != seq:
          if chain_id is not None:
            raise InputError(f'MSA file {path}: its query row does not match chain {cid} of '
                             f'complex {cplx.name!r}')
          continue
        attached[ci][k].append(msa)
        hits += 1
    if not hits:
      raise InputError(f'MSA file {path}: its query row matches no chain'
                       + (f' {chain_id}' if chain_id else '') + ' of the complex(es)')
  return [dataclasses.replace(c, msas=tuple(tuple(m) for m in found))
          for c, found in zip(complexes, attached)]


def complex_features(cplx: Complex) -> Dict[str, np.ndarray]:
  msas = cplx.msas or tuple(() for _ in cplx.sequences)
  chains = [ChainInput(seq, f'{cplx.name}_{cid}', msas=list(m), pairing_msas=list(m))
            for cid, seq, m in zip(cplx.chain_ids, cplx.sequences, msas)]
  try:
    return make_multimer_features(chains)
  except PipelineError as e:
    raise InputError(f'complex {cplx.name!r}: {e}') from None


def input_order(cplx: Complex, example: Dict[str, np.ndarray]) -> np.ndarray:
  """Residue permutation [N] from the model's order back to the FASTA chain order.

  The merged example groups copies of a sequence together (AF2's entity order: asym_id 1, 2
  for the copies of the first sequence, ...); outputs are written in the input order instead,
  so chain A is always the first sequence of the record.
  """
  entity_of, copies, asym_of_chain = {}, {}, []
  for seq in cplx.sequences:
    entity_of.setdefault(seq, len(entity_of))
    copies[seq] = copies.get(seq, 0) + 1
  order = sorted(((entity_of[s], k) for s in entity_of for k in range(copies[s])))
  asym_by_key = {key: i + 1 for i, key in enumerate(order)}
  seen = {}
  for seq in cplx.sequences:
    asym_of_chain.append(asym_by_key[(entity_of[seq], seen.get(seq, 0))])
    seen[seq] = seen.get(seq, 0) + 1
  asym = np.asarray(example['asym_id'])
  return np.concatenate([np.flatnonzero(asym == a) for a in asym_of_chain])


def to_multichain_pdb(cplx: Complex, positions: np.ndarray, atom_mask: np.ndarray,
                      plddt: np.ndarray, fmt: str = 'pdb') -> str:
  """PDB (or mmCIF, fmt='cif': Biopython's atom_site) text: one chain per sequence (ids A, B,
  ...), residues 1..L_c, pLDDT B-factors."""
  from Bio.PDB import MMCIFIO, PDBIO  # pylint: disable=import-outside-toplevel
  from Bio.PDB.Atom import Atom
  from Bio.PDB.Chain import Chain
  from Bio.PDB.Model import Model
  from Bio.PDB.Residue import Residue
  from Bio.PDB.Structure import Structure
  from alphafold_jax.common import atoms
  structure, model = Structure(cplx.name), Model(0)
  structure.add(model)
  start = 0
  for cid, seq in zip(cplx.chain_ids, cplx.sequences):
    chain = Chain(cid)
    model.add(chain)
    for j, letter in enumerate(seq):
      i = start + j
      resname = residues.restype_1to3.get(letter, 'UNK')
      residue = Residue((' ', j + 1, ' '), resname, '    ')
      for slot in np.nonzero(atom_mask[i] > 0.5)[0]:
        name = atoms.atom_types[slot]
        residue.add(Atom(name, positions[i, slot].astype(np.float32), float(plddt[i]), 1.0,
                         ' ', name if len(name) == 4 else f' {name:<3}', 1, element=name[0]))
      chain.add(residue)
    start += len(seq)
  pdbio = MMCIFIO() if fmt == 'cif' else PDBIO()
  pdbio.set_structure(structure)
  out = io.StringIO()
  pdbio.save(out)
  return out.getvalue()


def confidence_json(cplx: Complex, pred: dict, seed: int, extra: dict) -> dict:
  plddt = outputs.round_plddt(pred['plddt'])
  out = {'name': cplx.name, 'chain_ids': list(cplx.chain_ids),
         'chain_lengths': [len(s) for s in cplx.sequences], 'seed': seed,
         'plddt': plddt.tolist(), 'mean_plddt': round(float(np.mean(plddt)), 2), **extra}
  for key in ('ptm', 'iptm', 'ranking_confidence'):
    if key in pred:
      out[key] = round(float(pred[key]), 4)
  if 'predicted_aligned_error' in pred:
    out['predicted_aligned_error'] = np.round(pred['predicted_aligned_error'], 2).tolist()
    out['max_predicted_aligned_error'] = round(float(pred['max_predicted_aligned_error']), 2)
  return out


def plot_pae_with_chains(pae: np.ndarray, lengths: Sequence[int], path: str, title: str):
  from alphafold_jax.inference import plots  # pylint: disable=import-outside-toplevel
  fig = plots._figure(5.5, 4.6)  # pylint: disable=protected-access
  ax = fig.add_subplot(1, 1, 1)
  n = pae.shape[0]
  image = ax.imshow(pae, cmap='Greens_r', vmin=0.0, vmax=float(np.max(pae)),
                    extent=(0.5, n + 0.5, n + 0.5, 0.5), interpolation='nearest')
  fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04).set_label('Expected position error (A)')
  for b in np.cumsum(lengths)[:-1]:  # chain boundaries
    ax.axhline(b + 0.5, color='black', linewidth=1.0)
    ax.axvline(b + 0.5, color='black', linewidth=1.0)
  ax.set_xlabel('Scored residue')
  ax.set_ylabel('Aligned residue')
  ax.set_title(f'{title}  predicted aligned error')
  fig.tight_layout()
  fig.savefig(path, format='png')


def run(args, preset: str) -> int:
  """The `predict` command for a multimer preset (see the module docstring)."""
  # pylint: disable=import-outside-toplevel
  from alphafold_jax.config import model_config
  from alphafold_jax.model import RunModel
  from alphafold_jax.params import ParamsError, load_alphafold_params
  if args.num_samples < 1:
    raise InputError(f'--num-samples must be >= 1, got {args.num_samples}')
  if args.checkpoint is not None:
    raise InputError('multimer presets read --params FILE.npz (no --checkpoint)')
  if args.params is None:
    raise InputError(f'preset {preset} needs --params FILE.npz (e.g. params_{preset}.npz)')
  complexes = assign_msas(parse_complexes(_read_text(args.fasta, 'FASTA file'), args.fasta),
                          args.msa)
  # Length buckets (padded residues and MSA rows are masked and leave real outputs unchanged,
  # tests/model/multimer/test_multimer_padding.py): complexes of a bucket share one compile.
  from alphafold_jax.inference.predict import DEFAULT_BUCKETS, bucket_length, parse_buckets
  from data_pipeline.multimer.cropping import pad_complex
  from data_pipeline.multimer.merging import MIN_MSA_ROWS, pad_msa
  buckets = parse_buckets(args.buckets) if args.buckets else DEFAULT_BUCKETS
  features = []
  for cplx in complexes:
    feats = complex_features(cplx)
    rows = -(-feats['msa'].shape[0] // MIN_MSA_ROWS) * MIN_MSA_ROWS
    features.append(pad_msa(pad_complex(feats, bucket_length(len(feats['aatype']), buckets)),
                            rows))
  overrides = {} if args.num_recycle is None else {'num_recycle': args.num_recycle}
  model = RunModel(model_config(preset, **overrides))
  try:
    model.params = load_alphafold_params(args.params, expected=model.param_shapes(features[0]))
  except ParamsError as e:
    raise InputError(str(e).splitlines()[0] + ' (see the parameter names with --params)') from None
  summary = {'preset': preset, 'params': args.params, 'complexes': []}
  with outputs.atomic_output_dir(args.out) as tmp:
    for cplx, feats in zip(complexes, features):
      preds = [(args.seed + k, model.predict(feats, random_seed=args.seed + k))
               for k in range(args.num_samples)]
      order = sorted(range(len(preds)), key=lambda k: -float(preds[k][1].get(
          'ranking_confidence', np.mean(preds[k][1]['plddt']))))
      seed, best = preds[order[0]]
      perm = input_order(cplx, feats)
      assert ''.join(residues.restypes_with_x[a] for a in feats['aatype'][perm]) == \
          ''.join(cplx.sequences)
      best = {k: (v[perm][:, perm] if k == 'predicted_aligned_error' else
                  v[perm] if k in ('final_atom_positions', 'final_atom_mask', 'plddt') else v)
              for k, v in best.items()}
      for fmt in ('pdb', 'cif'):
        with open(os.path.join(tmp, f'{cplx.name}.{fmt}'), 'w', encoding='utf-8') as f:
          f.write(to_multichain_pdb(cplx, best['final_atom_positions'], best['final_atom_mask'],
                                    outputs.round_plddt(best['plddt']), fmt))
      info = confidence_json(cplx, best, seed, {'preset': preset})
      outputs.write_json(os.path.join(tmp, f'{cplx.name}.confidence.json'), info)
      outputs.write_json(os.path.join(tmp, f'{cplx.name}.ranking.json'), {
          'order': [preds[k][0] for k in order],
          'ranking_confidence': [round(float(preds[k][1].get('ranking_confidence', 0.0)), 4)
                                 for k in order]})
      if not args.no_plots and 'predicted_aligned_error' in best:
        plot_pae_with_chains(best['predicted_aligned_error'], info['chain_lengths'],
                             os.path.join(tmp, f'{cplx.name}.pae.png'), cplx.name)
      summary['complexes'].append({k: info[k] for k in (
          'name', 'chain_ids', 'chain_lengths', 'mean_plddt', 'ptm', 'iptm',
          'ranking_confidence') if k in info})
      print(f'{cplx.name}: chains {",".join(cplx.chain_ids)} '
            f'({"+".join(str(len(s)) for s in cplx.sequences)} residues), '
            f'ipTM {info.get("iptm", float("nan")):.3f}, pTM {info.get("ptm", float("nan")):.3f}, '
            f'mean pLDDT {info["mean_plddt"]:.2f}')
    outputs.write_json(os.path.join(tmp, 'summary.json'), summary)
  print(f'wrote {len(complexes)} complex(es) to {args.out}')
  return 0
