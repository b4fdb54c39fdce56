#!/usr/bin/python3
"""Make the tiny checkpoints clipgrep's `model import` is tested on, in the
three formats it reads, and what tools/convert/convert.py makes of them
(the expected outputs).

    make_tiny_checkpoints.py [OUTDIR]     (default tests/golden/torch)

Writes, from the tiny random models of tools/reference/gen_tiny_model.py:
  tcmgc/pytorch_model_best.bin   an upstream TC-MGC state dict, keys
                                 prefixed "module." (DataParallel), clip.* fp16
  ea/pytorch_model_best.bin      an upstream EA-CLIP4Clip state dict, with a
                                 transposed (strided) tensor and a float64 one
  tcmgc.safetensors.gz, ea.safetensors.gz   convert.py's output, gzipped
  openai/ViT-B-32.pt             torch.jit.save of a traced tiny CLIP-shaped
                                 module with OpenAI's names (as OpenAI's
                                 ViT-B-32.pt is), tests/golden/tiny-clip's weights
  hf/model.safetensors           the same weights with Hugging Face CLIPModel
                                 names (q/k/v split, projections transposed,
                                 position_ids buffers)
  hf/vocab.json.gz               its vocab.json, gzipped (the test unpacks it
                                 and makes merges.txt from the bundled BPE)
  openai.safetensors.gz          convert.py's output, gzipped
  hf.safetensors.sha256          the SHA-256 of convert.py's output (the same
                                 weights as openai's: the 2 MB budget)
  refuse-global.bin              a zip whose data.pkl calls os.system
  refuse-compressed.bin          the TC-MGC checkpoint with deflated entries
and the fuzz seeds tests/fuzz/pickle/seeds/{tcmgc,ea}-data.pkl, {tcmgc,ea}.zip,
openai-data.pkl (a TorchScript module pickle) and openai.zip.
"""
import gzip
import hashlib
import json
import os
import pickle
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections import OrderedDict

import numpy as np
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
            # a fixed date: the file changes only when its content does
            z.writestr(zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0)), data, compress_type=method)


def convert(srcs, dst, extra=()):
    """convert.py on srcs; its output kept gzipped at dst (.gz), or only its
    SHA-256 (.sha256, as sha256sum prints it) where the golden budget is tight."""
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "out.safetensors")
        subprocess.run([sys.executable, os.path.join(HERE, "convert.py"), *srcs, "-o", out,
                        "--bpe", BPE, *extra], check=True)
        if dst.endswith(".sha256"):
            with open(out, "rb") as f, open(dst, "w") as g:
                g.write(hashlib.sha256(f.read()).hexdigest() + "\n")
            return
        with open(out, "rb") as f, gzip.GzipFile(dst, "wb", mtime=0) as g:
            shutil.copyfileobj(f, g)


class Tree(torch.nn.Module):
    """Modules nested as the dotted names say, each tensor a parameter (or,
    for OpenAI's integer scalars, a buffer): the shape of OpenAI's traced
    CLIP as far as its state dict and data.pkl go."""

    def __init__(self, tensors):
        super().__init__()
        for name in sorted(tensors):
            *path, leaf = name.split(".")
            mod = self
            for part in path:
                if not hasattr(mod, part):
                    mod.add_module(part, torch.nn.Module())
                mod = getattr(mod, part)
            t = torch.from_numpy(tensors[name])
            if t.is_floating_point():
                mod.register_parameter(leaf, torch.nn.Parameter(t, requires_grad=False))
            else:
                mod.register_buffer(leaf, t)

    def forward(self, x):
        return x * self.logit_scale.float()


def openai_archive(path):
    tensors, _ = st.load(os.path.join(REPO, "tests", "golden", "tiny-clip.safetensors"))
    t = {k[len("clip."):]: v for k, v in tensors.items()}
    # OpenAI's archive keeps these as tensors in its state dict; build_model drops them
    t["input_resolution"] = np.array(32, dtype=np.int64)
    t["context_length"] = np.array(16, dtype=np.int64)
    t["vocab_size"] = np.array(64, dtype=np.int64)
    m = torch.jit.trace(Tree(t), torch.ones(2))
    torch.jit.save(m, path)


def hf_tensors():
    """tiny-clip with Hugging Face CLIPModel names (convert.py's from_hf, inverted)."""
    tensors, _ = st.load(os.path.join(REPO, "tests", "golden", "tiny-clip.safetensors"))
    simple = {
        "clip.visual.class_embedding": "vision_model.embeddings.class_embedding",
        "clip.visual.conv1.weight": "vision_model.embeddings.patch_embedding.weight",
        "clip.visual.positional_embedding": "vision_model.embeddings.position_embedding.weight",
        "clip.visual.ln_pre.weight": "vision_model.pre_layrnorm.weight",
        "clip.visual.ln_pre.bias": "vision_model.pre_layrnorm.bias",
        "clip.visual.ln_post.weight": "vision_model.post_layernorm.weight",
        "clip.visual.ln_post.bias": "vision_model.post_layernorm.bias",
        "clip.token_embedding.weight": "text_model.embeddings.token_embedding.weight",
        "clip.positional_embedding": "text_model.embeddings.position_embedding.weight",
        "clip.ln_final.weight": "text_model.final_layer_norm.weight",
        "clip.ln_final.bias": "text_model.final_layer_norm.bias",
        "clip.logit_scale": "logit_scale",
    }
    layer = {"ln_1": "layer_norm1", "ln_2": "layer_norm2", "mlp.c_fc": "mlp.fc1",
             "mlp.c_proj": "mlp.fc2", "attn.out_proj": "self_attn.out_proj"}
    out = {}
    for k, v in tensors.items():
        if k in simple:
            out[simple[k]] = v
        elif k == "clip.visual.proj":
            out["visual_projection.weight"] = np.ascontiguousarray(v.T)
        elif k == "clip.text_projection":
            out["text_projection.weight"] = np.ascontiguousarray(v.T)
        else:
            tower, rest = ("vision_model", k[len("clip.visual.transformer.resblocks."):]) \
                if k.startswith("clip.visual.") else ("text_model", k[len("clip.transformer.resblocks."):])
            n, rest = rest.split(".", 1)
            base = f"{tower}.encoder.layers.{n}."
            if rest.startswith("attn.in_proj_"):
                kind = rest[len("attn.in_proj_"):]
                for part, chunk in zip("qkv", np.split(v, 3, axis=0)):
                    out[base + f"self_attn.{part}_proj.{kind}"] = np.ascontiguousarray(chunk)
                continue
            for a, b in layer.items():
                if rest.startswith(a + "."):
                    out[base + b + rest[len(a):]] = v
                    break
            else:
                raise SystemExit(f"{k}: no Hugging Face name")
    npos = tensors["clip.visual.positional_embedding"].shape[0]
    ctx = tensors["clip.positional_embedding"].shape[0]
    out["vision_model.embeddings.position_ids"] = np.arange(npos, dtype=np.int64)[None]
    out["text_model.embeddings.position_ids"] = np.arange(ctx, dtype=np.int64)[None]
    return out


def bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("\u00a1"), ord("\u00ac") + 1)) + \
        list(range(ord("\u00ae"), ord("\u00ff") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return [chr(c) for c in cs]


def hf_vocab():
    """vocab.json as Hugging Face's CLIPTokenizer has it: CLIP's ids, by token."""
    with gzip.open(BPE, "rt", encoding="utf-8") as f:
        merges = f.read().split("\n")[1:48894 + 1]
    b = bytes_to_unicode()
    toks = b + [c + "</w>" for c in b] + ["".join(m.split(" ")) for m in merges]
    toks += ["<|startoftext|>", "<|endoftext|>"]
    return {t: i for i, t in enumerate(toks)}


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
        convert([src], os.path.join(out, name + ".safetensors.gz"))
        with zipfile.ZipFile(src) as z:
            pkl = [n for n in z.namelist() if n.endswith("/data.pkl")][0]
            with open(os.path.join(seeds, name + "-data.pkl"), "wb") as f:
                f.write(z.read(pkl))
            entries = [(n, z.read(n)) for n in z.namelist()]
        shutil.copy(src, os.path.join(seeds, name + ".zip"))
        if name == "tcmgc":
            write_zip(os.path.join(out, "refuse-compressed.bin"), entries, zipfile.ZIP_DEFLATED)
    # OpenAI's TorchScript archive
    d = os.path.join(out, "openai")
    os.makedirs(d, exist_ok=True)
    src = os.path.join(d, "ViT-B-32.pt")
    openai_archive(src)
    convert([src], os.path.join(out, "openai.safetensors.gz"))
    with zipfile.ZipFile(src) as z:
        pkl = [n for n in z.namelist() if n.endswith("/data.pkl")][0]
        with open(os.path.join(seeds, "openai-data.pkl"), "wb") as f:
            f.write(z.read(pkl))
    shutil.copy(src, os.path.join(seeds, "openai.zip"))
    # Hugging Face: model.safetensors, vocab.json, merges.txt in one folder
    d = os.path.join(out, "hf")
    os.makedirs(d, exist_ok=True)
    st.save(os.path.join(d, "model.safetensors"), hf_tensors(), {"format": "pt"})
    vocab = json.dumps(hf_vocab(), ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    with gzip.GzipFile(os.path.join(d, "vocab.json.gz"), "wb", mtime=0) as g:
        g.write(vocab)
    with tempfile.TemporaryDirectory() as tmp:
        with open(os.path.join(tmp, "vocab.json"), "wb") as f:
            f.write(vocab)
        with gzip.open(BPE, "rt", encoding="utf-8") as f, \
                open(os.path.join(tmp, "merges.txt"), "w", encoding="utf-8") as g:
            g.write("#version: 0.2\n" + "\n".join(f.read().split("\n")[1:48894 + 1]) + "\n")
        shutil.copy(os.path.join(d, "model.safetensors"), os.path.join(tmp, "model.safetensors"))
        convert([os.path.join(tmp, "model.safetensors")], os.path.join(out, "hf.safetensors.sha256"),
                ["--name", "tiny Hugging Face CLIP"])
    write_zip(os.path.join(out, "refuse-global.bin"),
              [("archive/data.pkl", pickle.dumps(System(), protocol=2)), ("archive/version", b"3\n")],
              zipfile.ZIP_STORED)


if __name__ == "__main__":
    main()
