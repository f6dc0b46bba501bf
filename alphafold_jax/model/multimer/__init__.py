"""AlphaFold-Multimer v2.3 (Evans et al. 2021): one block per file.

msa_sampling.py             in-model MSA sampling, BERT masking, cluster profiles (pure jnp)
relative_encoding.py        chain / entity / symmetry relative encoding
templates.py                multimer template pair embedding and chi-angle template rows
embeddings_and_evoformer.py the trunk (scope 'evoformer'): embeddings, extra-MSA and Evoformer
ipa.py                      IPA with global point projections
structure_module.py         the multimer structure module on our `Rigid`
alphafold.py                iteration (trunk, structure module, heads), recycling, ipTM

Presets: `model_{1..5}_multimer_v3` (and `_v2`), `tiny_multimer` (alphafold_jax.config);
input features: `data_pipeline.multimer`; run with `alphafold_jax.model.RunModel`.
"""
