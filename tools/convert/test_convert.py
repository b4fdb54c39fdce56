#!/usr/bin/python3
"""Tests of convert.py on random-weight checkpoints it makes in every
supported format, at tiny shapes (seconds, CPU):

  upstream  pytorch_model_best.bin (torch.save zip state dict, clip.* fp16,
            heads fp32) for TC-MGC and for EA (meanP + excitation_aggregation,
            with intra_mlp and linear_mat as upstream saves them)
  openai    ViT-B-32.pt-style TorchScript archive (names without clip.,
            plus the input_resolution/context_length/vocab_size scalars)
  hf        Hugging Face model.safetensors + vocab.json + merges.txt

For each: the converted tensors equal the source's (names mapped, q/k/v
packed, projections transposed); the towers in PyTorch (clip_ref) give the
same embeddings as the source model; the file loads in the C engine
(`clipgrep tokenize --model OUT`, and `clipgrep bench encode --model OUT`,
which builds both towers) when a clipgrep binary is found; the tokenizer
carried in the file tokenizes like the shared BPE file.

    /usr/bin/python3 tools/convert/test_convert.py [--clipgrep PATH]
Exit 77 (skip) when ../shared/data/clip-bpe is absent.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(REPO, "tools", "reference"))
sys.path.insert(0, os.path.join(REPO, "tools", "train"))
import clip_ref  # noqa: E402
import convert  # noqa: E402
import st  # noqa: E402
import tinyclip  # noqa: E402

FAILS = []
CFG = {"image_size": 32, "patch": 16, "vision_width": 64, "vision_layers": 2, "vision_heads": 1,
       "text_width": 64, "text_layers": 2, "text_heads": 1, "embed_dim": 32, "context_length": 77,
       "vocab_size": 49408, "frames": 12, "max_words": 32}


def ok(cond, what):
    print(("ok    " if cond else "FAIL  ") + what)
    if not cond:
        FAILS.append(what)


def random_clip(seed):
    torch.manual_seed(seed)
    m = tinyclip.CLIP(CFG)
    with torch.no_grad():
        for p in m.parameters():
            p.add_(0.02 * torch.randn_like(p))
    return m


def upstream_state(model, head):
    """torch.save-able upstream state dict: clip.* fp16 as convert_weights
    leaves them (LayerNorms, embeddings and logit_scale stay fp32)."""
    sd = {}
    for k, v in model.state_dict().items():
        fp16 = (".attn." in k or ".mlp." in k or k in ("visual.conv1.weight", "visual.proj", "text_projection"))
        sd["clip." + k] = v.half() if fp16 else v.clone()
    sd.update(head)
    return sd


def tcmgc_head(d=32, k=3, seed=1):
    g = torch.Generator().manual_seed(seed)
    r = lambda *s: torch.randn(*s, generator=g) * 0.1  # noqa: E731
    h = {"frame_position_embeddings.weight": r(77, d)}
    for i in range(2):
        p = f"transformerClip.resblocks.{i}."
        h.update({p + "attn.in_proj_weight": r(3 * d, d), p + "attn.in_proj_bias": r(3 * d),
                  p + "attn.out_proj.weight": r(d, d), p + "attn.out_proj.bias": r(d),
                  p + "ln_1.weight": 1 + r(d), p + "ln_1.bias": r(d), p + "ln_2.weight": 1 + r(d),
                  p + "ln_2.bias": r(d), p + "mlp.c_fc.weight": r(4 * d, d), p + "mlp.c_fc.bias": r(4 * d),
                  p + "mlp.c_proj.weight": r(d, 4 * d), p + "mlp.c_proj.bias": r(d)})
    p = "conditional_transformer.pool_frames."
    for n in ("q_proj", "k_proj", "v_proj", "out_proj"):
        h[p + f"cross_attn.{n}.weight"] = r(d, d)
        h[p + f"cross_attn.{n}.bias"] = r(d)
    h[p + "linear_proj.weight"] = r(d, d)
    h[p + "linear_proj.bias"] = r(d)
    for i in (1, 2, 3):
        h[p + f"layer_norm{i}.weight"] = 1 + r(d)
        h[p + f"layer_norm{i}.bias"] = r(d)
    h["global_mat_weight"] = torch.eye(d) + r(d, d)
    h["local_mat_weight"] = torch.eye(d) + r(d, d)
    h["attentive_word_logit_weight"] = torch.eye(k) + r(k, k)
    h["concat_frame_word_logit_weight"] = torch.eye(k + 1) + r(k + 1, k + 1)
    for n in ("attentive_word_mat_weight", "attentive_word_mat_weight2",
              "attentive_frame_word_mat_weight", "attentive_frame_word_mat_weight2"):
        h[n] = torch.eye(k) + r(k, k)
    h["logit_weight"] = torch.eye(4) + r(4, 4)
    return h


def ea_head(d=32, f=12, seed=2):
    g = torch.Generator().manual_seed(seed)
    r = lambda *s: torch.randn(*s, generator=g) * 0.1  # noqa: E731
    h = {"linear_mat": torch.eye(f), "intra_mlp.0.weight": r(d, 2 * d), "intra_mlp.0.bias": r(d),
         "intra_mlp.2.weight": r(1, d), "intra_mlp.2.bias": r(1)}
    for b in ("scale", "aggregate"):
        h[f"se_block.{b}.fc.0.weight"] = r(3, f)
        h[f"se_block.{b}.fc.0.bias"] = r(3)
        h[f"se_block.{b}.fc.2.weight"] = r(f, 3)
        h[f"se_block.{b}.fc.2.bias"] = r(f)
    return h


class Holder(torch.nn.Module):
    """A module whose state dict is exactly the given names (OpenAI's
    archive layout), scriptable."""

    def __init__(self, sd):
        super().__init__()
        for k, v in sd.items():
            parts = k.split(".")
            mod = self
            for p in parts[:-1]:
                if not hasattr(mod, p):
                    mod.add_module(p, torch.nn.Module())
                mod = getattr(mod, p)
            if v.ndim == 0 and v.dtype in (torch.int64, torch.int32):
                mod.register_buffer(parts[-1], v)
            else:
                mod.register_parameter(parts[-1], torch.nn.Parameter(v, requires_grad=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


def hf_state(model):
    """Hugging Face CLIPModel names from an upstream-layout model."""
    sd = {k: v.detach().clone() for k, v in model.state_dict().items()}
    out = {
        "vision_model.embeddings.class_embedding": sd["visual.class_embedding"],
        "vision_model.embeddings.patch_embedding.weight": sd["visual.conv1.weight"],
        "vision_model.embeddings.position_embedding.weight": sd["visual.positional_embedding"],
        "vision_model.embeddings.position_ids": torch.arange(sd["visual.positional_embedding"].shape[0])[None],
        "vision_model.pre_layrnorm.weight": sd["visual.ln_pre.weight"],
        "vision_model.pre_layrnorm.bias": sd["visual.ln_pre.bias"],
        "vision_model.post_layernorm.weight": sd["visual.ln_post.weight"],
        "vision_model.post_layernorm.bias": sd["visual.ln_post.bias"],
        "visual_projection.weight": sd["visual.proj"].T.contiguous(),
        "text_model.embeddings.token_embedding.weight": sd["token_embedding.weight"],
        "text_model.embeddings.position_embedding.weight": sd["positional_embedding"],
        "text_model.embeddings.position_ids": torch.arange(77)[None],
        "text_model.final_layer_norm.weight": sd["ln_final.weight"],
        "text_model.final_layer_norm.bias": sd["ln_final.bias"],
        "text_projection.weight": sd["text_projection"].T.contiguous(),
        "logit_scale": sd["logit_scale"],
    }
    for tower, src, n in (("vision", "visual.transformer", CFG["vision_layers"]),
                          ("text", "transformer", CFG["text_layers"])):
        for i in range(n):
            a, b = f"{src}.resblocks.{i}.", f"{tower}_model.encoder.layers.{i}."
            w, bias = sd[a + "attn.in_proj_weight"], sd[a + "attn.in_proj_bias"]
            for j, q in enumerate("qkv"):
                d = w.shape[1]
                out[b + f"self_attn.{q}_proj.weight"] = w[j * d:(j + 1) * d].contiguous()
                out[b + f"self_attn.{q}_proj.bias"] = bias[j * d:(j + 1) * d].contiguous()
            out[b + "self_attn.out_proj.weight"] = sd[a + "attn.out_proj.weight"]
            out[b + "self_attn.out_proj.bias"] = sd[a + "attn.out_proj.bias"]
            out[b + "layer_norm1.weight"] = sd[a + "ln_1.weight"]
            out[b + "layer_norm1.bias"] = sd[a + "ln_1.bias"]
            out[b + "layer_norm2.weight"] = sd[a + "ln_2.weight"]
            out[b + "layer_norm2.bias"] = sd[a + "ln_2.bias"]
            out[b + "mlp.fc1.weight"] = sd[a + "mlp.c_fc.weight"]
            out[b + "mlp.fc1.bias"] = sd[a + "mlp.c_fc.bias"]
            out[b + "mlp.fc2.weight"] = sd[a + "mlp.c_proj.weight"]
            out[b + "mlp.fc2.bias"] = sd[a + "mlp.c_proj.bias"]
    return out


def hf_tokenizer_files(d, bpe):
    merges = convert.read_bpe(bpe)
    with open(os.path.join(d, "merges.txt"), "w", encoding="utf-8") as f:
        f.write(merges)
    b = convert.bytes_to_unicode()
    toks = b + [c + "</w>" for c in b] + ["".join(m.split(" ")) for m in merges.split("\n")[1:convert.N_MERGES + 1]]
    toks += ["<|startoftext|>", "<|endoftext|>"]
    with open(os.path.join(d, "vocab.json"), "w", encoding="utf-8") as f:
        json.dump({t: i for i, t in enumerate(toks)}, f)
    return merges


def expect_same(out, model, head, label):
    """Converted file == source: tensors by value, towers by output."""
    tensors, meta = st.load(out)
    sd = {"clip." + k: v.float().numpy() for k, v in model.state_dict().items()}
    sd.update({k: v.float().numpy() for k, v in head.items()})
    missing = sorted(set(sd) - set(tensors))
    extra = sorted(set(tensors) - set(sd))
    ok(not missing and not extra, f"{label}: tensor names (missing {missing[:3]}, extra {extra[:3]})")
    worst = max(float(np.abs(tensors[k].astype(np.float32) - sd[k]).max()) for k in sd if k in tensors)
    ok(worst < 2e-3, f"{label}: tensor values (max diff {worst:.1e}, fp16 rounding allowed)")
    r = clip_ref.load(out)
    x = torch.randn(2, 3, CFG["image_size"], CFG["image_size"], generator=torch.Generator().manual_seed(7))
    ids = torch.zeros(1, 32, dtype=torch.long)
    ids[0, :4] = torch.tensor([49406, 320, 736, 49407])
    with torch.no_grad():
        src = model.double()
        want_v = src.encode_image(x.double())
        want_s, _ = src.encode_text(ids)
        got_v = clip_ref.encode_image(r, x)
        got_s, _ = clip_ref.encode_text(r, ids)
        model.float()
    ev = float((got_v - want_v).abs().max() / want_v.abs().max())
    es = float((got_s - want_s).abs().max() / want_s.abs().max())
    ok(ev < 2e-2 and es < 2e-2, f"{label}: towers match the source model (image {ev:.1e}, text {es:.1e})")
    return meta


def c_checks(prog, out, label, bpe):
    if not prog:
        print(f"skip  {label}: no clipgrep binary for the C loader checks")
        return
    texts = ["a red square moves left", "Two  blue CIRCLES, then a star!"]
    a = subprocess.run([prog, "tokenize", "--model", out, "--ids", "-L", "32", *texts], capture_output=True, text=True)
    b = subprocess.run([prog, "tokenize", "--bpe", bpe, "--ids", "-L", "32", *texts], capture_output=True, text=True)
    ok(a.returncode == 0 and a.stdout == b.stdout and a.stdout.strip() != "",
       f"{label}: C engine loads it and its tokenizer matches the BPE file ({a.stderr.strip()[:120]})")
    r = subprocess.run([prog, "bench", "encode", "--model", out, "--batch", "1", "--seconds", "0.05"],
                       capture_output=True, text=True)
    if "Usage" in r.stderr and r.returncode != 0:
        print(f"skip  {label}: clipgrep bench encode not available")
        return
    ok(r.returncode == 0, f"{label}: C image and text towers build from it ({r.stderr.strip()[:160]})")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--clipgrep", default=os.environ.get("CLIPGREP", os.path.join(REPO, "clipgrep")))
    ap.add_argument("--bpe", default=convert.DEFAULT_BPE)
    args = ap.parse_args()
    if not os.path.exists(args.bpe):
        print(f"skip: {args.bpe} not found")
        sys.exit(77)
    prog = args.clipgrep if os.access(args.clipgrep, os.X_OK) else None
    torch.set_num_threads(2)
    with tempfile.TemporaryDirectory() as d:
        # upstream training checkpoints
        for name, head, arch in (("tcmgc", tcmgc_head(), "tcmgc"), ("ea", ea_head(), "ea")):
            model = random_clip(11)
            path = os.path.join(d, f"{name}-pytorch_model_best.bin")
            torch.save(upstream_state(model, head), path)
            out = os.path.join(d, f"{name}.safetensors")
            subprocess.run([sys.executable, os.path.join(HERE, "convert.py"), path, "-o", out], check=True)
            meta = expect_same(out, model, head, f"upstream {name}")
            ok(meta.get("clipgrep.architecture") == arch, f"upstream {name}: architecture {meta.get('clipgrep.architecture')}")
            if arch == "tcmgc":
                ok(meta.get("clipgrep.tcmgc.k") == "3", "upstream tcmgc: k from the ISA matrices")
            else:
                ok(meta.get("clipgrep.ea.se_type") == "excitation_aggregation" and
                   float(meta.get("clipgrep.ea.reduction_ratio")) == 4.0 and
                   meta.get("clipgrep.ea.aggregation_type") == "unity" and
                   meta.get("clipgrep.ea.sim_header") == "meanP",
                   "upstream ea: meanP, excitation_aggregation, r = 4, unity")
            c_checks(prog, out, f"upstream {name}", args.bpe)

        # OpenAI TorchScript
        model = random_clip(12)
        sd = {k: (v.half() if v.ndim >= 2 else v.clone()) for k, v in model.state_dict().items()}
        sd.update({"input_resolution": torch.tensor(32), "context_length": torch.tensor(77),
                   "vocab_size": torch.tensor(49408)})
        path = os.path.join(d, "ViT-B-32.pt")
        torch.jit.save(torch.jit.script(Holder(sd)), path)
        out = os.path.join(d, "openai.safetensors")
        subprocess.run([sys.executable, os.path.join(HERE, "convert.py"), path, "-o", out], check=True)
        meta = expect_same(out, model, {}, "openai")
        ok(meta.get("clipgrep.architecture") == "clip", "openai: architecture clip")
        c_checks(prog, out, "openai", args.bpe)

        # Hugging Face
        model = random_clip(13)
        hd = os.path.join(d, "clip-vit-base-patch32")
        os.makedirs(hd)
        st.save(os.path.join(hd, "model.safetensors"), {k: v.numpy() for k, v in hf_state(model).items()})
        hf_tokenizer_files(hd, args.bpe)
        out = os.path.join(d, "hf.safetensors")
        subprocess.run([sys.executable, os.path.join(HERE, "convert.py"), os.path.join(hd, "model.safetensors"),
                        "-o", out, "--dtype", "f16"], check=True)
        meta = expect_same(out, model, {}, "huggingface")
        c_checks(prog, out, "huggingface", args.bpe)

        # a vocab.json that disagrees with merges.txt is refused
        with open(os.path.join(hd, "vocab.json")) as f:
            v = json.load(f)
        v["hello</w>"], v["world</w>"] = v["world</w>"], v["hello</w>"]
        with open(os.path.join(hd, "vocab.json"), "w") as f:
            json.dump(v, f)
        r = subprocess.run([sys.executable, os.path.join(HERE, "convert.py"), hd, "-o", out + "2"],
                           capture_output=True, text=True)
        ok(r.returncode != 0 and "does not match" in r.stderr, "huggingface: a mismatched vocab.json is refused")

    print("FAIL: " + ", ".join(FAILS) if FAILS else "PASS")
    sys.exit(1 if FAILS else 0)


if __name__ == "__main__":
    main()
