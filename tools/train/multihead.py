#!/usr/bin/python3
"""multihead.py — join single-model clipgrep files into one multi-head file.

    multihead.py -o OUT.safetensors NAME=FILE [NAME=FILE ...]
                 [--base NAME] [--set NAME:clipgrep.KEY=VALUE ...] [--dense]

Every input must carry the same image tower (clip.visual.*, compared bit
for bit) and agree on frames, image size and the embedding width.  The
output holds (doc/models.md, "One file, several heads"; core/model.h):

- the shared tensors: the image tower, and the text tower and metadata of
  the --base head (default: the first input of architecture "clip", else
  the first input), with clipgrep.architecture "clip" so that a program
  that knows nothing of heads reads the file as that CLIP;
- clipgrep.heads = the NAMEs in the order given (the first TC-MGC and the
  first EA head are clipgrep's "tcmgc" and "ea" modes, the others modes of
  their own, named NAME);
- for each head, its tensors that differ from the shared ones under
  "head.NAME." (its head and, when fine-tuned, its text tower), and its
  metadata keys that differ under "clipgrep.head.NAME.";
- token embeddings stored sparse (their non-zero rows, "X.rows" I32 beside
  "X.weight"), unless --dense: the demo model's 49408-row table has 202
  non-zero rows, so four heads fit in a fraction of one dense table.

--set NAME:clipgrep.KEY=VALUE overrides a head's metadata (e.g. to run a
CLIP file as the meanP baseline: clipgrep.architecture=ea,
clipgrep.ea.sim_header=meanP, clipgrep.ea.se_type=none).  The output is
checked by reading every head back (st.view) against its input.
"""
import argparse
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "reference"))
import st  # noqa: E402

NAME_OK = set("abcdefghijklmnopqrstuvwxyz0123456789-_")
SHARED_KEYS_FROM_BASE = True
TOKEN = "clip.token_embedding.weight"


def fail(msg):
    sys.exit(f"multihead.py: {msg}")


def sparse(prefix, tensors, name, arr):
    """Store arr [V, W] as its non-zero rows under prefix+name (+ .rows)."""
    rows = np.nonzero(np.any(arr != 0, axis=1))[0].astype(np.int32)
    tensors[prefix + name] = np.ascontiguousarray(arr[rows])
    tensors[prefix + name[:-len(".weight")] + ".rows"] = rows


def build(inputs, base=None, sets=(), dense=False):
    """inputs: [(name, tensors, meta)] of single models -> (tensors, meta)."""
    names = [n for n, _, _ in inputs]
    for n in names:
        if not n or len(n) > 31 or set(n) - NAME_OK:
            fail(f"head name '{n}': use a-z, 0-9, '-', '_' (at most 31 characters)")
        if n == "fused":
            fail("'fused' is a search mode of its own: name the head otherwise")
    if len(set(names)) != len(names):
        fail("head names must differ")
    metas = {n: dict(m) for n, _, m in inputs}
    for s in sets:
        try:
            head, kv = s.split(":", 1)
            k, v = kv.split("=", 1)
        except ValueError:
            fail(f"--set {s}: expected NAME:clipgrep.KEY=VALUE")
        if head not in metas or not k.startswith("clipgrep."):
            fail(f"--set {s}: no head '{head}', or the key is not clipgrep.*")
        metas[head][k] = v
    by = {n: t for n, t, _ in inputs}
    if base is None:
        base = next((n for n, _, m in inputs if m.get("clipgrep.architecture", "clip") == "clip"), names[0])
    if base not in by:
        fail(f"--base {base}: no such head")
    ref = by[base]
    vis = sorted(k for k in ref if k.startswith("clip.visual."))
    for n in names:
        t = by[n]
        if sorted(k for k in t if k.startswith("clip.visual.")) != vis or any(
                t[k].dtype != ref[k].dtype or not np.array_equal(t[k], ref[k]) for k in vis):
            fail(f"{n}: its image tower differs from {base}'s (heads of one file share one tower)")
        for k in ("clipgrep.frames", "clipgrep.embed_dim", "clipgrep.vision.image_size"):
            if metas[n].get(k) != metas[base].get(k):
                fail(f"{n}: {k} is {metas[n].get(k)} but {base}'s is {metas[base].get(k)}")

    out = {}
    for k, v in ref.items():
        if k.startswith("clip."):
            out[k] = v
    meta = {k: v for k, v in metas[base].items()}
    meta["clipgrep.architecture"] = "clip"
    meta.pop("clipgrep.name", None)
    if "clipgrep.name" in metas[base]:
        meta["clipgrep.name"] = metas[base]["clipgrep.name"]
    for k in [k for k in meta if k.startswith("clipgrep.ea.") or k.startswith("clipgrep.tcmgc.")]:
        del meta[k]
    meta["clipgrep.text.vocab_size"] = str(ref[TOKEN].shape[0])
    meta["clipgrep.heads"] = ",".join(names)
    for n in names:
        t, m = by[n], metas[n]
        for k, v in t.items():
            if k.startswith("clip.visual."):
                continue
            if k in out and out[k].dtype == v.dtype and np.array_equal(out[k], v):
                continue
            out[f"head.{n}.{k}"] = v
        for k, v in m.items():
            if meta.get(k) != v:
                meta[f"clipgrep.head.{n}.{k[len('clipgrep.'):]}"] = v
        for k in meta:
            if k.startswith("clipgrep.") and not k.startswith("clipgrep.head.") and k != "clipgrep.heads" \
                    and k not in m and k not in ("clipgrep.architecture", "clipgrep.name"):
                fail(f"{n}: has no {k}, which the shared keys set (a head cannot unset a key)")
        if "clipgrep.architecture" not in m:
            meta[f"clipgrep.head.{n}.architecture"] = "clip"
    if not dense:
        for k in [k for k in out if k == TOKEN or k.endswith("." + TOKEN)]:
            arr = out.pop(k)
            sparse(k[:-len(TOKEN)], out, TOKEN, arr)
    return out, {k: str(v) for k, v in meta.items()}


def check(out, meta, inputs, sets):
    """Every head read back as a single model equals its input."""
    for n, t, m in inputs:
        vt, vm = st.view(dict(out), dict(meta), n)
        want = dict(m)
        for s in sets:
            head, kv = s.split(":", 1)
            if head == n:
                k, v = kv.split("=", 1)
                want[k] = v
        want.setdefault("clipgrep.architecture", "clip")
        want["clipgrep.text.vocab_size"] = meta["clipgrep.text.vocab_size"]
        if set(vt) != set(t):
            fail(f"{n}: read back with tensors {sorted(set(vt) ^ set(t))[:4]} added or missing")
        for k in t:
            if vt[k].dtype != t[k].dtype or not np.array_equal(vt[k], t[k]):
                fail(f"{n}: {k} reads back different")
        for k, v in want.items():
            if vm.get(k) != str(v):
                fail(f"{n}: metadata {k} reads back as {vm.get(k)!r}, not {v!r}")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    ap.add_argument("heads", nargs="+", metavar="NAME=FILE")
    ap.add_argument("-o", "--out", required=True)
    ap.add_argument("--base", help="the head whose text tower and metadata are the shared ones")
    ap.add_argument("--set", action="append", default=[], metavar="NAME:clipgrep.KEY=VALUE")
    ap.add_argument("--dense", action="store_true", help="keep token embeddings dense")
    args = ap.parse_args(argv)
    inputs = []
    for spec in args.heads:
        if "=" not in spec:
            ap.error(f"{spec}: expected NAME=FILE")
        n, path = spec.split("=", 1)
        t, m = st.load_view(path)
        if st.heads(m):
            fail(f"{path}: already a multi-head file")
        inputs.append((n, t, m))
    out, meta = build(inputs, args.base, args.set, args.dense)
    check(out, meta, inputs, args.set)
    tmp = args.out + ".tmp"
    st.save(tmp, out, meta)
    os.replace(tmp, args.out)
    print(f"{args.out}: heads {meta['clipgrep.heads']}, {os.path.getsize(args.out)} bytes")


if __name__ == "__main__":
    main()
