"""Error types of the NumPy feature pipeline.

Every bad-input condition in `data_pipeline` raises a subclass of `PipelineError`, which is a
`ValueError`, with a one-line message naming the problem (file/record/row/position where known).
Callers that want to skip bad entries catch `PipelineError`. It belongs to the project's one
family of user-facing errors, `alphafold_jax.common.errors.UserError` (no jax import).
"""

from alphafold_jax.common.errors import UserError


class PipelineError(UserError):
  """Base class of all data-pipeline input errors."""


class ParseError(PipelineError):
  """A FASTA / A3M / Stockholm / structure file could not be parsed."""


class InvalidSequenceError(PipelineError):
  """A sequence contains a character that is not a residue letter."""


class MsaError(PipelineError):
  """An MSA is empty, ragged, or does not match the query sequence."""


class FeatureError(PipelineError):
  """A feature dict is missing keys or has inconsistent shapes."""


class TemplateError(PipelineError):
  """A template input (hit file, mmCIF, obsolete list, template folder) is unusable."""


class SearchError(PipelineError):
  """A sequence search input (database, query, tool) is unusable."""
