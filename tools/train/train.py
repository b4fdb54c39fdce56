#!/usr/bin/python3
"""Train clipgrep's models: a tiny CLIP (image + text tower) from scratch on
synthetic clips, then the TC-MGC and EA heads on top; or, on a real
dataset, the heads on top of real CLIP weights.

Synthetic data (tools/synth, the bundled demo model):

    /usr/bin/python3 tools/synth/synth.py --out /tmp/clipgrep-synth \\
        --train 3000 --val 300 --test 500 --frames-npy
    /usr/bin/python3 tools/train/train.py --synth /tmp/clipgrep-synth --out assets/demo

Real data (a folder of videos and a captions file; the CLIP towers are
taken from --init-clip, a clipgrep model file such as tools/convert's
output, and kept frozen unless --text-lr is given):

    /usr/bin/python3 tools/train/train.py --videos ~/clips --captions caps.jsonl \\
        --init-clip vit-b-32.safetensors --out models/

Captions: JSON lines {"video": "a/b.mp4", "caption": "..."} (or "captions":
[...]; "path" for "video"), or CSV with a header holding video and caption
columns (one row per caption).  Paths are relative to --videos.

Stages (--stages, default all that apply): clip (synthetic only), features
(frame embeddings of every clip with the frozen image tower, cached in
--work), tcmgc, ea, ea-seq.  Each writes into --out:
    <prefix>-clip.safetensors   the CLIP towers alone (architecture "clip":
                                meanP, CLIP4Clip's baseline, in the engine)
    <prefix>-tcmgc.safetensors  TC-MGC: seqTransf + LVA + SR/ISA + LSA
    <prefix>-ea.safetensors     EA: meanP + excitation-and-aggregation
    <prefix>-ea-seq.safetensors EA: seqTransf + aggregation (r = 0.25)
All files share the same image tower, bit for bit, so the indexer encodes
frames once for all of them.

CPU is enough (torch.set_num_threads; --threads); --device cuda if present.
"""
import argparse
import copy
import csv
import hashlib
import json
import math
import os
import random
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import metrics  # noqa: E402
import tinyclip as tc  # noqa: E402

sys.path.insert(0, os.path.join(tc.REPO, "tools", "synth"))


def log(*a):
    print(time.strftime("%H:%M:%S"), *a, flush=True)


# --- data ----------------------------------------------------------------------

class Clip:
    __slots__ = ("id", "split", "video", "captions", "group", "npy", "attrs", "change")

    def __init__(self, id, split, video, captions, group, npy=None, attrs=None, change=None):
        self.id, self.split, self.video, self.captions = id, split, video, captions
        self.group, self.npy, self.attrs = group, npy, attrs
        self.change = change  # a hard negative's kind (metrics.hard_negative_kind), None for a group's base


def read_synth(root):
    clips = []
    with open(os.path.join(root, "captions.jsonl")) as f:
        for line in f:
            r = json.loads(line)
            npy = os.path.join(root, r["frames_path"]) if r.get("frames_path") else None
            clips.append(Clip(r["id"], r["split"], os.path.join(root, r["path"]), r["captions"],
                              r.get("group", r["id"]), npy, r.get("attributes"),
                              metrics.hard_negative_kind(r.get("change"))))
    return clips


# --- what a caption says happens (--text-aux) ------------------------------------------
#
# Every caption of a synthetic clip names its events' motions in some
# order of words ("X falls after Y fades in").  A linear read-out of the
# sentence embedding predicts the first and the second event's motion in
# time (tools/synth's motions, or none).  Without it the text tower has
# no reason to tell "moves left" from "moves right": meanP scores a clip
# and its time reversal alike, and a head trained on top cannot start to
# use direction when neither side of the dot product carries it (the two
# sentences' cosine was 0.998 in recipe 3).

def event_motion_targets(attrs):
    """int64 [2]: the motion of the first and the second event by start time
    (an index into synth.MOTION_NAMES; len(MOTION_NAMES) for no event)."""
    import synth
    events = sorted((attrs or {}).get("events") or [], key=lambda e: e["start"])[:2]
    none = len(synth.MOTION_NAMES)
    return np.array([synth.MOTION_NAMES.index(e["motion"]) for e in events] + [none] * (2 - len(events)),
                    np.int64)


class TextAux(torch.nn.Module):
    """The read-out of event_motion_targets from the L2-normalised sentence
    embedding; SCALE turns the unit vector's small dot products into
    logits that can reach confident answers."""
    SCALE = 8.0

    def __init__(self, dim):
        super().__init__()
        import synth
        self.classes = len(synth.MOTION_NAMES) + 1
        self.lin = torch.nn.Linear(dim, 2 * self.classes)

    def loss(self, s, targets, stats=None):
        logits = self.lin(F.normalize(s, dim=-1) * self.SCALE).view(-1, self.classes)
        t = targets.reshape(-1)
        if stats is not None:
            r = stats.setdefault("events", [0, 0])
            r[0] += int((logits.argmax(-1) == t).sum())
            r[1] += t.numel()
        return F.cross_entropy(logits, t)


def hard_negative_pairs(clips, idx):
    """(kind, a, b) for each hard negative b of a group's base a, positions in idx."""
    pos = {i: k for k, i in enumerate(idx)}
    base = {clips[i].group: pos[i] for i in idx if clips[i].change is None}
    return [(clips[i].change, base[clips[i].group], pos[i]) for i in idx
            if clips[i].change is not None and clips[i].group in base]


def hard_negative_accuracy(scores, pairs):
    """{kind: %} of pairs where each clip's own caption (row) scores its own
    clip above the other one, both ways, as make eval counts them."""
    right = {}
    for kind, a, b in pairs:
        r = right.setdefault(kind, [0, 0])
        r[0] += int(scores[a, a] > scores[a, b]) + int(scores[b, b] > scores[b, a])
        r[1] += 2
    return {k: 100.0 * r / n for k, (r, n) in sorted(right.items())}


# --- per-frame supervision (--frame-aux) -----------------------------------------------
#
# What each sampled frame shows, from the synthetic scene's attributes
# (tools/synth: positions and sizes in units of the action square, the
# centre crop the engine keeps; times as fractions of the clip): for each
# of the eight colours, where its objects are (5 x 5 bins of their mean
# centre), how big (3 bins), or that no visible object has that colour.  A
# linear read-out of the frame embedding predicts them; its loss, added to
# the contrastive one, makes the image tower encode position (and so
# motion, across frames) as well as what is there.
#
# The targets are keyed by colour because they must be a function of the
# frame alone: recipe 2 asked for "the captioned subject's" position, which
# a frame does not show when other objects are in it (most scenes), so the
# read-outs could only learn the most common bin (its code is in git
# history, before the recipe 4 file shipped).

FRAME_ATTRS = (("x", 5), ("y", 5), ("size", 3))  # each read-out has one more class: absent


def frame_colours():
    import synth
    return list(synth.COLORS)


def frame_targets(attrs, F_):
    """int64 [F, colours, len(FRAME_ATTRS)] class indices; class n (the
    attribute's bin count) where no visible object has the colour."""
    import synth
    colours = frame_colours()
    out = np.empty((F_, len(colours), len(FRAME_ATTRS)), np.int64)
    for a, (_, n) in enumerate(FRAME_ATTRS):
        out[:, :, a] = n
    if not attrs:
        return out
    u = (np.arange(F_) + 0.5) / F_  # the engine's sampling times (tools/synth)
    sums = np.zeros((len(colours), 4, F_))  # x, y, radius, visible instances
    for gi, obj in enumerate(attrs["objects"]):
        dx, dy, sc, _, alpha = synth.group_state(obj, synth.events_of(attrs, gi), u)
        vis = alpha > 0.5
        c = colours.index(obj["color"])
        for px, py in obj["positions"]:
            sums[c] += vis * np.stack([px + dx, py + dy, obj["radius"] * sc, np.ones(F_)])
    seen = sums[:, 3] > 0
    mean = sums[:, :3] / np.maximum(sums[:, 3:], 1)
    bins = (np.clip((mean[:, 0] * 5).astype(int), 0, 4), np.clip((mean[:, 1] * 5).astype(int), 0, 4),
            np.digitize(mean[:, 2], [0.1, 0.135]))
    for a, (_, n) in enumerate(FRAME_ATTRS):
        out[:, :, a] = np.where(seen, bins[a], n).T
    return out


class FrameAux(torch.nn.Module):
    """Linear read-outs of frame_targets from a frame embedding [.., D]."""

    def __init__(self, d):
        super().__init__()
        self.colours = len(frame_colours())
        self.read = torch.nn.Linear(d, self.colours * sum(n + 1 for _, n in FRAME_ATTRS))

    def loss(self, emb, targets, stats=None, present_only=False, absent_weight=0.0):
        """emb [N, D], targets [N, colours, A] -> mean cross-entropy over colours and attributes
        (present_only: over the colours a frame shows, not the "absent" answers; absent_weight,
        with present_only: plus that times the mean cross-entropy over the colours it does not
        show, each kind averaged on its own so that the many absent colours do not outweigh the
        few present ones).
        stats (a dict), when given, gathers per attribute, over the colours present, how often the
        read-out is right and how often the most common bin would be: [right, majority, count]."""
        z = self.read(emb).view(emb.shape[0], self.colours, -1)
        total, o = emb.new_zeros(()), 0
        for a, (name, n) in enumerate(FRAME_ATTRS):
            logits, t = z[:, :, o:o + n + 1], targets[:, :, a]
            o += n + 1
            flat = logits.reshape(-1, n + 1)
            want = t.masked_fill(t == n, -100) if present_only else t
            total = total + F.cross_entropy(flat, want.reshape(-1), ignore_index=-100)
            if present_only and absent_weight > 0 and bool((t == n).any()):
                total = total + absent_weight * F.cross_entropy(
                    flat, t.masked_fill(t < n, -100).reshape(-1), ignore_index=-100)
            if stats is not None:
                present = t < n
                if present.any():
                    s = stats.setdefault(name, [0, 0, 0])
                    s[0] += int((logits.argmax(-1) == t)[present].sum())
                    s[1] += int(torch.bincount(t[present]).max())
                    s[2] += int(present.sum())
        return total / len(FRAME_ATTRS)


def read_captions(videos, path, val_fraction, seed):
    """A real dataset: {video: [captions]} from JSON lines or CSV; a
    deterministic val split by video."""
    caps = {}
    if path.endswith(".csv"):
        with open(path, newline="") as f:
            for r in csv.DictReader(f):
                v = r.get("video") or r.get("path") or r.get("video_id")
                c = r.get("caption") or r.get("sentence") or r.get("text")
                if v is None or c is None:
                    raise SystemExit(f"{path}: CSV needs video and caption columns")
                caps.setdefault(v, []).append(c)
    else:
        with open(path) as f:
            for n, line in enumerate(f, 1):
                if not line.strip():
                    continue
                r = json.loads(line)
                v = r.get("video") or r.get("path")
                c = r.get("captions") or r.get("caption")
                if v is None or c is None:
                    raise SystemExit(f"{path}:{n}: needs \"video\" and \"caption\" (or \"captions\")")
                caps.setdefault(v, []).extend([c] if isinstance(c, str) else c)
    names = sorted(caps)
    rng = random.Random(seed)
    rng.shuffle(names)
    n_val = int(round(len(names) * val_fraction))
    clips = []
    for i, v in enumerate(sorted(names)):
        split = "val" if names.index(v) < n_val else "train"
        full = v if os.path.isabs(v) else os.path.join(videos, v)
        clips.append(Clip(v, split, full, [" ".join(c.split()) for c in caps[v]], v))
    return clips


def decoded_frames(clip, F_, size, cache):
    """uint8 [F, S, S, 3] and mask [F] for one clip as the C engine samples
    it: distinct frames first (a frame on screen at several targets is kept
    once), zero frames and mask 0 after them.  Cached as .npz in cache."""
    from synth import load_clip_frames
    key = None
    if cache:
        os.makedirs(cache, exist_ok=True)
        st = os.stat(clip.video)
        tag = f"{os.path.abspath(clip.video)}|{st.st_size}|{st.st_mtime_ns}|{F_}|{size}"
        key = os.path.join(cache, hashlib.sha256(tag.encode()).hexdigest()[:24] + ".npz")
        if os.path.exists(key):
            z = np.load(key)
            return z["frames"], z["mask"]
    frames, times = load_clip_frames(clip.video, F=F_, size=size, return_times=True)
    out = np.zeros_like(frames)
    mask = np.zeros(F_, np.float32)
    seen, n = set(), 0
    for i, t in enumerate(times):
        if t in seen:
            continue
        seen.add(t)
        out[n] = frames[i]
        mask[n] = 1
        n += 1
    if key:
        np.savez(key, frames=out, mask=mask)
    return out, mask


def npy_frames(clip, size):
    from synth import clip_resize_crop
    a = np.load(clip.npy)
    if a.shape[1] != size or a.shape[2] != size:
        a = np.stack([clip_resize_crop(f, size) for f in a])
    return a, np.ones(a.shape[0], np.float32)


def load_frames(clips, F_, size, cache, prefer_npy=True):
    """[N, F, S, S, 3] uint8 and masks [N, F]."""
    frames = np.zeros((len(clips), F_, size, size, 3), np.uint8)
    masks = np.zeros((len(clips), F_), np.float32)
    t0 = time.time()
    for i, c in enumerate(clips):
        if prefer_npy and c.npy and os.path.exists(c.npy):
            a, m = npy_frames(c, size)
        else:
            a, m = decoded_frames(c, F_, size, cache)
        if a.shape[0] != F_:
            raise SystemExit(f"{c.video}: {a.shape[0]} frames, expected {F_}")
        frames[i], masks[i] = a, m
        if (i + 1) % 500 == 0:
            log(f"frames: {i + 1}/{len(clips)} ({time.time() - t0:.0f} s)")
    return frames, masks


def group_batches(clips, idx, batch, rng):
    """Batches of clip indices with whole hard-negative groups kept together
    where they fit, groups in random order."""
    groups = {}
    for i in idx:
        groups.setdefault(clips[i].group, []).append(i)
    keys = list(groups)
    rng.shuffle(keys)
    order = [i for k in keys for i in groups[k]]
    return [order[i:i + batch] for i in range(0, len(order) - batch + 1, batch)] or [order]


# --- optimisation (MODELS.md 3.10) ------------------------------------------------

NO_DECAY_HINTS = ("bias", "ln_", "layer_norm", "embedding", "class_embedding", "logit_scale",
                  "_mat_weight", "logit_weight", "positional_embedding")


def make_optimizer(groups, wd):
    """AdamW (betas 0.9/0.98, eps 1e-6) with decay only on matrices of
    linear/conv layers; groups: [(named_params, lr)]."""
    pg = []
    for named, lr in groups:
        decay, no = [], []
        for n, p in named:
            if not p.requires_grad:
                continue
            (no if p.ndim < 2 or any(h in n for h in NO_DECAY_HINTS) else decay).append(p)
        pg += [{"params": decay, "lr": lr, "weight_decay": wd, "base_lr": lr},
               {"params": no, "lr": lr, "weight_decay": 0.0, "base_lr": lr}]
    return torch.optim.AdamW(pg, betas=(0.9, 0.98), eps=1e-6)


def set_lr(opt, step, total, warmup=0.1):
    """warmup_cosine: linear warmup over the first 10 %, cosine to 0."""
    w = max(1, int(total * warmup))
    f = step / w if step < w else 0.5 * (1 + math.cos(math.pi * (step - w) / max(1, total - w)))
    for g in opt.param_groups:
        g["lr"] = g["base_lr"] * f


def contrastive(logits):
    labels = torch.arange(logits.shape[0], device=logits.device)
    return 0.5 * (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels))


def group_contrastive(logits, groups):
    """contrastive() within each hard-negative group of the batch: every
    caption against its own clip and the clips that differ from it in one
    attribute (direction, order, colour, ...), so that the few pairs that
    need the temporal signal weigh as much as the easy ones."""
    ids = {}
    g = torch.as_tensor([ids.setdefault(x, len(ids)) for x in groups], device=logits.device)
    same = g[:, None] == g[None, :]
    rows = same.sum(1) > 1
    if not bool(rows.any()):
        return logits.new_zeros(())
    labels = torch.arange(logits.shape[0], device=logits.device)[rows]
    masked = logits.masked_fill(~same, float("-inf"))
    return 0.5 * (F.cross_entropy(masked[rows], labels) + F.cross_entropy(masked.T[rows], labels))


def clamp_scale(clip):
    with torch.no_grad():
        clip.logit_scale.clamp_(0, math.log(100))


# --- stage 1: CLIP from scratch --------------------------------------------------

def stratified_frames(F_, k, rng):
    """k frame indices, one at random from each of k equal temporal segments."""
    edges = np.linspace(0, F_, k + 1)
    return [int(rng.integers(int(edges[j]), max(int(edges[j]) + 1, int(edges[j + 1])))) for j in range(k)]


@torch.no_grad()
def encode_frames(clip, frames, masks, device, batch=256):
    """Frame embeddings [N, F, D].  Where mask is 0 the frame is an all-zero
    image in normalised pixel space run through the tower, as upstream
    CLIP4Clip / TC-MGC pad short clips and as the engine does (MODELS.md 1.4)."""
    clip.eval()
    dtype = clip.logit_scale.dtype
    n, f = frames.shape[:2]
    flat = frames.reshape(n * f, *frames.shape[2:])
    real = torch.as_tensor(np.asarray(masks).reshape(n * f) > 0)
    out = []
    for i in range(0, n * f, batch):
        x = tc.image_tensor(flat[i:i + batch]).to(device=device, dtype=dtype)
        x[~real[i:i + batch].to(device)] = 0
        out.append(clip.encode_image(x).cpu())
    return torch.cat(out).view(n, f, -1)


@torch.no_grad()
def encode_texts(clip, ids, device, batch=512):
    clip.eval()
    s, w = [], []
    for i in range(0, len(ids), batch):
        a, b = clip.encode_text(torch.as_tensor(ids[i:i + batch]).to(device))
        s.append(a.float().cpu())
        w.append(b.float().cpu())
    return torch.cat(s), torch.cat(w)


def structured_tower_init(visual):
    """--tower-init structured: the patch embedding's first 3 x 16 outputs start as the mean of each
    colour channel over a 4 x 4 grid of sub-blocks of the patch, and the position table as 2-D sines
    and cosines of the patch's row and column (the class token's row zero).  So from the first step
    every token says what colour is where, and the blocks only have to learn to combine the two:
    with CLIP's random start the tower did not learn where a coloured object is in 1400 steps,
    with this one it does within 400 (tools/train/README.md, "The bundled run")."""
    w = visual.conv1.weight  # [width, 3, P, P]
    width, _, P, _ = w.shape
    sub = P // 4
    grid = int(round(math.sqrt(visual.positional_embedding.shape[0] - 1)))
    with torch.no_grad():
        if width >= 48 and sub * 4 == P:
            for ch in range(3):
                for by in range(4):
                    for bx in range(4):
                        o = ch * 16 + by * 4 + bx
                        w[o].zero_()
                        w[o, ch, by * sub:(by + 1) * sub, bx * sub:(bx + 1) * sub] = 1.0 / (sub * sub)
        q = width // 4
        freq = 1.0 / (10000 ** (torch.arange(q, dtype=torch.float64) / q)) * (math.pi / 2)
        rows, cols = torch.meshgrid(torch.arange(grid, dtype=torch.float64),
                                    torch.arange(grid, dtype=torch.float64), indexing="ij")
        table = torch.zeros_like(visual.positional_embedding, dtype=torch.float64)
        for k, coord in enumerate((rows, cols)):
            a = coord.reshape(-1, 1) * freq
            table[1:, 2 * q * k:2 * q * (k + 1)] = torch.cat([a.sin(), a.cos()], 1)
        visual.positional_embedding.copy_(table.to(visual.positional_embedding.dtype))


def pretrain_frames(args, visual, aux, clips, frames, train_idx, targets, rng, curves):
    """--frame-steps: the image tower and its read-outs alone, on training frames drawn at random
    (--frame-batch a step, Adam without weight decay, the loss over the colours present), before the
    contrastive stage.  The first --frame-curriculum steps draw only from one-object scenes (tried
    with CLIP's random start, where it did not help; recipe 3 uses none)."""
    F_ = frames.shape[1]
    pool_all = np.array([(i, f) for i in train_idx for f in range(F_)])
    single = np.array([len(clips[i].attrs["objects"]) == 1 if clips[i].attrs else False for i in train_idx])
    pool_one = pool_all[np.repeat(single, F_)]
    opt = torch.optim.AdamW(list(visual.parameters()) + list(aux.parameters()), args.frame_lr, weight_decay=0.0)
    visual.train()
    stats, t0 = {}, time.time()
    for step in range(args.frame_steps):
        pool = pool_one if step < args.frame_curriculum and len(pool_one) else pool_all
        pick = pool[rng.integers(len(pool), size=args.frame_batch)]
        x = tc.image_tensor(frames[pick[:, 0], pick[:, 1]]).to(args.device)
        t = torch.stack([targets[i][f] for i, f in pick]).to(args.device)
        loss = aux.loss(visual(x), t, stats, present_only=True)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if (step + 1) % 200 == 0 or step + 1 == args.frame_steps:
            acc = {a: {"accuracy": 100.0 * r / n, "majority": 100.0 * m / n} for a, (r, m, n) in stats.items() if n}
            curves.append({"stage": "frames", "step": step + 1, "loss": float(loss), "aux": acc,
                           "seconds": time.time() - t0})
            log("frames step %d/%d%s: loss %.3f, read-outs (%% right / most common bin): %s (%.0f s)" % (
                step + 1, args.frame_steps, " (one-object scenes)" if step < args.frame_curriculum else "",
                float(loss), ", ".join(f"{a} {v['accuracy']:.0f}/{v['majority']:.0f}" for a, v in acc.items()),
                time.time() - t0))
            stats = {}


def train_clip(args, cfg, clips, tok, frames, train_idx, val_idx, curves):
    device = args.device
    rng = np.random.default_rng(args.seed)
    prng = random.Random(args.seed)
    torch.manual_seed(args.seed)
    clip = tc.CLIP(cfg).to(device)
    with torch.no_grad():  # rows of tokens never seen in training stay zero
        keep = torch.zeros(tc.VOCAB, dtype=torch.bool)
        keep[torch.as_tensor(tok["used"])] = True
        clip.token_embedding.weight[~keep] = 0
    if args.tower_init == "structured":
        structured_tower_init(clip.visual)
    aux, targets = None, None
    if args.frame_aux > 0:
        aux = FrameAux(cfg["embed_dim"]).to(device)
        targets = {i: torch.as_tensor(frame_targets(clips[i].attrs, cfg["frames"])) for i in train_idx}
        if args.frame_steps > 0:
            pretrain_frames(args, clip.visual, aux, clips, frames, train_idx, targets, rng, curves)
    params = list(clip.named_parameters()) + (list(aux.named_parameters()) if aux is not None else [])
    opt = make_optimizer([(params, args.clip_lr)], args.wd)
    steps_per_epoch = len(group_batches(clips, train_idx, args.batch, prng))
    total = steps_per_epoch * args.clip_epochs
    step, t0 = 0, time.time()
    nf = args.clip_frames
    for epoch in range(args.clip_epochs):
        clip.train()
        losses = []
        aux_stats = {}
        for b in group_batches(clips, train_idx, args.batch, prng):
            set_lr(opt, step, total)
            fi = np.array([stratified_frames(cfg["frames"], nf, rng) for _ in b])
            x = tc.image_tensor(frames[np.array(b)[:, None], fi].reshape(-1, *frames.shape[2:])).to(device)
            emb = clip.encode_image(x).view(len(b), nf, -1)
            v = F.normalize(F.normalize(emb, dim=-1).mean(dim=1), dim=-1)
            ids = torch.as_tensor(np.stack([tok["ids"][i][rng.integers(len(tok["ids"][i]))] for i in b])).to(device)
            s, _ = clip.encode_text(ids)
            logits = clip.logit_scale.exp() * F.normalize(s, dim=-1) @ v.T
            loss = contrastive(logits)
            if aux is not None:
                t = torch.stack([targets[i][fi[k]] for k, i in enumerate(b)]).flatten(0, 1)
                loss = loss + args.frame_aux * aux.loss(emb.reshape(len(b) * nf, -1), t.to(device),
                                                        aux_stats, present_only=args.clip_aux == "present",
                                                        absent_weight=args.clip_aux_absent)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_([p for _, p in params], 1.0)
            opt.step()
            clamp_scale(clip)
            losses.append(loss.item())
            step += 1
        entry = {"stage": "clip", "epoch": epoch + 1, "loss": float(np.mean(losses)),
                 "logit_scale": float(clip.logit_scale.exp()), "seconds": time.time() - t0}
        if aux_stats:
            # The read-outs' accuracy on the training frames of this epoch, beside always
            # answering the most common class: whether the tower learns each attribute.
            entry["aux"] = {a: {"accuracy": 100.0 * r / n, "majority": 100.0 * m / n}
                            for a, (r, m, n) in aux_stats.items() if n > 0}
            log("clip epoch %d/%d read-outs (train, %% right / majority): %s" % (
                epoch + 1, args.clip_epochs, ", ".join(
                    f"{a} {v['accuracy']:.0f}/{v['majority']:.0f}" for a, v in entry["aux"].items())))
        if val_idx and ((epoch + 1) % args.val_every == 0 or epoch + 1 == args.clip_epochs):
            entry["val"] = eval_meanp(clip, clips, tok, frames, val_idx, device)
        curves.append(entry)
        log(f"clip epoch {epoch + 1}/{args.clip_epochs}: loss {entry['loss']:.3f} "
            f"scale {entry['logit_scale']:.1f}" + (f" val R@1 {entry['val']['R@1']:.1f} "
                                                   f"R@5 {entry['val']['R@5']:.1f}{hard_summary(entry['val'])}"
                                                   if "val" in entry else "")
            + f" ({entry['seconds']:.0f} s)")
    return clip


def eval_meanp(clip, clips, tok, frames, idx, device):
    masks = np.ones((len(idx), frames.shape[1]), np.float32)
    v = tc.meanp_video(encode_frames(clip, frames[np.array(idx)], masks, device), torch.as_tensor(masks))
    s, _ = encode_texts(clip, np.stack([tok["ids"][i][0] for i in idx]), device)
    return val_metrics((F.normalize(s, dim=-1) @ v.T).numpy(), clips, idx)


def val_metrics(scores, clips, idx):
    """Retrieval metrics of a [query, video] score matrix over idx (each
    clip's first caption), with the hard-negative accuracies by kind."""
    m = metrics.compute(metrics.ranks_from_scores(scores))
    pairs = hard_negative_pairs(clips, idx)
    if pairs:
        m["hard"] = hard_negative_accuracy(scores, pairs)
    return m


def hard_summary(m):
    """The log's short form of val_metrics' hard-negative accuracies."""
    return " hard " + " ".join(f"{k} {v:.0f}" for k, v in m["hard"].items()) if "hard" in m else ""


# --- stage 2: heads ------------------------------------------------------------------

def build_head(kind, cfg, args):
    d = cfg["embed_dim"]
    if kind == "tcmgc":
        k = max(1, int(cfg["max_words"] * args.keep_rate))
        return tc.TCMGC(d, cfg["context_length"], args.temporal_layers, cfg["text_heads"], k,
                        args.softmax_lambda, args.lva_dropout)
    if kind == "ea":
        return tc.EA(cfg["frames"], d, "meanP", "excitation_aggregation", 4.0)
    if kind == "meanp":
        # No parameters of its own: CLIP4Clip's meanP on the frozen frames, trained
        # as the other heads are (its text tower fine-tuned the same way), so that
        # the baseline gets what the heads get on the text side.
        return tc.EA(cfg["frames"], d, "meanP", "none")
    if kind == "ea-seq":
        return tc.EA(cfg["frames"], d, "seqTransf", "aggregation", 0.25, cfg["context_length"],
                     args.temporal_layers, cfg["text_heads"])
    raise SystemExit(f"unknown head {kind}")


def head_scores(kind, head, clip, s, w, v, mask, train):
    """[T, V] scores (and the TC-MGC granularity scores for the SDR loss)."""
    ls = clip.logit_scale.exp()
    if kind == "tcmgc":
        return head.scores(s, w, head.video(v, mask), ls)
    vhat = head.video(v, mask)[0]
    return head.scores(s, vhat, ls), None


@torch.no_grad()
def eval_head(kind, head, clip, clips, tok, feats, masks, idx, device, chunk=50):
    head.eval()
    clip.eval()
    s, w = encode_texts(clip, np.stack([tok["ids"][i][0] for i in idx]), device)
    v, m = feats[idx].to(device), masks[idx].to(device)
    if kind == "tcmgc":
        vp = head.video(v, m)
        rows = [head.scores(s[i:i + chunk].to(device), w[i:i + chunk].to(device), vp,
                            clip.logit_scale.exp())[0].cpu() for i in range(0, len(idx), chunk)]
        sc = torch.cat(rows)
    else:
        sc = head.scores(s.to(device), head.video(v, m)[0], clip.logit_scale.exp()).cpu()
    return val_metrics(sc.numpy(), clips, idx)


HEAD_STAGES = ("tcmgc", "ea", "ea-seq", "meanp")
SELECT_WHAT = {"r1": "val R@1", "hard": "val R@1 + mean hard-negative accuracy"}


def selection_merit(m, select):
    """What --select keeps the best epoch by: R@1 (R@5 breaking ties), or
    R@1 plus the mean hard-negative accuracy over kinds, so that an epoch
    that ranks better but tells motion apart worse is not preferred."""
    merit = m["R@1"] + 1e-3 * m["R@5"]
    if select == "hard" and m.get("hard"):
        merit += float(np.mean(list(m["hard"].values())))
    return merit


def train_head(kind, args, cfg, base_clip, clips, tok, feats, masks, train_idx, val_idx, curves, start=None):
    """One head on the cached features.  start: (clip, head) of an already
    trained seqTransf head whose text tower and seqTransf this one starts
    from (--tcmgc-init)."""
    device = args.device
    rng = np.random.default_rng(args.seed + 1)
    prng = random.Random(args.seed + 1)
    torch.manual_seed(args.seed + 1)
    clip = copy.deepcopy(start[0] if start else base_clip).to(device)
    head = build_head(kind, cfg, args).to(device)
    if start:
        head.seq.load_state_dict(start[1].seq.state_dict())
    clip.visual.requires_grad_(False)  # the image tower is shared by every file
    text_params = [(n, p) for n, p in clip.named_parameters() if not n.startswith("visual.")]
    if args.text_lr <= 0:
        for _, p in text_params:
            p.requires_grad_(False)
        text_params = [(n, p) for n, p in text_params if n == "logit_scale"]
        for _, p in text_params:
            p.requires_grad_(True)
    groups = [(list(head.named_parameters()), args.head_lr)]
    text_aux = None
    if args.text_aux > 0:
        if args.text_lr <= 0:
            raise SystemExit("--text-aux needs a trainable text tower (--text-lr > 0)")
        if not args.synth:
            raise SystemExit("--text-aux needs synthetic data (--synth): its targets are the scenes' events")
        text_aux = TextAux(cfg["embed_dim"]).to(device)
        groups[0][0].extend(("text_aux." + n, p) for n, p in text_aux.named_parameters())
        events = {i: torch.as_tensor(event_motion_targets(clips[i].attrs)) for i in train_idx}
    if text_params:
        groups.append((text_params, max(args.text_lr, 0) or args.head_lr))
    opt = make_optimizer(groups, args.wd)
    epochs = args.tcmgc_epochs if kind == "tcmgc" else args.head_epochs
    batch = args.tcmgc_batch if kind == "tcmgc" else args.head_batch
    total = len(group_batches(clips, train_idx, batch, prng)) * epochs
    step, t0 = 0, time.time()
    best, best_state = None, None
    for epoch in range(epochs):
        head.train()
        clip.train()
        losses, sdrs, aux_stats = [], [], {}
        for b in group_batches(clips, train_idx, batch, prng):
            set_lr(opt, step, total)
            ids = torch.as_tensor(np.stack([tok["ids"][i][rng.integers(len(tok["ids"][i]))] for i in b])).to(device)
            s, w = clip.encode_text(ids)
            sc, z = head_scores(kind, head, clip, s, w, feats[b].to(device), masks[b].to(device), True)
            loss = contrastive(sc)
            if args.hard_weight > 0:
                loss = loss + args.hard_weight * group_contrastive(sc, [clips[i].group for i in b])
            if text_aux is not None:
                t = torch.stack([events[i] for i in b]).to(device)
                loss = loss + args.text_aux * text_aux.loss(s, t, aux_stats)
            if z is not None and args.sdr_weight > 0:
                sdr = torch.diagonal(z, dim1=0, dim2=1).T.var(dim=-1).mean()  # Var_g Z_g[i, i]
                loss = loss + args.sdr_weight * sdr
                sdrs.append(sdr.item())
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_([p for g in opt.param_groups for p in g["params"]], 1.0)
            opt.step()
            clamp_scale(clip)
            losses.append(loss.item())
            step += 1
        entry = {"stage": kind, "epoch": epoch + 1, "loss": float(np.mean(losses)),
                 "logit_scale": float(clip.logit_scale.exp()), "seconds": time.time() - t0}
        if sdrs:
            entry["sdr"] = float(np.mean(sdrs))
        if aux_stats:
            entry["text_aux"] = 100.0 * aux_stats["events"][0] / aux_stats["events"][1]
        if val_idx and ((epoch + 1) % args.val_every == 0 or epoch + 1 == epochs):
            entry["val"] = eval_head(kind, head, clip, clips, tok, feats, masks, val_idx, device)
            merit = selection_merit(entry["val"], args.select)
            if best is None or merit >= best:
                best = merit
                best_state = (copy.deepcopy(clip.state_dict()), copy.deepcopy(head.state_dict()), epoch + 1)
        curves.append(entry)
        log(f"{kind} epoch {epoch + 1}/{epochs}: loss {entry['loss']:.3f}"
            + (f" sdr {entry['sdr']:.2f}" if "sdr" in entry else "")
            + (f" text read-out {entry['text_aux']:.0f} %" if "text_aux" in entry else "")
            + f" scale {entry['logit_scale']:.1f}"
            + (f" val R@1 {entry['val']['R@1']:.1f} R@5 {entry['val']['R@5']:.1f}{hard_summary(entry['val'])}"
               if "val" in entry else "")
            + f" ({entry['seconds']:.0f} s)")
    if best_state is not None and args.keep_best:
        clip.load_state_dict(best_state[0])
        head.load_state_dict(best_state[1])
        log(f"{kind}: keeping epoch {best_state[2]} (best {SELECT_WHAT[args.select]})")
    return clip.cpu(), head.cpu()


def tcmgc_start(args, base_clip):
    """--tcmgc-init's head from its file in --out (a run that trained it
    earlier), checked to carry the same image tower."""
    path = os.path.join(args.out, f"{args.prefix}-{args.tcmgc_init}.safetensors")
    if not os.path.exists(path):
        raise SystemExit(f"--tcmgc-init {args.tcmgc_init}: no {path}: train that stage first (or in the same run)")
    clip, head, _, _, _, _ = tc.load_file(path)
    for (n, a), b in zip(clip.visual.state_dict().items(), base_clip.visual.state_dict().values()):
        if not torch.equal(a.cpu(), b.cpu()):
            raise SystemExit(f"{path}: its image tower differs from this run's ({n}): retrain it")
    return clip, head


# --- main ------------------------------------------------------------------------------

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    src = ap.add_argument_group("data")
    src.add_argument("--synth", metavar="DIR", help="a tools/synth dataset (captions.jsonl, clips/, frames/)")
    src.add_argument("--videos", metavar="DIR", help="a folder of videos (real dataset)")
    src.add_argument("--captions", metavar="FILE", help="captions for --videos: .jsonl or .csv")
    src.add_argument("--val-fraction", type=float, default=0.05, help="real data: share of videos held out")
    src.add_argument("--decode", action="store_true",
                     help="synthetic data: decode the mp4s (as the engine does) instead of the .npy frames")
    src.add_argument("--limit", type=int, default=0, help="use at most N training clips (smoke tests)")
    ap.add_argument("--init-clip", metavar="FILE", help="start from this model file's CLIP towers (skips the clip stage)")
    ap.add_argument("--out", required=True, metavar="DIR", help="where the model files go")
    ap.add_argument("--clip-out", metavar="DIR", help="where PREFIX-clip.safetensors goes (default --out)")
    ap.add_argument("--prefix", default="demo", help="model file names: PREFIX-{clip,tcmgc,ea}.safetensors")
    ap.add_argument("--work", default="/tmp/clipgrep-train", metavar="DIR", help="caches and logs")
    ap.add_argument("--stages", default=None, help="comma list of clip,features,tcmgc,ea,ea-seq (default: "
                    "clip,features,tcmgc,ea; no clip stage with --init-clip)")
    ap.add_argument("--clipgrep", metavar="PATH", help="the clipgrep program (for its tokenizer)")
    ap.add_argument("--bpe", metavar="FILE", default=tc.DEFAULT_BPE, help="CLIP BPE merges (bpe_simple_vocab_16e6.txt.gz)")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=42)
    m = ap.add_argument_group("tiny CLIP (clip stage)")
    m.add_argument("--image-size", type=int, default=112)
    m.add_argument("--patch", type=int, default=16)
    m.add_argument("--vision-width", type=int, default=96)
    m.add_argument("--vision-layers", type=int, default=3)
    m.add_argument("--vision-heads", type=int, default=4)
    m.add_argument("--text-width", type=int, default=48)
    m.add_argument("--text-layers", type=int, default=3)
    m.add_argument("--text-heads", type=int, default=4)
    m.add_argument("--embed-dim", type=int, default=64)
    m.add_argument("--frames", type=int, default=12, help="F")
    m.add_argument("--max-words", type=int, default=32, help="L (also the context length)")
    m.add_argument("--clip-epochs", type=int, default=8)
    m.add_argument("--clip-frames", type=int, default=3, help="frames per clip in a clip-stage step")
    m.add_argument("--clip-lr", type=float, default=1e-3)
    m.add_argument("--frame-aux", type=float, default=0.0, metavar="W",
                   help="weight of the per-frame attribute loss (synthetic data only; the recipe of "
                        "make demo-model uses 1.0; its recipe 5, 3.0)")
    m.add_argument("--clip-aux", choices=("all", "present"), default="all",
                   help="the read-outs' loss in the clip stage: over every colour, \"absent\" included, "
                        "or (as in --frame-steps) over the colours a frame shows")
    m.add_argument("--clip-aux-absent", type=float, default=0.0, metavar="W",
                   help="with --clip-aux present: plus W times the loss of the \"absent\" answers, "
                        "averaged apart from the present colours'")
    m.add_argument("--tower-init", choices=("clip", "structured"), default="clip",
                   help="the image tower's start: CLIP's random one, or structured (patch colours and "
                        "a 2-D sine-cosine position table: see structured_tower_init)")
    m.add_argument("--frame-steps", type=int, default=0, metavar="N",
                   help="with --frame-aux: N steps of the image tower and read-outs alone on random "
                        "training frames before the contrastive stage")
    m.add_argument("--frame-curriculum", type=int, default=0, metavar="K",
                   help="the first K of those steps draw only from one-object scenes")
    m.add_argument("--frame-batch", type=int, default=64, help="frames per --frame-steps step")
    m.add_argument("--frame-lr", type=float, default=1e-3)
    m.add_argument("--batch", type=int, default=64)
    h = ap.add_argument_group("heads")
    h.add_argument("--head-epochs", type=int, default=15, help="EA epochs")
    h.add_argument("--tcmgc-epochs", type=int, default=6)
    h.add_argument("--head-batch", type=int, default=64, help="EA batch")
    h.add_argument("--tcmgc-batch", type=int, default=32, help="TC-MGC batch (B x B pairs per step)")
    h.add_argument("--head-lr", type=float, default=1e-3)
    h.add_argument("--text-lr", type=float, default=None,
                   help="learning rate of the text tower while training a head (default 2e-4 from scratch; "
                        "0 = frozen, the default with --init-clip)")
    h.add_argument("--temporal-layers", type=int, default=2, help="seqTransf blocks")
    h.add_argument("--keep-rate", type=float, default=0.1)
    h.add_argument("--softmax-lambda", type=float, default=100.0)
    h.add_argument("--sdr-weight", type=float, default=0.5)
    h.add_argument("--lva-dropout", type=float, default=0.1)
    h.add_argument("--hard-weight", type=float, default=0.0, metavar="W",
                   help="add W x the contrastive loss within each hard-negative group of the batch")
    h.add_argument("--text-aux", type=float, default=0.0, metavar="W",
                   help="synthetic data: add W x a read-out of the events' motions from the sentence "
                        "embedding (TextAux), so the text tower tells direction and order apart")
    h.add_argument("--tcmgc-init", choices=("ea-seq",), default=None,
                   help="start TC-MGC's text tower and seqTransf from the ea-seq head (trained first)")
    h.add_argument("--select", choices=sorted(SELECT_WHAT), default="r1",
                   help="keep the epoch with the best val R@1, or R@1 + mean hard-negative accuracy")
    h.add_argument("--no-keep-best", dest="keep_best", action="store_false",
                   help="export the last epoch instead of the best on val")
    ap.add_argument("--wd", type=float, default=0.2)
    ap.add_argument("--val-every", type=int, default=2, help="validate every N epochs (and after the last)")
    args = ap.parse_args(argv)

    torch.set_num_threads(args.threads)
    os.makedirs(args.out, exist_ok=True)
    os.makedirs(args.work, exist_ok=True)
    if bool(args.videos) != bool(args.captions) or bool(args.synth) == bool(args.videos):
        ap.error("give --synth DIR, or --videos DIR and --captions FILE")
    if args.clip_aux_absent > 0 and args.clip_aux != "present":
        ap.error("--clip-aux-absent weighs the absent answers apart, which needs --clip-aux present")
    stages = (args.stages or ("features,tcmgc,ea" if args.init_clip else "clip,features,tcmgc,ea")).split(",")
    if args.text_lr is None:
        args.text_lr = 0.0 if args.init_clip else 2e-4
    t_start = time.time()

    # data
    if args.synth:
        clips = read_synth(args.synth)
    else:
        clips = read_captions(args.videos, args.captions, args.val_fraction, args.seed)
    train_idx = [i for i, c in enumerate(clips) if c.split == "train"]
    val_idx = [i for i, c in enumerate(clips) if c.split == "val"]
    if args.limit:
        train_idx = train_idx[:args.limit]
        val_idx = val_idx[:max(2, args.limit // 4)]
    use = train_idx + val_idx
    log(f"{len(train_idx)} training clips, {len(val_idx)} validation clips")

    # the starting CLIP and the configuration
    init_meta = {}
    if args.init_clip:
        base_clip, _, _, init_meta, _, cfg = tc.load_file(args.init_clip)
        base_clip.to(args.device)
        cfg["frames"] = int(init_meta.get("clipgrep.frames", args.frames))
        cfg["max_words"] = int(init_meta.get("clipgrep.max_words", min(args.max_words, cfg["context_length"])))
        merges = init_meta.get("clipgrep.tokenizer.merges") or tc.read_merges(args.bpe)
        if "clip" in stages:
            stages.remove("clip")
    else:
        cfg = {"image_size": args.image_size, "patch": args.patch, "vision_width": args.vision_width,
               "vision_layers": args.vision_layers, "vision_heads": args.vision_heads,
               "text_width": args.text_width, "text_layers": args.text_layers, "text_heads": args.text_heads,
               "embed_dim": args.embed_dim, "context_length": args.max_words, "vocab_size": tc.VOCAB,
               "frames": args.frames, "max_words": args.max_words}
        merges = tc.read_merges(args.bpe)
        base_clip = None

    # tokens, through the C tokenizer (the model's own one with --init-clip)
    texts = [t for i in use for t in clips[i].captions]
    all_ids = tc.tokenize(texts, cfg["max_words"], args.clipgrep, bpe=args.bpe,
                          model=args.init_clip if args.init_clip and init_meta.get("clipgrep.tokenizer.merges") else None)
    tok = {"ids": {}, "used": None}
    k = 0
    for i in use:
        n = len(clips[i].captions)
        tok["ids"][i] = all_ids[k:k + n]
        k += n
    tok["used"] = np.unique(np.concatenate([tok["ids"][i].ravel() for i in train_idx]))
    log(f"{len(texts)} captions tokenized, {len(tok['used'])} distinct token ids in training")

    frames = masks = None
    need_frames = "clip" in stages or "features" in stages
    if need_frames:
        frames, masks = load_frames([clips[i] for i in use],
                                    cfg["frames"], cfg["image_size"], os.path.join(args.work, "frames"),
                                    prefer_npy=not args.decode)
        full_frames = np.zeros((len(clips),) + frames.shape[1:], np.uint8)
        full_masks = np.zeros((len(clips), cfg["frames"]), np.float32)
        full_frames[use], full_masks[use] = frames, masks
        frames, masks = full_frames, full_masks
        log(f"frames loaded: {frames.shape}")

    curves = []
    curves_path = os.path.join(args.work, f"{args.prefix}-curves.json")
    if os.path.exists(curves_path) and "clip" not in stages:
        curves = [c for c in json.load(open(curves_path)) if c["stage"] not in stages]
    meta_common = tc.clip_metadata(cfg)
    meta_common["clipgrep.tokenizer.merges"] = merges
    zero_rows = None
    clip_ckpt = os.path.join(args.work, f"{args.prefix}-clip.pt")

    if "clip" in stages:
        base_clip = train_clip(args, cfg, clips, tok, frames, train_idx, val_idx, curves)
        torch.save({"cfg": cfg, "state": base_clip.state_dict(), "used": tok["used"]}, clip_ckpt)
    if base_clip is None:
        if not os.path.exists(clip_ckpt):
            raise SystemExit(f"no CLIP stage checkpoint {clip_ckpt}: run the clip stage first")
        ck = torch.load(clip_ckpt)
        cfg = ck["cfg"]
        base_clip = tc.CLIP(cfg)
        base_clip.load_state_dict(ck["state"])
    base_clip = base_clip.to(args.device)
    if not args.init_clip:
        used = np.zeros(tc.VOCAB, bool)
        used[tok["used"]] = True
        zero_rows = np.nonzero(~used)[0]
        # Every file carries the towers rounded to F16; heads train on what the engine will run.
        with torch.no_grad():
            for p in base_clip.parameters():
                if p.ndim >= 1 and p.numel() > 16:
                    p.copy_(p.half().float())
        os.makedirs(args.clip_out or args.out, exist_ok=True)
        path = os.path.join(args.clip_out or args.out, f"{args.prefix}-clip.safetensors")
        meta = dict(meta_common, **{"clipgrep.name": "clipgrep demo: tiny CLIP trained on synthetic clips "
                                    "(meanP / training-free heads)", "clipgrep.trainer": "tools/train/train.py"})
        tc.export(path, base_clip, None, "clip", meta, zero_rows=zero_rows)
        log(f"wrote {path} ({os.path.getsize(path) / 1e6:.2f} MB)")

    feat_path = os.path.join(args.work, f"{args.prefix}-features.pt")
    if "features" in stages:
        t0 = time.time()
        feats = torch.zeros(len(clips), cfg["frames"], cfg["embed_dim"])
        feats[use] = encode_frames(base_clip, frames[use], masks[use], args.device)
        torch.save({"feats": feats, "masks": torch.as_tensor(masks), "n": len(clips)}, feat_path)
        log(f"features: {len(use)} clips in {time.time() - t0:.0f} s")
    heads = [s for s in stages if s in HEAD_STAGES]
    if heads:
        fz = torch.load(feat_path)
        if fz["n"] != len(clips):
            raise SystemExit(f"{feat_path} is for another dataset: run the features stage")
        feats, fmasks = fz["feats"], fz["masks"]
    trained = {}
    for kind in heads:
        start = None
        if kind == "tcmgc" and args.tcmgc_init:
            start = trained.get(args.tcmgc_init) or tcmgc_start(args, base_clip)
        clip_h, head = train_head(kind, args, cfg, base_clip, clips, tok, feats, fmasks, train_idx, val_idx, curves,
                                  start)
        trained[kind] = (clip_h, head)
        meta = dict(meta_common)
        meta["clipgrep.trainer"] = "tools/train/train.py"
        if kind == "tcmgc":
            meta.update({"clipgrep.name": f"clipgrep {args.prefix}: TC-MGC (seqTransf, LVA, SR/ISA, LSA)",
                         "clipgrep.tcmgc.keep_rate": args.keep_rate, "clipgrep.tcmgc.k": head.k,
                         "clipgrep.tcmgc.softmax_lambda": args.softmax_lambda})
            arch = "tcmgc"
        else:
            sh, st_, r = {"ea": ("meanP", "excitation_aggregation", 4), "ea-seq": ("seqTransf", "aggregation", 0.25),
                          "meanp": ("meanP", "none", 4)}[kind]
            name = (f"clipgrep {args.prefix}: meanP (CLIP4Clip's baseline, text tower trained as the heads')"
                    if kind == "meanp" else f"clipgrep {args.prefix}: EA ({sh} + {st_}, r={r})")
            meta.update({"clipgrep.name": name, "clipgrep.ea.sim_header": sh, "clipgrep.ea.se_type": st_,
                         "clipgrep.ea.reduction_ratio": r, "clipgrep.ea.aggregation_type": "unity"})
            arch = "ea"
        path = os.path.join(args.out, f"{args.prefix}-{kind}.safetensors")
        tc.export(path, clip_h, head, arch, meta, zero_rows=zero_rows)
        log(f"wrote {path} ({os.path.getsize(path) / 1e6:.2f} MB)")
        with open(curves_path, "w") as f:
            json.dump(curves, f, indent=1)
    with open(curves_path, "w") as f:
        json.dump(curves, f, indent=1)
    log(f"done in {time.time() - t_start:.0f} s; curves in {curves_path}")


if __name__ == "__main__":
    main()
