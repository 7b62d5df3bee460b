"""Reads a PyTorch state dict (.pth) into numpy arrays without PyTorch.

Both of torch.save's formats: the zip archive of torch >= 1.6 (`<name>/data.pkl` whose tensors point at
raw blobs `<name>/data/<key>`) and the older stream (magic number, protocol, system info, the pickle, the
list of storage keys, then each storage as an int64 element count and its raw bytes). The unpickler
accepts only what a state dict is made of (an OrderedDict of tensors); anything else, code included, is
refused, so reading a file runs nothing from it.
"""
import collections
import io
import pickle
import struct
import zipfile

import numpy as np

_STORAGE_DTYPES = {
    "FloatStorage": np.float32, "DoubleStorage": np.float64, "HalfStorage": np.float16,
    "LongStorage": np.int64, "IntStorage": np.int32, "ShortStorage": np.int16, "CharStorage": np.int8,
    "ByteStorage": np.uint8, "BoolStorage": np.bool_,
}
_LEGACY_MAGIC = 0x1950a86a20f9469cfc6c


class _Storage:
  """A tensor storage named in the pickle; its bytes are attached once read."""

  def __init__(self, dtype, key, view_offset=0, base=None):
    self.dtype, self.key, self.view_offset, self.base = np.dtype(dtype), str(key), view_offset, base
    self.array = None

  def elements(self):
    """The flat array this storage reads from: its own, or its base's for an old-format view."""
    return (self.base or self).array


class _Tensor:
  """A view (offset, size, stride in elements) into a storage, made an array once the storage is read."""

  def __init__(self, storage, offset, size, stride):
    self.storage, self.offset, self.size, self.stride = storage, offset, tuple(size), tuple(stride)

  def to_numpy(self):
    flat = self.storage.elements()
    start = self.storage.view_offset + self.offset
    if not self.size:
      return flat[start].copy()
    itemsize = flat.itemsize
    view = np.lib.stride_tricks.as_strided(flat[start:], self.size, [s * itemsize for s in self.stride])
    return np.array(view)


def _rebuild_tensor(storage, offset, size, stride, *unused):
  return _Tensor(storage, offset, size, stride)


def _rebuild_parameter(tensor, *unused):
  return tensor


class _StateDictUnpickler(pickle.Unpickler):
  _ALLOWED = {("collections", "OrderedDict"): collections.OrderedDict,
              ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
              ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
              ("torch._utils", "_rebuild_parameter"): _rebuild_parameter}

  def __init__(self, file, path):
    super().__init__(file)
    self.path, self.storages = path, {}

  def find_class(self, module, name):
    if module == "torch" and name in _STORAGE_DTYPES:
      return name
    if (module, name) in self._ALLOWED:
      return self._ALLOWED[(module, name)]
    raise ValueError(f"{self.path} is not a plain state dict: its pickle asks for {module}.{name}, which "
                     "this reader does not run; save the model's state_dict() instead.")

  def persistent_load(self, pid):
    # zip: ('storage', type, key, location, numel); old stream: the same plus (view_key, offset, size).
    if not isinstance(pid, tuple) or pid[0] != "storage" or pid[1] not in _STORAGE_DTYPES:
      raise ValueError(f"{self.path}: unsupported tensor storage {pid!r:.80}.")
    storage_type, key = pid[1], str(pid[2])
    if key not in self.storages:
      self.storages[key] = _Storage(_STORAGE_DTYPES[storage_type], key)
    view = pid[5] if len(pid) > 5 else None
    if view is None:
      return self.storages[key]
    view_key, view_offset, _ = view
    return _Storage(self.storages[key].dtype, view_key, view_offset, base=self.storages[key])


def _materialise(value):
  if isinstance(value, _Tensor):
    return value.to_numpy()
  if isinstance(value, dict):
    return collections.OrderedDict((key, _materialise(item)) for key, item in value.items())
  if isinstance(value, (list, tuple)):
    return type(value)(_materialise(item) for item in value)
  return value


def _read_zip(path) -> collections.OrderedDict:
  with zipfile.ZipFile(path) as archive:
    names = archive.namelist()
    pickles = [name for name in names if name.endswith("/data.pkl") or name == "data.pkl"]
    if len(pickles) != 1:
      raise ValueError(f"{path} is a zip file but not a torch.save archive (no single data.pkl in it).")
    prefix = pickles[0][:-len("data.pkl")]
    if f"{prefix}byteorder" in names and archive.read(f"{prefix}byteorder").strip() != b"little":
      raise ValueError(f"{path} was saved on a big-endian machine; re-save it on a little-endian one.")
    unpickler = _StateDictUnpickler(io.BytesIO(archive.read(pickles[0])), path)
    result = unpickler.load()
    for key, storage in unpickler.storages.items():
      storage.array = np.frombuffer(archive.read(f"{prefix}data/{key}"), storage.dtype.newbyteorder("<"))
  return result


def _read_stream(path) -> collections.OrderedDict:
  with open(path, "rb") as f:
    try:
      magic = pickle.Unpickler(f).load()
    except Exception:
      magic = None
    if magic != _LEGACY_MAGIC:
      raise ValueError(f"{path} is not a PyTorch .pth file (neither a torch.save zip archive nor the "
                       "older stream format).")
    _StateDictUnpickler(f, path).load()  # protocol version
    _StateDictUnpickler(f, path).load()  # system info: endianness and type sizes
    unpickler = _StateDictUnpickler(f, path)
    result = unpickler.load()
    keys = _StateDictUnpickler(f, path).load()
    for key in keys:
      storage = unpickler.storages[str(key)]
      (count,) = struct.unpack("<q", f.read(8))
      data = f.read(count * storage.dtype.itemsize)
      if len(data) != count * storage.dtype.itemsize:
        raise ValueError(f"{path} is truncated (storage {key} ends early); download it again.")
      storage.array = np.frombuffer(data, storage.dtype.newbyteorder("<"))
  return result


def read_state_dict(path) -> collections.OrderedDict:
  """{name: numpy array} of a .pth file saved by torch.save(model.state_dict(), path)."""
  result = _read_zip(path) if zipfile.is_zipfile(path) else _read_stream(path)
  if not isinstance(result, dict):
    raise ValueError(f"{path} holds a {type(result).__name__}, not a state dict.")
  return _materialise(result)
