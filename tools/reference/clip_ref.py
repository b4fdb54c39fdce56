"""PyTorch reference of the CLIP image and text towers, written from
MODELS.md section 1 (not from upstream code), over a clipgrep model file
read with st.py.  Used by gen_clip_golden.py, parity_full.py and
bench_torch.py; math in float64 by default (pass dtype=torch.float32 to
time it the way a deployment would run).

    import clip_ref
    model = clip_ref.load("model.safetensors")
    emb = clip_ref.encode_image(model, frames)          # [B, embed]
    sentence, words = clip_ref.encode_text(model, ids)  # [N, embed], [N, L, embed]

Only upstream ("clip.*") tensor names are handled; the C loader's OpenAI
and Hugging Face name maps are tested elsewhere.
"""
import math
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import st  # noqa: E402

LN_EPS = 1e-5  # both CLIP towers (MODELS.md 1.1)
MEAN = (0.48145466, 0.4578275, 0.40821073)
STD = (0.26862954, 0.26130258, 0.27577711)


class Model:
    """Weights as torch tensors (widened from F16 where stored so) and the
    configuration: metadata keys where given, otherwise from the shapes, as
    core/model.c infers them."""

    def __init__(self, tensors, metadata, dtype=torch.float64):
        self.w = {k: torch.from_numpy(v).to(dtype) for k, v in tensors.items()
                  if k.startswith("clip.")}
        self.meta = metadata
        self.dtype = dtype
        w = self.w
        self.vision_width = w["clip.visual.class_embedding"].shape[0]
        self.patch = w["clip.visual.conv1.weight"].shape[2]
        grid = int(round(math.sqrt(w["clip.visual.positional_embedding"].shape[0] - 1)))
        self.image_size = grid * self.patch
        self.embed = w["clip.visual.proj"].shape[1]
        self.text_width = w["clip.ln_final.weight"].shape[0]
        self.context = w["clip.positional_embedding"].shape[0]
        self.vocab = w["clip.token_embedding.weight"].shape[0]
        self.vision_layers = _count(w, "clip.visual.transformer.resblocks.")
        self.text_layers = _count(w, "clip.transformer.resblocks.")
        self.vision_heads = int(metadata.get("clipgrep.vision.heads", self.vision_width // 64))
        self.text_heads = int(metadata.get("clipgrep.text.heads", self.text_width // 64))
        self.max_words = int(metadata.get("clipgrep.max_words", min(32, self.context)))


def _count(w, prefix):
    n = 0
    while f"{prefix}{n}.ln_1.weight" in w:
        n += 1
    return n


def load(path, dtype=torch.float64):
    tensors, metadata = st.load(path)
    return Model(tensors, metadata, dtype)


def from_arrays(tensors, metadata, dtype=torch.float64):
    """A Model over in-memory arrays exactly as they will be saved (F16
    arrays stay F16 until widened here, so the reference sees the same
    rounded values as the C code)."""
    return Model(tensors, metadata, dtype)


def quick_gelu(x):
    return x * torch.sigmoid(1.702 * x)


def attention(x, w, prefix, heads, mask):
    """Multi-head self-attention with the packed in_proj [3 width, width]
    (rows q, k, v), q scaled by 1/sqrt(head dim); x [B, T, width]."""
    B, T, D = x.shape
    hd = D // heads
    qkv = x @ w[prefix + "attn.in_proj_weight"].T + w[prefix + "attn.in_proj_bias"]
    q, k, v = qkv.split(D, dim=-1)

    def split_heads(t):
        return t.reshape(B, T, heads, hd).transpose(1, 2)  # [B, heads, T, hd]

    q, k, v = split_heads(q) * (1.0 / math.sqrt(hd)), split_heads(k), split_heads(v)
    scores = q @ k.transpose(-1, -2)  # [B, heads, T, T]
    if mask is not None:
        scores = scores + mask
    ctx = torch.softmax(scores, dim=-1) @ v
    ctx = ctx.transpose(1, 2).reshape(B, T, D)
    return ctx @ w[prefix + "attn.out_proj.weight"].T + w[prefix + "attn.out_proj.bias"]


def block(x, w, prefix, heads, mask):
    """Pre-LN residual attention block (MODELS.md 1.1)."""
    D = x.shape[-1]
    h = F.layer_norm(x, (D,), w[prefix + "ln_1.weight"], w[prefix + "ln_1.bias"], LN_EPS)
    x = x + attention(h, w, prefix, heads, mask)
    h = F.layer_norm(x, (D,), w[prefix + "ln_2.weight"], w[prefix + "ln_2.bias"], LN_EPS)
    h = quick_gelu(h @ w[prefix + "mlp.c_fc.weight"].T + w[prefix + "mlp.c_fc.bias"])
    return x + h @ w[prefix + "mlp.c_proj.weight"].T + w[prefix + "mlp.c_proj.bias"]


@torch.no_grad()
def encode_image(m, frames):
    """frames [B, 3, S, S] normalised -> frame embeddings [B, embed]."""
    w, D = m.w, m.vision_width
    x = torch.as_tensor(frames).to(m.dtype)
    # conv1: kernel = stride = patch, no bias.
    x = F.conv2d(x, w["clip.visual.conv1.weight"], stride=m.patch)  # [B, D, g, g]
    x = x.flatten(2).transpose(1, 2)  # [B, g*g, D]
    cls = w["clip.visual.class_embedding"].expand(x.shape[0], 1, D)
    x = torch.cat([cls, x], dim=1) + w["clip.visual.positional_embedding"]
    x = F.layer_norm(x, (D,), w["clip.visual.ln_pre.weight"], w["clip.visual.ln_pre.bias"], LN_EPS)
    for layer in range(m.vision_layers):
        x = block(x, w, f"clip.visual.transformer.resblocks.{layer}.", m.vision_heads, None)
    # ln_post on every token, as the reference does; token 0 is the frame embedding.
    x = F.layer_norm(x, (D,), w["clip.visual.ln_post.weight"], w["clip.visual.ln_post.bias"], LN_EPS)
    return x[:, 0, :] @ w["clip.visual.proj"]


@torch.no_grad()
def encode_text(m, ids):
    """ids [N, L] (L <= context) -> sentence [N, embed], words [N, L, embed]."""
    w, D = m.w, m.text_width
    ids = torch.as_tensor(ids).long()
    N, L = ids.shape
    x = w["clip.token_embedding.weight"][ids] + w["clip.positional_embedding"][:L]
    # Causal mask built for length L, not 77.
    mask = torch.triu(torch.full((L, L), float("-inf"), dtype=m.dtype), diagonal=1)
    for layer in range(m.text_layers):
        x = block(x, w, f"clip.transformer.resblocks.{layer}.", m.text_heads, mask)
    x = F.layer_norm(x, (D,), w["clip.ln_final.weight"], w["clip.ln_final.bias"], LN_EPS)
    words = x @ w["clip.text_projection"]
    sentence = words[torch.arange(N), ids.argmax(dim=-1)]
    return sentence, words


def normalize_rgb(rgb):
    """uint8 [S, S, 3] -> float32 [3, S, S]: ToTensor then Normalize, in float32."""
    x = torch.as_tensor(rgb).permute(2, 0, 1).to(torch.float32) / 255.0
    mean = torch.tensor(MEAN, dtype=torch.float32)[:, None, None]
    std = torch.tensor(STD, dtype=torch.float32)[:, None, None]
    return (x - mean) / std
