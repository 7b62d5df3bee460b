"""Behaviour shared by the command-line entry points; import it before anything that imports TensorFlow.

TensorFlow's C++ core prints start-up lines to stderr while it loads ("This TensorFlow binary is optimized
to use available CPU instructions...", oneDNN's "custom operations are on", CUDA's "Unable to register
cuDNN factory" on GPU builds) and later INFO/WARNING lines about its own internals. They are noise to a
user of these commands, so importing this module sets TF_CPP_MIN_LOG_LEVEL, which TensorFlow reads once
when its library loads, by this rule:

  - TF_CPP_MIN_LOG_LEVEL already set in the environment: left as the user set it;
  - else `--verbosity=N` (or `-v N`, absl's flag) on the command line: N >= 0 (absl INFO or DEBUG) shows
    everything ("0"), -1 (WARNING) hides INFO ("1"), -2 (ERROR) hides warnings too ("2"), -3 hides errors;
  - else "2": the C++ core's INFO and WARNING lines are hidden, its errors still shown.

`--verbosity` in a --flagfile is not seen here (it is read before the flags are parsed). The rule only
takes effect when this module is imported before TensorFlow is, which every CLI in zoo/ must do.
TF_ENABLE_ONEDNN_OPTS is not touched: it changes the arithmetic, not only what is printed.
"""
import os
import sys

from absl import flags, logging

DEFAULT_TF_CPP_MIN_LOG_LEVEL = "2"


def tf_cpp_min_log_level(argv, environ) -> str:
  """The TF_CPP_MIN_LOG_LEVEL the rule above gives for this command line and environment."""
  if environ.get("TF_CPP_MIN_LOG_LEVEL"):
    return environ["TF_CPP_MIN_LOG_LEVEL"]
  verbosity = _verbosity_flag(argv)
  if verbosity is None:
    return DEFAULT_TF_CPP_MIN_LOG_LEVEL
  return str(min(3, max(0, -verbosity)))


def _verbosity_flag(argv):
  """The last --verbosity/-v value on the command line as an int (absl's names accepted), else None."""
  names = {"debug": 1, "info": 0, "warning": -1, "warn": -1, "error": -2, "fatal": -3}
  value = None
  for index, arg in enumerate(argv[1:], start=1):
    if arg == "--":
      break
    for flag in ("--verbosity", "-verbosity", "--v", "-v"):
      if arg.startswith(flag + "="):
        value = arg[len(flag) + 1:]
      elif arg == flag and index + 1 < len(argv):
        value = argv[index + 1]
  if value is None:
    return None
  value = value.strip().lower()
  if value in names:
    return names[value]
  try:
    return int(value)
  except ValueError:
    return None  # absl will reject it with its own message


def quiet_tensorflow_cpp_logs(argv=None, environ=None):
  """Sets TF_CPP_MIN_LOG_LEVEL by the rule above; called on import, so before TensorFlow loads."""
  environ = os.environ if environ is None else environ
  environ["TF_CPP_MIN_LOG_LEVEL"] = tf_cpp_min_log_level(sys.argv if argv is None else argv, environ)


quiet_tensorflow_cpp_logs()


def quiet_library_logs():
  """TFDS and TF log INFO lines through absl; keep the terminal for our own output unless asked."""
  if not flags.FLAGS["verbosity"].present:
    logging.set_verbosity(logging.WARNING)
