#!/usr/bin/python3
"""Checks of the trainer's modules (seconds, CPU):

  1. the batched TC-MGC and EA heads of tinyclip.py equal heads_ref.py's
     per-pair float64 reference on random weights (so what is trained is
     what MODELS.md defines and the C engine runs);
  2. the CLIP towers equal clip_ref.py on a file written by tinyclip.export
     and read back (names, layout, F16 rounding);
  3. with a model file argument: that file against clip_ref/heads_ref on a
     few inputs;
  4. the trainer's hard-negative helpers (train.py): the loss within groups,
     the accuracies by kind, the events' motion targets.

    /usr/bin/python3 tools/train/test_train.py [MODEL.safetensors...]
"""
import os
import sys
import tempfile

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import tinyclip as tc  # noqa: E402

sys.path.insert(0, os.path.join(tc.REPO, "tools", "reference"))
import clip_ref  # noqa: E402
import heads_ref as ref  # noqa: E402

FAILS = []


def check(name, got, want, tol):
    got = torch.as_tensor(got, dtype=torch.float64)
    want = torch.as_tensor(want, dtype=torch.float64)
    err = ((got - want).abs().max() / want.abs().max().clamp(min=1e-12)).item()
    ok = err <= tol
    print(f"{'ok' if ok else 'FAIL'}  {name}: normalised max error {err:.2e} (tol {tol:.0e})")
    if not ok:
        FAILS.append(name)


def randomize(module, seed):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for n, p in module.named_parameters():
            if "cross_attn" in n:
                continue
            if "_mat_weight" in n or "logit_weight" in n or "_logit_weight" in n:
                p.copy_(torch.eye(p.shape[0]) + 0.3 * torch.randn(p.shape, generator=g))
            elif p.ndim == 1 and ("norm" in n or "ln_" in n) and n.endswith("weight"):
                p.copy_(1 + 0.2 * torch.randn(p.shape, generator=g))
            else:
                p.copy_(torch.randn(p.shape, generator=g) * (p.shape[-1] ** -0.5 if p.ndim > 1 else 0.2))


def weights_of(head, clip_scale):
    w = {n: t.detach().double() for n, t in head.state_items()}
    return w


def test_heads():
    torch.manual_seed(0)
    D, Fr, L, heads = 16, 6, 12, 2
    nt, nv = 3, 4
    s = torch.randn(nt, D)
    words = torch.randn(nt, L, D)
    v = torch.randn(nv, Fr, D) + 0.5
    mask = torch.ones(nv, Fr)
    mask[1, 4:] = 0  # padded frames: nonzero here, so that masking (not zeros) is what is tested
    ls = 33.0

    k = max(1, int(L * 0.25))
    head = tc.TCMGC(D, 20, 2, heads, k, 100.0, dropout=0.0).double()
    randomize(head, 1)
    head.eval()
    with torch.no_grad():
        got, z = head.scores(s.double(), words.double(), head.video(v.double(), mask.double()), ls)
    w = weights_of(head, ls)
    cfg = {"free": False, "softmax_lambda": 100.0, "k": k, "logit_scale": ls}
    want = torch.zeros(nt, nv, dtype=torch.float64)
    wz = torch.zeros(nt, nv, 4, dtype=torch.float64)
    for t in range(nt):
        for j in range(nv):
            r = ref.tcmgc_score(s[t].double(), words[t].double(), v[j].double(), mask[j].double(), w, cfg, heads)
            want[t, j] = r["score"]
            wz[t, j] = r["z"]
    check("TC-MGC score", got, want, 1e-9)
    check("TC-MGC granularities", z, wz, 1e-9)

    for sh, st, r_ in (("meanP", "excitation_aggregation", 2.0), ("seqTransf", "aggregation", 0.5)):
        e = tc.EA(Fr, D, sh, st, r_, 20, 2, heads).double()
        randomize(e, 2)
        with torch.no_grad():
            vhat, _, _ = e.video(v.double(), mask.double())
            got = e.scores(s.double(), vhat, ls)
        w = weights_of(e, ls)
        cfgd = {"se_type": st, "sim_header": sh, "reduction_ratio": r_, "aggregation_type": "unity"}
        want = torch.zeros(nt, nv, dtype=torch.float64)
        for j in range(nv):
            vh, _, _, _ = ref.ea_video(v[j].double(), mask[j].double(), w, cfgd, heads)
            for t in range(nt):
                want[t, j] = ref.ea_loose_score(s[t].double(), vh, ls)
        check(f"EA {sh} + {st} score", got, want, 1e-9)

    vn = tc.meanp_video(v.double(), mask.double())
    want = torch.stack([ref.ea_free_video(v[j].double(), mask[j].double()) for j in range(nv)])
    check("meanP video vector", vn, want, 1e-12)


def test_export_roundtrip():
    cfg = {"image_size": 32, "patch": 8, "vision_width": 32, "vision_layers": 2, "vision_heads": 2,
           "text_width": 24, "text_layers": 2, "text_heads": 2, "embed_dim": 16, "context_length": 16,
           "vocab_size": tc.VOCAB, "frames": 6, "max_words": 16}
    torch.manual_seed(3)
    clip = tc.CLIP(cfg)
    head = tc.TCMGC(16, 16, 2, 2, 1)
    randomize(head, 4)
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "m.safetensors")
        meta = tc.clip_metadata(cfg)
        meta["clipgrep.tcmgc.k"] = 1
        tc.export(path, clip, head, "tcmgc", meta)
        clip2, head2, arch, meta2, _, cfg2 = tc.load_file(path)
        assert arch == "tcmgc" and cfg2 == cfg, (arch, cfg2)
        ref_model = clip_ref.load(path)
        x = torch.randn(3, 3, 32, 32)
        ids = torch.zeros(2, 16, dtype=torch.long)
        ids[:, 0] = tc.SOT
        ids[0, 1:4] = torch.tensor([320, 736, 3999])
        ids[0, 4] = tc.EOT
        ids[1, 1] = tc.EOT
        with torch.no_grad():
            check("image tower vs clip_ref", clip2.double().encode_image(x.double()),
                  clip_ref.encode_image(ref_model, x), 1e-10)
            s, w = clip2.encode_text(ids)
            rs, rw = clip_ref.encode_text(ref_model, ids)
            check("text tower (sentence) vs clip_ref", s, rs, 1e-10)
            check("text tower (words) vs clip_ref", w, rw, 1e-10)
            # the head survives the round trip (F16-rounded)
            a = {n: t.float() for n, t in head.state_items()}
            b = {n: t.float() for n, t in head2.state_items()}
            assert a.keys() == b.keys()
            check("head tensors after F16 round trip", torch.cat([b[n].flatten() for n in sorted(b)]),
                  torch.cat([a[n].flatten() for n in sorted(a)]), 2e-3)


def test_file(path):
    """A trained file: its towers against clip_ref, its head against heads_ref."""
    clip, head, arch, meta, t32, cfg = tc.load_file(path)
    clip = clip.double().eval()
    r = clip_ref.load(path)
    S = cfg["image_size"]
    g = torch.Generator().manual_seed(5)
    x = torch.randn(4, 3, S, S, generator=g)
    ids = tc.tokenize(["a red square moves left", "two blue circles grow, then a star spins"],
                      cfg["max_words"], model=path)
    with torch.no_grad():
        v = clip.encode_image(x.double())
        check(f"{os.path.basename(path)}: image tower", v, clip_ref.encode_image(r, x), 1e-9)
        s, w = clip.encode_text(torch.as_tensor(ids))
        rs, rw = clip_ref.encode_text(r, ids)
        check(f"{os.path.basename(path)}: text tower", w, rw, 1e-9)
        if head is None:
            return
        head = head.double().eval()
        frames = torch.randn(2, cfg["frames"], cfg["embed_dim"], generator=g).double()
        mask = torch.ones(2, cfg["frames"]).double()
        w64 = {n: t.double() for n, t in t32.items()}
        ls = float(np.exp(t32["clip.logit_scale"].item()))
        heads = cfg["text_heads"]
        if arch == "tcmgc":
            got = head.scores(s, w, head.video(frames, mask), ls)[0]
            c = {"free": False, "softmax_lambda": head.lam, "k": head.k, "logit_scale": ls}
            want = torch.tensor([[ref.tcmgc_score(s[i], w[i], frames[j], mask[j], w64, c, heads)["score"].item()
                                  for j in range(2)] for i in range(2)], dtype=torch.float64)
        else:
            got = head.scores(s, head.video(frames, mask)[0], ls)
            c = {"se_type": head.se_type, "sim_header": head.sim_header, "reduction_ratio": head.r,
                 "aggregation_type": meta.get("clipgrep.ea.aggregation_type", "unity")}
            want = torch.tensor([[ref.ea_loose_score(s[i], ref.ea_video(frames[j], mask[j], w64, c, heads)[0], ls).item()
                                  for j in range(2)] for i in range(2)], dtype=torch.float64)
        check(f"{os.path.basename(path)}: {arch} head", got, want, 1e-9)


def test_hard_negative_helpers():
    import train
    g = torch.Generator().manual_seed(3)
    logits = torch.randn(6, 6, generator=g, dtype=torch.float64)
    # One group holding the whole batch: the group loss is the plain contrastive loss.
    check("group_contrastive, one group = contrastive", train.group_contrastive(logits, ["a"] * 6),
          train.contrastive(logits), 1e-12)
    # Groups {0,1,2} and {4,5}; 3 alone adds nothing.
    groups = ["a", "a", "a", "b", "c", "c"]
    want = 0.0
    for rows in ([0, 1, 2], [4, 5]):
        want += sum(train.F.cross_entropy(logits[r][rows][None], torch.tensor([rows.index(r)])).item()
                    + train.F.cross_entropy(logits[:, r][rows][None], torch.tensor([rows.index(r)])).item()
                    for r in rows)
    check("group_contrastive, two groups and a singleton", train.group_contrastive(logits, groups),
          want / 2 / 5, 1e-12)
    scores = np.array([[3.0, 1.0, 5.0], [2.0, 4.0, 0.0], [1.0, 0.0, 2.0]])
    # pair (direction, 0, 1): 3 > 1 and 4 > 2, both right; pair (order, 0, 2): 3 < 5 wrong, 2 > 1 right.
    acc = train.hard_negative_accuracy(scores, [("direction", 0, 1), ("order", 0, 2)])
    check("hard_negative_accuracy", [acc["direction"], acc["order"]], [100.0, 50.0], 0)
    attrs = {"events": [{"motion": "down", "start": 0.5}, {"motion": "appear", "start": 0.1}]}
    import synth
    names = synth.MOTION_NAMES
    check("event_motion_targets: in time order, none padded",
          [list(train.event_motion_targets(attrs)), list(train.event_motion_targets({"events": attrs["events"][:1]}))],
          [[names.index("appear"), names.index("down")], [names.index("down"), len(names)]], 0)


def test_probe_and_readout_helpers():
    import probe
    import train
    # Wilson's 95 % interval for 80 of 100 (by hand: centre 0.78890, half-width 0.07773).
    check("probe.wilson, 80 of 100", list(probe.wilson(80, 100)), [71.117, 86.663], 1e-4)
    check("probe.wilson, none of none", list(probe.wilson(0, 0)), [0.0, 100.0], 0)
    # --clip-aux present: the read-outs' loss is over the colours a frame shows, so changing the
    # read-outs of the colours it does not show leaves it unchanged; over every colour it does not.
    torch.manual_seed(0)
    aux = train.FrameAux(8).double()
    emb = torch.randn(4, 8, dtype=torch.float64)
    colours, width = aux.colours, sum(n + 1 for _, n in train.FRAME_ATTRS)
    t = torch.empty(4, colours, len(train.FRAME_ATTRS), dtype=torch.int64)
    for a, (_, n) in enumerate(train.FRAME_ATTRS):
        t[:, :, a] = n  # every colour absent ...
    t[:, 0] = torch.tensor([1, 2, 0])  # ... but the first, at x bin 1, y bin 2, size bin 0
    before = [float(aux.loss(emb, t, present_only=p)) for p in (True, False)]
    with torch.no_grad():
        aux.read.bias[width:] += torch.randn(aux.read.bias.shape[0] - width, dtype=torch.float64)
    after = [float(aux.loss(emb, t, present_only=p)) for p in (True, False)]
    check("FrameAux present_only: only the colours shown count", after[0], before[0], 1e-12)
    if abs(after[1] - before[1]) < 1e-3:
        FAILS.append("FrameAux over every colour: the colours not shown do not count")
    # --clip-aux-absent W: plus W times the mean cross-entropy of the absent colours' "absent" answers.
    z = aux.read(emb).view(4, colours, -1)
    want, o = 0.0, 0
    for a, (_, n) in enumerate(train.FRAME_ATTRS):
        logits = z[:, 1:, o:o + n + 1].reshape(-1, n + 1)  # colours 1.. are the absent ones
        want += float(train.F.cross_entropy(logits, torch.full((logits.shape[0],), n)))
        o += n + 1
    got = float(aux.loss(emb, t, present_only=True, absent_weight=0.5)) - after[0]
    check("FrameAux absent_weight: the absent answers' mean loss, weighted", got, 0.5 * want / len(train.FRAME_ATTRS), 1e-9)


if __name__ == "__main__":
    torch.set_num_threads(2)
    test_hard_negative_helpers()
    test_probe_and_readout_helpers()
    test_heads()
    test_export_roundtrip()
    for p in sys.argv[1:]:
        tensors, meta = tc.st.load(p)
        if not tc.st.heads(meta):
            test_file(p)
            continue
        # A multi-head file: each head, as the single model it is a view of.
        with tempfile.TemporaryDirectory() as d:
            for h in tc.st.heads(meta):
                vt, vm = tc.st.view(dict(tensors), dict(meta), h)
                one = os.path.join(d, f"{os.path.basename(p)}#{h}")
                tc.st.save(one, vt, vm)
                test_file(one)
    print("FAIL: " + ", ".join(FAILS) if FAILS else "PASS")
    sys.exit(1 if FAILS else 0)
