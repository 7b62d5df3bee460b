"""FID Inception features (2048-d pool, 1008 logits) for FID/KID on RGB data, with the published weights.

The network is TF's `inception-2015-12-05` graph rebuilt in Keras (zoo/metrics/fid_inception.py); its
weights are pytorch-fid's `pt_inception-2015-12-05-6726825d.pth`, read without PyTorch and checked by
sha256. They cannot ship with the zoo (95 MB): give a local copy with `--inception_weights=FILE` or
$ZOO_INCEPTION_WEIGHTS, or leave it where pytorch-fid caches it (~/.cache/torch/hub/checkpoints/); online
it is downloaded from pytorch-fid's release once.

Three resize modes bring images to 299x299, each a published protocol (docs/metrics.md):
  clean           clean-fid's: PIL bicubic on each float32 channel (mode 'F'), clipped to 0..255, then the
                  graph's own scaling (x - 128) / 128
  legacy_tf       the original TF FID's: the graph's ResizeBilinear (TF1, no half-pixel centres) and
                  (x - 128) / 128
  legacy_pytorch  pytorch-fid's: bilinear with half-pixel centres (F.interpolate, align_corners=False)
                  on x / 255, then 2x - 1
"""
import hashlib
import os

import numpy as np

from zoo.metrics import fid_inception
from zoo.metrics import features

WEIGHTS_ENV = "ZOO_INCEPTION_WEIGHTS"
WEIGHTS_FILE = "pt_inception-2015-12-05-6726825d.pth"
WEIGHTS_URL = f"https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/{WEIGHTS_FILE}"
# The file name carries the first 8 hex digits of its sha256 (torch hub's convention); the full digest is
# the one torch-fidelity's copy of the same file is recorded with.
WEIGHTS_SHA256 = "6726825d0af5f729cebd5821db510b11b1cfad8faad88a03f1befd49fb9129b2"
NETWORK = "fid_inception_v3 (inception-2015-12-05)"
RESIZE_MODES = ("clean", "legacy_tf", "legacy_pytorch")
DEFAULT_RESIZE = "clean"
INPUT_SIZE = fid_inception.INPUT_SIZE
MIN_INPUT_SIZE = 75  # the smallest input the network's strided stem and reduction blocks accept
BATCH = 50  # 299x299 activations are large: small batches keep host memory modest


class InceptionWeightsUnavailableError(ValueError):
  """The FID Inception weights are neither given, cached, nor downloadable."""


def file_sha256(path) -> str:
  digest = hashlib.sha256()
  with open(path, "rb") as f:
    for chunk in iter(lambda: f.read(1 << 20), b""):
      digest.update(chunk)
  return digest.hexdigest()


def _cached_copies():
  """Where a copy may already lie: the zoo's cache, and pytorch-fid's (torch hub's) checkpoint folder."""
  torch_home = os.environ.get("TORCH_HOME") or os.path.join(os.path.expanduser("~"), ".cache", "torch")
  return [os.path.join(features.cache_dir(), WEIGHTS_FILE),
          os.path.join(torch_home, "hub", "checkpoints", WEIGHTS_FILE)]


def unavailable(reason: str) -> InceptionWeightsUnavailableError:
  """The one-line error for missing weights, naming the file and where to get it."""
  reason = " ".join(str(reason).split())[:160]
  return InceptionWeightsUnavailableError(
      f"the FID Inception weights are not available ({reason}): download {WEIGHTS_FILE} from {WEIGHTS_URL} "
      f"and pass --inception_weights=FILE to python -m zoo.evaluate (or set {WEIGHTS_ENV}=FILE).")


def _download() -> str:
  import urllib.request
  path = _cached_copies()[0]
  os.makedirs(os.path.dirname(path), exist_ok=True)
  temporary = f"{path}.{os.getpid()}.tmp"
  urllib.request.urlretrieve(WEIGHTS_URL, temporary)
  os.replace(temporary, path)
  return path


def resolve_weights(weights="default"):
  """`None` (random weights), a local .pth path, or 'default': $ZOO_INCEPTION_WEIGHTS, else a cached
  copy, else a download when online, else the one-line error."""
  if weights == "default" and os.environ.get(WEIGHTS_ENV):
    weights = os.environ[WEIGHTS_ENV]
  if weights is None:
    return None
  if weights != "default":
    if not os.path.isfile(weights):
      raise unavailable(f"{weights!r} does not exist")
    return weights
  for path in _cached_copies():
    if os.path.isfile(path):
      return path
  from zoo.data import tfds_source
  if not tfds_source.internet_reachable():
    raise unavailable("no local copy and no internet to download one")
  try:
    return _download()
  except OSError as e:
    raise unavailable(f"download failed: {e}") from None


def load_weights(model, path, check_sha256=True) -> str:
  """Fills the Keras FID Inception from pytorch-fid's .pth; returns the file's sha256."""
  from zoo.metrics import torch_state_dict
  digest = file_sha256(path)
  if check_sha256 and digest != WEIGHTS_SHA256:
    raise InceptionWeightsUnavailableError(
        f"{path} has sha256 {digest[:16]}..., not the published {WEIGHTS_SHA256[:16]}... of {WEIGHTS_FILE}; "
        f"download it again from {WEIGHTS_URL}.")
  try:
    state_dict = torch_state_dict.read_state_dict(path)
  except (OSError, EOFError) as e:
    raise InceptionWeightsUnavailableError(f"{path} could not be read ({e}); download {WEIGHTS_FILE} "
                                           f"again from {WEIGHTS_URL}.") from None
  fid_inception.load_state_dict(model, state_dict)
  return digest


def check_resize(resize):
  if resize not in RESIZE_MODES:
    raise ValueError(f"resize={resize!r} is not one of {', '.join(RESIZE_MODES)} (clean is clean-fid's).")
  return resize


def clean_resize(images, side=INPUT_SIZE) -> np.ndarray:
  """clean-fid's resize: float32 [N, side, side, C] by PIL bicubic on each channel as a float image."""
  from PIL import Image
  out = np.empty((len(images), side, side, images.shape[-1]), np.float32)
  for index, image in enumerate(images):
    for channel in range(images.shape[-1]):
      plane = Image.fromarray(image[..., channel].astype(np.float32), mode="F")
      out[index, ..., channel] = np.asarray(plane.resize((side, side), resample=Image.BICUBIC))
  return np.clip(out, 0.0, 255.0)


def to_network_input(images, resize, side=INPUT_SIZE):
  """uint8 [N, H, W, 3] -> float32 [N, side, side, 3] in [-1, 1], the way protocol `resize` does it."""
  import tensorflow as tf
  pixels = images.astype(np.float32)
  if resize == "clean":
    return tf.constant((clean_resize(images, side) - 128.0) / 128.0)
  if resize == "legacy_tf":
    resized = tf.raw_ops.ResizeBilinear(images=pixels, size=[side, side], align_corners=False,
                                        half_pixel_centers=False)
    return (resized - 128.0) / 128.0
  resized = tf.image.resize(pixels / 255.0, [side, side], method="bilinear", antialias=False)
  return 2.0 * resized - 1.0


class InceptionFeatures:
  """uint8 images [N, H, W, 1 or 3] -> FID Inception pool features [N, 2048] (and logits [N, 1008])."""

  def __init__(self, weights="default", resize=DEFAULT_RESIZE, input_size=INPUT_SIZE, check_sha256=True):
    if input_size < MIN_INPUT_SIZE:
      raise ValueError(f"input_size must be at least {MIN_INPUT_SIZE} for the FID Inception, got "
                       f"{input_size}.")
    self.resize = check_resize(resize)
    path = resolve_weights(weights)
    self._model = fid_inception.build_fid_inception(input_size)
    self.weights_sha256 = None if path is None else load_weights(self._model, path, check_sha256)
    self.input_size = self.input_side = input_size
    self.channels = None  # grayscale or RGB
    self.weights = "random" if path is None else os.path.basename(str(path))
    weights_id = "random" if path is None else self.weights_sha256[:16]
    self.fingerprint = f"fidinception_{weights_id}_{resize}_{input_size}"

  def protocol(self) -> dict:
    """The feature network of the report's protocol block."""
    return {"feature_network": NETWORK, "weights_file": self.weights,
            "weights_sha256": self.weights_sha256, "resize": self.resize, "input_size": self.input_size}

  def pool_and_logits(self, images):
    """(pool features [N, 2048], logits [N, 1008]) as float32, in batches of BATCH."""
    images = features.check_images(images)
    if images.shape[-1] not in (1, 3):
      raise ValueError(f"The FID Inception takes grayscale or RGB images, got {images.shape[-1]} channels.")
    if images.shape[-1] == 1:
      images = np.repeat(images, 3, axis=-1)  # gray as RGB, as the ImageNet network expects 3 channels
    pools, logits = [], []
    for start in range(0, len(images), BATCH):
      batch = to_network_input(images[start:start + BATCH], self.resize, self.input_size)
      pool, logit = self._model(batch, training=False)
      pools.append(np.asarray(pool))
      logits.append(np.asarray(logit))
    return np.concatenate(pools), np.concatenate(logits)

  def __call__(self, images):
    return self.pool_and_logits(images)[0]

  def extract(self, images, resize="area"):
    """(features, None): the Evaluator's interface. Images of every side S reach 299x299 by the protocol's
    resize, so samples and the reference (brought to S by the pipeline) take one path."""
    del resize  # the data pipeline's area/pad; the way to 299 is self.resize
    return self(images), None
