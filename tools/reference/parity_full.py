#!/usr/bin/python3
"""Full-size parity of clipgrep's CLIP towers against PyTorch (`make
parity-full`; not part of make check).

Builds a ViT-B/32-shaped model with seeded random weights (the upstream fp16
set stored as F16, as converted checkpoints are), random frames (one made
from 8-bit pixels the way video ingest makes them, one all-zero padded frame)
and CLIP-like queries of L = 32 ids, runs tests/parity-full on them, and
compares with clip_ref.py in float64.  Pass: normalised max error
(max |c - ref| / max |ref|) <= 1e-4 for every output.

    /usr/bin/python3 tools/reference/parity_full.py --program tests/parity-full [--keep DIR]
"""
import argparse
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import clip_ref  # noqa: E402
import gen_clip_golden  # noqa: E402
import st  # noqa: E402

TOL = 1e-4
SOT, EOT = 49406, 49407


def rel_err(got, want):
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    return float(np.abs(got - want).max() / max(np.abs(want).max(), 1e-30))


def min_cosine(got, want):
    got = np.asarray(got, np.float64).reshape(-1, got.shape[-1])
    want = np.asarray(want, np.float64).reshape(-1, want.shape[-1])
    cos = (got * want).sum(-1) / (np.linalg.norm(got, axis=-1) * np.linalg.norm(want, axis=-1))
    return float(cos.min())


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--program", default="tests/parity-full")
    ap.add_argument("--keep", help="write the model, inputs and outputs here and keep them")
    ap.add_argument("--frames", type=int, default=6)
    args = ap.parse_args()

    cfg = gen_clip_golden.VIT_B32
    work = args.keep or tempfile.mkdtemp(prefix="clipgrep-parity-")
    os.makedirs(work, exist_ok=True)
    paths = {k: os.path.join(work, k + ".safetensors") for k in ("model", "inputs", "outputs")}

    t0 = time.time()
    weights = gen_clip_golden.make_weights(cfg, seed=20261126)
    meta = gen_clip_golden.metadata(cfg, "random ViT-B/32 for parity_full.py")
    st.save(paths["model"], weights, meta)

    rng = np.random.default_rng(3)
    S, L, N = cfg["image_size"], cfg["max_words"], args.frames
    rgb = rng.integers(0, 256, size=(S, S, 3), dtype=np.uint8)
    frames = rng.standard_normal((N, 3, S, S), dtype=np.float32)
    frames[0] = clip_ref.normalize_rgb(rgb).numpy()
    frames[N - 1] = 0  # a padded frame
    lengths = [5, 12, 30, 1]  # word tokens; 30 = L - 2 fills all 32 positions
    ids = np.zeros((len(lengths), L), dtype=np.int32)
    for q, n in enumerate(lengths):
        row = [SOT] + list(rng.integers(1, 49405, size=n)) + [EOT]
        ids[q, :len(row)] = row
    st.save(paths["inputs"], {"frames": frames, "ids": ids})
    print(f"model and inputs in {work} ({time.time() - t0:.1f} s)")

    t0 = time.time()
    subprocess.run([args.program, paths["model"], paths["inputs"], paths["outputs"]], check=True)
    print(f"C towers: {time.time() - t0:.1f} s")
    out, out_meta = st.load(paths["outputs"])

    t0 = time.time()
    model = clip_ref.from_arrays(weights, meta)
    del weights
    ref_img = clip_ref.encode_image(model, frames).numpy()
    ref_s, ref_w = clip_ref.encode_text(model, ids)
    ref_s, ref_w = ref_s.numpy(), ref_w.numpy()
    print(f"PyTorch float64 reference: {time.time() - t0:.1f} s")

    kernel = out_meta.get("text_kernel", "?")
    rows = [
        (f"image embeddings ({N} frames, chunks of 4)", out["image_embeds"], ref_img),
        (f"sentence features ({kernel} kernel)", out["sentence"], ref_s),
        (f"word features, all {L} positions ({kernel} kernel)", out["words"], ref_w),
        ("sentence features, computed up to EOT only", out["sentence_only"], ref_s),
        ("sentence features (BLAS kernel)", out["sentence_blas"], ref_s),
        (f"word features, all {L} positions (BLAS kernel)", out["words_blas"], ref_w),
    ]
    ok = True
    for name, got, want in rows:
        err = rel_err(got, want)
        ok &= err <= TOL
        print(f"{'ok  ' if err <= TOL else 'FAIL'} {name}: normalised max error {err:.2e} "
              f"(<= {TOL:.0e}), min cosine {min_cosine(got, want):.9f}")
    if not args.keep:
        for p in paths.values():
            if os.path.exists(p):
                os.unlink(p)
        os.rmdir(work)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
