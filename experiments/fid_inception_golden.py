"""Makes tests/golden/fid_inception.npz: pytorch-fid's outputs with seeded random weights (the parity test).

  pip install torch==2.13.0 && pip install --no-deps pytorch-fid   # on a developer machine only
  python -m experiments.fid_inception_golden [--out=tests/golden/fid_inception.npz]

It also writes tests/golden/tiny_zip.pth and tiny_legacy.pth (a few arrays, 2-5 KB) beside --out.

The published weights cannot be fetched here, so parity is shown with random ones: numpy draws a state
dict from WEIGHTS_SEED for the names and shapes of pytorch-fid's `fid_inception_v3()`; pytorch-fid's own
InceptionV3 (its resize, its [-1, 1] scaling, its FIDInceptionA/C/E blocks) loads it and scores
`golden_inputs()`. The golden file keeps those names and shapes and the outputs, not the 24M weights:
tests/test_fid_inception.py draws the same weights with numpy, writes nothing, and checks the Keras port.
The script also saves the state dict with torch.save in both of its formats and checks that
zoo.metrics.torch_state_dict reads them back bit for bit, and that the Keras port loaded from that file
matches pytorch-fid. It takes about a minute on 2 cores.

pytorch-fid builds on torchvision's Inception3; no torchvision wheel on PyPI loads with torch 2.13's CPU
build, so `_torchvision_inception()` rebuilds the torchvision modules pytorch-fid subclasses (BasicConv2d,
InceptionA-E, Inception3's stem and fc) from torchvision's source, and pytorch-fid's module runs unchanged
on top of them.
"""
import os
import sys
import tempfile
import types

import numpy as np
from absl import app, flags

GOLDEN_DIR = os.path.join(os.path.dirname(__file__), "..", "tests", "golden")
GOLDEN = os.path.join(GOLDEN_DIR, "fid_inception.npz")
WEIGHTS_SEED = 20151205
INPUT_SIDE = 64  # pytorch-fid resizes to 299 itself, so its resize is checked too


def golden_inputs() -> np.ndarray:
  """uint8 [2, 64, 64, 3]: seeded uniform noise, and a smooth colour gradient."""
  noise = np.random.default_rng(0).integers(0, 256, (INPUT_SIDE, INPUT_SIDE, 3), dtype=np.uint8)
  ramp = np.linspace(0.0, 1.0, INPUT_SIDE)
  rows, columns = np.meshgrid(ramp, ramp, indexing="ij")
  radius = np.sqrt((rows - 0.5) ** 2 + (columns - 0.5) ** 2) / np.sqrt(0.5)
  gradient = np.round(np.stack([rows, columns, 1.0 - radius], axis=-1) * 255).astype(np.uint8)
  return np.stack([noise, gradient])


def random_state_dict(names, shapes, seed=WEIGHTS_SEED) -> dict:
  """{name: float32 array}, drawn in the given order: He-scaled kernels and BatchNorm statistics near
  (0, 1), so activations neither vanish nor explode through the 94 convolutions."""
  rng = np.random.default_rng(seed)
  state = {}
  for name, shape in zip(names, shapes):
    shape = tuple(int(size) for size in shape)
    if name.endswith("num_batches_tracked"):
      continue
    if name.endswith("running_var") or (name.endswith(".weight") and len(shape) == 1):
      value = rng.uniform(0.5, 1.5, shape)
    elif name.endswith(".weight"):
      value = rng.standard_normal(shape) * np.sqrt(2.0 / np.prod(shape[1:]))
    else:  # biases and running means
      value = rng.standard_normal(shape) * 0.1
    state[name] = value.astype(np.float32)
  return state


def tiny_state_dict():
  """A few small arrays in the layouts a state dict holds (a conv kernel, BatchNorm statistics, an int64
  counter), written by torch.save in both formats for the reader's test (tests/golden/tiny_*.pth)."""
  kernel = (np.arange(2 * 3 * 3 * 5, dtype=np.float32) / 7.0 - 4.0).reshape(2, 3, 3, 5)
  return {"conv.weight": kernel, "bn.running_var": np.linspace(0.5, 1.5, 2, dtype=np.float32),
          "bn.num_batches_tracked": np.array(12345678901, np.int64),
          "fc.bias": np.array([1e-30, -3.5, 65504.0], np.float32)}


def write_tiny_files(folder):
  """The tiny state dict saved by torch: one tensor a transposed view, one a slice of a larger storage."""
  import torch
  arrays = tiny_state_dict()
  tensors = {name: torch.from_numpy(value.copy()) for name, value in arrays.items()}
  reversed_axes = arrays["conv.weight"].transpose(3, 2, 1, 0).copy()
  tensors["conv.weight"] = torch.from_numpy(reversed_axes).permute(3, 2, 1, 0)
  longer = np.concatenate([[9.0, 9.0], arrays["fc.bias"]]).astype(np.float32)
  tensors["fc.bias"] = torch.from_numpy(longer)[2:]
  for zip_format, name in ((True, "tiny_zip.pth"), (False, "tiny_legacy.pth")):
    torch.save(tensors, os.path.join(folder, name), _use_new_zipfile_serialization=zip_format)


def _torchvision_inception():
  """A stand-in `torchvision` package holding the Inception modules pytorch-fid builds on."""
  import torch
  from torch import nn
  from torch.nn import functional as F

  class BasicConv2d(nn.Module):
    def __init__(self, in_channels, out_channels, **kwargs):
      super().__init__()
      self.conv = nn.Conv2d(in_channels, out_channels, bias=False, **kwargs)
      self.bn = nn.BatchNorm2d(out_channels, eps=0.001)

    def forward(self, x):
      return F.relu(self.bn(self.conv(x)))

  class InceptionA(nn.Module):
    def __init__(self, in_channels, pool_features):
      super().__init__()
      self.branch1x1 = BasicConv2d(in_channels, 64, kernel_size=1)
      self.branch5x5_1 = BasicConv2d(in_channels, 48, kernel_size=1)
      self.branch5x5_2 = BasicConv2d(48, 64, kernel_size=5, padding=2)
      self.branch3x3dbl_1 = BasicConv2d(in_channels, 64, kernel_size=1)
      self.branch3x3dbl_2 = BasicConv2d(64, 96, kernel_size=3, padding=1)
      self.branch3x3dbl_3 = BasicConv2d(96, 96, kernel_size=3, padding=1)
      self.branch_pool = BasicConv2d(in_channels, pool_features, kernel_size=1)

  class InceptionB(nn.Module):
    def __init__(self, in_channels):
      super().__init__()
      self.branch3x3 = BasicConv2d(in_channels, 384, kernel_size=3, stride=2)
      self.branch3x3dbl_1 = BasicConv2d(in_channels, 64, kernel_size=1)
      self.branch3x3dbl_2 = BasicConv2d(64, 96, kernel_size=3, padding=1)
      self.branch3x3dbl_3 = BasicConv2d(96, 96, kernel_size=3, stride=2)

    def forward(self, x):
      double = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
      return torch.cat([self.branch3x3(x), double, F.max_pool2d(x, kernel_size=3, stride=2)], 1)

  class InceptionC(nn.Module):
    def __init__(self, in_channels, channels_7x7):
      super().__init__()
      c7 = channels_7x7
      self.branch1x1 = BasicConv2d(in_channels, 192, kernel_size=1)
      self.branch7x7_1 = BasicConv2d(in_channels, c7, kernel_size=1)
      self.branch7x7_2 = BasicConv2d(c7, c7, kernel_size=(1, 7), padding=(0, 3))
      self.branch7x7_3 = BasicConv2d(c7, 192, kernel_size=(7, 1), padding=(3, 0))
      self.branch7x7dbl_1 = BasicConv2d(in_channels, c7, kernel_size=1)
      self.branch7x7dbl_2 = BasicConv2d(c7, c7, kernel_size=(7, 1), padding=(3, 0))
      self.branch7x7dbl_3 = BasicConv2d(c7, c7, kernel_size=(1, 7), padding=(0, 3))
      self.branch7x7dbl_4 = BasicConv2d(c7, c7, kernel_size=(7, 1), padding=(3, 0))
      self.branch7x7dbl_5 = BasicConv2d(c7, 192, kernel_size=(1, 7), padding=(0, 3))
      self.branch_pool = BasicConv2d(in_channels, 192, kernel_size=1)

  class InceptionD(nn.Module):
    def __init__(self, in_channels):
      super().__init__()
      self.branch3x3_1 = BasicConv2d(in_channels, 192, kernel_size=1)
      self.branch3x3_2 = BasicConv2d(192, 320, kernel_size=3, stride=2)
      self.branch7x7x3_1 = BasicConv2d(in_channels, 192, kernel_size=1)
      self.branch7x7x3_2 = BasicConv2d(192, 192, kernel_size=(1, 7), padding=(0, 3))
      self.branch7x7x3_3 = BasicConv2d(192, 192, kernel_size=(7, 1), padding=(3, 0))
      self.branch7x7x3_4 = BasicConv2d(192, 192, kernel_size=3, stride=2)

    def forward(self, x):
      branch3x3 = self.branch3x3_2(self.branch3x3_1(x))
      branch7x7x3 = self.branch7x7x3_4(self.branch7x7x3_3(self.branch7x7x3_2(self.branch7x7x3_1(x))))
      return torch.cat([branch3x3, branch7x7x3, F.max_pool2d(x, kernel_size=3, stride=2)], 1)

  class InceptionE(nn.Module):
    def __init__(self, in_channels):
      super().__init__()
      self.branch1x1 = BasicConv2d(in_channels, 320, kernel_size=1)
      self.branch3x3_1 = BasicConv2d(in_channels, 384, kernel_size=1)
      self.branch3x3_2a = BasicConv2d(384, 384, kernel_size=(1, 3), padding=(0, 1))
      self.branch3x3_2b = BasicConv2d(384, 384, kernel_size=(3, 1), padding=(1, 0))
      self.branch3x3dbl_1 = BasicConv2d(in_channels, 448, kernel_size=1)
      self.branch3x3dbl_2 = BasicConv2d(448, 384, kernel_size=3, padding=1)
      self.branch3x3dbl_3a = BasicConv2d(384, 384, kernel_size=(1, 3), padding=(0, 1))
      self.branch3x3dbl_3b = BasicConv2d(384, 384, kernel_size=(3, 1), padding=(1, 0))
      self.branch_pool = BasicConv2d(in_channels, 192, kernel_size=1)

  class Inception3(nn.Module):
    """torchvision's Inception3 without the aux head (pytorch-fid asks for aux_logits=False)."""

    def __init__(self, num_classes=1000, aux_logits=False, init_weights=False):
      super().__init__()
      assert not aux_logits
      del init_weights
      self.Conv2d_1a_3x3 = BasicConv2d(3, 32, kernel_size=3, stride=2)
      self.Conv2d_2a_3x3 = BasicConv2d(32, 32, kernel_size=3)
      self.Conv2d_2b_3x3 = BasicConv2d(32, 64, kernel_size=3, padding=1)
      self.Conv2d_3b_1x1 = BasicConv2d(64, 80, kernel_size=1)
      self.Conv2d_4a_3x3 = BasicConv2d(80, 192, kernel_size=3)
      self.Mixed_5b, self.Mixed_5c = InceptionA(192, 32), InceptionA(256, 64)
      self.Mixed_5d = InceptionA(288, 64)
      self.Mixed_6a = InceptionB(288)
      self.Mixed_6b, self.Mixed_6c = InceptionC(768, 128), InceptionC(768, 160)
      self.Mixed_6d, self.Mixed_6e = InceptionC(768, 160), InceptionC(768, 192)
      self.Mixed_7a = InceptionD(768)
      self.Mixed_7b, self.Mixed_7c = InceptionE(1280), InceptionE(2048)
      self.fc = nn.Linear(2048, num_classes)

  def inception_v3(weights=None, **kwargs):
    assert weights is None
    return Inception3(**kwargs)

  package = types.ModuleType("torchvision")
  package.__version__ = "0.28.0"
  package.models = types.ModuleType("torchvision.models")
  package.models.inception = types.ModuleType("torchvision.models.inception")
  package.models.inception_v3 = inception_v3
  for block in (InceptionA, InceptionB, InceptionC, InceptionD, InceptionE, Inception3):
    setattr(package.models.inception, block.__name__, block)
  return package


def pytorch_fid_network(state_dict):
  """(pytorch-fid's InceptionV3 wrapper returning the 2048-d pool, its fc) with `state_dict` loaded."""
  import torch
  sys.modules.setdefault("torchvision", _torchvision_inception())
  from pytorch_fid import inception
  inception.load_state_dict_from_url = lambda *args, **kwargs: {
      name: torch.from_numpy(value) for name, value in state_dict.items()}
  network = inception.fid_inception_v3()
  inception.fid_inception_v3 = lambda: network  # the wrapper takes its blocks from this very network
  wrapper = inception.InceptionV3([inception.InceptionV3.BLOCK_INDEX_BY_DIM[2048]]).eval()
  return wrapper, network.fc


def reference_outputs(state_dict, images):
  """pytorch-fid's (pool [N, 2048], logits [N, 1008]) for uint8 images [N, H, W, 3]."""
  import torch
  wrapper, fc = pytorch_fid_network(state_dict)
  with torch.no_grad():
    batch = torch.from_numpy(images.transpose(0, 3, 1, 2).astype(np.float32) / 255.0)  # as ToTensor()
    pool = wrapper(batch)[0].flatten(1)
    return pool.numpy(), fc(pool).numpy()


def reference_names_and_shapes():
  """pytorch-fid's state dict layout: its names and shapes, in its order."""
  sys.modules.setdefault("torchvision", _torchvision_inception())
  from pytorch_fid import inception
  network = inception._inception_v3(num_classes=1008, aux_logits=False, weights=None)
  for name, block, argument in (("Mixed_5b", inception.FIDInceptionA, (192, 32)),
                                ("Mixed_5c", inception.FIDInceptionA, (256, 64)),
                                ("Mixed_5d", inception.FIDInceptionA, (288, 64)),
                                ("Mixed_6b", inception.FIDInceptionC, (768, 128)),
                                ("Mixed_6c", inception.FIDInceptionC, (768, 160)),
                                ("Mixed_6d", inception.FIDInceptionC, (768, 160)),
                                ("Mixed_6e", inception.FIDInceptionC, (768, 192)),
                                ("Mixed_7b", inception.FIDInceptionE_1, (1280,)),
                                ("Mixed_7c", inception.FIDInceptionE_2, (2048,))):
    setattr(network, name, block(*argument))
  return [(name, tuple(value.shape)) for name, value in network.state_dict().items()]


def check_reader_and_port(state_dict, images, pool, logits):
  """torch.save's two formats read back bit for bit, and the Keras port from the file matches."""
  import torch
  from zoo.metrics import inception, torch_state_dict
  tensors = {name: torch.from_numpy(value) for name, value in state_dict.items()}
  with tempfile.TemporaryDirectory() as folder:
    for zip_format in (True, False):
      path = os.path.join(folder, f"random_{zip_format}.pth")
      torch.save(tensors, path, _use_new_zipfile_serialization=zip_format)
      read = torch_state_dict.read_state_dict(path)
      assert all(np.array_equal(read[name], value) for name, value in state_dict.items()), zip_format
    extractor = inception.InceptionFeatures(weights=path, resize="legacy_pytorch", check_sha256=False)
    keras_pool, keras_logits = extractor.pool_and_logits(images)
  print(f"Keras port from the .pth vs pytorch-fid: pool max |diff| {np.abs(keras_pool - pool).max():.2e} "
        f"(max |pool| {np.abs(pool).max():.2f}), logits max |diff| {np.abs(keras_logits - logits).max():.2e} "
        f"(max |logit| {np.abs(logits).max():.2f})")


def main(argv):
  del argv
  names_and_shapes = reference_names_and_shapes()
  names = [name for name, _ in names_and_shapes]
  shapes = [shape for _, shape in names_and_shapes]
  state_dict = random_state_dict(names, shapes)
  images = golden_inputs()
  pool, logits = reference_outputs(state_dict, images)
  check_reader_and_port(state_dict, images, pool, logits)
  padded = np.zeros((len(shapes), 4), np.int64)
  for row, shape in enumerate(shapes):
    padded[row, :len(shape)] = shape
  os.makedirs(os.path.dirname(os.path.abspath(FLAGS.out)), exist_ok=True)
  write_tiny_files(os.path.dirname(os.path.abspath(FLAGS.out)))
  np.savez_compressed(FLAGS.out, names=np.array(names), shapes=padded,
                      ndims=np.array([len(shape) for shape in shapes]), pool=pool, logits=logits)
  print(f"Wrote {FLAGS.out} ({os.path.getsize(FLAGS.out)} bytes)")


FLAGS = flags.FLAGS
flags.DEFINE_string("out", GOLDEN, "Golden file to write.")

if __name__ == "__main__":
  app.run(main)
