#!/usr/bin/python3
"""The `clipgrep bench encode` measurement with PyTorch, on the same
machine, so the C-to-PyTorch ratio can be reproduced:

    /usr/bin/python3 tools/bench_torch.py [--threads N] [--batch 1,12,24] [--seconds S] [--json]

ViT-B/32-shaped random weights (gen_clip_golden.make_weights, seeded), fp32
math, torch.inference_mode, N intra-op threads (default: all cores, as
clipgrep uses).  Two PyTorch implementations are timed and the faster one is
reported for each figure:

  modules  nn.MultiheadAttention / nn.LayerNorm blocks, the way upstream
           CLIP is built (in eval mode torch may take its fused
           native-MHA fast path)
  ref      tools/reference/clip_ref.py, the plain-tensor reference

Both are checked against each other before timing.  Peak RSS is not
comparable (the Python process also holds NumPy copies) and is reported
only for information.

OMP_WAIT_POLICY defaults to PASSIVE here: Debian's torch runs its OpenMP
threads beside OpenBLAS's pthreads, and with the default active waiting the
two pools spin against each other (on 2 cores torch is then 2-20x slower).
"""
import argparse
import json
import os
import resource
import sys
import time

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch starts OpenMP

import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "reference"))
import clip_ref  # noqa: E402
import gen_clip_golden  # noqa: E402


class Block(nn.Module):
    """Pre-LN CLIP residual block (MODELS.md 1.1) from torch modules."""

    def __init__(self, d, heads, mask=None):
        super().__init__()
        self.ln_1 = nn.LayerNorm(d, eps=1e-5)
        self.attn = nn.MultiheadAttention(d, heads, batch_first=True)
        self.ln_2 = nn.LayerNorm(d, eps=1e-5)
        self.c_fc = nn.Linear(d, 4 * d)
        self.c_proj = nn.Linear(4 * d, d)
        self.mask = mask

    def forward(self, x):
        h = self.ln_1(x)
        x = x + self.attn(h, h, h, need_weights=False, attn_mask=self.mask)[0]
        h = self.c_fc(self.ln_2(x))
        return x + self.c_proj(h * torch.sigmoid(1.702 * h))

    def load(self, w, prefix):
        sd = {
            "ln_1.weight": w[prefix + "ln_1.weight"], "ln_1.bias": w[prefix + "ln_1.bias"],
            "ln_2.weight": w[prefix + "ln_2.weight"], "ln_2.bias": w[prefix + "ln_2.bias"],
            "attn.in_proj_weight": w[prefix + "attn.in_proj_weight"],
            "attn.in_proj_bias": w[prefix + "attn.in_proj_bias"],
            "attn.out_proj.weight": w[prefix + "attn.out_proj.weight"],
            "attn.out_proj.bias": w[prefix + "attn.out_proj.bias"],
            "c_fc.weight": w[prefix + "mlp.c_fc.weight"], "c_fc.bias": w[prefix + "mlp.c_fc.bias"],
            "c_proj.weight": w[prefix + "mlp.c_proj.weight"],
            "c_proj.bias": w[prefix + "mlp.c_proj.bias"],
        }
        self.load_state_dict(sd)


class Towers(nn.Module):
    def __init__(self, m):
        super().__init__()
        w = m.w
        self.m = m
        vw, tw = m.vision_width, m.text_width
        self.conv1 = nn.Conv2d(3, vw, m.patch, stride=m.patch, bias=False)
        self.conv1.weight.data.copy_(w["clip.visual.conv1.weight"])
        for name in ("class_embedding", "positional_embedding", "proj"):
            self.register_buffer("v_" + name, w["clip.visual." + name])
        self.ln_pre = nn.LayerNorm(vw, eps=1e-5)
        self.ln_pre.load_state_dict({"weight": w["clip.visual.ln_pre.weight"],
                                     "bias": w["clip.visual.ln_pre.bias"]})
        self.ln_post = nn.LayerNorm(vw, eps=1e-5)
        self.ln_post.load_state_dict({"weight": w["clip.visual.ln_post.weight"],
                                      "bias": w["clip.visual.ln_post.bias"]})
        self.vblocks = nn.ModuleList(Block(vw, m.vision_heads) for _ in range(m.vision_layers))
        for i, b in enumerate(self.vblocks):
            b.load(w, f"clip.visual.transformer.resblocks.{i}.")

        L = m.max_words
        mask = torch.triu(torch.full((L, L), float("-inf")), 1)
        self.token_embedding = nn.Embedding(m.vocab, tw)
        self.token_embedding.weight.data.copy_(w["clip.token_embedding.weight"])
        self.register_buffer("t_pos", w["clip.positional_embedding"][:L].clone())
        self.tblocks = nn.ModuleList(Block(tw, m.text_heads, mask) for _ in range(m.text_layers))
        for i, b in enumerate(self.tblocks):
            b.load(w, f"clip.transformer.resblocks.{i}.")
        self.ln_final = nn.LayerNorm(tw, eps=1e-5)
        self.ln_final.load_state_dict({"weight": w["clip.ln_final.weight"],
                                       "bias": w["clip.ln_final.bias"]})
        self.register_buffer("text_projection", w["clip.text_projection"])

    def encode_image(self, frames):
        x = self.conv1(frames).flatten(2).transpose(1, 2)
        cls = self.v_class_embedding.expand(x.shape[0], 1, -1)
        x = self.ln_pre(torch.cat([cls, x], 1) + self.v_positional_embedding)
        for b in self.vblocks:
            x = b(x)
        return self.ln_post(x[:, 0]) @ self.v_proj

    def encode_text(self, ids):
        x = self.token_embedding(ids) + self.t_pos
        for b in self.tblocks:
            x = b(x)
        words = self.ln_final(x) @ self.text_projection
        return words[torch.arange(ids.shape[0]), ids.argmax(-1)], words


def timed(fn, seconds, min_calls):
    fn()  # warm-up
    times = []
    start = time.perf_counter()
    while len(times) < min_calls or time.perf_counter() - start < seconds:
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return times


def flops_image(m):
    D, g, P = m.vision_width, m.image_size // m.patch, m.patch
    T, H = g * g + 1, 4 * D
    layer = 2 * T * (3 * D * D + D * D + 2 * D * H) + 4 * T * T * D
    return 2 * g * g * 3 * P * P * D + m.vision_layers * layer + 2 * D * m.embed


def flops_text(m, L):
    D, H = m.text_width, 4 * m.text_width
    return m.text_layers * (2 * L * (3 * D * D + D * D + 2 * D * H) + 4 * L * L * D) \
        + 2 * L * D * m.embed


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--batch", default="1,12,24")
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    batches = [int(b) for b in args.batch.split(",")]

    cfg = gen_clip_golden.VIT_B32
    weights = gen_clip_golden.make_weights(cfg, seed=1, f16=lambda name: False)
    m = clip_ref.from_arrays(weights, gen_clip_golden.metadata(cfg, "random ViT-B/32"),
                             dtype=torch.float32)
    del weights
    towers = Towers(m).eval()
    L = m.max_words
    rng = np.random.default_rng(2)
    frames = torch.from_numpy(rng.standard_normal(
        (max(batches), 3, m.image_size, m.image_size), dtype=np.float32))
    ids = torch.zeros(1, L, dtype=torch.long)
    ids[0, :12] = torch.tensor([m.vocab - 2] + list(range(320, 330)) + [m.vocab - 1])

    with torch.inference_mode():
        a = towers.encode_image(frames[:2])
        b = clip_ref.encode_image(m, frames[:2])
        err_img = float((a - b).abs().max() / b.abs().max())
        sa, wa = towers.encode_text(ids)
        sb, wb = clip_ref.encode_text(m, ids)
        err_txt = float((wa - wb).abs().max() / wb.abs().max())
        assert err_img < 1e-4 and err_txt < 1e-4, (err_img, err_txt)

        impls = {"modules": (towers.encode_image, towers.encode_text),
                 "ref": (lambda f: clip_ref.encode_image(m, f),
                         lambda i: clip_ref.encode_text(m, i))}
        result = {"benchmark": "encode", "implementation": "pytorch " + torch.__version__,
                  "threads": torch.get_num_threads(), "cores": os.cpu_count(),
                  "image": {"gflop_per_frame": flops_image(m) / 1e9, "batches": []},
                  "text": {"L": L, "gflop": flops_text(m, L) / 1e9}}
        for bsz in batches:
            best = None
            for name, (img, _) in impls.items():
                t = timed(lambda: img(frames[:bsz]), args.seconds, 2)
                fps = bsz * len(t) / sum(t)
                if best is None or fps > best[1]:
                    best = (name, fps, bsz / min(t))
            result["image"]["batches"].append(
                {"batch": bsz, "frames_per_s": best[1], "best_frames_per_s": best[2],
                 "gflops": best[1] * flops_image(m) / 1e9, "implementation": best[0]})
        best = None
        for name, (_, txt) in impls.items():
            t = sorted(timed(lambda: txt(ids), args.seconds, 20))
            med = t[len(t) // 2] * 1e3
            if best is None or med < best[1]:
                best = (name, med, t[0] * 1e3, len(t))
        result["text"].update({"median_ms": best[1], "min_ms": best[2], "queries": best[3],
                               "gflops": flops_text(m, L) / 1e9 / (best[1] / 1e3),
                               "implementation": best[0]})
        result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    if args.json:
        print(json.dumps(result))
        return
    for b in result["image"]["batches"]:
        print(f"image tower  batch {b['batch']:<3d} {b['frames_per_s']:7.2f} frames/s "
              f"(best call {b['best_frames_per_s']:.2f})  {b['gflops']:6.1f} GFLOP/s  [{b['implementation']}]")
    t = result["text"]
    print(f"text tower   L = {L:<3d}   {t['median_ms']:7.2f} ms median (min {t['min_ms']:.2f}) "
          f"{t['gflops']:6.1f} GFLOP/s  [{t['implementation']}]")
    print(f"pytorch {torch.__version__}, {result['threads']} threads on {result['cores']} cores; "
          f"peak RSS {result['peak_rss_mb']:.0f} MB (not comparable: includes NumPy copies)")


if __name__ == "__main__":
    main()
