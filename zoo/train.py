"""Trains a registered GAN: `python -m zoo.train --model=dense_gan --data_dir=../shared/tensorflow_datasets`.

Flags left unset take the model's defaults (zoo/models/<name>.py), then the trainer's (zoo/config.py).
Running the same command again with the same --logdir resumes from the latest checkpoint.
`--list_models` lists the models with their options; `--model=NAME --help` shows NAME's settings.
Ctrl-C (SIGINT) or SIGTERM during training saves a checkpoint and exits 0; before training has begun
(while TensorFlow loads and the run is set up) nothing is saved, and it stops at once with one line and
status 130 (SIGINT) or 143 (SIGTERM), as for a command the signal killed.
"""
import difflib
import os
import sys

from absl import flags

from zoo import cli
from zoo import signals

STARTING = ("while zoo.train was starting, before training began: nothing was saved. Run the same command "
            "again to start.")
if cli.is_command(__name__):  # before TensorFlow loads (seconds); the training loop takes over later
  signals.exit_on_signals(STARTING)

# TensorFlow loads when training first uses it: --help and flag errors are answered before, at once.
with cli.deferred_imports():
  from zoo import config_flags  # noqa: E402
  from zoo import models  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_string("model", config_flags.DEFAULT_MODEL, "Registered model name (--list_models lists them).")
flags.DEFINE_string("logdir", None, "Run folder: config, checkpoints, TensorBoard. "
                    "Default: runs/<model>_<dataset>.")
flags.DEFINE_multi_string("model_option", [], "A model option as NAME=VALUE (repeatable); the same as "
                          "--NAME=VALUE.")
flags.DEFINE_boolean("download", True, "Allow TFDS to download a dataset that is not prepared.")
flags.DEFINE_boolean("deterministic", False, "Enable TF op determinism (slower; bit-exact reruns on GPU).")
flags.DEFINE_boolean("list_models", False, "List the registered models, their defaults and options; exit.")
flags.DEFINE_boolean("print_config", False, "Print the resolved config as JSON and exit without training.")
config_flags.define_config_flags()
_OPTION_NAMES = []  # the option flags of the chosen model, defined by parse_flags


def parse_flags(argv):
  """absl's parse, after defining the chosen model's option flags; --help shows them first, exits 0."""
  try:
    expanded = FLAGS.read_flags_from_files(argv[1:], force_gnu=False)
  except flags.Error as e:  # e.g. --flagfile=missing
    sys.exit(f"error: {cli.one_line(e).removeprefix('ERROR:: ')}")
  model = config_flags.peek_model(expanded)
  try:
    models.get_model(model)  # before --help, which would otherwise show another model's settings
  except ValueError as e:
    cli.fail(e)
  option_names = config_flags.define_option_flags(model)
  if config_flags.wants_help(expanded):
    print(config_flags.usage(model, __doc__))
    sys.exit(0)
  try:
    remaining = FLAGS(argv)
  except flags.UnrecognizedFlagError as e:
    owners = config_flags.option_owners(e.flagname)
    if owners:
      sys.exit(f"error: --{e.flagname} is an option of {', '.join(owners)}, not of --model={model}.")
    close = difflib.get_close_matches(e.flagname, list(FLAGS), n=1)
    guess = f" (did you mean --{close[0]}?)" if close else ""
    sys.exit(f"error: unknown flag --{e.flagname}{guess}; python -m zoo.train --help lists the flags.")
  except flags.Error as e:
    sys.exit(f"error: {e}")
  _OPTION_NAMES[:] = option_names
  return remaining


def build_config():
  """The run's TrainConfig from the flags (raises ValueError on bad values)."""
  from zoo import config as config_lib
  model = FLAGS.model
  spec = models.get_model(model)
  overrides = config_flags.config_overrides()
  overrides["options"] = {**config_lib.parse_option_flags(FLAGS.model_option),
                          **config_flags.options_given(_OPTION_NAMES)}
  dataset = overrides["dataset"] or spec.defaults.get("dataset", "mnist")
  if FLAGS.logdir is not None and not FLAGS.logdir.strip():  # e.g. --logdir=$RUN with RUN unset
    raise ValueError(f"--logdir is empty; give a run folder, or leave the flag out for "
                     f"runs/{model}_{dataset}.")
  logdir = FLAGS.logdir or os.path.join("runs", f"{model}_{dataset}")
  return config_lib.resolve(model, logdir, overrides)


def main(argv):
  cli.quiet_library_logs()
  if len(argv) > 1:
    sys.exit(f"error: unexpected arguments {argv[1:]}; flags look like --name=value.")
  if FLAGS.list_models:
    print("\n\n".join(config_flags.describe_model(name) for name in models.list_models()))
    return
  from zoo import data, distribute, training
  try:
    config = build_config()
    if FLAGS.print_config:
      print(config.to_json())
      return
    import tensorflow as tf
    if FLAGS.deterministic:
      tf.config.experimental.enable_op_determinism()
    if config.eval_every:  # found now, not at the first evaluation, after minutes of training
      from zoo import sampling
      sampling.check_memory(config.eval_samples, data.image_shape(config.dataset, config.image_size,
                                                                  config.data_dir), flag="--eval_samples")
    strategy = distribute.make_strategy(config.strategy, config.tpu)
    training.fit(config, strategy, download=FLAGS.download, evaluator=_evaluator(config),
                 log=lambda line: print(line, flush=True))
  except (ValueError, OSError, data.DataUnavailableError, training.NonFiniteLossError) as e:
    cli.fail(e)  # OSError: e.g. a --logdir inside a file, or one that cannot be written
  except training.TrainingInterrupted as e:
    print(e)
  except (MemoryError, _resource_exhausted()) as e:  # e.g. --image_size=100000: a traceback otherwise
    sys.exit(f"error: {out_of_memory_message(e, config)}")
  signals.exit_on_signals("while zoo.train was exiting, after its last checkpoint was saved.")


def _resource_exhausted():
  import tensorflow as tf
  return tf.errors.ResourceExhaustedError


def out_of_memory_message(error, config) -> str:
  """The one line for TensorFlow's ResourceExhaustedError or NumPy's MemoryError: what could not be
  allocated and the settings that size memory (TensorFlow's first line also names the op and device)."""
  line = cli.one_line(error)
  if "OOM" not in line and not isinstance(error, MemoryError):
    return line  # e.g. a full disk, which its own message says
  what = line.split("}} ")[-1].split(" on /job")[0]
  size = config.image_size or "the dataset's"
  return (f"out of memory ({what}); lower --batch_size, --image_size, --num_grid_images or --eval_samples "
          f"(now {config.batch_size}, {size}, {config.num_grid_images}, {config.eval_samples}).")


def _evaluator(config):
  if not config.eval_every:
    return None
  from zoo.metrics import training_evaluator  # imported lazily: it loads a classifier
  return training_evaluator(config)


def run():
  """Console script `zoo-train`."""
  signals.exit_on_signals(STARTING)
  # A KeyboardInterrupt then comes only from a second signal while the loop saves before stopping.
  cli.run(main, flags_parser=parse_flags,
          interrupted="error: interrupted again before the checkpoint was saved; run the same command to "
          "resume from the latest checkpoint.")


if __name__ == "__main__":
  run()
