"""Structure-comparison metrics (NumPy or jnp inputs).

  rmsd(pred, ref, mask)            CA-RMSD after Kabsch superposition (jnp)   rmsd.py
  ca_rmsd(pos37, pos37, mask)      same from atom37 arrays                    rmsd.py
  lddt(pred, ref, mask)            AF2 lDDT, global / per residue (jnp)       lddt.py
  lddt_ca(pos37, pos37, mask37)    lDDT-Ca from atom37 arrays                 lddt.py
  tm_score(pred, ref, mask)        TM-score with superposition search         tm_score.py
  gdt_ts / gdt_ha(pred, ref, mask) GDT with superposition search              gdt.py
  backbone_geometry(pos37, mask37, aatype, residue_index)
                                   peptide C-N / CA-CA figures, cis-Pro       backbone_geometry.py
  structural_violations.violation_report(aatype, pos37, mask37, residue_index)
                                   AF2's structural-violation figures (not re-exported here:
                                   it imports losses/, which imports metrics.lddt)

NOTE: the package attributes `rmsd`, `lddt`, `tm_score` are the FUNCTIONS (they
shadow the submodules of the same name); import from the submodule path for the
rest, e.g. `from alphafold_jax.metrics.tm_score import tm_d0`.
"""

from alphafold_jax.metrics.backbone_geometry import backbone_geometry
from alphafold_jax.metrics.gdt import gdt_fractions, gdt_ha, gdt_ts
from alphafold_jax.metrics.lddt import lddt, lddt_ca
from alphafold_jax.metrics.rmsd import ca_rmsd, rmsd
from alphafold_jax.metrics.tm_score import tm_d0, tm_score, tm_score_fixed
