"""The FID Inception network (TF's `inception-2015-12-05` graph) in Keras 3; its weights from a state dict.

Papers, pytorch-fid, clean-fid, torch-fidelity and StyleGAN's metrics compute FID on this network, not on
keras.applications.InceptionV3: its mixed blocks average-pool without counting the padding (TF's SAME
average pooling), its last block max-pools in the pool branch, and it classifies into 1008 classes.
The layout and the layer names follow pytorch-fid's `fid_inception_v3()` (torchvision's Inception3 with
the FIDInceptionA/C/E_1/E_2 blocks), so its state dict maps one to one onto the Keras layers; the parity
against pytorch-fid is tests/test_fid_inception.py.

Input: float32 [N, 299, 299, 3] scaled to [-1, 1]. Outputs: the 2048-d average-pool features and the
1008 logits.
"""
import numpy as np

INPUT_SIZE = 299
FEATURE_DIM = 2048
NUM_LOGITS = 1008
BATCH_NORM_EPSILON = 1e-3  # torchvision's BasicConv2d, as in the TF graph


class _Builder:
  """Adds conv-BN-ReLU units named after pytorch-fid's modules ('Mixed_5b.branch1x1', ...)."""

  def __init__(self):
    import keras
    self.layers = keras.layers

  def conv(self, x, name, filters, kernel, strides=1, padding="valid"):
    # Every padded convolution of the network has stride 1 and pads (k - 1) / 2: Keras's "same".
    x = self.layers.Conv2D(filters, kernel, strides, padding, use_bias=False, dtype="float32",
                           name=f"{name}.conv")(x)
    x = self.layers.BatchNormalization(epsilon=BATCH_NORM_EPSILON, dtype="float32", name=f"{name}.bn")(x)
    return self.layers.ReLU(dtype="float32", name=f"{name}.relu")(x)

  def concat(self, tensors, name):
    return self.layers.Concatenate(axis=-1, dtype="float32", name=name)(tensors)

  def pool_branch(self, x, name, filters, pooling="average"):
    """3x3 stride-1 pooling then a 1x1 unit. TF's SAME average pooling divides by the number of pixels
    inside the image (pytorch-fid's count_include_pad=False); its max pooling ignores the padding."""
    pool = self.layers.AveragePooling2D if pooling == "average" else self.layers.MaxPooling2D
    x = pool(3, strides=1, padding="same", dtype="float32", name=f"{name}.{pooling}_pool")(x)
    return self.conv(x, f"{name}.branch_pool", filters, 1)

  def block_a(self, x, name, pool_features):
    branch1x1 = self.conv(x, f"{name}.branch1x1", 64, 1)
    branch5x5 = self.conv(x, f"{name}.branch5x5_1", 48, 1)
    branch5x5 = self.conv(branch5x5, f"{name}.branch5x5_2", 64, 5, padding="same")
    double = self.conv(x, f"{name}.branch3x3dbl_1", 64, 1)
    double = self.conv(double, f"{name}.branch3x3dbl_2", 96, 3, padding="same")
    double = self.conv(double, f"{name}.branch3x3dbl_3", 96, 3, padding="same")
    pooled = self.pool_branch(x, name, pool_features)
    return self.concat([branch1x1, branch5x5, double, pooled], name)

  def block_b(self, x, name):
    branch3x3 = self.conv(x, f"{name}.branch3x3", 384, 3, strides=2)
    double = self.conv(x, f"{name}.branch3x3dbl_1", 64, 1)
    double = self.conv(double, f"{name}.branch3x3dbl_2", 96, 3, padding="same")
    double = self.conv(double, f"{name}.branch3x3dbl_3", 96, 3, strides=2)
    pooled = self.layers.MaxPooling2D(3, strides=2, dtype="float32", name=f"{name}.max_pool")(x)
    return self.concat([branch3x3, double, pooled], name)

  def block_c(self, x, name, channels_7x7):
    c7 = channels_7x7
    branch1x1 = self.conv(x, f"{name}.branch1x1", 192, 1)
    branch7x7 = self.conv(x, f"{name}.branch7x7_1", c7, 1)
    branch7x7 = self.conv(branch7x7, f"{name}.branch7x7_2", c7, (1, 7), padding="same")
    branch7x7 = self.conv(branch7x7, f"{name}.branch7x7_3", 192, (7, 1), padding="same")
    double = self.conv(x, f"{name}.branch7x7dbl_1", c7, 1)
    for index, (kernel, filters) in enumerate([((7, 1), c7), ((1, 7), c7), ((7, 1), c7), ((1, 7), 192)]):
      double = self.conv(double, f"{name}.branch7x7dbl_{index + 2}", filters, kernel, padding="same")
    pooled = self.pool_branch(x, name, 192)
    return self.concat([branch1x1, branch7x7, double, pooled], name)

  def block_d(self, x, name):
    branch3x3 = self.conv(x, f"{name}.branch3x3_1", 192, 1)
    branch3x3 = self.conv(branch3x3, f"{name}.branch3x3_2", 320, 3, strides=2)
    branch7x7 = self.conv(x, f"{name}.branch7x7x3_1", 192, 1)
    branch7x7 = self.conv(branch7x7, f"{name}.branch7x7x3_2", 192, (1, 7), padding="same")
    branch7x7 = self.conv(branch7x7, f"{name}.branch7x7x3_3", 192, (7, 1), padding="same")
    branch7x7 = self.conv(branch7x7, f"{name}.branch7x7x3_4", 192, 3, strides=2)
    pooled = self.layers.MaxPooling2D(3, strides=2, dtype="float32", name=f"{name}.max_pool")(x)
    return self.concat([branch3x3, branch7x7, pooled], name)

  def block_e(self, x, name, pooling):
    branch1x1 = self.conv(x, f"{name}.branch1x1", 320, 1)
    branch3x3 = self.conv(x, f"{name}.branch3x3_1", 384, 1)
    branch3x3 = self.concat([self.conv(branch3x3, f"{name}.branch3x3_2a", 384, (1, 3), padding="same"),
                             self.conv(branch3x3, f"{name}.branch3x3_2b", 384, (3, 1), padding="same")],
                            f"{name}.branch3x3")
    double = self.conv(x, f"{name}.branch3x3dbl_1", 448, 1)
    double = self.conv(double, f"{name}.branch3x3dbl_2", 384, 3, padding="same")
    double = self.concat([self.conv(double, f"{name}.branch3x3dbl_3a", 384, (1, 3), padding="same"),
                          self.conv(double, f"{name}.branch3x3dbl_3b", 384, (3, 1), padding="same")],
                         f"{name}.branch3x3dbl")
    pooled = self.pool_branch(x, name, 192, pooling)
    return self.concat([branch1x1, branch3x3, double, pooled], name)


def build_fid_inception(input_size=INPUT_SIZE):
  """The FID Inception as a Keras model: [N, S, S, 3] in [-1, 1] -> (pool [N, 2048], logits [N, 1008]).

  The weights are random until `load_state_dict` fills them; 299 is the size the features are defined at.
  """
  import keras
  build = _Builder()
  inputs = keras.Input((input_size, input_size, 3), dtype="float32", name="images")
  x = build.conv(inputs, "Conv2d_1a_3x3", 32, 3, strides=2)                     # [N, 149, 149, 32]
  x = build.conv(x, "Conv2d_2a_3x3", 32, 3)                                     # [N, 147, 147, 32]
  x = build.conv(x, "Conv2d_2b_3x3", 64, 3, padding="same")                     # [N, 147, 147, 64]
  x = keras.layers.MaxPooling2D(3, strides=2, dtype="float32", name="maxpool1")(x)  # [N, 73, 73, 64]
  x = build.conv(x, "Conv2d_3b_1x1", 80, 1)
  x = build.conv(x, "Conv2d_4a_3x3", 192, 3)                                    # [N, 71, 71, 192]
  x = keras.layers.MaxPooling2D(3, strides=2, dtype="float32", name="maxpool2")(x)  # [N, 35, 35, 192]
  x = build.block_a(x, "Mixed_5b", 32)
  x = build.block_a(x, "Mixed_5c", 64)
  x = build.block_a(x, "Mixed_5d", 64)                                          # [N, 35, 35, 288]
  x = build.block_b(x, "Mixed_6a")                                              # [N, 17, 17, 768]
  for name, channels_7x7 in (("Mixed_6b", 128), ("Mixed_6c", 160), ("Mixed_6d", 160), ("Mixed_6e", 192)):
    x = build.block_c(x, name, channels_7x7)
  x = build.block_d(x, "Mixed_7a")                                              # [N, 8, 8, 1280]
  x = build.block_e(x, "Mixed_7b", "average")
  x = build.block_e(x, "Mixed_7c", "max")  # the graph's max pooling here, pytorch-fid's FIDInceptionE_2
  pool = keras.layers.GlobalAveragePooling2D(dtype="float32", name="avgpool")(x)  # [N, 2048]
  logits = keras.layers.Dense(NUM_LOGITS, dtype="float32", name="fc")(pool)
  return keras.Model(inputs, [pool, logits], name="fid_inception")


def _conv_kernel(weight):
  """torch's [out, in, kh, kw] -> Keras's [kh, kw, in, out]."""
  return np.transpose(weight, (2, 3, 1, 0))


def load_state_dict(model, state_dict) -> None:
  """Fills `model` (from `build_fid_inception`) from pytorch-fid's state dict {name: numpy array}.

  Every weight of the model must be in the dict with its shape, and every array of the dict must be used
  (num_batches_tracked aside): a file of another network fails here, naming the first mismatch.
  """
  used = set()

  def take(key, expected_shape):
    if key not in state_dict:
      raise ValueError(f"The state dict has no {key!r}: it is not pytorch-fid's FID Inception "
                       "(pt_inception-2015-12-05-*.pth).")
    value = np.asarray(state_dict[key], np.float32)
    if value.shape != tuple(expected_shape):
      raise ValueError(f"{key} has shape {value.shape} in the state dict; the FID Inception needs "
                       f"{tuple(expected_shape)}.")
    used.add(key)
    return value

  import keras
  for layer in model.layers:
    name = layer.name
    if isinstance(layer, keras.layers.Conv2D):
      kernel = layer.kernel.shape
      layer.kernel.assign(_conv_kernel(take(f"{name}.weight", (kernel[3], kernel[2], kernel[0], kernel[1]))))
    elif isinstance(layer, keras.layers.BatchNormalization):
      size = (layer.gamma.shape[0],)
      for variable, suffix in ((layer.gamma, "weight"), (layer.beta, "bias"),
                               (layer.moving_mean, "running_mean"), (layer.moving_variance, "running_var")):
        variable.assign(take(f"{name}.{suffix}", size))
    elif isinstance(layer, keras.layers.Dense):
      layer.kernel.assign(take(f"{name}.weight", layer.kernel.shape[::-1]).T)
      layer.bias.assign(take(f"{name}.bias", layer.bias.shape))
  unused = sorted(key for key in state_dict if key not in used and not key.endswith("num_batches_tracked"))
  if unused:
    raise ValueError(f"The state dict holds {len(unused)} arrays the FID Inception has no place for "
                     f"(first: {unused[0]!r}): it is not pytorch-fid's pt_inception-2015-12-05-*.pth.")
