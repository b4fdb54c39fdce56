#!/usr/bin/python3
"""Text-to-video retrieval on a held-out split with the PyTorch modules, in
float64, on frames decoded the way the C engine samples them
(tools/synth load_clip_frames: t_i = start + (i + 0.5) duration / F).

    /usr/bin/python3 tools/train/eval_ref.py --data /tmp/clipgrep-synth \\
        [--split test] [--models assets/demo/demo.safetensors] [--json OUT]

One query per clip (its first caption, "caption") against every clip of the
split.  Rows: every head of a multi-head file, named as the engine's modes
(tcmgc, ea, ea-seq, meanp for the demo model), or per single file:
  meanP   a "clip" file: CLIP4Clip meanP (mean of normalised frame
          embeddings), which is what the engine runs for a CLIP-only file
  EA      an "ea" file's head
  TC-MGC  a "tcmgc" file's head
Ranks: 1 + videos scored strictly higher than the true one.  --json writes
the metrics and every query's rank (and FILE-scores.npz, the score
matrices), for tools/train/eval_c.sh to compare.
"""
import argparse
import glob
import hashlib
import json
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import metrics  # noqa: E402
import tinyclip as tc  # noqa: E402
import train  # noqa: E402


def vision_key(t32):
    h = hashlib.sha256()
    for k in sorted(t32):
        if k.startswith("clip.visual."):
            h.update(k.encode())
            h.update(t32[k].numpy().tobytes())
    return h.hexdigest()


def label(arch, meta):
    if arch == "clip":
        return "meanP (CLIP4Clip)"
    if arch == "ea":
        return f"EA ({meta.get('clipgrep.ea.sim_header', 'meanP')} + " \
               f"{meta.get('clipgrep.ea.se_type', 'excitation_aggregation')})"
    return "TC-MGC"


@torch.no_grad()
def evaluate(path, clips, frames, masks, cache, chunk, head_name=None):
    clip, head, arch, meta, t32, cfg = tc.load_file(path, head_name)
    clip = clip.double().eval()
    key = vision_key(t32)
    if key not in cache:
        t0 = time.time()
        emb = train.encode_frames(clip, frames, masks, "cpu", batch=128).double()
        cache[key] = emb
        print(f"eval_ref: {os.path.basename(path)}: {frames.shape[0] * frames.shape[1]} frames encoded "
              f"in {time.time() - t0:.0f} s", file=sys.stderr)
    v = cache[key]
    m = torch.as_tensor(masks, dtype=torch.float64)
    ids = tc.tokenize([" ".join(c.captions[0].split()) for c in clips], cfg["max_words"], model=path)
    s, w = clip.encode_text(torch.as_tensor(ids))
    ls = float(np.exp(float(t32["clip.logit_scale"]))) if "clip.logit_scale" in t32 else 100.0
    if arch == "clip":  # scaled as the engine's training-free EA score is
        scores = ls * F.normalize(s, dim=-1) @ tc.meanp_video(v, m).T
    elif arch == "ea":
        head = head.double().eval()
        scores = head.scores(s, head.video(v, m)[0], ls)
    else:
        head = head.double().eval()
        vp = head.video(v, m)
        scores = torch.cat([head.scores(s[i:i + chunk], w[i:i + chunk], vp, ls)[0]
                            for i in range(0, len(clips), chunk)])
    ranks = metrics.ranks_from_scores(scores.numpy())
    return label(arch, meta), arch, ranks, scores.numpy()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", required=True, metavar="DIR", help="a tools/synth dataset")
    ap.add_argument("--split", default="test")
    ap.add_argument("--models", nargs="+", metavar="FILE",
                    default=[os.path.join(tc.REPO, "assets", "demo", "demo.safetensors")],
                    help="model files (default: the demo's); every head of a multi-head file is run")
    ap.add_argument("--frames", choices=("decoded", "npy"), default="decoded",
                    help="decoded mp4 as the engine sees it (default), or the rendered .npy frames")
    ap.add_argument("--cache", default="/tmp/clipgrep-eval-frames", help="decoded frames cache")
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument("--chunk", type=int, default=25, help="TC-MGC queries per batch")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", metavar="FILE", help="write metrics and per-query ranks")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)

    clips = [c for c in train.read_synth(args.data) if c.split == args.split]
    if args.limit:
        clips = clips[:args.limit]
    if not clips:
        raise SystemExit(f"eval_ref: no {args.split} clips in {args.data}")
    sizes = set()
    runs = []  # (file, head or None, key): every head of a multi-head file
    for p in args.models:
        tensors, meta = tc.st.load_view(p)
        sizes.add((tc.config_from_file(tensors, meta)["image_size"], int(meta.get("clipgrep.frames", 12))))
        heads = tc.st.heads(tc.st.load(p)[1])  # the view drops clipgrep.heads: ask the file
        runs += [(p, h, h) for h in heads] if heads else [(p, None, None)]
    if len(sizes) != 1:
        raise SystemExit("eval_ref: the models disagree on image size or frames")
    size, nf = sizes.pop()
    t0 = time.time()
    frames, masks = train.load_frames(clips, nf, size, args.cache, prefer_npy=args.frames == "npy")
    print(f"eval_ref: {len(clips)} {args.split} clips, frames ({args.frames}) in {time.time() - t0:.0f} s",
          file=sys.stderr)
    cache, rows, out = {}, [], {"split": args.split, "queries": [c.id for c in clips], "models": {}}
    all_scores = {}
    for p, head, key in runs:
        name, arch, ranks, scores = evaluate(p, clips, frames, masks, cache, args.chunk, head)
        key = key or arch  # a head's name (the engine's mode), or a single file's architecture
        all_scores[key] = scores
        m = metrics.compute(ranks)
        rows.append((f"{key}: {name}" if head else name, m))
        out["models"][key] = {"file": os.path.basename(p), "head": head, "name": name, "metrics": m,
                              "ranks": [int(r) for r in ranks]}
    print(f"Text-to-video retrieval, {len(clips)} {args.split} clips, PyTorch reference (float64):")
    print(metrics.table(rows))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1)
        # the full score matrices [query, video] (videos in query order), for eval_c.sh
        np.savez(os.path.splitext(args.json)[0] + "-scores.npz", **all_scores)


if __name__ == "__main__":
    main()
