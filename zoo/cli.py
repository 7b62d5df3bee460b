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

Some start-up lines ignore that level (absl prints them before its logging is set up, e.g. oneDNN's
banner on CPUs with AVX512-BF16), so unless the level is "0" the first import of TensorFlow runs with
those known lines filtered out of stderr; any other line it prints is kept.
`--verbosity` in a --flagfile is not seen here (it is read before the flags are parsed). The rule only
takes effect when this module is imported before TensorFlow is, which every CLI in zoo/ must do.
TF_ENABLE_ONEDNN_OPTS is not touched: it changes the arithmetic, not only what is printed.

`deferred_imports()` makes the modules imported inside it take TensorFlow, Keras and TFDS without loading
them: zoo.train imports the configuration and the model registry there to define its flags, so --help and
flag errors are answered in a fraction of a second, not after the seconds TensorFlow takes to load.

`run(main, define_flags)` is every CLI's entry point (`python -m zoo.X` and the console script `zoo-X`):
absl's app.run, except that --help/-h/--helpshort/--helpfull print the module's docstring and its flags
to stdout and exit 0 (absl exits 1), a bad flag is one `error: ...` line, Ctrl-C is one line with status
130, and a closed pipe (`... --help | head`) ends quietly. `fail(error)` exits with an error's one line.
"""
import contextlib
import importlib.abc
import importlib.util
import os
import re
import sys
import tempfile
import types

from absl import app, flags, logging


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

# What TensorFlow's C++ core prints while it loads, whatever TF_CPP_MIN_LOG_LEVEL says: absl logs these
# before its logging is initialised (TF 2.21 on a oneDNN CPU prints the oneDNN line twice).
_START_UP_NOISE = re.compile(
    r"All log messages before absl::InitializeLog\(\) is called are written to STDERR"
    r"|oneDNN custom operations are on"
    r"|This TensorFlow binary is optimized to use available CPU instructions"
    r"|To enable the following instructions: .*rebuild TensorFlow"
    r"|Unable to register cu(DNN|FFT|BLAS) factory"
    r"|computation placer already registered"
    r"|TF-TRT Warning: Could not find TensorRT")


class _QuietTensorFlowImport(importlib.abc.MetaPathFinder):
  """Finds `tensorflow` once, the first time it is imported, and loads it with its start-up lines
  filtered out of stderr (file descriptor 2, where C++ writes them); every other line is kept."""

  def find_spec(self, name, path, target=None):
    if name != "tensorflow":
      return None
    sys.meta_path.remove(self)
    spec = importlib.util.find_spec(name)
    if spec is not None and spec.loader is not None:
      load = spec.loader.exec_module
      spec.loader.exec_module = lambda module: _without_start_up_noise(load, module)
    return spec


def _without_start_up_noise(load, module):
  sys.stderr.flush()
  saved = os.dup(2)
  with tempfile.TemporaryFile() as captured:
    os.dup2(captured.fileno(), 2)
    try:
      load(module)
    finally:
      os.dup2(saved, 2)
      os.close(saved)
      captured.seek(0)
      kept = [line for line in captured.read().decode("utf-8", "replace").splitlines(keepends=True)
              if not _START_UP_NOISE.search(line)]
      sys.stderr.write("".join(kept))
      sys.stderr.flush()


if os.environ["TF_CPP_MIN_LOG_LEVEL"] != "0" and "tensorflow" not in sys.modules:
  sys.meta_path.insert(0, _QuietTensorFlowImport())

# What a command needs only once it runs, never to parse its flags; each takes seconds to load.
DEFERRED = ("tensorflow", "keras", "tensorflow_datasets")


class _DeferredImport(importlib.abc.MetaPathFinder):
  """Imports the DEFERRED modules without running their code (_DeferredLoader); other finders, the quiet
  one above included, still say where the code is and how it loads."""

  def find_spec(self, name, path, target=None):
    if name not in DEFERRED:
      return None
    sys.meta_path.remove(self)
    try:
      spec = importlib.util.find_spec(name)
    finally:
      sys.meta_path.insert(0, self)
    if spec is not None and spec.loader is not None:
      spec.loader = _DeferredLoader(spec.loader)
    return spec


class _DeferredLoader(importlib.abc.Loader):
  """importlib.util.LazyLoader's idea: the module is made and bound now, its code runs on first use.
  LazyLoader's module runs it when `__spec__` is read, which every later `import tensorflow` statement
  does (Python 3.11), so it would load at the second module importing TensorFlow; _DeferredModule waits."""

  def __init__(self, loader):
    self.loader = loader

  def create_module(self, spec):
    return self.loader.create_module(spec)

  def exec_module(self, module):
    module.__spec__.loader = module.__loader__ = self.loader  # what runs the code, later
    module.__class__ = _DeferredModule


class _DeferredModule(types.ModuleType):
  """A module whose code runs, once, when an attribute other than `__spec__` is first read."""

  def __getattribute__(self, name):
    spec = object.__getattribute__(self, "__spec__")
    if name == "__spec__":
      return spec
    self.__class__ = types.ModuleType
    spec.loader.exec_module(self)
    return getattr(self, name)


@contextlib.contextmanager
def deferred_imports():
  """Within it, a first import of TensorFlow, Keras or TFDS loads nothing until the module is used.

  For the imports that define a command's flags: code that runs at import and uses TensorFlow (a
  `tf.Module` subclass, `from keras import layers`) still loads it, which the fast-start tests catch. A
  module imported in here keeps its deferred reference after the block, loading on its first use as usual.
  """
  finder = _DeferredImport()
  sys.meta_path.insert(0, finder)
  try:
    yield
  finally:
    sys.meta_path.remove(finder)


def quiet_library_logs():
  """TFDS and TF log INFO and WARNING lines through absl about their own internals (e.g. a dataset
  folder without metadata); keep the terminal for our own output unless --verbosity asks."""
  if not flags.FLAGS["verbosity"].present:
    logging.set_verbosity(logging.ERROR)


HELP_FLAGS = ("-h", "-help", "--help", "-?", "--helpshort", "--helpfull")
INTERRUPTED = 130  # 128 + SIGINT: what a shell reports for a command that Ctrl-C stopped


def run(main, define_flags=None, flags_parser=None, interrupted=None):
  """Runs `main(argv)` as described in the module docstring. `flags_parser` replaces the parsing (and the
  --help handling) for a CLI that does its own, as zoo.train does; `interrupted` replaces the line that
  Ctrl-C prints."""
  if define_flags is not None:
    define_flags()
  try:
    if flags_parser is None and wants_help(sys.argv):
      print(usage(main, full="--helpfull" in sys.argv))
      sys.exit(0)
    app.run(main, flags_parser=flags_parser or _parse_flags)
  except KeyboardInterrupt:
    sys.stdout.flush()
    print(interrupted or f"error: interrupted (Ctrl-C) before {_tool(main)} finished; its output may be "
          "missing or incomplete.", file=sys.stderr)
    sys.exit(INTERRUPTED)
  except BrokenPipeError:  # the reader of stdout went away: stop quietly, as Unix tools do
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error on exit's flush
    sys.exit(1)


def wants_help(argv) -> bool:
  """Whether the command line asks for help (flags after a bare `--` are not flags)."""
  args = argv[1:]
  if "--" in args:
    args = args[:args.index("--")]
  return any(arg in HELP_FLAGS for arg in args)


def usage(main, full=False) -> str:
  """The help of the CLI whose main function is `main`: its module's docstring, then its flags (with
  `full`, every flag absl knows: logging's, TensorFlow's...)."""
  module = main.__module__
  doc = (sys.modules[module].__doc__ or f"{_tool(main)} [flags]").strip()
  # absl files flags under the module that defined them, and under sys.argv[0] for `python -m`'s __main__
  key = sys.argv[0] if module == "__main__" else module
  own = "\n".join(flags.FLAGS.module_help(key).strip().splitlines()[1:])  # without the "<key>:" line
  flag_help = flags.FLAGS.get_help() if full else own
  hint = "" if full else "\n\n--helpfull also lists absl's own flags (--verbosity, --flagfile, ...)."
  return f"{doc}\n\nflags:\n{flag_help}{hint}"


def _parse_flags(argv):
  try:
    return flags.FLAGS(argv)
  except flags.Error as e:
    missing = re.match(r"flag --(\w+)=None: Flag --\1 must have a value other than None", str(e))
    # absl starts some messages with "ERROR:: " (a --flagfile it cannot open); the line says error: once
    message = f"--{missing.group(1)} is required" if missing else one_line(e).removeprefix("ERROR:: ")
    sys.exit(f"error: {message} (--help lists the flags).")


def _tool(main) -> str:
  module = main.__module__
  if module == "__main__":
    module = os.path.splitext(os.path.basename(sys.argv[0]))[0]
  return module.rsplit(".", 1)[-1]


def one_line(error) -> str:
  """The one line of an error worth showing. TensorFlow wraps an error raised while it traces a function
  ("in user code:", then the traced frames) with the original error's "Type: message" as the last line."""
  if isinstance(error, OSError) and error.strerror and error.filename:  # not "[Errno 20] ..."
    return f"{error.strerror}: {error.filename!r}"
  lines = [line.strip() for line in str(error).strip().splitlines() if line.strip()]
  if not lines:
    return type(error).__name__
  if len(lines) > 1 and lines[0] == "in user code:":
    last = lines[-1]
    prefix = f"{type(error).__name__}: "
    return last[len(prefix):] if last.startswith(prefix) else last
  return lines[0]


def check_one_source(logdir, pretrained, kind="a run folder written by zoo.train"):
  """A ValueError unless exactly one of --logdir and --pretrained is given, saying which case it is."""
  if logdir and pretrained:
    raise ValueError(f"give --logdir or --pretrained, not both (got --logdir={logdir!r} and "
                     f"--pretrained={pretrained!r}).")
  if not logdir and not pretrained:
    raise ValueError(f"--logdir is required: give --logdir=RUN ({kind}) or --pretrained=NAME (--help lists "
                     "the flags, python -m zoo.sample --list_pretrained the packages).")


def fail(error):
  """Exits with status 1 and `error: <the error's one line>` on stderr."""
  sys.exit(f"error: {one_line(error)}")


def is_command(module_name: str) -> bool:
  """Whether the module of this `__name__` is the command this process runs: `python -m zoo.X` runs it as
  __main__; the console script zoo-X (sys.argv[0]) imports zoo.X before anything else."""
  if module_name == "__main__":
    return True
  script = os.path.basename(sys.argv[0]) if sys.argv else ""
  return script == "zoo-" + module_name.rsplit(".", 1)[-1].replace("_", "-")
