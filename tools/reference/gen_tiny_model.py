#!/usr/bin/python3
"""Regenerate the tiny complete models the indexer and CLI tests use:

  tests/golden/tiny-tcmgc.safetensors  architecture "tcmgc": both CLIP towers,
                                       the TC-MGC head (seqTransf, LVA, k = 3)
  tests/golden/tiny-ea.safetensors     architecture "ea": the same image tower
                                       (so the indexer shares it), its own text
                                       tower, the EA head (meanP,
                                       excitation_aggregation, r = 2)

    python3 tools/reference/gen_tiny_model.py [OUTDIR]

Each file is one complete model: weights, configuration and a tokenizer (a
few dozen BPE merges in clipgrep.tokenizer.merges, so the vocabulary is
512 + merges + 2 and the token embedding stays small).  The weights are
seeded random numbers: the models rank nothing meaningfully, they exercise
every code path.  Needs only NumPy; deterministic (same bytes every run).
"""
import math
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import st  # noqa: E402

F = 4            # frames per video
L = 12           # max_words
CTX = 16         # text context length
D = 16           # joint embedding width
VW, VL, VH, PATCH, IMAGE = 24, 1, 2, 8, 32   # image tower
TW, TL, TH = 16, 1, 2                        # text tower
LOGIT_SCALE = math.log(100.0)

# Enough merges to tokenise the test queries into whole words.
WORDS = ["red", "blue", "green", "ball", "bars", "noise", "the", "and", "moving",
         "colour", "test", "pattern", "circle"]


def bpe(word, ranks):
    """CLIP's BPE of one word (the last symbol carries </w>)."""
    syms = list(word[:-1]) + [word[-1] + "</w>"]
    while len(syms) > 1:
        pairs = [(ranks.get((a, b), 1 << 30), i) for i, (a, b) in enumerate(zip(syms, syms[1:]))]
        rank, i = min(pairs)
        if rank == 1 << 30:
            break
        syms[i:i + 2] = [syms[i] + syms[i + 1]]
    return syms


def merges_for(words):
    """Merges that make every word one token: run BPE with the merges so far
    and, while a word splits, add the merge of its first two symbols."""
    merges, ranks = [], {}
    for w in words:
        while len(syms := bpe(w, ranks)) > 1:
            ranks[(syms[0], syms[1])] = len(merges)
            merges.append(f"{syms[0]} {syms[1]}")
    return merges


MERGES = merges_for(WORDS)
VOCAB = 512 + len(MERGES) + 2


class Rng:
    def __init__(self, seed):
        self.g = np.random.default_rng(seed)

    def randn(self, *shape, std=1.0):
        return (self.g.standard_normal(shape) * std).astype(np.float32)


def blocks(rng, t, prefix, d, layers):
    for i in range(layers):
        p = f"{prefix}{i}."
        for ln in ("ln_1", "ln_2"):
            t[p + ln + ".weight"] = 1 + rng.randn(d, std=0.1)
            t[p + ln + ".bias"] = rng.randn(d, std=0.1)
        t[p + "attn.in_proj_weight"] = rng.randn(3 * d, d, std=d ** -0.5)
        t[p + "attn.in_proj_bias"] = rng.randn(3 * d, std=0.05)
        t[p + "attn.out_proj.weight"] = rng.randn(d, d, std=d ** -0.5)
        t[p + "attn.out_proj.bias"] = rng.randn(d, std=0.05)
        t[p + "mlp.c_fc.weight"] = rng.randn(4 * d, d, std=d ** -0.5)
        t[p + "mlp.c_fc.bias"] = rng.randn(4 * d, std=0.05)
        t[p + "mlp.c_proj.weight"] = rng.randn(d, 4 * d, std=(4 * d) ** -0.5)
        t[p + "mlp.c_proj.bias"] = rng.randn(d, std=0.05)


def vision_tower(seed):
    rng, t, g = Rng(seed), {}, IMAGE // PATCH
    t["clip.visual.conv1.weight"] = rng.randn(VW, 3, PATCH, PATCH, std=(3 * PATCH * PATCH) ** -0.5)
    t["clip.visual.class_embedding"] = rng.randn(VW, std=0.5)
    t["clip.visual.positional_embedding"] = rng.randn(g * g + 1, VW, std=0.5)
    t["clip.visual.ln_pre.weight"] = 1 + rng.randn(VW, std=0.1)
    t["clip.visual.ln_pre.bias"] = rng.randn(VW, std=0.1)
    blocks(rng, t, "clip.visual.transformer.resblocks.", VW, VL)
    t["clip.visual.ln_post.weight"] = 1 + rng.randn(VW, std=0.1)
    t["clip.visual.ln_post.bias"] = rng.randn(VW, std=0.1)
    t["clip.visual.proj"] = rng.randn(VW, D, std=VW ** -0.5)
    return t


def text_tower(seed):
    rng, t = Rng(seed), {}
    t["clip.token_embedding.weight"] = rng.randn(VOCAB, TW, std=0.5)
    t["clip.positional_embedding"] = rng.randn(CTX, TW, std=0.1)
    blocks(rng, t, "clip.transformer.resblocks.", TW, TL)
    t["clip.ln_final.weight"] = 1 + rng.randn(TW, std=0.1)
    t["clip.ln_final.bias"] = rng.randn(TW, std=0.1)
    t["clip.text_projection"] = rng.randn(TW, D, std=TW ** -0.5)
    t["clip.logit_scale"] = np.array(LOGIT_SCALE, dtype=np.float32)
    return t


def tcmgc_head(seed, k):
    rng, t = Rng(seed), {}
    t["frame_position_embeddings.weight"] = rng.randn(CTX, D, std=0.5)
    blocks(rng, t, "transformerClip.resblocks.", D, 1)
    p = "conditional_transformer.pool_frames."
    t[p + "linear_proj.weight"] = rng.randn(D, D, std=D ** -0.5)
    t[p + "linear_proj.bias"] = rng.randn(D, std=0.1)
    for i in (1, 2, 3):
        t[p + f"layer_norm{i}.weight"] = 1 + rng.randn(D, std=0.2)
        t[p + f"layer_norm{i}.bias"] = rng.randn(D, std=0.2)
    eye = np.eye
    t["global_mat_weight"] = eye(D, dtype=np.float32) + rng.randn(D, D, std=0.3 * D ** -0.5)
    t["local_mat_weight"] = eye(D, dtype=np.float32) + rng.randn(D, D, std=0.3 * D ** -0.5)
    t["attentive_word_logit_weight"] = eye(k, dtype=np.float32) + rng.randn(k, k, std=0.3)
    t["concat_frame_word_logit_weight"] = eye(k + 1, dtype=np.float32) + rng.randn(k + 1, k + 1, std=0.3)
    for name in ("attentive_word_mat_weight", "attentive_word_mat_weight2",
                 "attentive_frame_word_mat_weight", "attentive_frame_word_mat_weight2"):
        t[name] = eye(k, dtype=np.float32) + rng.randn(k, k, std=0.3)
    t["logit_weight"] = eye(4, dtype=np.float32) + rng.randn(4, 4, std=0.3)
    return t


def ea_head(seed, r):
    rng, t, h = Rng(seed), {}, int(F // r)
    for prefix in ("se_block.scale.", "se_block.aggregate."):
        t[prefix + "fc.0.weight"] = rng.randn(h, F, std=2.0)
        t[prefix + "fc.0.bias"] = rng.randn(h, std=0.5)
        t[prefix + "fc.2.weight"] = rng.randn(F, h, std=h ** -0.5 * 2)
        t[prefix + "fc.2.bias"] = rng.randn(F, std=0.5)
    return t


def meta(arch, name):
    return {
        "clipgrep.architecture": arch,
        "clipgrep.name": name,
        "clipgrep.frames": F,
        "clipgrep.max_words": L,
        "clipgrep.embed_dim": D,
        "clipgrep.vision.width": VW, "clipgrep.vision.layers": VL,
        "clipgrep.vision.heads": VH, "clipgrep.vision.patch": PATCH,
        "clipgrep.vision.image_size": IMAGE,
        "clipgrep.text.width": TW, "clipgrep.text.layers": TL, "clipgrep.text.heads": TH,
        "clipgrep.text.context_length": CTX, "clipgrep.text.vocab_size": VOCAB,
        "clipgrep.tokenizer.merges": "#version: 0.2 (tiny test vocabulary)\n" + "\n".join(MERGES) + "\n",
        "generator": "tools/reference/gen_tiny_model.py",
    }


def save(outdir, name, t, m):
    # F16 like converted checkpoints, except the small tables kept F32.
    arrays = {k: (v.astype(np.float32) if v.ndim <= 1 or k.endswith("logit_scale")
                  else v.astype(np.float16)) for k, v in t.items()}
    st.save(os.path.join(outdir, name), arrays, m)


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    outdir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "..", "..", "tests", "golden")
    k = max(1, int(L * 0.25))
    tc = {**vision_tower(1), **text_tower(2), **tcmgc_head(3, k)}
    m = meta("tcmgc", "tiny TC-MGC for clipgrep's tests (gen_tiny_model.py)")
    m["clipgrep.tcmgc.keep_rate"] = "0.25"
    save(outdir, "tiny-tcmgc.safetensors", tc, m)

    e = {**vision_tower(1), **text_tower(4), **ea_head(5, 2)}
    m = meta("ea", "tiny EA for clipgrep's tests (gen_tiny_model.py)")
    m.update({"clipgrep.ea.sim_header": "meanP", "clipgrep.ea.se_type": "excitation_aggregation",
              "clipgrep.ea.reduction_ratio": "2", "clipgrep.ea.aggregation_type": "unity"})
    save(outdir, "tiny-ea.safetensors", e, m)


if __name__ == "__main__":
    main()
