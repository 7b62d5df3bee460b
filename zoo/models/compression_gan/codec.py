"""compression_gan's file format and the codec that writes and reads it for one trained run.

A file is a 12-byte header (for a 28x28x1 image) followed by the ANS-coded code:

  offset  size  field
  0       2     magic b"GZ"
  2       1     format version (1)
  3       4     model id: the first 4 bytes of SHA-256 over the run's generator weights, entropy tables
                and settings; decoding with any other run is refused
  7       1-3   height, width, channels, each an unsigned LEB128 varint (1 byte each below 128)
  ...     2     CRC-16/CCITT (binascii.crc_hqx) of every byte before it and of the payload
  ...     rest  payload: the ANS coder's 32-bit words, little-endian, trailing zero bytes dropped

bpp is the whole file's size times 8 over the pixels, header included.

The entropy coder (constriction's ANS) reads integer frequency tables, not the network: each code
dimension's prior is evaluated once in float64 on the integers of its support, and turned into counts
summing to 2^16 (`integer_tables`). Encoder and decoder derive the same counts from the same
weights, and the model id hashes the counts too, so a machine whose maths rounded a count differently
is refused instead of decoding garbage. The encoder and decoder networks run in float64 NumPy one image
at a time, so an image's bytes do not depend on what else is in its batch.

A run trained further changes its weights and so its model id, and checkpoint rotation deletes the old
weights. So `zoo.compress` encodes only with a frozen codec: `Codec.save` writes the networks and tables
to <logdir>/codecs/<model id>/ (codec.npz and codec.json, the latter holding the arrays' SHA-256), which
the trainer never touches, and decoding looks the header's model id up there (`Codec.load`).
"""
import binascii
import dataclasses
import hashlib
import io
import json
import os
import shutil
import tempfile

import constriction
import numpy as np

from zoo import files
from zoo import pixels

MAGIC = b"GZ"
FORMAT_VERSION = 1
MODEL_ID_BYTES = 4
CRC_BYTES = 2
FIXED_HEADER_BYTES = len(MAGIC) + 1 + MODEL_ID_BYTES
MAX_SIDE = 4096             # largest height or width a header may claim
MAX_CHANNELS = 4
MAX_VARINT_BYTES = 2        # enough for MAX_SIDE
TABLE_TOTAL_BITS = 16       # frequency counts of every dimension sum to 2^16
TAIL_MASS = 1e-7            # prior mass left out of a dimension's support on each side (clipped codes)
MAX_SUPPORT = 2048          # largest |code| a table may cover
WORD_BYTES = 4
PINNED_ARRAYS = "codec.npz"   # a frozen codec's networks and entropy tables (Codec.save)
PINNED_INFO = "codec.json"    # its model id, shape, layers, the arrays' SHA-256 and where it came from


class CodecError(ValueError):
  """A file or image the codec cannot use; the message says what is wrong and what to do."""


# ---- header and container -------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Header:
  model_id: bytes
  shape: tuple  # (height, width, channels)


def _varint(value):
  out = bytearray()
  while True:
    byte, value = value & 0x7F, value >> 7
    out.append(byte | (0x80 if value else 0))
    if not value:
      return bytes(out)


def _read_varint(data, position, name):
  value = 0
  for i in range(MAX_VARINT_BYTES):
    if position + i >= len(data):
      raise CodecError(f"Truncated file: the header ends inside the {name} field.")
    byte = data[position + i]
    value |= (byte & 0x7F) << (7 * i)
    if not byte & 0x80:
      return value, position + i + 1
  raise CodecError(f"Corrupt header: the {name} field is longer than {MAX_VARINT_BYTES} bytes.")


def _check_shape(shape):
  height, width, channels = shape
  if not (1 <= height <= MAX_SIDE and 1 <= width <= MAX_SIDE and 1 <= channels <= MAX_CHANNELS):
    raise CodecError(f"Corrupt header: image shape {height}x{width}x{channels} is outside 1..{MAX_SIDE} "
                     f"pixels per side and 1..{MAX_CHANNELS} channels.")


def pack(header: Header, payload: bytes) -> bytes:
  """The file's bytes: header, CRC, payload."""
  _check_shape(header.shape)
  if len(header.model_id) != MODEL_ID_BYTES:
    raise ValueError(f"model id must be {MODEL_ID_BYTES} bytes, got {len(header.model_id)}.")
  head = MAGIC + bytes([FORMAT_VERSION]) + header.model_id + b"".join(_varint(n) for n in header.shape)
  crc = binascii.crc_hqx(payload, binascii.crc_hqx(head, 0))
  return head + crc.to_bytes(CRC_BYTES, "little") + payload


def unpack(data: bytes):
  """(Header, payload) of a file, after checking magic, version, shape and CRC."""
  if len(data) < FIXED_HEADER_BYTES:
    raise CodecError(f"Truncated or foreign file: {len(data)} bytes is shorter than the "
                     f"{FIXED_HEADER_BYTES}-byte header start.")
  if data[:len(MAGIC)] != MAGIC:
    raise CodecError(f"Not a compression_gan file: it starts with {bytes(data[:2])!r}, not {MAGIC!r}.")
  version = data[len(MAGIC)]
  if version != FORMAT_VERSION:
    raise CodecError(f"Unsupported format version {version}: this zoo reads version {FORMAT_VERSION}.")
  model_id = bytes(data[len(MAGIC) + 1:FIXED_HEADER_BYTES])
  position, shape = FIXED_HEADER_BYTES, []
  for name in ("height", "width", "channels"):
    value, position = _read_varint(data, position, name)
    shape.append(value)
  _check_shape(shape)
  if len(data) < position + CRC_BYTES:
    raise CodecError("Truncated file: the header ends before its checksum.")
  payload = bytes(data[position + CRC_BYTES:])
  stored = int.from_bytes(data[position:position + CRC_BYTES], "little")
  if binascii.crc_hqx(payload, binascii.crc_hqx(bytes(data[:position]), 0)) != stored:
    raise CodecError("Corrupt file: the checksum does not match (truncated or altered bytes).")
  return Header(model_id, tuple(shape)), payload


# ---- entropy tables and ANS -----------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class EntropyTables:
  """Per code dimension d: codes offsets[d] .. offsets[d] + widths[d] - 1 with integer counts [D, W]."""
  offsets: np.ndarray  # int64 [D]
  widths: np.ndarray   # int64 [D]
  counts: np.ndarray   # int64 [D, W], zero-padded past each row's width, rows sum to 2^16

  @property
  def probabilities(self):
    # Exact in float64 (integers below 2^53), so constriction sees the same table on every run.
    return self.counts.astype(np.float64)

  def digest(self):
    return hashlib.sha256(self.offsets.tobytes() + self.widths.tobytes() + self.counts.tobytes()).digest()


def integer_tables(cdf) -> EntropyTables:
  """Integer frequency tables from `cdf(values [N, D]) -> float64 [N, D]`, a factorized prior's CDF.

  Each dimension keeps the integers whose bins hold mass beyond TAIL_MASS on either side; the tails
  fold into the end bins. Counts are floor(p * (2^16 - W)) + 1 (every kept code stays codable) and
  the rounding remainder goes to the most probable code, so the result is a pure function of the CDF.
  """
  edges = np.arange(-MAX_SUPPORT - 0.5, MAX_SUPPORT + 1.0, 1.0)  # [2 * MAX_SUPPORT + 2]
  values = np.asarray(cdf(edges), np.float64)                     # [E, D]
  lows, highs = [], []
  for column in values.T:
    lows.append(int(np.searchsorted(column, TAIL_MASS, side="right")) - 1 - MAX_SUPPORT)
    highs.append(int(np.searchsorted(column, 1.0 - TAIL_MASS, side="left")) - 1 - MAX_SUPPORT)
  lows = np.clip(lows, -MAX_SUPPORT, MAX_SUPPORT)
  highs = np.maximum(np.clip(highs, -MAX_SUPPORT, MAX_SUPPORT), lows)
  widths = highs - lows + 1
  total = 2**TABLE_TOTAL_BITS
  counts = np.zeros([len(lows), int(widths.max())], np.int64)
  for d, (low, width) in enumerate(zip(lows, widths)):
    upper = values[low + MAX_SUPPORT + 1:low + MAX_SUPPORT + width + 1, d].copy()
    lower = np.concatenate([[0.0], upper[:-1]])
    upper[-1] = 1.0  # the tails belong to the end bins
    mass = np.clip(upper - lower, 0.0, None)
    row = np.floor(mass / mass.sum() * (total - width)).astype(np.int64) + 1
    row[np.argmax(row)] += total - row.sum()
    counts[d, :width] = row
  return EntropyTables(lows.astype(np.int64), widths.astype(np.int64), counts)


def max_payload_bytes(tables: EntropyTables) -> int:
  # constriction gives every symbol at least 2^-24 of probability, so no code costs more than 24 bits.
  return WORD_BYTES * (int(np.ceil(24 * len(tables.offsets) / 32)) + 2)


def encode_codes(codes, tables: EntropyTables):
  """ANS payload of one image's integer codes [D]; codes outside a table's support are clipped to it.

  Returns (payload bytes, number of codes clipped).
  """
  codes = np.asarray(codes, np.int64)
  clipped = np.clip(codes, tables.offsets, tables.offsets + tables.widths - 1)
  coder = constriction.stream.stack.AnsCoder()
  coder.encode_reverse((clipped - tables.offsets).astype(np.int32),
                       constriction.stream.model.Categorical(perfect=False), tables.probabilities)
  words = coder.get_compressed().astype("<u4").tobytes()
  # The last word is never zero, so its high zero bytes can go and be restored from the length.
  return words.rstrip(b"\0"), int(np.sum(clipped != codes))


def decode_codes(payload: bytes, tables: EntropyTables):
  """Integer codes [D] of an ANS payload; CodecError if the payload is not a whole, valid code."""
  padded = payload + b"\0" * (-len(payload) % WORD_BYTES)
  try:
    coder = constriction.stream.stack.AnsCoder(np.frombuffer(padded, "<u4").astype(np.uint32))
    symbols = coder.decode(constriction.stream.model.Categorical(perfect=False), tables.probabilities)
  except (ValueError, RuntimeError) as e:
    raise CodecError(f"Corrupt file: the entropy-coded payload does not decode ({e}).") from None
  if not coder.is_empty() or np.any(symbols >= tables.widths):
    raise CodecError("Corrupt file: the entropy-coded payload does not decode to one image's code.")
  return symbols.astype(np.int64) + tables.offsets


# ---- networks in NumPy ----------------------------------------------------------------------------

def _layer_ops(sequential):
  """[(kind, params)] of a Keras Sequential MLP of Dense and LeakyReLU layers."""
  import keras
  ops = []
  for layer in sequential.layers:
    if isinstance(layer, keras.layers.Dense):
      kernel, bias = (np.asarray(w, np.float64) for w in layer.get_weights())
      ops.append(("dense", (kernel, bias)))
      activation = keras.activations.serialize(layer.activation)
      name = activation if isinstance(activation, str) else activation.get("config", {}).get("name")
      if name not in ("linear", "sigmoid"):
        raise ValueError(f"The codec cannot run a Dense layer with activation {name!r}.")
      if name == "sigmoid":
        ops.append(("sigmoid", None))
    elif isinstance(layer, keras.layers.LeakyReLU):
      ops.append(("leaky_relu", float(layer.negative_slope)))
    else:
      raise ValueError(f"The codec cannot run layer {layer.name} ({type(layer).__name__}).")
  return ops


def run_mlp(ops, x):
  """The MLP on one flat float64 vector (a matrix-vector product per layer, so batch-independent)."""
  for kind, params in ops:
    if kind == "dense":
      x = x @ params[0] + params[1]
    elif kind == "leaky_relu":
      x = np.where(x > 0, x, params * x)
    else:
      x = 0.5 * (1.0 + np.tanh(0.5 * x))  # the logistic sigmoid, without overflow warnings
  return x


# ---- a codec bound to one trained run -------------------------------------------------------------

class Codec:
  """Encodes uint8 images [H, W, C] to bytes and back with the generator of one compression_gan run.

  `save(folder)` freezes it (NumPy arrays and entropy tables, no Keras) and `Codec.load(folder)` brings it
  back bit for bit, so a file stays decodable after the run has trained on and rotated its checkpoints.
  """

  def __init__(self, generator, config):
    if config.model != "compression_gan" or config.options.get("mode") != "codec":
      raise CodecError(f"Run {config.logdir} is a {config.model} run (mode "
                       f"{config.options.get('mode')!r}); the codec needs a compression_gan run with "
                       "mode=codec.")
    self.config = config
    self.source = f"run {config.logdir}"
    self.shape = tuple(int(n) for n in generator.image_shape)
    self.options = dict(config.options)
    self.encoder_ops = _layer_ops(generator.encoder)
    self.decoder_ops = _layer_ops(generator.decoder)
    prior = generator.prior
    self.tables = integer_tables(lambda y: prior.cdf(np.asarray(y, np.float64)[:, None]).numpy())
    self.max_payload = max_payload_bytes(self.tables)
    self.model_id = self._model_id(generator)
    self.clipped_codes = 0  # codes beyond their table so far, reported by compress_split

  def _model_id(self, generator):
    digest = hashlib.sha256()
    settings = {"format": FORMAT_VERSION, "shape": self.shape, "options": self.config.options}
    digest.update(json.dumps(settings, sort_keys=True).encode())
    for variable in generator.weights:
      digest.update(np.asarray(variable, np.float32).tobytes())
    digest.update(self.tables.digest())
    return digest.digest()[:MODEL_ID_BYTES]

  # ---- frozen copies ----

  def save(self, folder, **provenance):
    """Freezes the codec into `folder`, which appears whole or not at all; an existing one is kept.

    `provenance` (e.g. the run and checkpoint) is recorded in its codec.json. Returns `folder`.
    """
    arrays = {"offsets": self.tables.offsets, "widths": self.tables.widths, "counts": self.tables.counts}
    kinds = {}
    for network, ops in (("encoder", self.encoder_ops), ("decoder", self.decoder_ops)):
      kinds[network] = []
      for i, (kind, params) in enumerate(ops):
        kinds[network].append([kind, params if kind == "leaky_relu" else None])
        if kind == "dense":
          arrays[f"{network}_{i}_kernel"], arrays[f"{network}_{i}_bias"] = map(_compact, params)
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    data = buffer.getvalue()
    info = {"format": FORMAT_VERSION, "model_id": self.model_id.hex(), "shape": list(self.shape),
            "options": self.options, "layers": kinds, "sha256": hashlib.sha256(data).hexdigest(),
            **provenance}
    _write_folder(folder, {PINNED_ARRAYS: data, PINNED_INFO: (json.dumps(info, indent=2) + "\n").encode()})
    return folder

  @classmethod
  def load(cls, folder, config=None):
    """The codec frozen in `folder` by `save`; CodecError if it is missing, damaged or foreign."""
    try:
      with open(os.path.join(folder, PINNED_INFO)) as f:
        info = json.load(f)
      with open(os.path.join(folder, PINNED_ARRAYS), "rb") as f:
        data = f.read()
    except (OSError, ValueError) as e:
      reason = getattr(e, "strerror", None) or e
      raise CodecError(f"{folder} is not a readable pinned codec ({reason}).") from None
    if not isinstance(info, dict) or hashlib.sha256(data).hexdigest() != info.get("sha256"):
      raise CodecError(f"The pinned codec in {folder} is damaged: {PINNED_ARRAYS} does not match the "
                       f"checksum in {PINNED_INFO}. Restore the folder from a backup.")
    if info.get("format") != FORMAT_VERSION:
      raise CodecError(f"The pinned codec in {folder} is of format {info.get('format')}; this zoo reads "
                       f"format {FORMAT_VERSION}.")
    arrays = np.load(io.BytesIO(data))
    codec = cls.__new__(cls)
    codec.config = config
    codec.source = f"pinned codec {folder}"
    codec.shape = tuple(info["shape"])
    codec.options = info["options"]
    codec.encoder_ops, codec.decoder_ops = (_ops_from(arrays, info["layers"][network], network)
                                            for network in ("encoder", "decoder"))
    codec.tables = EntropyTables(arrays["offsets"], arrays["widths"], arrays["counts"])
    codec.max_payload = max_payload_bytes(codec.tables)
    codec.model_id = bytes.fromhex(info["model_id"])
    codec.clipped_codes = 0
    return codec

  # ---- coding ----

  def check_image(self, image):
    image = np.asarray(image)
    if image.dtype != np.uint8 or image.shape != self.shape:
      h, w, c = self.shape
      raise CodecError(f"This model codes uint8 images of {h}x{w} pixels with {c} channel(s) "
                       f"({'grayscale' if c == 1 else 'colour'}); got {image.dtype} {image.shape}.")
    return image

  def codes(self, image):
    """The rounded code [D] of one uint8 image."""
    x = pixels.uint8_to_unit_np(self.check_image(image).reshape(-1), np.float64)
    return np.round(run_mlp(self.encoder_ops, x)).astype(np.int64)

  def reconstruct(self, codes):
    x = run_mlp(self.decoder_ops, np.asarray(codes, np.float64))
    return pixels.unit_to_uint8_np(x).reshape(self.shape)

  def encode(self, image) -> bytes:
    payload, clipped = encode_codes(self.codes(image), self.tables)
    self.clipped_codes += clipped
    return pack(Header(self.model_id, self.shape), payload)

  def decode(self, data: bytes):
    header, payload = unpack(data)
    if header.model_id != self.model_id:
      raise CodecError(f"This file was encoded by model {header.model_id.hex()}, but {self.source} is model "
                       f"{self.model_id.hex()}: decode it with the codec that encoded it (zoo.compress "
                       "finds it among the run's pinned codecs).")
    if header.shape != self.shape:
      raise CodecError(f"Corrupt file: its header says {header.shape}, but model {self.model_id.hex()} "
                       f"only writes {self.shape}.")
    if len(payload) > self.max_payload:  # bounds the entropy decoder's work and memory
      raise CodecError(f"Corrupt file: its payload of {len(payload)} bytes exceeds the {self.max_payload} "
                       "bytes this model can produce.")
    return self.reconstruct(decode_codes(payload, self.tables))


def _compact(weights):
  """float64 `weights` stored as float32 when that is exact (they come from float32 variables), which halves
  a frozen codec; `_ops_from` widens them back, so decoding is bit for bit the same."""
  narrow = weights.astype(np.float32)
  return narrow if np.array_equal(narrow.astype(np.float64), weights) else weights


def _ops_from(arrays, layers, network):
  """The (kind, params) list of `run_mlp` from a frozen codec's layer kinds and arrays, in float64."""
  def dense(i):
    return tuple(np.asarray(arrays[f"{network}_{i}_{part}"], np.float64) for part in ("kernel", "bias"))
  return [(kind, dense(i) if kind == "dense" else param) for i, (kind, param) in enumerate(layers)]


def _write_folder(folder, contents):
  """Writes {name: bytes} into a new `folder` via a staging folder renamed into place; if `folder` already
  exists (pinned before, perhaps by another process at the same time), it is kept and nothing is written."""
  if os.path.isdir(folder):
    return
  parent = os.path.dirname(os.path.abspath(folder))
  staging = None
  try:
    os.makedirs(parent, exist_ok=True)
    staging = tempfile.mkdtemp(dir=parent, prefix=f".{os.path.basename(folder)}.")
    for name, data in contents.items():
      files.write_bytes(os.path.join(staging, name), data)
    try:
      os.rename(staging, folder)
      staging = None
    except OSError:
      if not os.path.isdir(folder):
        raise
  except files.WriteError:
    raise
  except OSError as e:
    raise files.WriteError(files.failure_message(folder, e, existed=False), e.errno) from e
  finally:
    if staging:
      shutil.rmtree(staging, ignore_errors=True)
