"""Structure-comparison metrics (NumPy or jnp inputs).

Submodules (each named after its main function, so call e.g. `metrics.lddt.lddt(...)`):
  rmsd      `rmsd`, `ca_rmsd`            CA-RMSD after Kabsch superposition (jnp)
  lddt      `lddt`, `lddt_ca`            AF2 lDDT, global / per residue (jnp, loss-safe)
  tm_score  `tm_score`, `tm_d0`          TM-score with superposition search
  gdt       `gdt_ts`, `gdt_ha`           GDT with superposition search
The non-clashing helpers are re-exported here.
"""

from alphafold_jax.metrics import gdt, lddt, rmsd, tm_score
from alphafold_jax.metrics.gdt import gdt_fractions, gdt_ha, gdt_ts
from alphafold_jax.metrics.lddt import lddt_ca
from alphafold_jax.metrics.rmsd import ca_rmsd
from alphafold_jax.metrics.tm_score import tm_d0, tm_score_fixed
