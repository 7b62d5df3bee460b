"""Behaviour shared by the command-line entry points."""
from absl import flags, logging


def quiet_library_logs():
  """TFDS and TF log INFO lines through absl; keep the terminal for our own output unless asked."""
  if not flags.FLAGS["verbosity"].present:
    logging.set_verbosity(logging.WARNING)
