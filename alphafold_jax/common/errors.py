"""The one error family of user-facing failures.

`UserError` (a ValueError) is raised for anything a user can fix: a bad input file, a bad
flag, parameters or structures with bad numbers, an output directory that cannot be written,
a target that does not fit in memory. Its message is ONE line naming the file or flag and the
problem. The CLI (`alphafold_jax/cli/__init__.py`) prints it as
`alphafold-jax <command>: error: <message>` and exits with code 2; any other exception that
escapes a command is a bug (printed as one `internal error` line, exit code 1).

Members: data_pipeline.errors.PipelineError (parsers, features), common.structure_io.StructureError,
params.ParamsError, inference.targets.InputError, inference.predict.MemoryEstimateError,
inference.outputs.OutputError, training.data.DataError, training.checkpoints.CheckpointError,
metrics.scoring.ScoreError, inference.evaluate.EvaluateError. Other ValueErrors raised on user
input (config/preset errors) are reported the same way by the CLI.
"""


class UserError(ValueError):
  """A failure the user can fix; the message is one line naming the file/flag and problem."""


def one_line(message: object) -> str:
  """The message with all whitespace (newlines included) collapsed to single spaces."""
  return ' '.join(str(message).split())
