"""Structure-comparison metrics: RMSD, lDDT, TM-score, GDT (NumPy or jnp inputs)."""

from alphafold_jax.metrics.gdt import gdt_fractions, gdt_ha, gdt_ts
from alphafold_jax.metrics.lddt import lddt, lddt_ca
from alphafold_jax.metrics.rmsd import ca_rmsd, rmsd
from alphafold_jax.metrics.tm_score import tm_d0, tm_score, tm_score_fixed
