#!/usr/bin/python3
"""Regenerate the retrieval-head golden files in tests/golden/:

  heads-<variant>.safetensors   tiny model files with seeded random weights
                                (minimal clip.* tensors so model_load
                                accepts them, plus the head's tensors, all
                                stored as F16 so that they stay small; the
                                reference computes from the F16 values)
  heads.safetensors             inputs (frame embeddings V, masks,
                                sentence and word features) and
                                heads_ref.py's outputs for every variant
                                (float64 math, saved as F32), plus a
                                200-video library and the reference top-10
                                for the ranking test

    /usr/bin/python3 tools/reference/gen_heads_golden.py [OUTDIR]

Deterministic: seeded, so re-running gives the same bytes.
"""
import math
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import heads_ref as ref  # noqa: E402
import st  # noqa: E402

F = 6          # frames
CTX = 24       # context length (frame/cross position tables have CTX rows)
HEADS = 2
LOGIT_SCALE = 3.5  # exp = 33.1: not CLIP's 100, so a missing exp() shows
NVIDEOS = 3
NQUERIES = 3  # the last one's sentence feature is its EOT word row, as the text tower gives it
LIB_N = 200

# EA variants: (name, sim_header, se_type, reduction_ratio, aggregation_type, intra)
EA_VARIANTS = [
    ("ea-meanp-ea-unity", "meanP", "excitation_aggregation", 2, "unity", True),
    ("ea-meanp-exc", "meanP", "excitation", 2, "unity", True),
    ("ea-meanp-agg-expand", "meanP", "aggregation", 0.5, "unity", False),
    ("ea-meanp-ea-sqexp", "meanP", "excitation_aggregation", 2, "squeeze_expand", True),
    ("ea-meanp-ea-expsq", "meanP", "excitation_aggregation", 0.5, "expand_squeeze", True),
    ("ea-meanp-none", "meanP", "none", 2, "unity", True),
    ("ea-lstm-agg", "seqLSTM", "aggregation", 0.5, "unity", True),
    ("ea-transf-agg", "seqTransf", "aggregation", 0.5, "unity", True),
    ("ea-transf-excseq", "seqTransf", "excitation_seq", 2, "unity", True),
    ("ea-transf-excseqagg", "seqTransf", "excitation_seq_aggregation", 2, "unity", True),
    ("ea-lstm-excseqagg-sqexp", "seqLSTM", "excitation_seq_aggregation", 2, "squeeze_expand", False),
    ("ea-tight", "tightTransf", "excitation", 2, "unity", True),
]
EA_DIM = 16

# TC-MGC variants: (name, dim, max_words, keep_rate, has logit_weight)
TC_VARIANTS = [
    ("tcmgc-k1", 24, 10, None, True),   # k = int(10 * 0.1) = 1
    ("tcmgc-k4", 16, 20, 0.2, False),   # k = 4, logit_weight missing -> identity
]
CLIP_DIM, CLIP_WORDS = 16, 10  # the training-free model (architecture "clip")


class Rng:
    def __init__(self, seed):
        self.g = np.random.default_rng(seed)

    def randn(self, *shape, std=1.0):
        return (self.g.standard_normal(shape) * std).astype(np.float32)


def f16(a):
    """Round to what an F16 file holds, as float32."""
    return np.asarray(a, dtype=np.float32).astype(np.float16).astype(np.float32)


def clip_minimal(rng, d):
    """The clip.* tensors core/model.c needs to read a configuration."""
    vw, p = 8, 4
    return {
        "clip.visual.class_embedding": rng.randn(vw),
        "clip.visual.conv1.weight": rng.randn(vw, 3, p, p, std=0.1),
        "clip.visual.positional_embedding": rng.randn(5, vw),
        "clip.visual.proj": rng.randn(vw, d),
        "clip.visual.transformer.resblocks.0.ln_1.weight": np.ones(vw, np.float32),
        "clip.ln_final.weight": np.ones(d, np.float32),
        "clip.positional_embedding": rng.randn(CTX, d),
        "clip.token_embedding.weight": rng.randn(8, d),
        "clip.transformer.resblocks.0.ln_1.weight": np.ones(d, np.float32),
        "clip.logit_scale": np.array(LOGIT_SCALE, dtype=np.float32),
    }


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


def se(rng, t, prefix, r):
    h = ref.hidden_size(F, r)
    t[prefix + "fc.0.weight"] = rng.randn(h, F, std=2.0)
    t[prefix + "fc.0.bias"] = rng.randn(h, std=0.5)
    t[prefix + "fc.2.weight"] = rng.randn(F, h, std=h ** -0.5 * 2)
    t[prefix + "fc.2.bias"] = rng.randn(F, std=0.5)


def ea_weights(rng, d, sh, stype, r, at, intra):
    t = clip_minimal(rng, d)
    t["linear_mat"] = np.eye(F, dtype=np.float32)  # present upstream, never used
    if intra:
        t["intra_mlp.0.weight"] = rng.randn(d, 2 * d, std=(2 * d) ** -0.5)
        t["intra_mlp.0.bias"] = rng.randn(d, std=0.1)
        t["intra_mlp.2.weight"] = rng.randn(1, d, std=d ** -0.5)
        t["intra_mlp.2.bias"] = np.array([1.0], np.float32)
    _, _, agg_r = ref.ea_activations({"se_type": stype, "reduction_ratio": r,
                                      "aggregation_type": at})
    if stype in ("excitation", "aggregation"):
        se(rng, t, "se_block.", r)
    elif stype == "excitation_aggregation":
        se(rng, t, "se_block.scale.", r)
        se(rng, t, "se_block.aggregate.", agg_r)
    elif stype == "excitation_seq":
        se(rng, t, "se_block_excitation.", r)
    elif stype == "excitation_seq_aggregation":
        se(rng, t, "se_block_excitation.", r)
        se(rng, t, "se_block_aggregation.", agg_r)
    if sh in ("seqTransf", "seqLSTM"):
        t["frame_position_embeddings.weight"] = rng.randn(CTX, d, std=0.5)
    if sh == "seqTransf":
        blocks(rng, t, "transformerClip.resblocks.", d, 2)
    if sh == "seqLSTM":
        for k in ("weight_ih_l0", "weight_hh_l0"):
            t["lstm_visual." + k] = rng.randn(4 * d, d, std=d ** -0.5)
        for k in ("bias_ih_l0", "bias_hh_l0"):
            t["lstm_visual." + k] = rng.randn(4 * d, std=0.1)
    if sh == "tightTransf":
        t["cross.embeddings.position_embeddings.weight"] = rng.randn(CTX, d, std=0.5)
        blocks(rng, t, "cross.transformer.resblocks.", d, 2)
        t["cross.pooler.ln_pool.weight"] = 1 + rng.randn(d, std=0.1)
        t["cross.pooler.ln_pool.bias"] = rng.randn(d, std=0.1)
        t["cross.pooler.dense.weight"] = rng.randn(d, d, std=d ** -0.5)
        t["cross.pooler.dense.bias"] = rng.randn(d, std=0.1)
        t["similarity_dense.weight"] = rng.randn(1, d, std=d ** -0.5)
        t["similarity_dense.bias"] = rng.randn(1, std=0.1)
    return t


def tc_weights(rng, d, k, logit_weight):
    t = clip_minimal(rng, d)
    t["frame_position_embeddings.weight"] = rng.randn(CTX, d, std=0.5)
    blocks(rng, t, "transformerClip.resblocks.", d, 2)
    p = "conditional_transformer.pool_frames."
    for name in ("q_proj", "k_proj", "v_proj", "out_proj"):  # present upstream, unused
        t[p + f"cross_attn.{name}.weight"] = np.eye(d, dtype=np.float32)
        t[p + f"cross_attn.{name}.bias"] = np.zeros(d, np.float32)
    t[p + "linear_proj.weight"] = rng.randn(d, d, std=d ** -0.5)
    t[p + "linear_proj.bias"] = rng.randn(d, std=0.1)
    for i in (1, 2, 3):
        t[p + f"layer_norm{i}.weight"] = 1 + rng.randn(d, std=0.2)
        t[p + f"layer_norm{i}.bias"] = rng.randn(d, std=0.2)
    t["global_mat_weight"] = np.eye(d, dtype=np.float32) + rng.randn(d, d, std=0.3 * d ** -0.5)
    t["local_mat_weight"] = np.eye(d, dtype=np.float32) + rng.randn(d, d, std=0.3 * d ** -0.5)
    t["attentive_word_logit_weight"] = np.eye(k, dtype=np.float32) + rng.randn(k, k, std=0.3)
    t["concat_frame_word_logit_weight"] = np.eye(k + 1, dtype=np.float32) + rng.randn(k + 1, k + 1, std=0.3)
    for name in ("attentive_word_mat_weight", "attentive_word_mat_weight2",
                 "attentive_frame_word_mat_weight", "attentive_frame_word_mat_weight2"):
        t[name] = np.eye(k, dtype=np.float32) + rng.randn(k, k, std=0.3)
    if logit_weight:
        t["logit_weight"] = np.eye(4, dtype=np.float32) + rng.randn(4, 4, std=0.3)
    return t


def save_model(outdir, name, t, meta):
    """Every float tensor stored as F16 (logit_scale too); returns the
    float64 torch view of exactly what the file holds."""
    arrays = {k: np.asarray(v, np.float32).astype(np.float16) for k, v in t.items()}
    st.save(os.path.join(outdir, name + ".safetensors"), arrays, meta)
    return {k: torch.from_numpy(v.astype(np.float64)) for k, v in arrays.items()}


def base_meta(arch, d, words):
    return {"clipgrep.architecture": arch, "clipgrep.name": "golden " + arch,
            "clipgrep.frames": F, "clipgrep.max_words": words,
            "clipgrep.vision.heads": HEADS, "clipgrep.text.heads": HEADS,
            "generator": "tools/reference/gen_heads_golden.py"}


def make_inputs(rng, d, words, n_videos=NVIDEOS):
    """Frame embeddings with a common offset (CLIP features are not
    centred), masks with 6, 4 and 2 real frames, sentence and word
    features."""
    v = f16(rng.randn(n_videos, F, d) + rng.randn(1, 1, d, std=0.5))
    mask = np.ones((n_videos, F), np.float32)
    for i in range(n_videos):
        mask[i, max(1, F - 2 * i):] = 0
    s = f16(rng.randn(NQUERIES, d) + 0.3)
    w = f16(rng.randn(NQUERIES, words, d) + 0.3)
    s[-1] = w[-1, 3]
    return v, mask, s, w


def t64(a):
    return torch.from_numpy(np.asarray(a, np.float64))


def main():
    outdir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "golden")
    gold = {}
    ls = math.exp(float(np.float16(LOGIT_SCALE)))

    # --- EA -----------------------------------------------------------------
    for i, (name, sh, stype, r, at, intra) in enumerate(EA_VARIANTS):
        rng = Rng(1000 + i)
        cfg = {"sim_header": sh, "se_type": stype, "reduction_ratio": r, "aggregation_type": at}
        meta = base_meta("ea", EA_DIM, CLIP_WORDS)
        meta.update({"clipgrep.ea.sim_header": sh, "clipgrep.ea.se_type": stype,
                     "clipgrep.ea.reduction_ratio": r, "clipgrep.ea.aggregation_type": at})
        w = save_model(outdir, "heads-" + name, ea_weights(rng, EA_DIM, sh, stype, r, at, intra), meta)
        v, mask, s, words = make_inputs(rng, EA_DIM, CLIP_WORDS)
        gold[f"{name}.v"], gold[f"{name}.mask"], gold[f"{name}.s"] = v, mask, s
        scores = np.zeros((NQUERIES, NVIDEOS))
        with torch.no_grad():
            for j in range(NVIDEOS):
                vj, mj = t64(v[j]), t64(mask[j])
                if sh == "tightTransf":
                    for q in range(NQUERIES):
                        scores[q, j], e = ref.ea_tight_score(t64(s[q]), vj, mj, w, cfg, HEADS)
                    gold[f"{name}.exc.{j}"] = e.numpy()
                    continue
                vhat, e, g, wi = ref.ea_video(vj, mj, w, cfg, HEADS)
                gold[f"{name}.vhat.{j}"] = vhat.numpy()
                gold[f"{name}.exc.{j}"] = e.numpy()
                gold[f"{name}.agg.{j}"] = g.numpy()
                gold[f"{name}.intra.{j}"] = wi.numpy()
                if sh == "seqTransf":
                    gold[f"{name}.vprime.{j}"] = ref.seq_transf(vj, mj, w, HEADS).numpy()
                if sh == "seqLSTM":
                    gold[f"{name}.vprime.{j}"] = ref.seq_lstm(vj, mj, w).numpy()
                for q in range(NQUERIES):
                    scores[q, j] = ref.ea_loose_score(t64(s[q]), vhat, ls)
        gold[f"{name}.score"] = scores

    # --- TC-MGC ---------------------------------------------------------------
    for i, (name, d, words_n, keep, has_lw) in enumerate(TC_VARIANTS):
        rng = Rng(2000 + i)
        k = max(1, int(words_n * (keep if keep is not None else 0.1)))
        meta = base_meta("tcmgc", d, words_n)
        if keep is not None:
            meta["clipgrep.tcmgc.keep_rate"] = keep
        w = save_model(outdir, "heads-" + name, tc_weights(rng, d, k, has_lw), meta)
        cfg = {"free": False, "softmax_lambda": 100.0, "k": k, "logit_scale": ls}
        v, mask, s, words = make_inputs(rng, d, words_n)
        tc_gold(gold, name, w, cfg, v, mask, s, words)

    # --- training-free (architecture "clip") ---------------------------------
    rng = Rng(3000)
    w = save_model(outdir, "heads-clip", clip_minimal(rng, CLIP_DIM), base_meta("clip", CLIP_DIM, CLIP_WORDS))
    cfg = {"free": True, "softmax_lambda": 100.0, "k": 1, "logit_scale": ls}
    v, mask, s, words = make_inputs(rng, CLIP_DIM, CLIP_WORDS)
    tc_gold(gold, "clip", w, cfg, v, mask, s, words)
    with torch.no_grad():
        for j in range(NVIDEOS):
            vhat = ref.ea_free_video(t64(v[j]), t64(mask[j]))
            gold[f"clip.ea.vhat.{j}"] = vhat.numpy()
        gold["clip.ea.score"] = np.array([[ref.ea_loose_score(t64(s[q]), t64(gold[f"clip.ea.vhat.{j}"]), ls)
                                           for j in range(NVIDEOS)] for q in range(NQUERIES)])

    library(gold, outdir)

    arrays = {k: v if getattr(v, "dtype", None) == np.float16 else np.asarray(v, np.float32)
              for k, v in gold.items()}
    st.save(os.path.join(outdir, "heads.safetensors"), arrays,
            {"generator": "tools/reference/gen_heads_golden.py", "frames": F,
             "videos": NVIDEOS, "queries": NQUERIES, "library": LIB_N})
    print(f"wrote {outdir}/heads.safetensors: {len(arrays)} tensors")


def tc_gold(gold, name, w, cfg, v, mask, s, words):
    gold[f"{name}.v"], gold[f"{name}.mask"] = v, mask
    gold[f"{name}.s"], gold[f"{name}.words"] = s, words
    nq, nv = s.shape[0], v.shape[0]
    out = {"score": np.zeros((nq, nv)), "z": np.zeros((nq, nv, 4)), "omega": np.zeros((nq, nv, 4)),
           "word_attn": np.zeros((nq, nv, words.shape[1], F)), "sent_attn": np.zeros((nq, nv, F))}
    with torch.no_grad():
        for j in range(nv):
            if not cfg["free"]:
                gold[f"{name}.vprime.{j}"] = ref.seq_transf(t64(v[j]), t64(mask[j]), w, HEADS).numpy()
            for q in range(nq):
                r = ref.tcmgc_score(t64(s[q]), t64(words[q]), t64(v[j]), t64(mask[j]), w, cfg, HEADS)
                for key in out:
                    out[key][q, j] = r[key].numpy()
    for key, val in out.items():
        gold[f"{name}.{key}"] = val


def zscore(x):
    sd = x.std()
    return (x - x.mean()) / sd if sd > 0 else np.zeros_like(x)


def library(gold, outdir):
    """A 200-video library scored by the trained TC-MGC (tcmgc-k1) and by
    the training-free fused ranking, with the reference top-10; the seed
    is checked to leave clear gaps so that fp32 cannot reorder them."""
    w_tc, _ = st.load(os.path.join(outdir, "heads-tcmgc-k1.safetensors"))
    w_tc = {k: torch.from_numpy(v.astype(np.float64)) for k, v in w_tc.items()}
    w_clip, _ = st.load(os.path.join(outdir, "heads-clip.safetensors"))
    w_clip = {k: torch.from_numpy(v.astype(np.float64)) for k, v in w_clip.items()}
    ls = math.exp(float(np.float16(LOGIT_SCALE)))
    for name, d, w, free in (("lib-tcmgc", 24, w_tc, False), ("lib-clip", CLIP_DIM, w_clip, True)):
        rng = Rng(4000 if not free else 4001)
        centre = rng.randn(1, 1, d, std=0.5)
        v = f16(rng.randn(LIB_N, F, d) + centre)
        lengths = rng.g.integers(1, F + 1, LIB_N)
        mask = (np.arange(F)[None, :] < lengths[:, None]).astype(np.float32)
        s = f16(rng.randn(d) + 0.3)
        words = f16(rng.randn(CLIP_WORDS, d) + 0.3)
        if free:
            s = words[4].copy()  # the EOT row, as the text tower gives it
        cfg = {"free": free, "softmax_lambda": 100.0, "k": 1, "logit_scale": ls}
        with torch.no_grad():
            tc = np.array([ref.tcmgc_score(t64(s), t64(words), t64(v[j]), t64(mask[j]), w, cfg, HEADS)["score"].item()
                           for j in range(LIB_N)])
            if free:
                ea = np.array([ref.ea_loose_score(t64(s), ref.ea_free_video(t64(v[j]), t64(mask[j])), ls).item()
                               for j in range(LIB_N)])
                rank = (zscore(tc) + zscore(ea)) / 2
            else:
                rank = tc
        order = np.argsort(-rank, kind="stable")
        top = rank[order[:11]]
        gaps = -np.diff(top)
        scale = np.abs(rank).max()
        if gaps.min() < 1e-4 * scale:
            raise SystemExit(f"{name}: top-10 gaps too small ({gaps.min():.3g}); change the seed")
        gold[f"{name}.v"], gold[f"{name}.mask"] = v.astype(np.float16), mask
        gold[f"{name}.s"], gold[f"{name}.words"] = s, words
        gold[f"{name}.score"] = rank
        gold[f"{name}.top10"] = order[:10].astype(np.float32)


if __name__ == "__main__":
    main()
