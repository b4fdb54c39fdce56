#!/usr/bin/python3
"""Regenerate tests/golden/ops.safetensors: random inputs for clipgrep's
operators (LayerNorm, QuickGELU, softmax, packed multi-head attention with
key and causal masks, the CLIP residual block) and PyTorch's outputs for
them, computed in float64.

    /usr/bin/python3 tools/reference/gen_ops_golden.py [OUT]

Deterministic: seeded, so re-running gives the same bytes.
"""
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import st  # noqa: E402

DIM, HEADS, TOKENS, BATCH, HIDDEN = 16, 2, 5, 2, 64


def quick_gelu(x):
    return x * torch.sigmoid(1.702 * x)


def attention(x, w, key_bias, causal):
    """x [B, T, D] through torch's own MultiheadAttention (packed weights)."""
    mha = torch.nn.MultiheadAttention(DIM, HEADS, batch_first=True).double()
    with torch.no_grad():
        mha.in_proj_weight.copy_(w["in_proj_weight"])
        mha.in_proj_bias.copy_(w["in_proj_bias"])
        mha.out_proj.weight.copy_(w["out_proj_weight"])
        mha.out_proj.bias.copy_(w["out_proj_bias"])
    mask = torch.zeros(BATCH, TOKENS, TOKENS, dtype=torch.float64)
    if key_bias is not None:
        mask += key_bias[:, None, :]
    if causal:
        mask += torch.triu(torch.full((TOKENS, TOKENS), float("-inf"), dtype=torch.float64), 1)
    mask = mask.repeat_interleave(HEADS, dim=0)  # [B * heads, T, T]
    out, _ = mha(x, x, x, need_weights=False, attn_mask=mask)
    return out


def block(x, w, eps, key_bias, causal):
    """CLIP ResidualAttentionBlock, written from MODELS.md section 1.1."""
    h = F.layer_norm(x, (DIM,), w["ln_1.weight"], w["ln_1.bias"], eps)
    x = x + attention(h, w, key_bias, causal)
    h = F.layer_norm(x, (DIM,), w["ln_2.weight"], w["ln_2.bias"], eps)
    h = quick_gelu(h @ w["c_fc.weight"].T + w["c_fc.bias"])
    return x + h @ w["c_proj.weight"].T + w["c_proj.bias"]


def main():
    out_path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(__file__), "..", "..", "tests", "golden", "ops.safetensors")
    g = torch.Generator().manual_seed(20261125)

    def randn(*shape, scale=1.0):
        return torch.randn(*shape, generator=g, dtype=torch.float64) * scale

    t = {}
    # LayerNorm: one row far from zero checks the two-pass variance.
    x = randn(4, DIM)
    x[3] += 1000.0
    gamma, beta = randn(DIM), randn(DIM)
    t.update({"ln.x": x, "ln.gamma": gamma, "ln.beta": beta,
              "ln.y_eps1e-5": F.layer_norm(x, (DIM,), gamma, beta, 1e-5),
              "ln.y_eps1e-12": F.layer_norm(x, (DIM,), gamma, beta, 1e-12)})

    x = randn(64, scale=4.0)
    t.update({"gelu.x": x, "gelu.y": quick_gelu(x)})

    x = randn(4, 7, scale=3.0)
    x[1, 2] = float("-inf")
    x[2, :6] = float("-inf")
    t.update({"softmax.x": x, "softmax.y": torch.softmax(x, dim=-1)})

    w = {"in_proj_weight": randn(3 * DIM, DIM, scale=0.3), "in_proj_bias": randn(3 * DIM, scale=0.1),
         "out_proj_weight": randn(DIM, DIM, scale=0.3), "out_proj_bias": randn(DIM, scale=0.1),
         "ln_1.weight": 1 + randn(DIM, scale=0.1), "ln_1.bias": randn(DIM, scale=0.1),
         "ln_2.weight": 1 + randn(DIM, scale=0.1), "ln_2.bias": randn(DIM, scale=0.1),
         "c_fc.weight": randn(HIDDEN, DIM, scale=0.3), "c_fc.bias": randn(HIDDEN, scale=0.1),
         "c_proj.weight": randn(DIM, HIDDEN, scale=0.2), "c_proj.bias": randn(DIM, scale=0.1)}
    for k, v in w.items():
        t["block." + k] = v
    x = randn(BATCH, TOKENS, DIM)
    # The reference's video mask: padded frames get -1e6 on their keys.
    key_bias = torch.zeros(BATCH, TOKENS, dtype=torch.float64)
    key_bias[1, 3:] = -1e6
    t["mha.x"] = x.reshape(BATCH * TOKENS, DIM)
    t["mha.key_bias"] = key_bias
    with torch.no_grad():
        t["mha.y_keymask"] = attention(x, w, key_bias, False).reshape(-1, DIM)
        t["mha.y_causal"] = attention(x, w, None, True).reshape(-1, DIM)
        t["block.y_clip_causal"] = block(x, w, 1e-5, None, True).reshape(-1, DIM)
        t["block.y_tf_keymask"] = block(x, w, 1e-12, key_bias, False).reshape(-1, DIM)

    arrays = {k: v.detach().numpy().astype(np.float32) for k, v in t.items()}
    st.save(out_path, arrays, {"generator": "tools/reference/gen_ops_golden.py",
                               "dim": DIM, "heads": HEADS, "tokens": TOKENS,
                               "batch": BATCH, "hidden": HIDDEN})
    print(f"wrote {out_path}: {len(arrays)} tensors")


if __name__ == "__main__":
    main()
