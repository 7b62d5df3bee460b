"""GAN loss families, chosen per run by name (`--loss`): pairs of small pure functions of D's logits.

Every function takes D's logits on a real and a fake batch, one logit per image [B, 1] or one per patch
[B, h, w, 1] (any rank >= 1), and returns per-example float32 losses [B]: each (pair of) logit(s) gets
its loss, then every axis but the first is averaged. The trainer reduces these over the global batch.
Losses compute in float32 whatever D's compute dtype, so mixed precision never evaluates a loss in
bfloat16/float16.

With r = D(x) and f = D(G(z)) the logits on reals and fakes:

  name            D loss                       G loss            reference
  non_saturating  softplus(-r) + softplus(f)   softplus(-f)      Goodfellow et al. 2014, sec. 3
  hinge           relu(1 - r) + relu(1 + f)    -f                Lim & Ye 2017; Miyato et al. 2018
  wasserstein     f - r                        -f                Arjovsky et al. 2017 (needs a Lipschitz D:
                                                                 gradient penalty or spectral norm)
  least_squares   (r - 1)^2 / 2 + f^2 / 2      (f - 1)^2 / 2     Mao et al. 2017, eq. 2, a=0, b=c=1
  relativistic    softplus(f - r)              softplus(r - f)   RpGAN (Jolicoeur-Martineau 2019) as
                                                                 in R3GAN (Huang et al. 2024)
"""
import dataclasses
from typing import Callable

import tensorflow as tf


@dataclasses.dataclass(frozen=True)
class LossFamily:
  """A D loss and a G loss, both (real_logits, fake_logits) -> per-example float32 losses [B].

  The G loss takes the real logits too because the relativistic pair needs D(x); the others ignore
  them. `uses_sigmoid` says whether sigmoid(logit) is D's probability that its input is real, i.e.
  whether D(x) and D(G(z)) are worth logging as probabilities.
  """
  name: str
  discriminator: Callable
  generator: Callable
  uses_sigmoid: bool


def _per_unit(logits):
  """[B, ...] logits of any dtype -> float32 [B, units]: one row per example, one column per logit."""
  return tf.cast(tf.reshape(logits, [tf.shape(logits)[0], -1]), tf.float32)


def _mean_per_example(per_unit):
  return tf.reduce_mean(per_unit, axis=1)


def _bce_with_logits(label, logits):
  # sigmoid_cross_entropy_with_logits, not softplus: the same ops as the former zoo/losses.py, so runs
  # with the default loss reproduce bit for bit.
  logits = _per_unit(logits)
  return _mean_per_example(
      tf.nn.sigmoid_cross_entropy_with_logits(labels=label * tf.ones_like(logits), logits=logits))


def non_saturating_discriminator(real_logits, fake_logits):
  """-log D(x) - log(1 - D(G(z))) = softplus(-r) + softplus(f): binary cross-entropy, real=1, fake=0."""
  return _bce_with_logits(1.0, real_logits) + _bce_with_logits(0.0, fake_logits)


def non_saturating_generator(real_logits, fake_logits):
  """-log D(G(z)) = softplus(-f): strong gradients while D still rejects the fakes easily."""
  del real_logits
  return _bce_with_logits(1.0, fake_logits)


def hinge_discriminator(real_logits, fake_logits):
  """relu(1 - r) + relu(1 + f): reals and fakes are only pushed until they clear the margin."""
  return (_mean_per_example(tf.nn.relu(1.0 - _per_unit(real_logits)))
          + _mean_per_example(tf.nn.relu(1.0 + _per_unit(fake_logits))))


def hinge_generator(real_logits, fake_logits):
  """-f, as in SAGAN and BigGAN: G keeps raising its logits, with no margin."""
  del real_logits
  return -_mean_per_example(_per_unit(fake_logits))


def wasserstein_discriminator(real_logits, fake_logits):
  """f - r: the negated critic estimate of the Wasserstein-1 distance."""
  return _mean_per_example(_per_unit(fake_logits)) - _mean_per_example(_per_unit(real_logits))


def wasserstein_generator(real_logits, fake_logits):
  """-f."""
  del real_logits
  return -_mean_per_example(_per_unit(fake_logits))


def least_squares_discriminator(real_logits, fake_logits):
  """(r - 1)^2 / 2 + f^2 / 2: D regresses reals to b=1 and fakes to a=0."""
  return (_mean_per_example(0.5 * tf.square(_per_unit(real_logits) - 1.0))
          + _mean_per_example(0.5 * tf.square(_per_unit(fake_logits))))


def least_squares_generator(real_logits, fake_logits):
  """(f - 1)^2 / 2: G wants D to output c=1 on its fakes."""
  del real_logits
  return _mean_per_example(0.5 * tf.square(_per_unit(fake_logits) - 1.0))


def relativistic_discriminator(real_logits, fake_logits):
  """softplus(f - r): D wants each real to score higher than the fake it is paired with.

  Pairs are (real i, fake i), per patch for patch logits; R3GAN pairs them the same way within a batch.
  """
  return _mean_per_example(tf.nn.softplus(_per_unit(fake_logits) - _per_unit(real_logits)))


def relativistic_generator(real_logits, fake_logits):
  """softplus(r - f): the same pairing with the roles swapped."""
  return _mean_per_example(tf.nn.softplus(_per_unit(real_logits) - _per_unit(fake_logits)))


FAMILIES = {family.name: family for family in (
    LossFamily("non_saturating", non_saturating_discriminator, non_saturating_generator, True),
    LossFamily("hinge", hinge_discriminator, hinge_generator, False),
    LossFamily("wasserstein", wasserstein_discriminator, wasserstein_generator, False),
    LossFamily("least_squares", least_squares_discriminator, least_squares_generator, False),
    LossFamily("relativistic", relativistic_discriminator, relativistic_generator, False),
)}


def get(name: str) -> LossFamily:
  """The loss family called `name`; a ValueError lists the valid names."""
  if name not in FAMILIES:
    raise ValueError(f"Unknown loss {name!r}; valid losses: {', '.join(sorted(FAMILIES))}.")
  return FAMILIES[name]


def metric_names(family: LossFamily) -> tuple:
  """The names `logged_metrics` returns for `family`, known before the step is traced."""
  return ("d_real", "d_fake") if family.uses_sigmoid else ("real_logit", "fake_logit")


def logged_metrics(family: LossFamily, real_logits, fake_logits) -> dict:
  """{name: per-example float32 [B]} of D's outputs worth logging.

  D(x) and D(G(z)) as probabilities where sigmoid(logit) is one (per-patch probabilities averaged per
  image); for the other families the logits are unbounded scores, so their means are logged instead.
  """
  transform = tf.sigmoid if family.uses_sigmoid else tf.identity
  values = [_mean_per_example(transform(_per_unit(logits))) for logits in (real_logits, fake_logits)]
  return dict(zip(metric_names(family), values))
