"""AlphaFold2-compatible facade: every `alphafold.common.residue_constants` name in one place.

The constants live in topic modules; this module only re-exports them under AF2's names so
code written against `alphafold.common.residue_constants` works unchanged:

  residues.py          restypes, 1<->3 letter maps, HHblits alphabet, sequence_to_onehot
  atoms.py             atom37 / atom14 encodings, masks, gather maps, ambiguous atoms
  rigid_groups.py      8 rigid groups, literature positions, default frames, chi angles
  stereo_chemistry.py  bond lengths/angles, vdW radii, peptide-bond constants, bounds

Values equal AlphaFold2 v2.3 (tested against the oracle in
tests/common/test_residue_constants.py). Pure NumPy: safe to import from data_pipeline.
"""

# pylint: disable=unused-import
from alphafold_jax.common.residues import (
    HHBLITS_AA_TO_ID,
    ID_TO_HHBLITS_AA,
    MAP_HHBLITS_AATYPE_TO_OUR_AATYPE,
    POLYMER_CHAIN,
    PROTEIN_CHAIN,
    aatype_from_sequence,
    ca_ca,
    resname_to_idx,
    resnames,
    restype_1to3,
    restype_3to1,
    restype_num,
    restype_order,
    restype_order_with_x,
    restypes,
    restypes_with_x,
    restypes_with_x_and_gap,
    sequence_from_aatype,
    sequence_to_onehot,
    unk_restype,
    unk_restype_index,
)
from alphafold_jax.common.atoms import (
    STANDARD_ATOM_MASK,
    atom_id_to_type,
    atom_order,
    atom_type_num,
    atom_types,
    residue_atom_renaming_swaps,
    residue_atoms,
    restype_atom14_is_ambiguous,
    restype_atom14_mask,
    restype_atom14_renaming_matrices,
    restype_atom14_to_atom37,
    restype_atom37_mask,
    restype_atom37_to_atom14,
    restype_name_to_atom14_names,
)
from alphafold_jax.common.rigid_groups import (
    NUM_RIGID_GROUPS,
    chi_angles_atom_indices,
    chi_angles_atom_indices_with_unk,
    chi_angles_atoms,
    chi_angles_mask,
    chi_angles_mask_with_unk,
    chi_angle_atom,
    chi_atom_1_one_hot,
    chi_atom_2_one_hot,
    chi_groups_for_atom,
    chi_pi_periodic,
    chi_pi_periodic_with_unk,
    restype_atom14_rigid_group_positions,
    restype_atom14_to_rigid_group,
    restype_atom37_rigid_group_positions,
    restype_atom37_to_rigid_group,
    restype_rigid_group_default_frame,
    restype_rigidgroup_ambiguity_rots,
    restype_rigidgroup_base_atom37_idx,
    restype_rigidgroup_base_atom_names,
    restype_rigidgroup_is_ambiguous,
    restype_rigidgroup_mask,
    rigid_group_atom_positions,
)
from alphafold_jax.common.stereo_chemistry import (
    Bond,
    BondAngle,
    between_res_bond_length_c_n,
    between_res_bond_length_stddev_c_n,
    between_res_cos_angles_c_n_ca,
    between_res_cos_angles_ca_c_n,
    load_nonbonded_min_distances,
    load_stereo_chemical_props,
    make_atom14_dists_bounds,
    van_der_waals_radius,
)
