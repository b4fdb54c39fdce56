#!/usr/bin/python3
"""Convert a CLIP-based checkpoint into a clipgrep model file (safetensors,
upstream tensor names, configuration and tokenizer in __metadata__).

    convert.py IN [IN2 ...] -o OUT.safetensors [options]

Inputs, recognised by their content:
  pytorch_model_best.bin   an upstream TC-MGC or EA-CLIP4Clip training
                           checkpoint (torch.save of the model's state dict:
                           clip.* in fp16, the heads in fp32).  The head is
                           recognised from its tensors; what the tensors
                           cannot tell (EA's se_type when only se_block.fc.*
                           is present, F, L) comes from the options.
  ViT-B-32.pt              OpenAI's TorchScript archive (CLIP weights only).
  model.safetensors        Hugging Face openai/clip-vit-base-patch32, with
  (+ vocab.json, merges.txt  its tokenizer files: give them as further
   or their folder)          inputs or put them next to it.
Any other state dict (.pt/.bin/.pth) or safetensors with upstream or OpenAI
names works too.

The tokenizer: Hugging Face's merges.txt when given (checked against
vocab.json), else --bpe (CLIP's bpe_simple_vocab_16e6.txt.gz).  Only the
first 48894 merges are kept, as CLIP uses them.

Tensors keep their dtype (fp16 stays fp16) unless --dtype f16|f32 says
otherwise; the engine widens to fp32 on load.
"""
import argparse
import gzip
import json
import os
import re
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "tools", "reference"))
import st  # noqa: E402

N_MERGES = 48894
DEFAULT_BPE = os.path.join(REPO, "..", "shared", "data", "clip-bpe", "bpe_simple_vocab_16e6.txt.gz")
OPENAI_SCALARS = ("input_resolution", "context_length", "vocab_size")


# --- reading ---------------------------------------------------------------------

def to_numpy(t):
    import torch
    t = t.detach().cpu()
    if t.dtype == torch.bfloat16:
        t = t.float()
    return t.numpy().copy()


def is_torchscript(path):
    """A TorchScript archive is a zip with code/ and constants.pkl next to data.pkl."""
    import zipfile
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as z:
        return any(n.endswith("constants.pkl") or "/code/" in n for n in z.namelist())


def read_torch(path):
    """A state dict from a torch.save file (zip or legacy) or a TorchScript archive."""
    import torch
    if is_torchscript(path):
        obj = torch.jit.load(path, map_location="cpu").state_dict()
    else:
        obj = torch.load(path, map_location="cpu")
    if hasattr(obj, "state_dict") and not isinstance(obj, dict):
        obj = obj.state_dict()
    if isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict):
        raise SystemExit(f"{path}: not a state dict ({type(obj).__name__})")
    out = {}
    for k, v in obj.items():
        if hasattr(v, "detach"):
            out[k[len("module."):] if k.startswith("module.") else k] = to_numpy(v)
    return out


def read_any(path):
    with open(path, "rb") as f:
        head = f.read(8)
    if path.endswith(".safetensors"):
        tensors, meta = st.load(path)
        return tensors, meta
    if head[:2] == b"PK" or path.endswith((".pt", ".bin", ".pth")):
        return read_torch(path), {}
    raise SystemExit(f"{path}: unknown checkpoint format")


# --- names ---------------------------------------------------------------------------

HF_LAYER = {
    "layer_norm1": "ln_1", "layer_norm2": "ln_2",
    "mlp.fc1": "mlp.c_fc", "mlp.fc2": "mlp.c_proj",
    "self_attn.out_proj": "attn.out_proj",
}


def from_hf(t):
    """Hugging Face CLIPModel names -> upstream clip.* names (q/k/v packed,
    projections transposed)."""
    out = {}
    for k, v in t.items():
        if k.endswith("position_ids"):
            continue
        m = re.match(r"(vision|text)_model\.encoder\.layers\.(\d+)\.(.*)$", k)
        if m:
            tower, n, rest = m.groups()
            base = f"clip.visual.transformer.resblocks.{n}." if tower == "vision" else f"clip.transformer.resblocks.{n}."
            m2 = re.match(r"self_attn\.(q|k|v)_proj\.(weight|bias)$", rest)
            if m2:
                out.setdefault((base, m2.group(2)), {})[m2.group(1)] = v
                continue
            for a, b in HF_LAYER.items():
                if rest.startswith(a + "."):
                    out[base + b + rest[len(a):]] = v
                    break
            else:
                raise SystemExit(f"Hugging Face tensor {k}: unknown")
            continue
        simple = {
            "vision_model.embeddings.class_embedding": "clip.visual.class_embedding",
            "vision_model.embeddings.patch_embedding.weight": "clip.visual.conv1.weight",
            "vision_model.embeddings.position_embedding.weight": "clip.visual.positional_embedding",
            "vision_model.pre_layrnorm.weight": "clip.visual.ln_pre.weight",
            "vision_model.pre_layrnorm.bias": "clip.visual.ln_pre.bias",
            "vision_model.post_layernorm.weight": "clip.visual.ln_post.weight",
            "vision_model.post_layernorm.bias": "clip.visual.ln_post.bias",
            "text_model.embeddings.token_embedding.weight": "clip.token_embedding.weight",
            "text_model.embeddings.position_embedding.weight": "clip.positional_embedding",
            "text_model.final_layer_norm.weight": "clip.ln_final.weight",
            "text_model.final_layer_norm.bias": "clip.ln_final.bias",
            "logit_scale": "clip.logit_scale",
        }
        if k in simple:
            out[simple[k]] = v
        elif k == "visual_projection.weight":
            out["clip.visual.proj"] = np.ascontiguousarray(v.T)
        elif k == "text_projection.weight":
            out["clip.text_projection"] = np.ascontiguousarray(v.T)
        else:
            raise SystemExit(f"Hugging Face tensor {k}: unknown")
    for key in [k for k in out if isinstance(k, tuple)]:
        base, kind = key
        qkv = out.pop(key)
        if set(qkv) != {"q", "k", "v"}:
            raise SystemExit(f"{base}: incomplete q/k/v projections")
        out[base + "attn.in_proj_" + kind] = np.concatenate([qkv["q"], qkv["k"], qkv["v"]], axis=0)
    return out


def normalise_names(t):
    """Any known naming -> upstream names; returns (tensors, source kind)."""
    if any(k.startswith("vision_model.") for k in t):
        return from_hf(t), "huggingface"
    if "visual.class_embedding" in t:  # OpenAI: CLIP's names without the clip. prefix
        return {("clip." + k): v for k, v in t.items() if k not in OPENAI_SCALARS}, "openai"
    if "clip.visual.class_embedding" in t:
        return dict(t), "upstream"
    raise SystemExit("no CLIP image tower found (clip.visual.class_embedding, visual.class_embedding "
                     "or vision_model.*)")


# --- heads ---------------------------------------------------------------------------

def detect_head(t, args):
    """(architecture, metadata) from the tensors and the options."""
    meta = {}
    if "conditional_transformer.pool_frames.linear_proj.weight" in t:
        k = t["attentive_word_logit_weight"].shape[0]
        meta["clipgrep.tcmgc.k"] = str(k)
        if args.keep_rate is not None:
            meta["clipgrep.tcmgc.keep_rate"] = str(args.keep_rate)
        meta["clipgrep.tcmgc.softmax_lambda"] = str(args.softmax_lambda)
        return "tcmgc", meta
    ea_keys = ("se_block.", "se_block_excitation.", "cross.", "lstm_visual.", "intra_mlp.")
    if not any(k.startswith(ea_keys) for k in t) and not args.se_type:
        return "clip", meta
    frames = args.frames
    if "cross.transformer.resblocks.0.ln_1.weight" in t:
        sh = "tightTransf"
    elif "lstm_visual.weight_ih_l0" in t:
        sh = "seqLSTM"
    elif "transformerClip.resblocks.0.ln_1.weight" in t:
        sh = "seqTransf"
    else:
        sh = "meanP"
    sh = args.sim_header or sh
    if "se_block.scale.fc.0.weight" in t:
        se, h_exc, h_agg = "excitation_aggregation", t["se_block.scale.fc.0.weight"].shape[0], \
            t["se_block.aggregate.fc.0.weight"].shape[0]
    elif "se_block_aggregation.fc.0.weight" in t:
        se, h_exc, h_agg = "excitation_seq_aggregation", t["se_block_excitation.fc.0.weight"].shape[0], \
            t["se_block_aggregation.fc.0.weight"].shape[0]
    elif "se_block_excitation.fc.0.weight" in t:
        se, h_exc, h_agg = "excitation_seq", t["se_block_excitation.fc.0.weight"].shape[0], None
    elif "se_block.fc.0.weight" in t:
        if not args.se_type and sh != "tightTransf":
            raise SystemExit("se_block.fc.* is either excitation or aggregation: say which with --se-type")
        se, h_exc, h_agg = args.se_type or "excitation", t["se_block.fc.0.weight"].shape[0], None
        if se == "aggregation":
            h_exc, h_agg = None, h_exc
    else:
        se, h_exc, h_agg = "none", None, None
    se = args.se_type or se
    h = h_exc if h_exc is not None else h_agg
    f_in = t[[k for k in t if k.endswith("fc.0.weight") and k.startswith("se_block")][0]].shape[1] if h else None
    if f_in is not None:
        if frames is not None and frames != f_in:
            raise SystemExit(f"--frames {frames} but the EA blocks take {f_in} frames")
        frames = f_in
    r = args.reduction_ratio
    if r is None and h:
        r = frames / h
    at = args.aggregation_type
    if at is None and h_exc and h_agg:
        at = "unity" if h_exc == h_agg else ("squeeze_expand" if h_exc < h_agg else "expand_squeeze")
    meta.update({"clipgrep.ea.sim_header": sh, "clipgrep.ea.se_type": se})
    if r is not None:
        meta["clipgrep.ea.reduction_ratio"] = repr(float(r))
    if at:
        meta["clipgrep.ea.aggregation_type"] = at
    if frames is not None:
        meta["clipgrep.frames"] = str(frames)
    return "ea", meta


# --- tokenizer ----------------------------------------------------------------------

def bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + \
        list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return [chr(c) for c in cs]


def merges_text(lines, source):
    """A version line and the first N_MERGES merges, each "a b"."""
    body = [ln for ln in lines[1:] if ln.strip()] if lines and lines[0].startswith(("#", "\"")) else \
        [ln for ln in lines if ln.strip()]
    if len(body) < N_MERGES:
        raise SystemExit(f"{source}: {len(body)} merges, CLIP needs {N_MERGES}")
    for ln in body[:N_MERGES]:
        if len(ln.split(" ")) != 2:
            raise SystemExit(f"{source}: bad merge line {ln!r}")
    return "#version: 0.2\n" + "\n".join(body[:N_MERGES]) + "\n"


def read_bpe(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as f:
        return merges_text(f.read().split("\n"), path)


def check_vocab(merges, vocab_path):
    """CLIP's vocabulary is bytes, bytes</w>, one token per merge, SOT, EOT
    (simple_tokenizer); Hugging Face's vocab.json must agree with it."""
    with open(vocab_path, encoding="utf-8") as f:
        vocab = json.load(f)
    b = bytes_to_unicode()
    want = b + [c + "</w>" for c in b] + ["".join(m.split(" ")) for m in merges.split("\n")[1:N_MERGES + 1]]
    want += ["<|startoftext|>", "<|endoftext|>"]
    bad = [i for i, tok in enumerate(want) if vocab.get(tok) != i]
    if bad or len(vocab) != len(want):
        i = bad[0] if bad else len(want)
        raise SystemExit(f"{vocab_path}: does not match merges.txt (first difference at id {i}; "
                         f"{len(vocab)} entries, CLIP has {len(want)})")


# --- main -------------------------------------------------------------------------------

def convert(inputs, out, args):
    tensors, meta_in, merges, vocab = {}, {}, None, None
    paths = []
    for p in inputs:
        if os.path.isdir(p):
            for name in ("model.safetensors", "pytorch_model.bin", "vocab.json", "merges.txt"):
                if os.path.exists(os.path.join(p, name)):
                    paths.append(os.path.join(p, name))
        else:
            paths.append(p)
            d = os.path.dirname(p)
            if os.path.basename(p) == "model.safetensors":
                for name in ("vocab.json", "merges.txt"):
                    if os.path.exists(os.path.join(d, name)) and os.path.join(d, name) not in inputs:
                        paths.append(os.path.join(d, name))
    for p in paths:
        base = os.path.basename(p)
        if base.endswith(".json"):
            vocab = p
        elif base.endswith(".txt") or base.endswith(".txt.gz"):
            merges = read_bpe(p) if base.endswith(".gz") else merges_text(
                open(p, encoding="utf-8").read().split("\n"), p)
        else:
            t, m = read_any(p)
            tensors.update(t)
            meta_in.update(m)
    if not tensors:
        raise SystemExit("no checkpoint among the inputs")
    tensors, kind = normalise_names(tensors)
    if merges is None:
        merges = meta_in.get("clipgrep.tokenizer.merges") or read_bpe(args.bpe)
    if vocab:
        check_vocab(merges, vocab)
    arch, meta = detect_head(tensors, args)
    if args.architecture:
        arch = args.architecture
    # configuration: the engine infers it from the shapes; write it out so the file says it
    vw = tensors["clip.visual.class_embedding"].shape[0]
    tw = tensors["clip.ln_final.weight"].shape[0]
    patch = tensors["clip.visual.conv1.weight"].shape[2]
    grid = int(round((tensors["clip.visual.positional_embedding"].shape[0] - 1) ** 0.5))
    count = lambda p: sum(1 for k in tensors if k.startswith(p) and k.endswith(".ln_1.weight"))  # noqa: E731
    ctx = tensors["clip.positional_embedding"].shape[0]
    config = {
        "clipgrep.architecture": arch,
        "clipgrep.name": args.name or f"{os.path.basename(inputs[0])} ({kind}, {arch})",
        "clipgrep.converted_from": kind,
        "clipgrep.embed_dim": tensors["clip.visual.proj"].shape[1],
        "clipgrep.vision.width": vw, "clipgrep.vision.layers": count("clip.visual.transformer.resblocks."),
        "clipgrep.vision.heads": args.vision_heads or meta_in.get("clipgrep.vision.heads") or max(1, vw // 64),
        "clipgrep.vision.patch": patch, "clipgrep.vision.image_size": grid * patch,
        "clipgrep.text.width": tw, "clipgrep.text.layers": count("clip.transformer.resblocks."),
        "clipgrep.text.heads": args.text_heads or meta_in.get("clipgrep.text.heads") or max(1, tw // 64),
        "clipgrep.text.context_length": ctx,
        "clipgrep.text.vocab_size": tensors["clip.token_embedding.weight"].shape[0],
        "clipgrep.frames": meta.pop("clipgrep.frames", None) or args.frames or meta_in.get("clipgrep.frames") or 12,
        "clipgrep.max_words": args.max_words or meta_in.get("clipgrep.max_words") or min(32, ctx),
        "clipgrep.tokenizer.merges": merges,
    }
    config.update(meta)
    for k, v in meta_in.items():  # a clipgrep file being re-converted keeps its other settings
        if k.startswith("clipgrep.") and k not in config:
            config[k] = v
    outt = {}
    for k, v in tensors.items():
        v = np.asarray(v)
        if v.dtype == np.float64:
            v = v.astype(np.float32)
        if args.dtype == "f16" and v.dtype == np.float32 and v.size > 16:
            v = v.astype(np.float16)
        elif args.dtype == "f32" and v.dtype == np.float16:
            v = v.astype(np.float32)
        outt[k] = v
    tmp = out + ".tmp"
    st.save(tmp, outt, {k: str(v) for k, v in config.items()})
    os.replace(tmp, out)
    return arch, kind, len(outt)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    ap.add_argument("inputs", nargs="+", metavar="IN")
    ap.add_argument("-o", "--out", required=True, metavar="OUT.safetensors")
    ap.add_argument("--bpe", default=DEFAULT_BPE, help="CLIP merges for checkpoints without a tokenizer")
    ap.add_argument("--name", help="clipgrep.name")
    ap.add_argument("--architecture", choices=("clip", "ea", "tcmgc"), help="override the detected one")
    ap.add_argument("--frames", type=int, help="F the heads were trained with (default 12)")
    ap.add_argument("--max-words", type=int, help="L (default 32)")
    ap.add_argument("--vision-heads", type=int)
    ap.add_argument("--text-heads", type=int)
    ap.add_argument("--sim-header", choices=("meanP", "seqLSTM", "seqTransf", "tightTransf"))
    ap.add_argument("--se-type", choices=("none", "excitation", "aggregation", "excitation_aggregation",
                                          "excitation_seq", "excitation_seq_aggregation"))
    ap.add_argument("--reduction-ratio", type=float)
    ap.add_argument("--aggregation-type", choices=("unity", "squeeze_expand", "expand_squeeze"))
    ap.add_argument("--keep-rate", type=float)
    ap.add_argument("--softmax-lambda", type=float, default=100.0)
    ap.add_argument("--dtype", choices=("keep", "f16", "f32"), default="keep")
    args = ap.parse_args(argv)
    arch, kind, n = convert(args.inputs, args.out, args)
    print(f"convert: {args.out}: {n} tensors, architecture {arch} (from {kind} names), "
          f"{os.path.getsize(args.out) / 1e6:.1f} MB", file=sys.stderr)


if __name__ == "__main__":
    main()
