#!/usr/bin/python3
"""Make the tiny torch.save checkpoints clipgrep's `model import` is tested on,
and what tools/convert/convert.py makes of them (the expected outputs).

    make_tiny_checkpoints.py [OUTDIR]     (default tests/golden/torch)

Writes, from the tiny random models of tools/reference/gen_tiny_model.py:
  tcmgc/pytorch_model_best.bin   an upstream TC-MGC state dict, keys
                                 prefixed "module." (DataParallel), clip.* fp16
  ea/pytorch_model_best.bin      an upstream EA-CLIP4Clip state dict, with a
                                 transposed (strided) tensor and a float64 one
  tcmgc.safetensors.gz, ea.safetensors.gz   convert.py's output, gzipped
  refuse-global.bin              a zip whose data.pkl calls os.system
  refuse-compressed.bin          the TC-MGC checkpoint with deflated entries
and the fuzz seeds tests/fuzz/pickle/seeds/{tcmgc,ea}-data.pkl, {tcmgc,ea}.zip.
"""
import gzip
import os
import pickle
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections import OrderedDict

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "tools", "reference"))
import st  # noqa: E402

BPE = os.path.join(REPO, "assets", "bpe_simple_vocab_16e6.txt.gz")


def state_dict(golden, prefix=""):
    tensors, _ = st.load(os.path.join(REPO, "tests", "golden", golden))
    sd = OrderedDict()
    for k in sorted(tensors):
        sd[prefix + k] = torch.from_numpy(tensors[k])
    sd._metadata = OrderedDict({"": {"version": 1}})  # as nn.Module.state_dict() has
    return sd


class System:
    def __reduce__(self):
        return (os.system, ("true",))


def write_zip(path, entries, method):
    with zipfile.ZipFile(path, "w", compression=method) as z:
        for name, data in entries:
            z.writestr(name, data)


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(REPO, "tests", "golden", "torch")
    seeds = os.path.join(REPO, "tests", "fuzz", "pickle", "seeds")
    os.makedirs(seeds, exist_ok=True)
    torch.manual_seed(0)
    tc = state_dict("tiny-tcmgc.safetensors", "module.")
    ea = state_dict("tiny-ea.safetensors")
    # a view with strides, as a checkpoint holding a transposed parameter has
    ea["clip.text_projection"] = ea["clip.text_projection"].t().contiguous().t()
    ea["clip.logit_scale"] = ea["clip.logit_scale"].double()
    for name, sd in (("tcmgc", tc), ("ea", ea)):
        d = os.path.join(out, name)
        os.makedirs(d, exist_ok=True)
        src = os.path.join(d, "pytorch_model_best.bin")
        torch.save(sd, src)
        with tempfile.TemporaryDirectory() as tmp:
            dst = os.path.join(tmp, "out.safetensors")
            subprocess.run([sys.executable, os.path.join(HERE, "convert.py"), src, "-o", dst,
                            "--bpe", BPE], check=True)
            with open(dst, "rb") as f, gzip.GzipFile(os.path.join(out, name + ".safetensors.gz"),
                                                     "wb", mtime=0) as g:
                shutil.copyfileobj(f, g)
        with zipfile.ZipFile(src) as z:
            pkl = [n for n in z.namelist() if n.endswith("/data.pkl")][0]
            with open(os.path.join(seeds, name + "-data.pkl"), "wb") as f:
                f.write(z.read(pkl))
            entries = [(n, z.read(n)) for n in z.namelist()]
        shutil.copy(src, os.path.join(seeds, name + ".zip"))
        if name == "tcmgc":
            write_zip(os.path.join(out, "refuse-compressed.bin"), entries, zipfile.ZIP_DEFLATED)
    write_zip(os.path.join(out, "refuse-global.bin"),
              [("archive/data.pkl", pickle.dumps(System(), protocol=2)), ("archive/version", b"3\n")],
              zipfile.ZIP_STORED)


if __name__ == "__main__":
    main()
