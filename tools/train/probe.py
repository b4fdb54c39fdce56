#!/usr/bin/python3
"""probe.py — what the image tower's frame embeddings know: a linear probe
on the F frame embeddings of one-event synthetic clips, fitted on training
clips and scored on held-out ones.

    /usr/bin/python3 tools/train/probe.py --data /tmp/clipgrep-probe \\
        [--model assets/demo/demo.safetensors] [--fit train] [--test val] [--json OUT]

Targets (from tools/synth's attributes): the clip's motion (ten classes:
left, right, up, down, grow, shrink, spin, appear, disappear, bounce), read
from the F concatenated, L2-normalised frame embeddings [F x D] (the motion
shows only across frames, so this is what the heads' temporal modelling
can build on); and per frame, where each colour's objects are (5 x 5 cells,
train.frame_targets) from one frame embedding: one classifier per colour,
as the embedding times a one-hot colour.  The issue 15 target: >= 80 % on
the ten motions.  Accuracies come with a 95 % Wilson interval.
Multinomial logistic regression (L-BFGS, a little L2), float64, seed 0.

The data is a probe set of its own, all one-event clips, none of which the
tower was trained on (make demo-model writes it):

    synth.py --out /tmp/clipgrep-probe --train 3000 --val 1000 --single-prob 1 --frames-npy --seed 1

The probe has F x D weights per class (768 for the demo model), so it needs
thousands of fitting clips: on the demo model's own training data (607
one-event clips) it fits them all and scores 51.5 % on its 97 held-out
ones, where with 3000 it scores 75 % on 1000 (tools/train/README.md).
"""
import argparse
import json
import math
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import tinyclip as tc  # noqa: E402
import train  # noqa: E402

MOTIONS = ("left", "right", "up", "down", "grow", "shrink", "spin", "appear", "disappear", "bounce")


def wilson(right, n, z=1.96):
    """The 95 % Wilson score interval of a proportion, in per cent."""
    if n == 0:
        return (0.0, 100.0)
    p = right / n
    mid = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (100.0 * (mid - half), 100.0 * (mid + half))


def fit(x, y, n_classes, l2=1e-3, steps=200):
    """Multinomial logistic regression; returns the predict function."""
    torch.manual_seed(0)
    mu, sd = x.mean(0, keepdim=True), x.std(0, keepdim=True).clamp(min=1e-6)
    xs = (x - mu) / sd
    w = torch.zeros(x.shape[1], n_classes, dtype=torch.float64, requires_grad=True)
    b = torch.zeros(n_classes, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([w, b], max_iter=steps, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = F.cross_entropy(xs @ w + b, y) + l2 * (w * w).sum()
        loss.backward()
        return loss
    opt.step(closure)
    return lambda z: (((z - mu) / sd) @ w + b).argmax(1)


@torch.no_grad()
def embed(clip, clips, F_, size, cache):
    frames, masks = train.load_frames(clips, F_, size, cache, prefer_npy=True)
    return train.encode_frames(clip, frames, masks, "cpu", batch=128).double()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", required=True, help="a tools/synth dataset (with --frames-npy, or decoded)")
    ap.add_argument("--model", default=os.path.join(tc.REPO, "assets", "demo", "demo.safetensors"))
    ap.add_argument("--fit", default="train", help="the split the probe is fitted on")
    ap.add_argument("--test", default="val", help="the held-out split it is scored on")
    ap.add_argument("--limit", type=int, default=3000, help="at most N one-event clips to fit on")
    ap.add_argument("--cache", default="/tmp/clipgrep-probe-frames")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", metavar="FILE")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    clip, _, _, meta, _, cfg = tc.load_file(args.model)  # the shared towers: one image tower for all heads
    clip = clip.double().eval()
    F_, size = cfg["frames"], cfg["image_size"]
    out = {"model": os.path.basename(args.model)}
    data = {}
    for split in (args.fit, args.test):
        cs = [c for c in train.read_synth(args.data) if c.split == split and c.attrs
              and len(c.attrs["events"]) == 1]
        cs = cs[:args.limit] if split == args.fit else cs
        v = F.normalize(embed(clip, cs, F_, size, args.cache), dim=-1)  # [N, F, D]
        y = torch.tensor([MOTIONS.index(c.attrs["events"][0]["motion"]) for c in cs])
        t = torch.as_tensor(np.stack([train.frame_targets(c.attrs, F_) for c in cs]))  # [N, F, S, A]
        data[split] = (v, y, t)
    (vf, yf, tf), (vt, yt, tt) = data[args.fit], data[args.test]
    pred = fit(vf.reshape(len(vf), -1), yf, len(MOTIONS))(vt.reshape(len(vt), -1))
    right = (pred == yt)
    out["motion"] = {"accuracy": 100.0 * float(right.double().mean()), "ci95": wilson(int(right.sum()), len(vt)),
                     "by_motion": {m: 100.0 * float(right[yt == k].double().mean())
                                   for k, m in enumerate(MOTIONS) if (yt == k).any()},
                     "fit": len(vf), "test": len(vt)}
    # where each colour is in one frame: 25 cells, for the colours a frame shows
    def cells(v, t):
        n, f, colours = t.shape[:3]
        x, y = t[..., 0].reshape(-1, colours), t[..., 1].reshape(-1, colours)
        absent = train.FRAME_ATTRS[0][1]  # the x read-out's class for "no such colour"
        frame, colour = torch.nonzero(x < absent, as_tuple=True)
        onehot = F.one_hot(colour, colours).double()
        feats = (v.reshape(n * f, -1)[frame][:, :, None] * onehot[:, None, :]).flatten(1)
        return feats, x[frame, colour] * 5 + y[frame, colour]
    xf, cf = cells(vf, tf)
    xt, ct = cells(vt, tt)
    pred = fit(xf, cf, 25)(xt)
    out["position"] = {"accuracy": 100.0 * float((pred == ct).double().mean()),
                       "most_common": 100.0 * float((ct == torch.bincount(cf).argmax()).double().mean()),
                       "fit": len(xf), "test": len(xt)}
    print(f"probe.py: {out['model']}: the ten motions from {F_} frame embeddings: "
          f"{out['motion']['accuracy']:.1f} % [{out['motion']['ci95'][0]:.1f}, {out['motion']['ci95'][1]:.1f}] "
          f"({out['motion']['fit']} fitting, {out['motion']['test']} held-out clips; "
          + ", ".join(f"{m} {a:.0f}" for m, a in out["motion"]["by_motion"].items()) + "); "
          f"each colour's position (5 x 5 cells) from one frame: {out['position']['accuracy']:.1f} % "
          f"(most common cell {out['position']['most_common']:.1f} %; {out['position']['test']} frames x colours)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
