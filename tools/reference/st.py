"""Minimal safetensors reader/writer on NumPy, so the reference tools need
nothing beyond Debian's python3-numpy (and python3-torch for the models).

Layout: u64 little-endian header length N, N bytes of JSON header, data.
"""
import json
import struct

import numpy as np

_DTYPES = {
    "F32": np.float32,
    "F16": np.float16,
    "I32": np.int32,
    "I64": np.int64,
    "U8": np.uint8,
}
_NAMES = {np.dtype(v): k for k, v in _DTYPES.items()}


def save(path, tensors, metadata=None):
    """Write {name: np.ndarray} (and string metadata) to path.

    Tensors are written in sorted name order; the header is padded with
    spaces to a multiple of 8 bytes so every tensor starts aligned.
    """
    header = {}
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    blobs = []
    offset = 0
    for name in sorted(tensors):
        arr = np.ascontiguousarray(tensors[name])
        if arr.dtype == np.float64:
            arr = arr.astype(np.float32)
        if arr.dtype not in _NAMES:
            raise ValueError(f"{name}: unsupported dtype {arr.dtype}")
        raw = arr.astype(arr.dtype.newbyteorder("<"), copy=False).tobytes()
        header[name] = {
            "dtype": _NAMES[arr.dtype],
            "shape": list(arr.shape),
            "data_offsets": [offset, offset + len(raw)],
        }
        blobs.append(raw)
        offset += len(raw)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for raw in blobs:
            f.write(raw)


def load(path):
    """Return ({name: np.ndarray}, metadata dict)."""
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    metadata = header.pop("__metadata__", {})
    base = 8 + n
    out = {}
    for name, info in header.items():
        begin, end = info["data_offsets"]
        if info["dtype"] == "BF16":
            raw = np.frombuffer(data[base + begin:base + end], dtype="<u2")
            arr = (raw.astype(np.uint32) << 16).view(np.float32)
        else:
            arr = np.frombuffer(data[base + begin:base + end], dtype=_DTYPES[info["dtype"]])
        out[name] = arr.reshape(info["shape"]).copy()
    return out, metadata


# --- multi-head files (core/model.h, doc/models.md "One file, several heads") ---

def heads(meta):
    """The head names of a multi-head file's metadata, or [] for a single model."""
    return [h.strip() for h in meta.get("clipgrep.heads", "").split(",") if h.strip()]


def densify(tensors, meta):
    """Expand sparse tables in place: "X.weight" [n, W] with "X.rows" (I32 [n])
    becomes the [clipgrep.text.vocab_size, W] table, zero but for those rows."""
    for name in [k for k in tensors if k.endswith(".rows")]:
        base = name[:-len(".rows")] + ".weight"
        rows, part = tensors.pop(name), tensors[base]
        full = np.zeros((int(meta["clipgrep.text.vocab_size"]), part.shape[1]), part.dtype)
        full[rows] = part
        tensors[base] = full
    return tensors


def view(tensors, meta, head):
    """Head `head`'s view of a multi-head file as a single model's
    (tensors, metadata): "head.<head>.X" over the shared X,
    "clipgrep.head.<head>.K" over "clipgrep.K", sparse tables expanded.
    head None: the file's shared tensors and keys (what model_load sees)."""
    own = f"head.{head}." if head is not None else None
    out = {k: v for k, v in tensors.items() if not k.startswith("head.")}
    if own is not None:
        if head not in heads(meta):
            raise ValueError(f"no head '{head}' (the file's heads: {meta.get('clipgrep.heads')})")
        for k, v in tensors.items():
            if k.startswith(own):
                out[k[len(own):]] = v
    m = {k: v for k, v in meta.items() if not k.startswith("clipgrep.head.") and k != "clipgrep.heads"}
    if own is not None:
        mk = "clipgrep.head." + head + "."
        for k, v in meta.items():
            if k.startswith(mk):
                m["clipgrep." + k[len(mk):]] = v
    # a sparse table's rows may sit in the head while the shared table is dense, or the reverse
    for k in list(out):
        if k.endswith(".rows") and k[:-len(".rows")] + ".weight" in out:
            w = k[:-len(".rows")] + ".weight"
            if own is not None and own + w in tensors and own + k not in tensors:
                del out[k]  # the head's own dense table
    return densify(out, m), m


def load_view(path, head=None):
    """(tensors, metadata) of one head of a multi-head file (st.view), or of
    a single model file (head None) with any sparse table expanded."""
    tensors, meta = load(path)
    return view(tensors, meta, head)
