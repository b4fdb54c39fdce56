#!/usr/bin/python3
"""Regenerate the CLIP-tower golden files:

  tests/golden/tiny-clip.safetensors      a tiny CLIP with seeded random
                                          weights (the upstream fp16 set
                                          stored as F16, the rest F32)
  tests/golden/tiny-clip-out.safetensors  inputs and clip_ref.py's outputs
                                          (float64 math, saved as F32)

    /usr/bin/python3 tools/reference/gen_clip_golden.py [OUTDIR]

Deterministic: seeded, so re-running gives the same bytes.  make_weights()
is shared with parity_full.py and bench_torch.py.
"""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import clip_ref  # noqa: E402
import st  # noqa: E402

# Tiny, but with every axis distinct so that a transposed or swapped
# dimension cannot pass: vision width 32 != text width 24 != embed 16,
# 17 image tokens, L = 12 < context 16.
TINY = dict(vision_width=32, vision_layers=2, vision_heads=2, patch=8, image_size=32,
            text_width=24, text_layers=2, text_heads=2, context=16, vocab=64,
            embed=16, max_words=12, frames=4)

# ViT-B/32 (MODELS.md 4.1).
VIT_B32 = dict(vision_width=768, vision_layers=12, vision_heads=12, patch=32, image_size=224,
               text_width=512, text_layers=12, text_heads=8, context=77, vocab=49408,
               embed=512, max_words=32, frames=12)


def is_fp16_upstream(name):
    """The tensors convert_weights casts to fp16 (MODELS.md 1.6)."""
    return (name.endswith(("conv1.weight", "attn.in_proj_weight", "attn.in_proj_bias",
                           "attn.out_proj.weight", "attn.out_proj.bias"))
            or ".mlp.c_" in name or name in ("clip.visual.proj", "clip.text_projection"))


def make_weights(cfg, seed, f16=is_fp16_upstream):
    """Seeded random CLIP weights {name: np.ndarray}, CLIP-like init scales
    (so activations stay O(1) through the blocks), LayerNorm gains and
    biases perturbed so that they matter.  Tensors for which f16(name) is
    true are returned as float16."""
    rng = np.random.default_rng(seed)
    t = {}

    def randn(*shape, std=1.0):
        return (rng.standard_normal(shape, dtype=np.float32) * np.float32(std)).astype(np.float32)

    def ln(prefix, d):
        t[prefix + ".weight"] = 1 + randn(d, std=0.1)
        t[prefix + ".bias"] = randn(d, std=0.1)

    def blocks(prefix, d, layers):
        for i in range(layers):
            p = f"{prefix}{i}."
            ln(p + "ln_1", d)
            ln(p + "ln_2", d)
            t[p + "attn.in_proj_weight"] = randn(3 * d, d, std=d ** -0.5)
            t[p + "attn.in_proj_bias"] = randn(3 * d, std=0.02)
            t[p + "attn.out_proj.weight"] = randn(d, d, std=d ** -0.5 * (2 * layers) ** -0.5)
            t[p + "attn.out_proj.bias"] = randn(d, std=0.02)
            t[p + "mlp.c_fc.weight"] = randn(4 * d, d, std=(2 * d) ** -0.5)
            t[p + "mlp.c_fc.bias"] = randn(4 * d, std=0.02)
            t[p + "mlp.c_proj.weight"] = randn(d, 4 * d, std=d ** -0.5 * (2 * layers) ** -0.5)
            t[p + "mlp.c_proj.bias"] = randn(d, std=0.02)

    vw, p, g = cfg["vision_width"], cfg["patch"], cfg["image_size"] // cfg["patch"]
    t["clip.visual.conv1.weight"] = randn(vw, 3, p, p, std=(3 * p * p) ** -0.5)
    t["clip.visual.class_embedding"] = randn(vw, std=vw ** -0.5)
    t["clip.visual.positional_embedding"] = randn(g * g + 1, vw, std=vw ** -0.5)
    ln("clip.visual.ln_pre", vw)
    blocks("clip.visual.transformer.resblocks.", vw, cfg["vision_layers"])
    ln("clip.visual.ln_post", vw)
    t["clip.visual.proj"] = randn(vw, cfg["embed"], std=vw ** -0.5)

    tw = cfg["text_width"]
    t["clip.token_embedding.weight"] = randn(cfg["vocab"], tw, std=0.5)
    t["clip.positional_embedding"] = randn(cfg["context"], tw, std=0.1)
    blocks("clip.transformer.resblocks.", tw, cfg["text_layers"])
    ln("clip.ln_final", tw)
    t["clip.text_projection"] = randn(tw, cfg["embed"], std=tw ** -0.5)
    t["clip.logit_scale"] = np.array(np.log(1 / 0.07), dtype=np.float32)

    for name in t:
        if f16(name):
            t[name] = t[name].astype(np.float16)
    return t


def metadata(cfg, name):
    return {
        "clipgrep.architecture": "clip",
        "clipgrep.name": name,
        "clipgrep.embed_dim": cfg["embed"],
        "clipgrep.vision.width": cfg["vision_width"],
        "clipgrep.vision.layers": cfg["vision_layers"],
        "clipgrep.vision.heads": cfg["vision_heads"],
        "clipgrep.vision.patch": cfg["patch"],
        "clipgrep.vision.image_size": cfg["image_size"],
        "clipgrep.text.width": cfg["text_width"],
        "clipgrep.text.layers": cfg["text_layers"],
        "clipgrep.text.heads": cfg["text_heads"],
        "clipgrep.text.context_length": cfg["context"],
        "clipgrep.text.vocab_size": cfg["vocab"],
        "clipgrep.max_words": cfg["max_words"],
        "clipgrep.frames": cfg["frames"],
    }


def tiny_f16(name):
    # The upstream fp16 set, except the last text block, kept F32 as a
    # checkpoint saved after .float() would be: both paths get exercised.
    return is_fp16_upstream(name) and not name.startswith("clip.transformer.resblocks.1.")


def main():
    outdir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "golden")
    cfg = TINY
    weights = make_weights(cfg, seed=20261125, f16=tiny_f16)
    meta = metadata(cfg, "tiny random CLIP for clipgrep's tests (gen_clip_golden.py)")
    st.save(os.path.join(outdir, "tiny-clip.safetensors"), weights, meta)
    model = clip_ref.from_arrays(weights, meta)

    rng = np.random.default_rng(7)
    S, L, V = cfg["image_size"], cfg["max_words"], cfg["vocab"]
    rgb = rng.integers(0, 256, size=(S, S, 3), dtype=np.uint8)
    rgb_norm = clip_ref.normalize_rgb(rgb).numpy()
    frames = np.stack([
        rgb_norm,
        rng.standard_normal((3, S, S), dtype=np.float32),
        rng.standard_normal((3, S, S), dtype=np.float32) * np.float32(0.5) + np.float32(0.2),
        np.zeros((3, S, S), dtype=np.float32),  # a padded frame still goes through CLIP
    ])

    # Tiny-vocabulary stand-ins: SOT = V-2, EOT = V-1, padding 0.
    sot, eot = V - 2, V - 1

    def query(words):
        ids = [sot] + list(words) + [eot]
        return ids + [0] * (L - len(ids))

    ids = np.array([
        query([5, 17, 33]),
        query(rng.integers(1, sot, size=L - 2)),  # fills all L positions
        query([]),                                 # SOT, EOT, padding
        [3, 40, 50, 50, 7] + [0] * (L - 5),       # no EOT: argmax is the first 50
    ], dtype=np.int32)
    ids_full = np.array([query(rng.integers(1, sot, size=9))
                         + [0] * (cfg["context"] - L)], dtype=np.int32)

    emb = clip_ref.encode_image(model, frames)
    sentence, words = clip_ref.encode_text(model, ids)
    sentence_full, words_full = clip_ref.encode_text(model, ids_full)

    out = {
        "rgb": rgb,
        "rgb_normalized": rgb_norm,
        "frames": frames,
        "image_embeds": emb.numpy().astype(np.float32),
        "ids": ids,
        "sentence": sentence.numpy().astype(np.float32),
        "words": words.numpy().astype(np.float32),
        "ids_context": ids_full,
        "sentence_context": sentence_full.numpy().astype(np.float32),
        "words_context": words_full.numpy().astype(np.float32),
    }
    st.save(os.path.join(outdir, "tiny-clip-out.safetensors"), out,
            {"generator": "tools/reference/gen_clip_golden.py",
             "reference": "tools/reference/clip_ref.py, float64"})
    for name in ("tiny-clip.safetensors", "tiny-clip-out.safetensors"):
        path = os.path.join(outdir, name)
        print(f"wrote {path}: {os.path.getsize(path)} bytes")


if __name__ == "__main__":
    main()
