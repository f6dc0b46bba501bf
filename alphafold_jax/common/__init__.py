"""Residue constants (split by topic, AF2 facade in residue_constants.py) and Protein I/O."""
