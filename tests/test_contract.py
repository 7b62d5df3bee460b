"""What every registered model (and each of its variants) must do, generated from the registry.

A model added with `register(ModelSpec(...))` is covered here with no new test code: forward and
backward on real data, 1 vs 2 replicas, bit-exact resume, an export that loads and runs without the
zoo, and every command-line tool either working on it or refusing it with a clear message.
"""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from tests.conftest import REPO
from tests.helpers import (assert_one_and_two_replicas_agree, assert_same_training_state, checkpoint_values,
                           model_variants, smoke_config)
from zoo import data
from zoo import models
from zoo import pixels
from zoo import runs
from zoo import training
from zoo.training import objective

VARIANTS = model_variants()
FIRST_VARIANTS = [(model, variant) for model, variant in VARIANTS
                  if variant == next(v for m, v in VARIANTS if m == model)]
# Every model's first variant in the quick tier, its other variants in the slow tier.
CASES = [pytest.param(model, variant, id=f"{model}-{variant}",
                      marks=() if (model, variant) in FIRST_VARIANTS else pytest.mark.slow)
         for model, variant in VARIANTS]
RUN_CASES = [pytest.param(case.values, id=case.id, marks=case.marks) for case in CASES]


@pytest.fixture(scope="module", params=RUN_CASES)
def smoke_run(request, tmp_path_factory):
  """A finished smoke run of one model variant: (spec, config)."""
  model, variant = request.param
  config = smoke_config(model, variant, tmp_path_factory.mktemp(f"{model}-{variant}"))
  training.fit(config, log=lambda *_: None)
  return models.get_model(model), config


@pytest.mark.parametrize("model,variant", CASES)
def test_forward_and_backward_on_real_data(model, variant, tmp_path):
  config = smoke_config(model, variant, tmp_path)
  trainer = training.GANTrainer(config)
  batch = trainer.fixed_batch(config.batch_size)
  z = objective.noise(config, 0, 0, config.batch_size)
  fake = trainer.sample_grid()  # runs G in inference mode through the model's grid hooks
  assert fake.dtype == np.uint8 and fake.ndim == 3
  outputs = trainer.generator(trainer.spec.generator_input(batch, z), training=False)
  images = outputs["images"] if isinstance(outputs, dict) else outputs
  low, high = pixels.bounds(trainer.spec.pixel_range)
  assert images.shape == batch["real"].shape
  assert np.isfinite(images.numpy()).all()
  assert images.numpy().min() >= low and images.numpy().max() <= high
  logits = trainer.discriminator(trainer.spec.discriminator_input(batch, batch["real"]), training=False)
  assert logits.shape[0] == config.batch_size and logits.shape[-1] == 1
  d_grads, g_grads, metrics = trainer.gan_step.losses_and_gradients(
      batch, tf.constant(0, tf.int64), tf.constant(0, tf.int64), config.batch_size)
  for network, grads in ((trainer.discriminator, d_grads), (trainer.generator, g_grads)):
    missing = [v.path for v, g in zip(network.trainable_variables, grads) if g is None]
    assert not missing, f"{network.name}: no gradient for {missing}"
    assert all(np.isfinite(g.numpy()).all() for g in grads), network.name
    assert any(np.abs(g.numpy()).max() > 0 for g in grads), f"{network.name}: all gradients are zero"
  assert all(np.isfinite(float(value)) for value in metrics.values()), metrics


@pytest.mark.parametrize("model,variant", CASES)
def test_one_and_two_replicas_give_the_same_update(model, variant, tmp_path):
  # float32: bfloat16 rounding differs with the split of the batch, and Adam's first steps turn any
  # difference in a near-zero gradient into a full learning-rate step.
  assert_one_and_two_replicas_agree(smoke_config(model, variant, tmp_path, precision="float32"))


@pytest.mark.parametrize("model,variant", CASES)
def test_resume_is_bit_exact(model, variant, tmp_path):
  expected = assert_resume_is_bit_exact(
      lambda logdir, steps: smoke_config(model, variant, logdir, steps=steps), tmp_path)
  assert int(expected[runs.GAN_STEP_KEY]) == 4


def assert_resume_is_bit_exact(make_config, tmp_path):
  """4 steps in one go and 2 steps then a resume to 4 end at the same checkpoint (integers exactly, floats
  to rounding: `assert_same_training_state`). Returns the uninterrupted run's values."""
  resumed, expected = _whole_and_split(make_config, tmp_path)
  assert_same_training_state(resumed, expected, "resumed vs uninterrupted")
  return expected


def _whole_and_split(make_config, root):
  """Checkpoint values after 2 steps plus a resume to 4, and after 4 uninterrupted steps."""
  quiet = dict(log=lambda *_: None)
  training.fit(make_config(root / "whole", 4), **quiet)
  training.fit(make_config(root / "split", 2), **quiet)
  training.fit(make_config(root / "split", 4), **quiet)  # a new trainer: restores step 2, continues to 4
  return checkpoint_values(root / "split"), checkpoint_values(root / "whole")


_RUN_EXPORT_WITHOUT_THE_ZOO = """
import json, sys
sys.modules["zoo"] = None  # any import of the zoo fails from here on
import keras, numpy as np, tensorflow as tf
folder, inputs_path, low = sys.argv[1], sys.argv[2], float(sys.argv[4])
inputs = dict(np.load(inputs_path))  # the signature's inputs by name: z (and label), or uint8 images
serve = tf.saved_model.load(folder + "/saved_model").signatures["serving_default"]
served = serve(**{name: tf.constant(value) for name, value in inputs.items()})["images"].numpy()
model = keras.saving.load_model(folder + "/generator.keras")
model_inputs = {name: low + (1 - low) * value.astype("float32") / 255 if name == "inputs" else value
                for name, value in inputs.items()}
model_inputs = model_inputs if len(model_inputs) > 1 else next(iter(model_inputs.values()))
np.savez(sys.argv[3], served=served, keras=np.asarray(model(model_inputs, training=False)))
print(json.dumps({"inputs": sorted(serve.structured_input_signature[1])}))
"""


def _export_inputs(spec, config):
  """What an export's signature takes: z, or uint8 images from the run's training data."""
  if spec.samples_from_noise:
    return np.random.default_rng(0).normal(size=(3, config.latent_dim)).astype(np.float32)
  images = data.load_images(config.dataset, config.train_split, config.data_dir, config.image_size)
  return np.stack(list(images.take(3).as_numpy_iterator()))


def _serving_inputs(spec, config):
  """The export signature's inputs by name: z, and the labels of a conditional run, or uint8 images."""
  if not spec.samples_from_noise:
    return {"inputs": _export_inputs(spec, config)}
  inputs = {"z": _export_inputs(spec, config)}
  if spec.num_classes(config):
    inputs["label"] = np.arange(3, dtype=np.int32) % spec.num_classes(config)
  return inputs


def test_export_loads_and_runs_without_the_zoo(smoke_run, tmp_path):
  from zoo import export
  spec, config = smoke_run
  export.export_generator(config.logdir, str(tmp_path / "exported"))
  inputs = _serving_inputs(spec, config)
  np.savez(tmp_path / "inputs.npz", **inputs)
  result = subprocess.run([sys.executable, "-c", _RUN_EXPORT_WITHOUT_THE_ZOO, str(tmp_path / "exported"),
                           str(tmp_path / "inputs.npz"), str(tmp_path / "outputs.npz"),
                           str(pixels.bounds(config.pixel_range)[0])],
                          cwd=REPO, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
  assert result.returncode == 0, result.stderr[-3000:]
  assert json.loads(result.stdout.strip().splitlines()[-1])["inputs"] == sorted(inputs)
  outputs = np.load(tmp_path / "outputs.npz")
  served, keras_images = outputs["served"], outputs["keras"]
  assert served.dtype == np.uint8 and served.shape == (3,) + data.image_shape(
      config.dataset, config.image_size, config.data_dir)
  # The zoo's own generator on the same inputs gives the same images.
  generator, _ = runs.restore_generator(config.logdir)
  if spec.samples_from_noise:
    batch = {"label": tf.constant(inputs["label"])} if "label" in inputs else {}
    expected = generator(spec.generator_input(batch, tf.constant(inputs["z"])), training=False)
  else:
    model_inputs = pixels.to_model_range(inputs["inputs"], config.pixel_range)
    outputs = generator(spec.generator_input({"real": model_inputs, "degraded": model_inputs,
                                               "noise": tf.zeros([3, 1])}, None), training=False)
    expected = outputs["images"] if isinstance(outputs, dict) else outputs
  expected = pixels.to_uint8(expected, config.pixel_range).numpy()
  assert np.abs(served.astype(int) - expected.astype(int)).max() <= 1
  assert np.abs(pixels.to_uint8(keras_images, config.pixel_range).numpy().astype(int)
                - expected.astype(int)).max() <= 1


def test_sample_works_or_refuses_clearly(smoke_run, tmp_path):
  from zoo import sample
  spec, config = smoke_run
  out = str(tmp_path / "samples.npz")
  if spec.samples_from_noise:
    samples = sample.write_samples(config.logdir, 5, out)
    assert samples.shape[0] == 5 and samples.dtype == np.uint8
  else:
    with pytest.raises(ValueError, match="cannot be sampled"):
      sample.write_samples(config.logdir, 5, out)


def test_evaluate_works_or_refuses_clearly(smoke_run):
  from zoo import evaluate
  spec, config = smoke_run
  if spec.samples_from_noise:
    record = evaluate.evaluate_run(config.logdir, num_samples=50)
    assert record["step"] == config.steps and np.isfinite(record["metrics"]["fid"])
  else:
    with pytest.raises(ValueError, match="cannot be sampled"):
      evaluate.evaluate_run(config.logdir, num_samples=50)


def test_restore_works_or_refuses_clearly(smoke_run, tmp_path):
  from zoo import images, restore
  spec, config = smoke_run
  image = _export_inputs(models.get_model("image_gan"), config)[0]
  images.write_png(str(tmp_path / "in.png"), image)
  if "restore" in spec.tools:
    restored = restore.restore_file(config.logdir, str(tmp_path / "in.png"), str(tmp_path / "out.png"))
    assert restored.shape == image.shape and os.path.exists(tmp_path / "out.png")
  else:
    with pytest.raises(ValueError, match="zoo.restore cannot apply"):
      restore.restore_file(config.logdir, str(tmp_path / "in.png"), str(tmp_path / "out.png"))


def test_compress_works_or_refuses_clearly(smoke_run, tmp_path):
  from zoo import compress
  from zoo.models.compression_gan import codec as codec_lib
  spec, config = smoke_run
  image = _export_inputs(models.get_model("compression_gan"), config)[0]
  if "compress" in spec.tools and config.options.get("mode") == "codec":
    codec = compress.codec_from_run(config.logdir)
    decoded = codec.decode(codec.encode(image))
    assert decoded.shape == image.shape and decoded.dtype == np.uint8
  else:
    with pytest.raises(codec_lib.CodecError):
      compress.codec_from_run(config.logdir)


def test_unknown_model_lists_valid_names():
  with pytest.raises(ValueError, match="Valid names: .*dense_gan"):
    models.get_model("no_such_gan")


def test_registering_a_name_twice_fails():
  with pytest.raises(ValueError, match="registered twice"):
    models.register(models.get_model("dense_gan"))


# ---- the recipe's pieces on every model: exact resume and replica invariance with them switched on ----

RECIPES = {
    # Every penalty at once (an unusual recipe, but each term must resume and distribute exactly).
    "penalties": {"loss": "relativistic", "r1_gamma": 1.0, "r1_every": 2, "r2_gamma": 0.5, "gp_weight": 1.0},
    "sn_ema_augment": {"loss": "hinge", "spectral_norm": True, "ema_decay": 0.9,
                       "augment": "translation,cutout,color"},
}
RECIPE_CASES = [(model, variant, recipe) for model, variant in FIRST_VARIANTS for recipe in RECIPES]
RECIPE_IDS = [f"{model}-{variant}-{recipe}" for model, variant, recipe in RECIPE_CASES]


@pytest.mark.slow
@pytest.mark.parametrize("model,variant,recipe", RECIPE_CASES, ids=RECIPE_IDS)
def test_resume_is_bit_exact_with_the_recipe(model, variant, recipe, tmp_path):
  assert_resume_is_bit_exact(
      lambda logdir, steps: smoke_config(model, variant, logdir, steps=steps, **RECIPES[recipe]), tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("model,variant,recipe", RECIPE_CASES, ids=RECIPE_IDS)
def test_one_and_two_replicas_agree_with_the_recipe(model, variant, recipe, tmp_path):
  assert_one_and_two_replicas_agree(
      smoke_config(model, variant, tmp_path, precision="float32", **RECIPES[recipe]))


def test_the_ema_generator_is_what_sample_export_and_evaluate_use(tmp_path):
  from zoo import sample
  config = smoke_config("dense_gan", "default", tmp_path, ema_decay=0.5, steps=4)
  training.fit(config, log=lambda *_: None)
  trainer = training.GANTrainer(config)
  trainer.checkpoint.restore(runs.latest_checkpoint(config.logdir)).assert_existing_objects_matched()
  ema, _ = runs.restore_generator(config.logdir)
  raw, _ = runs.restore_generator(config.logdir, use_ema=False)
  for restored, trained in ((ema, trainer.state.ema.target), (raw, trainer.generator)):
    for a, b in zip(restored.weights, trained.weights):
      np.testing.assert_array_equal(a.numpy(), b.numpy())
  assert not np.allclose(ema.trainable_weights[0].numpy(), raw.trainable_weights[0].numpy())
  with_ema = sample.write_samples(config.logdir, 8, str(tmp_path / "a.npz"))
  without = sample.write_samples(config.logdir, 8, str(tmp_path / "b.npz"), use_ema=False)
  assert not np.array_equal(with_ema, without)


# ---- the contract under mixed bfloat16, the precision --precision=auto picks on recent GPUs and CPUs ----

@pytest.mark.slow
@pytest.mark.bfloat16
@pytest.mark.parametrize("model,variant", FIRST_VARIANTS, ids=[f"{m}-{v}" for m, v in FIRST_VARIANTS])
def test_the_contract_holds_in_mixed_bfloat16(model, variant, tmp_path):
  """Train, resume, 1 vs 2 replicas, sample and export (float32 out) with bfloat16 compute."""
  from zoo import export, sample
  spec = models.get_model(model)
  expected = assert_resume_is_bit_exact(
      lambda logdir, steps: smoke_config(model, variant, logdir, steps=steps, precision="mixed_bfloat16"),
      tmp_path / "resume")
  assert int(expected[runs.GAN_STEP_KEY]) == 4
  assert_one_and_two_replicas_agree(smoke_config(model, variant, tmp_path / "replicas",
                                                 precision="mixed_bfloat16"))
  logdir = str(tmp_path / "resume" / "whole")
  keras_path, _ = export.export_generator(logdir, str(tmp_path / "exported"))
  import keras
  exported = keras.saving.load_model(keras_path)
  assert all(output.dtype == "float32" for output in tf.nest.flatten(exported.outputs))
  if spec.samples_from_noise:
    samples = sample.write_samples(logdir, 4, str(tmp_path / "samples.npz"))
    assert samples.dtype == np.uint8 and samples.shape[0] == 4
