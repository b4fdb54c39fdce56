"""PyTorch reference for clipgrep's retrieval heads, written from
shared/design/MODELS.md (sections 1.5, 2 and 3): the temporal encoders
(seqTransf, seqLSTM), every EA variant (loose and tight) and TC-MGC (LVA,
the four granularity scores with SR/ISA/Bi-SR/Bi-ISA, LSA), plus the
training-free forms clipgrep runs when a model file holds CLIP weights only.

Everything is float64 and follows the upstream code's tensor operations
(torch.topk, nn.LSTM, nn.MultiheadAttention) rather than clipgrep's algebra,
so the C code's cached shortcuts are checked against the plain definition.

Weights are a dict {upstream name: torch.Tensor}; settings a dict.
"""
import math

import torch
import torch.nn.functional as F

EPS_CLIP = 1e-5
EPS_TF = 1e-12


def quick_gelu(x):
    return x * torch.sigmoid(1.702 * x)


def layer_norm(x, w, b, eps):
    return F.layer_norm(x, (x.shape[-1],), w, b, eps)


def attention(x, prefix, w, heads, key_bias):
    """x [T, D] through torch's own MultiheadAttention with packed weights;
    key_bias [T] is added to every query's logits (the -1e6 video mask)."""
    t, d = x.shape
    mha = torch.nn.MultiheadAttention(d, heads).double()
    with torch.no_grad():
        mha.in_proj_weight.copy_(w[prefix + "attn.in_proj_weight"])
        mha.in_proj_bias.copy_(w[prefix + "attn.in_proj_bias"])
        mha.out_proj.weight.copy_(w[prefix + "attn.out_proj.weight"])
        mha.out_proj.bias.copy_(w[prefix + "attn.out_proj.bias"])
    mask = None
    if key_bias is not None:
        mask = key_bias[None, :].expand(t, t).contiguous()
    out, _ = mha(x[:, None, :], x[:, None, :], x[:, None, :], need_weights=False, attn_mask=mask)
    return out[:, 0, :]


def residual_block(x, prefix, w, heads, eps, key_bias):
    """CLIP ResidualAttentionBlock (pre-LN, QuickGELU)."""
    h = layer_norm(x, w[prefix + "ln_1.weight"], w[prefix + "ln_1.bias"], eps)
    x = x + attention(h, prefix, w, heads, key_bias)
    h = layer_norm(x, w[prefix + "ln_2.weight"], w[prefix + "ln_2.bias"], eps)
    h = quick_gelu(h @ w[prefix + "mlp.c_fc.weight"].T + w[prefix + "mlp.c_fc.bias"])
    return x + h @ w[prefix + "mlp.c_proj.weight"].T + w[prefix + "mlp.c_proj.bias"]


def count_layers(w, prefix):
    n = 0
    while f"{prefix}{n}.ln_1.weight" in w:
        n += 1
    return n


# --- temporal encoders (MODELS.md 1.5, 2.4) ---------------------------------

def seq_transf(v, mask, w, heads):
    """V' = transformerClip(V + pos, key mask -1e6 on padded frames) + V."""
    f = v.shape[0]
    x = v + w["frame_position_embeddings.weight"][:f]
    key_bias = (1.0 - mask) * -1000000.0
    for i in range(count_layers(w, "transformerClip.resblocks.")):
        x = residual_block(x, f"transformerClip.resblocks.{i}.", w, heads, EPS_TF, key_bias)
    return x + v


def seq_lstm(v, mask, w):
    """LSTM over the real frames (first n = sum(mask)), zero rows after them
    as pad_packed_sequence gives when a full-length video is in the batch,
    plus the residual: padded rows keep V_i (MODELS.md product decisions)."""
    f, d = v.shape
    n = int(mask.sum().item())
    lstm = torch.nn.LSTM(d, d, batch_first=True).double()
    with torch.no_grad():
        for k in ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"):
            getattr(lstm, k).copy_(w["lstm_visual." + k])
    out = torch.zeros(f, d, dtype=torch.float64)
    if n > 0:
        packed = torch.nn.utils.rnn.pack_padded_sequence(
            v[None], torch.tensor([n]), batch_first=True, enforce_sorted=False)
        y, _ = lstm(packed)
        y, _ = torch.nn.utils.rnn.pad_packed_sequence(y, batch_first=True, total_length=f)
        out = y[0]
    return out + v


# --- EA blocks (MODELS.md 2.1) -----------------------------------------------

def hidden_size(frames, r):
    """int(frame_length // reduction_ratio), Python float floor division."""
    return int(frames // r)


def act(name, x):
    return torch.relu(x) if name == "relu" else torch.clamp(x, 0.0, 6.0)


def se_weights(x, prefix, w, activation):
    z = x.mean(dim=-1)  # squeeze over channels, no mask
    h = act(activation, w[prefix + "fc.0.weight"] @ z + w[prefix + "fc.0.bias"])
    return w[prefix + "fc.2.weight"] @ h + w[prefix + "fc.2.bias"]


def excitation(x, prefix, w, activation):
    e = torch.sigmoid(se_weights(x, prefix, w, activation))
    return x * e[:, None], e


def aggregation(x, prefix, w, activation):
    g = torch.softmax(se_weights(x, prefix, w, activation), dim=0)
    return g @ x, g


def intra_attn(x, w):
    m = x.mean(dim=0).expand_as(x)
    h = torch.relu(torch.cat([x, m], dim=-1) @ w["intra_mlp.0.weight"].T + w["intra_mlp.0.bias"])
    wt = (h @ w["intra_mlp.2.weight"].T + w["intra_mlp.2.bias"])[:, 0]
    return x * wt[:, None], wt


def masked_mean(x, mask):
    n = mask.sum()
    if n == 0:
        n = torch.tensor(1.0, dtype=torch.float64)
    return (x * mask[:, None]).sum(dim=0) / n


def ea_activations(cfg):
    """(excitation act, aggregation act, aggregation ratio) per se_type and
    aggregation_type, as the upstream classes choose them."""
    r = cfg["reduction_ratio"]
    default = "relu" if r > 1 else "relu6"
    st, at = cfg["se_type"], cfg.get("aggregation_type", "unity")
    if st == "excitation_aggregation":
        if at == "unity":
            return "relu", "relu", r  # hard-coded ReLU in Excitation_Aggregation_Block
        if at == "squeeze_expand":
            return "relu", "relu6", 1 / r
        return "relu6", "relu", 1 / r
    if st == "excitation_seq_aggregation":
        if at == "unity":
            return default, default, r
        if at == "squeeze_expand":
            return "relu", "relu6", 1 / r
        return "relu6", "relu", 1 / r
    return default, default, r


def ea_video(v, mask, w, cfg, heads):
    """The text-independent EA loose video vector, normalised, and the
    per-frame weights (excitation e, aggregation g, intra_mlp w)."""
    f = v.shape[0]
    st, sh = cfg["se_type"], cfg["sim_header"]
    exc_act, agg_act, _ = ea_activations(cfg)
    one = torch.ones(f, dtype=torch.float64)
    e, g, wi = one.clone(), None, one.clone()
    x = v
    seq_exc = st in ("excitation_seq", "excitation_seq_aggregation")
    if sh in ("seqLSTM", "seqTransf"):
        if seq_exc:
            x, e = excitation(x, "se_block_excitation.", w, exc_act)
        x = seq_lstm(x, mask, w) if sh == "seqLSTM" else seq_transf(x, mask, w, heads)
    if st == "excitation_seq_aggregation":
        vec, g = aggregation(x, "se_block_aggregation.", w, agg_act)  # intra_attn skipped
    else:
        if "intra_mlp.0.weight" in w:
            x, wi = intra_attn(x, w)
        if st == "excitation":
            x, e = excitation(x, "se_block.", w, exc_act)
        elif st == "aggregation":
            vec, g = aggregation(x, "se_block.", w, agg_act)
        elif st == "excitation_aggregation":
            x, e = excitation(x, "se_block.scale.", w, exc_act)
            vec, g = aggregation(x, "se_block.aggregate.", w, agg_act)
        if g is None:
            n = mask.sum() if mask.sum() > 0 else 1.0
            g = mask / n
            vec = masked_mean(x, mask)
    return vec / vec.norm(), e, g, wi


def ea_loose_score(s, vhat, logit_scale):
    return logit_scale * (s / s.norm()) @ vhat


def ea_tight_score(s, v, mask, w, cfg, heads):
    """tightTransf: Exc(V), cross encoder on [s; X~], pooler, similarity_dense."""
    f = v.shape[0]
    exc_act, _, _ = ea_activations(cfg)
    x, e = excitation(v, "se_block.", w, exc_act)
    tokens = torch.cat([s[None, :], x], dim=0)
    tokens = tokens + w["cross.embeddings.position_embeddings.weight"][:f + 1]
    key_bias = (1.0 - torch.cat([torch.ones(1, dtype=torch.float64), mask])) * -1000000.0
    for i in range(count_layers(w, "cross.transformer.resblocks.")):
        tokens = residual_block(tokens, f"cross.transformer.resblocks.{i}.", w, heads, EPS_TF, key_bias)
    h = layer_norm(tokens, w["cross.pooler.ln_pool.weight"], w["cross.pooler.ln_pool.bias"], EPS_TF)
    pooled = quick_gelu(w["cross.pooler.dense.weight"] @ h[0] + w["cross.pooler.dense.bias"])
    return (w["similarity_dense.weight"] @ pooled + w["similarity_dense.bias"])[0], e


def ea_free_video(v, mask):
    """Training-free EA (CLIP weights only): CLIP4Clip meanP, i.e. the
    masked mean of L2-normalised frames, normalised."""
    vn = v / v.norm(dim=-1, keepdim=True)
    vec = masked_mean(vn, mask)
    return vec / vec.norm()


# --- TC-MGC (MODELS.md 3) ---------------------------------------------------

def lva(q, vp, w, free):
    """Language-video attention: q [Q, D] queries, vp [F, D] frames ->
    (out [Q, D], attention [Q, F]).  free: identity LayerNorms and no
    projection branch (the training-free form)."""
    d = vp.shape[-1]
    if free:
        one, zero = torch.ones(d, dtype=torch.float64), torch.zeros(d, dtype=torch.float64)
        g1 = g2 = g3 = one
        b1 = b2 = b3 = zero
    else:
        p = "conditional_transformer.pool_frames."
        g1, b1 = w[p + "layer_norm1.weight"], w[p + "layer_norm1.bias"]
        g2, b2 = w[p + "layer_norm2.weight"], w[p + "layer_norm2.bias"]
        g3, b3 = w[p + "layer_norm3.weight"], w[p + "layer_norm3.bias"]
    qh = layer_norm(q, g1, b1, EPS_CLIP)
    k = layer_norm(vp, g1, b1, EPS_CLIP)
    a = torch.softmax(qh @ k.T / math.sqrt(d), dim=-1)  # no frame mask
    o = layer_norm(a @ k, g2, b2, EPS_CLIP)
    if free:
        x = o
    else:
        p = "conditional_transformer.pool_frames."
        x = o + o @ w[p + "linear_proj.weight"].T + w[p + "linear_proj.bias"]
    return layer_norm(x, g3, b3, EPS_CLIP), a


def isa(x, a, lam):
    """softmax-linear-softmax over the last dim of x [..., n] with A [n, n]."""
    p = torch.softmax(x * lam, dim=-1)
    u = p @ a
    return (torch.softmax(u * lam, dim=-1) * x).sum(dim=-1)


def tcmgc_score(s, words, v, mask, w, cfg, heads):
    """One (text, video) pair.  Returns a dict with the final score, Z [4],
    omega [4], the word attention [L, F], the sentence attention [F] and
    the L x L frame-word matrix M."""
    free = cfg["free"]
    lam = cfg["softmax_lambda"]
    k = cfg["k"]
    nw = words.shape[0]
    ls = cfg["logit_scale"]
    d = v.shape[-1]
    eye = torch.eye(d, dtype=torch.float64)
    vp = v if free else seq_transf(v, mask, w, heads)

    outs, attn = lva(torch.cat([s[None], words], dim=0), vp, w, free)
    vbar = outs[0] / outs[0].norm()
    fbar = outs[1:] / outs[1:].norm(dim=-1, keepdim=True)  # [L, D]: word-conditioned frames
    sbar = s / s.norm()
    wbar = words / words.norm(dim=-1, keepdim=True)

    def mat(name, n):
        return torch.eye(n, dtype=torch.float64) if free else w[name]

    g = eye if free else w["global_mat_weight"]
    gl = eye if free else w["local_mat_weight"]
    lw = w.get("logit_weight", torch.eye(4, dtype=torch.float64)) if not free else torch.eye(4, dtype=torch.float64)

    s_vs = ls * (sbar @ g @ vbar)

    a_w = wbar @ vbar
    top = torch.topk(a_w, k, largest=True, sorted=True).values
    s_vw = ls * isa(top, mat("attentive_word_logit_weight", k), lam)

    b = fbar @ sbar
    top = torch.topk(b, k, largest=True, sorted=True).values
    rest = torch.topk(b, nw - k, largest=False, sorted=True).values
    c = (torch.softmax(rest, dim=0) * rest).sum()
    s_sf = ls * isa(torch.cat([top, c[None]]), mat("concat_frame_word_logit_weight", k + 1), lam)

    m = (wbar @ gl) @ fbar.T  # [words, word-conditioned frames]
    m1 = torch.topk(m, k, dim=0, largest=True, sorted=True).values  # [k, L]
    m2 = torch.topk(m1, k, dim=1, largest=True, sorted=True).values  # [k, k]
    word_level = isa(m2.T, mat("attentive_word_mat_weight", k), lam)  # down each column
    frame_level = isa(m2, mat("attentive_frame_word_mat_weight", k), lam)  # along each row
    sent2frame = isa(word_level, mat("attentive_frame_word_mat_weight2", k), lam)
    video2word = isa(frame_level, mat("attentive_word_mat_weight2", k), lam)
    s_fw = ls * (sent2frame + video2word) / 2

    z = torch.stack([s_vs, s_vw, s_sf, s_fw])
    omega = torch.softmax(z @ lw, dim=0)
    return {"score": (omega * z).sum(), "z": z, "omega": omega,
            "word_attn": attn[1:], "sent_attn": attn[0], "m": m}


def tcmgc_coarse(v, mask, w, free, heads):
    """The text-agnostic pre-filter vector: normalised masked mean of the
    normalised V' rows."""
    vp = v if free else seq_transf(v, mask, w, heads)
    vn = vp / vp.norm(dim=-1, keepdim=True)
    vec = masked_mean(vn, mask)
    return vec / vec.norm()
