"""Short dcgan probes at 32x32 MNIST: what makes G collapse, and which departure stops it (docs/dcgan.md).

  python -m experiments.dcgan_probes --variants=article,no_l2 --steps=300
  python -m experiments.dcgan_probes --variants=no_l2+d_bn,no_l2+d_bn+normal_init,tutorial_nets --steps=200
  python -m experiments.dcgan_probes --variants=no_l2+g_dense_bn,d4+g_dense_bn --steps=500 --image_size=64

The 64x64 probes and their results are in docs/dcgan.md ("What else helps diversity"); the table
below is the 32x32 one.

Variant names are the keys of VARIANTS; "+" joins them, e.g. no_l2+d_bn. "article" is the article's
configuration (`--recipe=article`, L2 0.01 on G); every other variant starts from BASE, dcgan's
defaults when these probes were written: the article's networks without G's L2 (so "no_l2" in a name
only makes that explicit; "g_dense_bn" adds the BatchNorm on G's projection that became the default
next). dcgan's defaults have since become the standard DCGAN recipe (docs/dcgan.md); BASE keeps these
probes reproducible.

Each variant trains from the same seed and data order (batch 64, Adam 2e-4/0.5, bfloat16 unless the
variant says otherwise), then 2,000 samples of its last step are scored with zoo.metrics
(domain-classifier FID, classes holding >= 5% of samples, the largest class's share). Prints one table
row per variant with the means of its last 50 steps. Wall time: ~3 min per 300-step variant on an
idle 2-core CPU, 10-30 min while other jobs share it.
Results (code of this commit, seed 0; all on the shared, heavily loaded machine):

  variant                       steps  FID    classes  max share  d_loss  D(x)   D(G(z))
  article                         300  378.9  2        0.93       1.408   0.495  0.504
  no_l2                           300  329.4  1        0.97       1.302   0.523  0.465
  no_l2+lr1e-4                    300  314.8  1        1.00       1.341   0.514  0.487
  no_l2+d_bn                      200  335.6  1        0.95       1.175   0.600  0.401
  no_l2+d_bn+normal_init          200  317.9  1        1.00       0.889   0.683  0.334
  tutorial_nets (28x28)           200  260.1  5        0.36       1.340   0.524  0.493
"""
import os

from absl import app, flags

FLAGS = flags.FLAGS
flags.DEFINE_list("variants", ["article"], "Variant names from VARIANTS.")
flags.DEFINE_integer("steps", 400, "Training steps per variant.")
flags.DEFINE_integer("image_size", 32, "Image side.")
flags.DEFINE_string("dataset", "mnist", "mnist or fashion_mnist.")
flags.DEFINE_string("data_dir", "../shared/tensorflow_datasets", "TFDS data_dir.")
flags.DEFINE_string("root", "runs/probes", "Run folders go to <root>/<variant>_<size>.")
flags.DEFINE_integer("num_samples", 2000, "Samples scored per variant.")

# name -> (trainer overrides, model options); join names with "+" to combine them. "article" is the
# article's configuration.
BASE = ({"recipe": "article"}, {"generator_l2": 0.0})
VARIANTS = {
    "article": ({}, {"generator_l2": 0.01}),
    "lr1e-4": ({"g_learning_rate": 1e-4, "d_learning_rate": 1e-4}, {}),
    "glr5e-5": ({"g_learning_rate": 5e-5}, {}),
    "d_steps2": ({"d_steps": 2}, {}),
    "separate": ({"joint_discriminator_pass": False}, {}),
    "no_l2": ({}, {"generator_l2": 0.0}),  # the zoo's default since this probe
    "float32": ({"precision": "float32"}, {}),
    "no_dropout": ({}, {"discriminator_dropout": 0.0}),
    "d_bn": ({"joint_discriminator_pass": False}, {"discriminator_batchnorm": True}),
    "d_bn_joint": ({}, {"discriminator_batchnorm": True}),
    "normal_init": ({}, {"weight_init": "dcgan_normal"}),
    "g_dense_bn": ({}, {"generator_dense_batchnorm": True}),
    "batch256": ({"batch_size": 256}, {}),
    "d4": ({}, {"discriminator_convolutions": 4}),  # the DCGAN paper's D depth at 64x64
    # The TF tutorial's networks (benchmarks/tutorial_dcgan.py, 28x28) with dcgan's training settings:
    # tells the networks apart from the optimiser settings as the cause of the collapse.
    "tutorial_nets": ({"image_size": 0, "batch_size": 64, "g_learning_rate": 2e-4, "d_learning_rate": 2e-4,
                       "beta_1": 0.5}, {}),
    # One tutorial network, the other dcgan's, with dcgan's training settings: which half collapses.
    "tutorial_g": ({"image_size": 0}, {}),
    "tutorial_d": ({}, {}),
}


def spec_of(name):
  """dcgan, the tutorial's networks, or one half of each (see the tutorial_* variants)."""
  import dataclasses

  from benchmarks import tutorial_dcgan
  from zoo.models import dcgan
  parts = name.split("+")
  if "tutorial_nets" in parts:
    return tutorial_dcgan.SPEC
  if "tutorial_g" in parts:
    return dataclasses.replace(dcgan.SPEC, name="dcgan", build_generator=tutorial_dcgan.build_generator)
  if "tutorial_d" in parts:
    return dataclasses.replace(dcgan.SPEC, name="dcgan",
                               build_discriminator=tutorial_dcgan.build_discriminator)
  return dcgan.SPEC


def settings(name):
  """The merged (trainer overrides, model options) of a "+"-joined variant name."""
  overrides, options = dict(BASE[0]), dict(BASE[1])
  for part in name.split("+"):
    overrides.update(VARIANTS[part][0])
    options.update(VARIANTS[part][1])
  return overrides, options


def run(name):
  from zoo import config as config_lib
  from zoo import runs, sampling, training
  from zoo.metrics import evaluation
  overrides, options = settings(name)
  spec = spec_of(name)
  logdir = os.path.join(FLAGS.root, f"{name}_{FLAGS.image_size}_{FLAGS.dataset}")
  config = config_lib.resolve(spec.name, logdir, {
      "dataset": FLAGS.dataset, "data_dir": FLAGS.data_dir, "image_size": FLAGS.image_size,
      "steps": FLAGS.steps, "log_every": 50, "image_every": 100, "checkpoint_every": FLAGS.steps,
      "precision": "mixed_bfloat16", "options": options, **overrides},
      spec=spec)
  lines = []
  training.fit(config, spec=spec, log=lambda line: (lines.append(line), print(name, line, flush=True)))
  generator, config = runs.restore_generator(logdir, spec=spec)
  samples = sampling.generate(generator, config, FLAGS.num_samples, seed=evaluation.EVAL_NOISE_SEED)
  scores = evaluation.get_evaluator(config.dataset, config.data_dir)(samples)
  return lines[-1], {**scores, **z_spread(generator, config)}


def z_spread(generator, config):
  """Per-pixel std of G's output over 64 z, with batch statistics (as in training) and moving ones.

  A collapsed G gives ~0.0 in both; 64 real MNIST digits give 0.34 at 32x32 in [-1, 1]. The two differ
  when BatchNorm's moving statistics still lag, early in a run: the scores above use the moving ones.
  """
  import tensorflow as tf
  z = tf.random.stateless_normal([64, config.latent_dim], seed=[1, 2])
  return {f"z_std_{mode}": float(tf.math.reduce_std(generator(z, training=training), axis=0).numpy().mean())
          for mode, training in (("train", True), ("inference", False))}


def main(argv):
  del argv
  rows = []
  for name in FLAGS.variants:
    last_line, scores = run(name)
    rows.append(f"| {name} | {scores['fid']:.1f} | {scores['modes_covered']} | "
                f"{scores['max_class_share']:.2f} | {scores['z_std_train']:.3f} | "
                f"{scores['z_std_inference']:.3f} | {last_line} |")
    print(rows[-1], flush=True)
  print("\n| variant | FID | classes | max class share | z std (train) | z std (inference) | last 50 steps "
        "|\n| --- | ---: | ---: | ---: | ---: | ---: | --- |")
  print("\n".join(rows))


if __name__ == "__main__":
  app.run(main)
