"""Template hits / structure files -> AF2 raw template features (NumPy + Biopython, no jax).

  mmcif.py          template mmCIF parsing (release date, SEQRES chains, resolved residues)
  hits.py           hit parsers: HHsearch .hhr, hmmsearch Stockholm / A3M
  filters.py        AF2's prefilters (date, obsolete ids, align ratio, duplicates, length)
  realign.py        kalign realignment of a hit to its mmCIF chain
  features.py       the featurizer (`TemplateFeaturizer`), empty features
  custom.py         custom templates: a folder of PDB/mmCIF files, globally aligned to the query
  mmcif_writer.py   one chain -> minimal template mmCIF (tests, benchmarks, local folders)
"""

from data_pipeline.templates.custom import custom_template_features
from data_pipeline.templates.features import (TEMPLATE_FEATURES, TemplateFeaturizer,
                                              TemplateResult, empty_template_features)
from data_pipeline.templates.filters import PrefilterSettings
from data_pipeline.templates.hits import (TemplateHit, parse_hhr, parse_hmmsearch_a3m,
                                          parse_hmmsearch_sto)

__all__ = ['TEMPLATE_FEATURES', 'PrefilterSettings', 'TemplateFeaturizer', 'TemplateHit',
           'TemplateResult', 'custom_template_features', 'empty_template_features',
           'parse_hhr', 'parse_hmmsearch_a3m', 'parse_hmmsearch_sto']
