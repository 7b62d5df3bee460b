"""Class conditioning for dcgan, the one model offered class-conditional: one implementation of each
piece. dense_gan refuses --conditional (given a label, its MLP G ignored the noise; docs/lab/conditional.md).

`--conditional` (a model option) picks how D sees the label; G always gets it the same way:

- G: a learned embedding of the label (LABEL_EMBEDDING_DIM values) concatenated to z; a conv G may also
  replace its BatchNorms' scale and offset by per-class ones (`conditional_batch_norm`, de Vries et al.
  2017, the G of Miyato & Koyama 2018).
- D, `projection` (the default of a conditional run): Miyato & Koyama 2018, "cGANs with Projection
  Discriminator", eq. 3: logit = psi(phi(x)) + embed(y) . phi(x), phi(x) D's last hidden features and
  psi its unconditional output layer.
- D, `concat`: the label as a one-hot vector concatenated to D's input (to each pixel, as K constant
  planes, for images), the simple conditional GAN of Mirza & Osindero 2014.

`none`, the default, builds the model's unconditional networks, unchanged. Everything here is a
stock Keras layer, so exported conditional generators load without the zoo. The labels come from the
data (zoo/data: TFDS `label`, an image folder's class sub-folders); see docs/conditional.md.
"""
from zoo import data
from zoo.models.registry import Option
from zoo.models.registry import keras, layers  # imported when the first network is built

MODES = ("none", "projection", "concat")
# G's label embedding: 50 values, as in the widely copied Keras/PyTorch conditional GAN tutorials.
LABEL_EMBEDDING_DIM = 50

OPTIONS = {
    data.LABELS_OPTION: Option(
        "none", "Class conditioning on the data's labels: projection (D's projection head, Miyato & Koyama "
        "2018) or concat (one-hot labels joined to D's input); G gets a label embedding joined to z in "
        "both. none: unconditional (the model's own networks).", choices=MODES),
}
# A conv G's extra choice.
BATCH_NORM_OPTIONS = {
    "conditional_batchnorm": Option(True, "With --conditional: G's BatchNorms take a per-class scale and "
                                    "offset (conditional BatchNorm, as the projection paper's G)."),
}


def mode(config) -> str:
  return config.options.get(data.LABELS_OPTION, "none")


def num_classes(config) -> int:
  """K of a conditional run (the dataset's classes), 0 for an unconditional one; a ValueError if the
  dataset has no labels."""
  if mode(config) == "none":
    return 0
  count = data.num_classes(config.dataset, config.data_dir)
  if not count:
    raise ValueError(f"--{data.LABELS_OPTION}={mode(config)} trains on class labels, but {config.dataset} "
                     "has none; use a labelled dataset (mnist, fashion_mnist) or an image folder with class "
                     "sub-folders (PATH/train/<class>/<image>, docs/data.md), or --conditional=none.")
  return count


def check_options(config, image_shape):
  """Fails before a run writes anything when it is conditional and its data has no labels."""
  del image_shape
  num_classes(config)


def label_input():
  return keras.Input([], dtype="int32", name="label")  # [B] class indices 0..K-1


# ---- G ---------------------------------------------------------------------------------------------

def generator_inputs(config):
  """(G's Keras inputs, the tensor G's first layer reads, the label input or None).

  Unconditional: z, z, None. Conditional: {"z": z, "label": label}, [z, embed(label)], label.
  """
  z = keras.Input([config.latent_dim], name="z")
  if mode(config) == "none":
    return z, z, None
  label = label_input()
  embedded = layers.Embedding(num_classes(config), LABEL_EMBEDDING_DIM, name="label_embedding")(label)
  return {"z": z, "label": label}, layers.Concatenate()([z, embedded]), label


def conditional_batch_norm(x, label, num_classes, batch_norm):
  """BatchNorm whose scale and offset are looked up per class: x [B, ..., C] -> same shape.

  `batch_norm(center=False, scale=False)` builds the normalising layer (the model's own choice, e.g.
  synchronised across replicas); the per-class scale starts at 1 and the offset at 0, so at
  initialisation this is a plain BatchNorm.
  """
  channels = x.shape[-1]
  normalized = batch_norm(center=False, scale=False)(x)
  broadcast = [1] * (len(x.shape) - 2) + [channels]  # [B, C] -> [B, 1, 1, C] for feature maps
  gamma = layers.Embedding(num_classes, channels, embeddings_initializer="ones")(label)    # [B, C]
  beta = layers.Embedding(num_classes, channels, embeddings_initializer="zeros")(label)    # [B, C]
  gamma, beta = layers.Reshape(broadcast)(gamma), layers.Reshape(broadcast)(beta)
  return layers.Add()([layers.Multiply()([normalized, gamma]), beta])


# ---- D ---------------------------------------------------------------------------------------------

def discriminator_inputs(config, image_shape):
  """(D's Keras inputs, the images input, the label input or None)."""
  images = keras.Input(image_shape, name="images")
  if mode(config) == "none":
    return images, images, None
  label = label_input()
  return {"images": images, "label": label}, images, label


def join_label(config, x, label):
  """`concat` mode: x [B, D] or [B, H, W, C] with the one-hot label appended ([B, D + K] or
  [B, H, W, C + K], the label repeated at every pixel); otherwise x unchanged."""
  if mode(config) != "concat":
    return x
  one_hot = layers.CategoryEncoding(num_classes(config), output_mode="one_hot")(label)  # [B, K]
  if len(x.shape) == 4:
    height, width = x.shape[1], x.shape[2]
    one_hot = layers.UpSampling2D((height, width))(layers.Reshape((1, 1, -1))(one_hot))  # [B, H, W, K]
  return layers.Concatenate()([x, one_hot])


def projection(config, features, label, logits):
  """`projection` mode: logits [B, 1] + embed(label) . features, features [B, F] D's last hidden layer;
  otherwise the logits unchanged. float32, like the logits."""
  if mode(config) != "projection":
    return logits
  embedded = layers.Embedding(num_classes(config), features.shape[-1], dtype="float32",
                              name="projection_embedding")(label)                      # [B, F]
  inner = layers.Dot(axes=1, dtype="float32")([embedded, features])                   # [B, 1]
  return layers.Add(dtype="float32")([logits, inner])
