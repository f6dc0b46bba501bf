"""AF2 output heads, one per file (Jumper et al. 2021, Suppl. Sec. 1.9.6-1.9.10).

| head                       | AF2 module name                | input                     |
|----------------------------|--------------------------------|---------------------------|
| DistogramHead              | distogram_head                 | pair [N, N, c_z]          |
| MaskedMsaHead              | masked_msa_head                | msa [S, N, c_m]           |
| PredictedLDDTHead          | predicted_lddt_head            | structure-module act [N, c] |
| PredictedAlignedErrorHead  | predicted_aligned_error_head   | pair [N, N, c_z]          |
| ExperimentallyResolvedHead | experimentally_resolved_head   | single [N, c_s]           |

Confidence post-processing (`compute_plddt`, `compute_predicted_aligned_error`,
`predicted_tm_score`) and the bin layouts live in `alphafold_jax.common.confidence`, shared with
the losses; re-exported here. A head whose loss weight is 0 is not built (as in AF2).
"""

from alphafold_jax.common.confidence import (compute_plddt, compute_predicted_aligned_error,
                                             distogram_bin_edges, pae_breaks, predicted_tm_score,
                                             tm_score_d0)
from alphafold_jax.model.heads.distogram import DistogramHead, DistogramHeadConfig
from alphafold_jax.model.heads.experimentally_resolved import (
    ExperimentallyResolvedHead, ExperimentallyResolvedHeadConfig)
from alphafold_jax.model.heads.masked_msa import MaskedMsaHead, MaskedMsaHeadConfig
from alphafold_jax.model.heads.predicted_aligned_error import (PredictedAlignedErrorHead,
                                                               PredictedAlignedErrorHeadConfig)
from alphafold_jax.model.heads.predicted_lddt import PredictedLDDTHead, PredictedLDDTHeadConfig
