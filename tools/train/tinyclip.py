"""Trainable PyTorch modules for clipgrep's demo model, laid out so that
their state_dict keys are the upstream names the C engine reads
(MODELS.md 4, 2.4, 3.8): a CLIP image and text tower under "clip.", the
TC-MGC head (seqTransf, LVA, the interaction matrices, logit_weight) and
the EA loose heads (meanP or seqTransf with the excitation/aggregation
blocks).

The math is MODELS.md's, written batched for training: B texts x B videos
at once.  Where tools/reference/heads_ref.py has a function that is
differentiable and batch-agnostic (isa, layer_norm, quick_gelu, the EA
activation rules) it is imported, not copied; test_train.py checks the
batched heads against heads_ref's per-pair float64 reference.

Model files are written and read with tools/reference/st.py; see
export()/load_file().
"""
import gzip
import math
import os
import subprocess
import sys
from collections import OrderedDict

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "tools", "reference"))
import heads_ref as ref  # noqa: E402
import st  # noqa: E402

EPS_CLIP = ref.EPS_CLIP  # 1e-5: CLIP towers and LVA's LayerNorms
EPS_TF = ref.EPS_TF      # 1e-12: transformerClip (until_module.LayerNorm)
VOCAB = 49408
SOT, EOT = 49406, 49407
N_MERGES = 48894         # merges CLIP's tokenizer uses (MODELS.md 1.3)
MEAN = (0.48145466, 0.4578275, 0.40821073)
STD = (0.26862954, 0.26130258, 0.27577711)
DEFAULT_BPE = os.path.join(REPO, "..", "shared", "data", "clip-bpe", "bpe_simple_vocab_16e6.txt.gz")


# --- blocks ------------------------------------------------------------------

class QuickGELU(nn.Module):
    def forward(self, x):
        return ref.quick_gelu(x)


class Attention(nn.Module):
    """Multi-head self-attention with nn.MultiheadAttention's parameter
    names (packed in_proj_weight [3W, W], rows q, k, v; out_proj), computed
    explicitly so that an additive mask of any broadcastable shape works."""

    def __init__(self, width, heads):
        super().__init__()
        self.heads = heads
        self.in_proj_weight = nn.Parameter(torch.empty(3 * width, width))
        self.in_proj_bias = nn.Parameter(torch.zeros(3 * width))
        self.out_proj = nn.Linear(width, width)
        nn.init.xavier_uniform_(self.in_proj_weight)
        nn.init.zeros_(self.out_proj.bias)

    def forward(self, x, mask=None):
        """x [B, T, W]; mask additive, broadcastable to [B, heads, T, T]."""
        B, T, W = x.shape
        hd = W // self.heads
        q, k, v = F.linear(x, self.in_proj_weight, self.in_proj_bias).split(W, dim=-1)
        q = q.reshape(B, T, self.heads, hd).transpose(1, 2) * (1.0 / math.sqrt(hd))
        k = k.reshape(B, T, self.heads, hd).transpose(1, 2)
        v = v.reshape(B, T, self.heads, hd).transpose(1, 2)
        s = q @ k.transpose(-1, -2)
        if mask is not None:
            s = s + mask
        o = (torch.softmax(s, dim=-1) @ v).transpose(1, 2).reshape(B, T, W)
        return self.out_proj(o)


class ResidualAttentionBlock(nn.Module):
    """CLIP's pre-LN block: x += attn(ln_1(x)); x += c_proj(QuickGELU(c_fc(ln_2(x))))."""

    def __init__(self, width, heads, eps):
        super().__init__()
        self.attn = Attention(width, heads)
        self.ln_1 = nn.LayerNorm(width, eps=eps)
        self.mlp = nn.Sequential(OrderedDict([
            ("c_fc", nn.Linear(width, 4 * width)),
            ("gelu", QuickGELU()),
            ("c_proj", nn.Linear(4 * width, width)),
        ]))
        self.ln_2 = nn.LayerNorm(width, eps=eps)

    def forward(self, x, mask=None):
        x = x + self.attn(self.ln_1(x), mask)
        return x + self.mlp(self.ln_2(x))


class Transformer(nn.Module):
    def __init__(self, width, layers, heads, eps=EPS_CLIP):
        super().__init__()
        self.resblocks = nn.ModuleList([ResidualAttentionBlock(width, heads, eps) for _ in range(layers)])
        proj_std = (width ** -0.5) * ((2 * layers) ** -0.5)
        for b in self.resblocks:  # CLIP's initialisation
            nn.init.normal_(b.attn.in_proj_weight, std=width ** -0.5)
            nn.init.normal_(b.attn.out_proj.weight, std=proj_std)
            nn.init.normal_(b.mlp.c_fc.weight, std=(2 * width) ** -0.5)
            nn.init.normal_(b.mlp.c_proj.weight, std=proj_std)

    def forward(self, x, mask=None):
        for b in self.resblocks:
            x = b(x, mask)
        return x


# --- CLIP ----------------------------------------------------------------------

class VisionTransformer(nn.Module):
    def __init__(self, image_size, patch, width, layers, heads, embed):
        super().__init__()
        self.patch = patch
        scale = width ** -0.5
        grid = image_size // patch
        self.conv1 = nn.Conv2d(3, width, kernel_size=patch, stride=patch, bias=False)
        self.class_embedding = nn.Parameter(scale * torch.randn(width))
        self.positional_embedding = nn.Parameter(scale * torch.randn(grid * grid + 1, width))
        self.ln_pre = nn.LayerNorm(width, eps=EPS_CLIP)
        self.transformer = Transformer(width, layers, heads)
        self.ln_post = nn.LayerNorm(width, eps=EPS_CLIP)
        self.proj = nn.Parameter(scale * torch.randn(width, embed))

    def forward(self, x):
        """x [B, 3, S, S] normalised -> [B, embed] (the projected CLS token)."""
        x = self.conv1(x).flatten(2).transpose(1, 2)
        cls = self.class_embedding.to(x.dtype).expand(x.shape[0], 1, -1)
        x = torch.cat([cls, x], dim=1) + self.positional_embedding
        x = self.transformer(self.ln_pre(x))
        return self.ln_post(x[:, 0, :]) @ self.proj  # ln_post is per token: token 0 suffices


class CLIP(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = dict(cfg)
        c = self.cfg
        self.visual = VisionTransformer(c["image_size"], c["patch"], c["vision_width"], c["vision_layers"],
                                        c["vision_heads"], c["embed_dim"])
        tw = c["text_width"]
        self.transformer = Transformer(tw, c["text_layers"], c["text_heads"])
        self.token_embedding = nn.Embedding(c.get("vocab_size", VOCAB), tw)
        self.positional_embedding = nn.Parameter(torch.empty(c["context_length"], tw))
        self.ln_final = nn.LayerNorm(tw, eps=EPS_CLIP)
        self.text_projection = nn.Parameter(torch.empty(tw, c["embed_dim"]))
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1 / 0.07)))
        nn.init.normal_(self.token_embedding.weight, std=0.02)
        nn.init.normal_(self.positional_embedding, std=0.01)
        nn.init.normal_(self.text_projection, std=tw ** -0.5)

    def encode_image(self, x):
        return self.visual(x)

    def encode_text(self, ids):
        """ids [N, L] -> sentence [N, embed] (EOT row), words [N, L, embed] (all rows)."""
        N, L = ids.shape
        x = self.token_embedding(ids) + self.positional_embedding[:L]
        mask = torch.triu(torch.full((L, L), float("-inf"), device=ids.device), diagonal=1)
        x = self.ln_final(self.transformer(x, mask))
        words = x @ self.text_projection
        sentence = words[torch.arange(N), ids.argmax(dim=-1)]
        return sentence, words


def image_tensor(frames_u8):
    """uint8 [..., S, S, 3] -> float32 [..., 3, S, S], CLIP-normalised."""
    x = torch.as_tensor(frames_u8).to(torch.float32).div_(255.0)
    x = x.movedim(-1, -3)
    mean = torch.tensor(MEAN).view(3, 1, 1)
    std = torch.tensor(STD).view(3, 1, 1)
    return (x - mean) / std


# --- heads ---------------------------------------------------------------------

class SeqTransf(nn.Module):
    """seqTransf (MODELS.md 1.5): V' = transformerClip(V + pos, -1e6 key mask) + V.
    The position table has context_length rows, as the C loader expects."""

    def __init__(self, rows, dim, layers, heads):
        super().__init__()
        self.frame_position_embeddings = nn.Embedding(rows, dim)
        nn.init.normal_(self.frame_position_embeddings.weight, std=0.01)
        self.transformerClip = Transformer(dim, layers, heads, eps=EPS_TF)

    def forward(self, v, mask):
        """v [B, F, D], mask [B, F] (1 real) -> [B, F, D]."""
        f = v.shape[1]
        x = v + self.frame_position_embeddings.weight[:f]
        key = ((1.0 - mask) * -1000000.0)[:, None, None, :]
        return self.transformerClip(x, key) + v


class PoolFrames(nn.Module):
    """LVA (MODELS.md 3.2, X-Pool's attention pooling without its projections).
    cross_attn exists upstream but is never applied; it is kept (identity) so
    that the file has the upstream key set."""

    def __init__(self, dim, dropout):
        super().__init__()
        self.cross_attn = nn.Module()
        for name in ("q_proj", "k_proj", "v_proj", "out_proj"):
            lin = nn.Linear(dim, dim)
            with torch.no_grad():
                lin.weight.copy_(torch.eye(dim))
                lin.bias.zero_()
            lin.requires_grad_(False)
            setattr(self.cross_attn, name, lin)
        self.linear_proj = nn.Linear(dim, dim)
        self.layer_norm1 = nn.LayerNorm(dim, eps=EPS_CLIP)
        self.layer_norm2 = nn.LayerNorm(dim, eps=EPS_CLIP)
        self.layer_norm3 = nn.LayerNorm(dim, eps=EPS_CLIP)
        self.dropout = nn.Dropout(dropout)

    def forward(self, q, vp):
        """q [T, Q, D] queries per text, vp [V, F, D] -> out [V, T, Q, D], attn [V, T, Q, F]
        (video-major, which keeps the big tensors contiguous)."""
        t, nq, d = q.shape
        v, f, _ = vp.shape
        qh = self.layer_norm1(q).reshape(t * nq, d)
        k = self.layer_norm1(vp)                                         # [V, F, D]
        a = torch.softmax(torch.matmul(qh, k.transpose(1, 2)) / math.sqrt(d), dim=-1)  # [V, TQ, F]; no frame mask
        o = self.layer_norm2(torch.bmm(a, k))                            # [V, TQ, D]
        out = self.layer_norm3(o + self.dropout(self.linear_proj(o)))
        return out.view(v, t, nq, d), a.view(v, t, nq, f)


class TCMGC(nn.Module):
    """The TC-MGC head; parameter names are the upstream top-level keys."""

    def __init__(self, dim, rows, layers, heads, k, softmax_lambda=100.0, dropout=0.3):
        super().__init__()
        self.k = k
        self.lam = softmax_lambda
        self.seq = SeqTransf(rows, dim, layers, heads)
        self.conditional_transformer = nn.Module()
        self.conditional_transformer.pool_frames = PoolFrames(dim, dropout)
        eye = lambda n: nn.Parameter(torch.eye(n))  # noqa: E731
        self.global_mat_weight = eye(dim)
        self.local_mat_weight = eye(dim)
        self.attentive_word_logit_weight = eye(k)
        self.concat_frame_word_logit_weight = eye(k + 1)
        self.attentive_word_mat_weight = eye(k)
        self.attentive_word_mat_weight2 = eye(k)
        self.attentive_frame_word_mat_weight = eye(k)
        self.attentive_frame_word_mat_weight2 = eye(k)
        self.logit_weight = eye(4)

    def video(self, v, mask):
        return self.seq(v, mask)

    def scores(self, s, words, vp, ls):
        """s [T, D], words [T, L, D], vp [V, F, D] (seqTransf output) ->
        score [T, V], z [T, V, 4] (S_vs, S_vw, S_sf, S_fw, logit-scaled)."""
        k, lam = self.k, self.lam
        nw = words.shape[1]
        out, _ = self.conditional_transformer.pool_frames(torch.cat([s[:, None], words], dim=1), vp)
        vbar = F.normalize(out[:, :, 0], dim=-1)       # [V, T, D]
        fbar = F.normalize(out[:, :, 1:], dim=-1)      # [V, T, L, D] word-conditioned frames
        sbar = F.normalize(s, dim=-1)                  # [T, D]
        wbar = F.normalize(words, dim=-1)              # [T, L, D]

        s_vs = ls * ((sbar @ self.global_mat_weight)[None] * vbar).sum(-1)           # [V, T]

        a_w = torch.matmul(wbar[None], vbar[..., None])[..., 0]                       # [V, T, L]
        top = torch.topk(a_w, k, dim=-1, largest=True, sorted=True).values
        s_vw = ls * ref.isa(top, self.attentive_word_logit_weight, lam)

        b = torch.matmul(fbar, sbar[None, :, :, None])[..., 0]                       # [V, T, L]
        top = torch.topk(b, k, dim=-1, largest=True, sorted=True).values
        rest = torch.topk(b, nw - k, dim=-1, largest=False, sorted=True).values
        c = (torch.softmax(rest, dim=-1) * rest).sum(dim=-1, keepdim=True)
        s_sf = ls * ref.isa(torch.cat([top, c], dim=-1), self.concat_frame_word_logit_weight, lam)

        # M[w, f] = (W̄_w Gl) · f̄_f, held transposed ([frames, words]) so that the
        # word-direction top-k (down each column of M) runs over the last dim.
        mt = torch.matmul(fbar, (wbar @ self.local_mat_weight).transpose(1, 2)[None])  # [V, T, f, w]
        m1 = torch.topk(mt, k, dim=-1, largest=True, sorted=True).values.transpose(-1, -2)  # [V, T, k, L]
        m2 = torch.topk(m1, k, dim=-1, largest=True, sorted=True).values              # [V, T, k, k]
        word_level = ref.isa(m2.transpose(-1, -2), self.attentive_word_mat_weight, lam)
        frame_level = ref.isa(m2, self.attentive_frame_word_mat_weight, lam)
        sent2frame = ref.isa(word_level, self.attentive_frame_word_mat_weight2, lam)
        video2word = ref.isa(frame_level, self.attentive_word_mat_weight2, lam)
        s_fw = ls * (sent2frame + video2word) / 2

        z = torch.stack([s_vs, s_vw, s_sf, s_fw], dim=-1).transpose(0, 1)           # [T, V, 4]
        omega = torch.softmax(z @ self.logit_weight, dim=-1)
        return (omega * z).sum(dim=-1), z

    def state_items(self):
        """(upstream name, tensor) pairs."""
        for name, t in self.state_dict().items():
            if name.startswith("seq."):
                name = name[len("seq."):]
            if name.endswith("pool_frames.dropout") or ".dropout." in name:
                continue
            yield name, t


class SEBlock(nn.Module):
    """Upstream's excitation / aggregation block: fc = Linear(F, h), act, Linear(h, F), (sigmoid|softmax)."""

    def __init__(self, frames, r, relu6):
        super().__init__()
        h = ref.hidden_size(frames, r)
        self.fc = nn.Sequential(OrderedDict([
            ("0", nn.Linear(frames, h)),
            ("1", nn.ReLU6() if relu6 else nn.ReLU()),
            ("2", nn.Linear(h, frames)),
        ]))

    def logits(self, x):
        return self.fc(x.mean(dim=-1))  # squeeze over channels, no mask


class EA(nn.Module):
    """EA loose heads (MODELS.md 2.1-2.2) without intra_mlp (a leftover of the
    upstream code, not the paper's method; MODELS.md 2.5):
      meanP     + excitation_aggregation (unity: both blocks ReLU, same r)
      seqTransf + aggregation (r < 1: expansion, ReLU6)
    """

    def __init__(self, frames, dim, sim_header="meanP", se_type="excitation_aggregation",
                 reduction_ratio=4.0, rows=32, layers=4, heads=4):
        super().__init__()
        self.sim_header, self.se_type, self.r = sim_header, se_type, reduction_ratio
        exc_act, agg_act, agg_r = ref.ea_activations({"se_type": se_type, "reduction_ratio": reduction_ratio,
                                                       "aggregation_type": "unity"})
        if sim_header == "seqTransf":
            self.seq = SeqTransf(rows, dim, layers, heads)
        elif sim_header != "meanP":
            raise ValueError(f"EA trainer: sim_header {sim_header} not supported")
        if se_type == "excitation_aggregation":
            self.se_block = nn.Module()
            self.se_block.scale = SEBlock(frames, reduction_ratio, exc_act == "relu6")
            self.se_block.aggregate = SEBlock(frames, agg_r, agg_act == "relu6")
        elif se_type == "aggregation":
            self.se_block = SEBlock(frames, reduction_ratio, agg_act == "relu6")
        elif se_type == "none":
            pass  # the header alone: a masked mean of the (unnormalised) frames, as core/ea.c
        else:
            raise ValueError(f"EA trainer: se_type {se_type} not supported")

    def video(self, v, mask):
        """v [V, F, D] raw frame embeddings -> (v̂ [V, D], e [V, F], g [V, F])."""
        x = v
        if self.sim_header == "seqTransf":
            x = self.seq(x, mask)
        e = torch.ones_like(x[..., 0])
        if self.se_type == "none":
            g = mask / mask.sum(dim=-1, keepdim=True).clamp(min=1)
            vec = (g[..., None] * x).sum(dim=-2)
            return F.normalize(vec, dim=-1), e, g
        if self.se_type == "excitation_aggregation":
            e = torch.sigmoid(self.se_block.scale.logits(x))
            x = x * e[..., None]
            g = torch.softmax(self.se_block.aggregate.logits(x), dim=-1)
        else:
            g = torch.softmax(self.se_block.logits(x), dim=-1)
        vec = (g[..., None] * x).sum(dim=-2)
        return F.normalize(vec, dim=-1), e, g

    def scores(self, s, vhat, ls):
        return ls * F.normalize(s, dim=-1) @ vhat.T

    def state_items(self):
        for name, t in self.state_dict().items():
            if name.startswith("seq."):
                name = name[len("seq."):]
            yield name, t


def meanp_video(v, mask):
    """CLIP4Clip meanP (the training-free form in C): masked mean of the
    L2-normalised frames, normalised.  v [V, F, D], mask [V, F]."""
    vn = F.normalize(v, dim=-1) * mask[..., None]
    return F.normalize(vn.sum(dim=1) / mask.sum(dim=1, keepdim=True).clamp(min=1), dim=-1)


# --- tokenizer -----------------------------------------------------------------

def find_clipgrep(explicit=None):
    for p in (explicit, os.environ.get("CLIPGREP"), os.path.join(REPO, "clipgrep")):
        if p and os.path.isfile(p) and os.access(p, os.X_OK):
            return p
    raise SystemExit("tinyclip: the clipgrep program is needed to tokenize (build it with `make clipgrep`, "
                     "or give --clipgrep PATH / $CLIPGREP)")


def tokenize(texts, L, clipgrep=None, bpe=None, model=None):
    """CLIP token ids [N, L] int64 (SOT, BPE, EOT, zero padding) for each
    text, from the C tokenizer (`clipgrep tokenize --ids`) so that training
    sees exactly the ids the engine will."""
    prog = find_clipgrep(clipgrep)
    src = ["--model", model] if model else ["--bpe", bpe or DEFAULT_BPE]
    for t in texts:
        if "\n" in t or "\r" in t:
            raise ValueError(f"caption with a line break: {t!r}")
    res = subprocess.run([prog, "tokenize", *src, "--ids", "-L", str(L)],
                         input="\n".join(texts) + "\n", capture_output=True, text=True)
    if res.returncode != 0:
        raise SystemExit(f"tinyclip: clipgrep tokenize failed: {res.stderr.strip()}")
    lines = res.stdout.splitlines()
    if len(lines) != len(texts):
        raise SystemExit(f"tinyclip: clipgrep tokenize gave {len(lines)} lines for {len(texts)} texts")
    out = np.zeros((len(texts), L), dtype=np.int64)
    for i, line in enumerate(lines):
        ids = [int(x) for x in line.split()]
        out[i, :len(ids)] = ids
    return out


def read_merges(bpe_path=None, n=N_MERGES):
    """The merges text carried in clipgrep.tokenizer.merges: the version
    line and the first n merges of bpe_simple_vocab_16e6.txt(.gz)."""
    path = bpe_path or DEFAULT_BPE
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as f:
        lines = f.read().split("\n")
    return "\n".join(lines[:n + 1]) + "\n"


# --- model files -----------------------------------------------------------------

def clip_metadata(cfg):
    return {
        "clipgrep.embed_dim": cfg["embed_dim"],
        "clipgrep.vision.width": cfg["vision_width"],
        "clipgrep.vision.layers": cfg["vision_layers"],
        "clipgrep.vision.heads": cfg["vision_heads"],
        "clipgrep.vision.patch": cfg["patch"],
        "clipgrep.vision.image_size": cfg["image_size"],
        "clipgrep.text.width": cfg["text_width"],
        "clipgrep.text.layers": cfg["text_layers"],
        "clipgrep.text.heads": cfg["text_heads"],
        "clipgrep.text.context_length": cfg["context_length"],
        "clipgrep.text.vocab_size": cfg.get("vocab_size", VOCAB),
        "clipgrep.frames": cfg["frames"],
        "clipgrep.max_words": cfg["max_words"],
    }


def export(path, clip, head, arch, metadata, f16=True, zero_rows=None):
    """Write a clipgrep model file: clip.* (+ the head's upstream keys),
    matrices as F16 when f16 (logit_scale and logit_weight stay F32: they
    are scalars/tiny), the metadata as strings.  zero_rows: token ids whose
    embedding rows are written as zeros (never seen in training)."""
    tensors = {}
    for name, t in clip.state_dict().items():
        tensors["clip." + name] = t.detach().cpu().float().numpy().copy()
    if zero_rows is not None:
        tensors["clip.token_embedding.weight"][zero_rows] = 0.0
    if head is not None:
        for name, t in head.state_items():
            tensors[name] = t.detach().cpu().float().numpy().copy()
    out = {}
    for name, a in tensors.items():
        if f16 and a.ndim >= 1 and a.size > 16:
            out[name] = a.astype(np.float16)
        else:
            out[name] = a.astype(np.float32)
    meta = {"clipgrep.architecture": arch}
    meta.update(metadata)
    tmp = path + ".tmp"
    st.save(tmp, out, meta)
    os.replace(tmp, path)
    return out


def config_from_file(tensors, meta):
    """The CLIP configuration of a model file (metadata where given, else
    from the shapes, as core/model.c infers it)."""
    g = lambda k, d: int(meta.get(k, d))  # noqa: E731
    vw = tensors["clip.visual.class_embedding"].shape[0]
    patch = tensors["clip.visual.conv1.weight"].shape[2]
    grid = int(round(math.sqrt(tensors["clip.visual.positional_embedding"].shape[0] - 1)))
    tw = tensors["clip.ln_final.weight"].shape[0]
    ctx = tensors["clip.positional_embedding"].shape[0]
    count = lambda p: sum(1 for k in tensors if k.startswith(p) and k.endswith(".ln_1.weight"))  # noqa: E731
    return {
        "embed_dim": tensors["clip.visual.proj"].shape[1],
        "vision_width": vw, "vision_layers": count("clip.visual.transformer.resblocks."),
        "vision_heads": g("clipgrep.vision.heads", vw // 64), "patch": patch, "image_size": grid * patch,
        "text_width": tw, "text_layers": count("clip.transformer.resblocks."),
        "text_heads": g("clipgrep.text.heads", tw // 64), "context_length": ctx,
        "vocab_size": tensors["clip.token_embedding.weight"].shape[0],
        "frames": g("clipgrep.frames", 12), "max_words": g("clipgrep.max_words", min(32, ctx)),
    }


def load_file(path, head=None):
    """A model file -> (CLIP module, head module or None, arch, metadata,
    tensors).  Weights are the file's values widened to float32.  head: one
    head of a multi-head file (st.view: its own tensors and keys over the
    shared ones); None for a single model (or a multi-head file's shared
    CLIP)."""
    tensors, meta = st.load_view(path, head)
    t32 = {k: torch.from_numpy(np.asarray(v, dtype=np.float32)) for k, v in tensors.items()}
    cfg = config_from_file(tensors, meta)
    clip = CLIP(cfg)
    sd = {k[len("clip."):]: v for k, v in t32.items() if k.startswith("clip.")}
    missing, unexpected = clip.load_state_dict(sd, strict=False)
    if missing:
        raise SystemExit(f"{path}: missing CLIP tensors: {missing[:5]}")
    arch = meta.get("clipgrep.architecture", "clip")
    head = None
    if arch == "tcmgc":
        head = tcmgc_from_tensors(t32, meta, cfg)
    elif arch == "ea":
        head = ea_from_tensors(t32, meta, cfg)
    return clip, head, arch, meta, t32, cfg


def tcmgc_k(meta, max_words):
    if "clipgrep.tcmgc.k" in meta:
        return int(meta["clipgrep.tcmgc.k"])
    return max(1, int(max_words * float(meta.get("clipgrep.tcmgc.keep_rate", 0.1))))


def _load_head(head, t32, rename):
    sd = head.state_dict()
    new = {}
    for name in sd:
        src = rename(name)
        if src in t32:
            new[name] = t32[src]
        elif name.endswith("logit_weight") and name == "logit_weight":
            new[name] = torch.eye(4)
        else:
            new[name] = sd[name]
            if "cross_attn" not in name:
                raise SystemExit(f"model file lacks {src}")
    head.load_state_dict(new)
    return head


def tcmgc_from_tensors(t32, meta, cfg):
    d = cfg["embed_dim"]
    layers = sum(1 for k in t32 if k.startswith("transformerClip.resblocks.") and k.endswith(".ln_1.weight"))
    head = TCMGC(d, t32["frame_position_embeddings.weight"].shape[0], layers, cfg["text_heads"],
                 tcmgc_k(meta, cfg["max_words"]), float(meta.get("clipgrep.tcmgc.softmax_lambda", 100)))
    return _load_head(head, t32, lambda n: n[len("seq."):] if n.startswith("seq.") else n)


def ea_from_tensors(t32, meta, cfg):
    sh = meta.get("clipgrep.ea.sim_header", "meanP")
    st_ = meta.get("clipgrep.ea.se_type", "excitation_aggregation")
    r = float(meta.get("clipgrep.ea.reduction_ratio", 4))
    layers = sum(1 for k in t32 if k.startswith("transformerClip.resblocks.") and k.endswith(".ln_1.weight"))
    rows = t32["frame_position_embeddings.weight"].shape[0] if "frame_position_embeddings.weight" in t32 else 32
    head = EA(cfg["frames"], cfg["embed_dim"], sh, st_, r, rows, max(layers, 1), cfg["text_heads"])
    return _load_head(head, t32, lambda n: n[len("seq."):] if n.startswith("seq.") else n)
