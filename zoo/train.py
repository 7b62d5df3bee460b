"""Trains a registered GAN: `python -m zoo.train --model=dense_gan --data_dir=../shared/tensorflow_datasets`.

Flags left unset take the model's defaults (zoo/models/<name>.py), then the trainer's (zoo/config.py).
Running the same command again with the same --logdir resumes from the latest checkpoint.
"""
import os
import sys

from absl import app, flags

from zoo import models
from zoo.cli import quiet_library_logs

FLAGS = flags.FLAGS
flags.DEFINE_string("model", "dense_gan", "Registered model name (see zoo/models/__init__.py).")
flags.DEFINE_string("logdir", None, "Run folder: config, checkpoints, TensorBoard. "
                    "Default: runs/<model>_<dataset>.")
flags.DEFINE_string("dataset", None, "TFDS dataset: mnist, fashion_mnist, celeb_a.")
flags.DEFINE_string("data_dir", None, "TFDS data_dir holding prepared datasets (else $TFDS_DATA_DIR, "
                    "else TFDS's default, downloading when online).")
flags.DEFINE_boolean("download", True, "Allow TFDS to download a dataset that is not prepared.")
flags.DEFINE_string("train_split", None, "TFDS split to train on, e.g. 'train' or 'train[:10%]'.")
flags.DEFINE_integer("steps", None, "Total training steps (generator updates).")
flags.DEFINE_integer("batch_size", None, "Global batch size, split across replicas.")
flags.DEFINE_integer("seed", None, "Seed for weights, noise and data order.")
flags.DEFINE_enum("strategy", "default", ["default", "one_device", "mirrored", "multi_worker", "tpu"],
                  "tf.distribute strategy.")
flags.DEFINE_string("tpu", "", "TPU name or address for --strategy=tpu.")
flags.DEFINE_integer("steps_per_call", None, "Training steps per compiled call.")
flags.DEFINE_boolean("jit_compile", None, "Compile the forward/backward pass with XLA.")
flags.DEFINE_enum("precision", None, ["float32", "mixed_bfloat16", "mixed_float16"],
                  "Compute dtype policy; variables and losses stay float32.")
flags.DEFINE_boolean("joint_discriminator_pass", None, "Score real and fake in one D call (faster for "
                     "cheap D; conv D is faster with false, see docs/performance.md).")
flags.DEFINE_integer("latent_dim", None, "Size of z.")
flags.DEFINE_float("g_learning_rate", None, "Generator Adam learning rate.")
flags.DEFINE_float("d_learning_rate", None, "Discriminator Adam learning rate.")
flags.DEFINE_float("beta_1", None, "Adam beta_1.")
flags.DEFINE_float("beta_2", None, "Adam beta_2.")
flags.DEFINE_integer("d_steps", None, "Discriminator updates per generator update.")
flags.DEFINE_integer("image_size", None, "Resize images to this square size (0: dataset size).")
flags.DEFINE_integer("log_every", None, "Steps between TensorBoard scalars and progress lines.")
flags.DEFINE_integer("image_every", None, "Steps between sample grids of the fixed noise batch.")
flags.DEFINE_integer("checkpoint_every", None, "Steps between checkpoints.")
flags.DEFINE_integer("keep_checkpoints", None, "How many recent checkpoints to keep.")
flags.DEFINE_integer("eval_every", None, "Steps between FID/KID evaluations (0: never).")
flags.DEFINE_integer("eval_samples", None, "Samples per evaluation during training.")
flags.DEFINE_multi_string("model_option", [], "Model-specific setting name=value (repeatable); "
                          "each model lists its options in zoo/models/<name>.py.")
flags.DEFINE_boolean("deterministic", False, "Enable TF op determinism (slower; bit-exact reruns).")


def _define_model_option_flags():
  """Every model option is also a flag of its own: --task=denoise means --model_option=task=denoise."""
  owners = {}
  for name in models.list_models():
    for option, default in models.get_model(name).options.items():
      owners.setdefault(option, []).append(name)
      if len(owners[option]) > 1:
        continue
      help_text = f"Model option (default {default!r}); see zoo/models/<model>.py."
      if isinstance(default, bool):
        flags.DEFINE_boolean(option, None, help_text)
      elif isinstance(default, int):
        flags.DEFINE_integer(option, None, help_text)
      elif isinstance(default, float):
        flags.DEFINE_float(option, None, help_text)
      else:
        flags.DEFINE_string(option, None, help_text)
  return owners


_OPTION_OWNERS = _define_model_option_flags()

# Flags that override config fields one to one; the rest steer the process, not the experiment.
_PROCESS_FLAGS = {"model", "logdir", "download", "deterministic", "tpu", "strategy", "options"}


def build_config():
  from zoo import config as config_lib
  overrides = {name: FLAGS[name].value for name in config_lib.FIELDS
               if name in FLAGS and name not in _PROCESS_FLAGS}
  overrides["strategy"], overrides["tpu"] = FLAGS.strategy, FLAGS.tpu
  model = FLAGS.model
  spec = models.get_model(model)
  overrides["options"] = {**config_lib.parse_option_flags(FLAGS.model_option),
                          **_option_flags_given(model)}
  dataset = FLAGS.dataset or spec.defaults.get("dataset", "mnist")
  logdir = FLAGS.logdir or os.path.join("runs", f"{model}_{dataset}")
  return config_lib.resolve(model, logdir, overrides)


def _option_flags_given(model):
  given = {option: FLAGS[option].value for option in _OPTION_OWNERS if FLAGS[option].value is not None}
  foreign = sorted(option for option in given if model not in _OPTION_OWNERS[option])
  if foreign:
    raise ValueError(", ".join(f"--{o} is an option of {', '.join(_OPTION_OWNERS[o])}" for o in foreign)
                     + f", not of --model={model}.")
  return given


def main(argv):
  del argv
  quiet_library_logs()
  from zoo import data, distribute, trainer
  try:
    config = build_config()
    import tensorflow as tf
    if FLAGS.deterministic:
      tf.config.experimental.enable_op_determinism()
    strategy = distribute.make_strategy(config.strategy, config.tpu)
    print(f"Training {config.model} on {config.dataset} with --strategy={config.strategy} "
          f"({strategy.num_replicas_in_sync} replica(s)) into {config.logdir}", flush=True)
    evaluator = _evaluator(config)
    trainer.fit(config, strategy, download=FLAGS.download, evaluator=evaluator)
  except (ValueError, FileNotFoundError, data.DataUnavailableError, trainer.NonFiniteLossError) as e:
    sys.exit(f"error: {e}")
  except trainer.TrainingInterrupted as e:
    print(e)
    sys.exit(0)


def _evaluator(config):
  if not config.eval_every:
    return None
  from zoo.metrics import training_evaluator  # imported lazily: it loads a classifier
  return training_evaluator(config)


if __name__ == "__main__":
  app.run(main)
