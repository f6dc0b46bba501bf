"""AlphaFold-Multimer v2.3 (Evans et al. 2021): one block per file.

msa_sampling.py       in-model MSA sampling, BERT masking, cluster profiles (pure jnp)
relative_encoding.py  chain / entity / symmetry relative encoding
"""
