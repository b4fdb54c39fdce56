#!/usr/bin/python3
"""Regenerate tests/golden/resize/: decoded video frames and what the
reference preprocessing (PIL + torchvision semantics) makes of them, for
test-preprocess to check core/preprocess.c against.

    /usr/bin/python3 tools/reference/gen_resize_golden.py [OUTDIR]

Needs Debian's python3-pil (and python3-torch for the normalised floats),
the ffmpeg CLI, and ../shared/data/videos/parakeet-ladder.mp4 for the real
camera frame ($CLIPGREP_SHARED_DATA overrides ../shared/data).

Inputs (PNG, RGB24, a few KB each):
  frame-testsrc2.png  128x72, frame 7 of a testsrc2 clip encoded with x264
                      and decoded again (sharp saturated edges: the cubic's
                      overshoot must clip the way Pillow clips)
  frame-camera.png    96x128, a crop of a real phone frame (texture, noise)

manifest.txt, one case a line:
  clip   INPUT S OUTPUT            Resize(S, BICUBIC) + CenterCrop(S)
  resize INPUT W H OUTPUT          Image.resize((W, H), BICUBIC)
  orient INPUT OP S OUTPUT         Image.transpose(OP) then clip S
  norm   INPUT S OUTPUT.f32        clip S, ToTensor, Normalize(CLIP): [3,S,S] f32 LE

torchvision is not needed: Resize and CenterCrop are written out below
exactly as torchvision computes their geometry (int() truncation of the
long side; Python's round(), which rounds half to even, for the crop).
Deterministic: re-running with the same ffmpeg and Pillow gives the same bytes.
"""
import os
import struct
import subprocess
import sys
import tempfile

from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.normpath(os.path.join(HERE, "..", ".."))
MEAN = (0.48145466, 0.4578275, 0.40821073)
STD = (0.26862954, 0.26130258, 0.27577711)
OPS = {"ROTATE_90": Image.ROTATE_90, "ROTATE_180": Image.ROTATE_180,
       "ROTATE_270": Image.ROTATE_270, "TRANSPOSE": Image.TRANSPOSE,
       "FLIP_LEFT_RIGHT": Image.FLIP_LEFT_RIGHT}


def resize_short(img, size):
    """torchvision.transforms.Resize(size, BICUBIC) on a PIL image."""
    w, h = img.size
    short, long = (w, h) if w <= h else (h, w)
    new_long = int(size * long / short)
    new_w, new_h = (size, new_long) if w <= h else (new_long, size)
    return img.resize((new_w, new_h), Image.BICUBIC)


def center_crop(img, size):
    """torchvision.transforms.CenterCrop(size) on a PIL image."""
    w, h = img.size
    top = int(round((h - size) / 2.0))
    left = int(round((w - size) / 2.0))
    return img.crop((left, top, left + size, top + size))


def clip(img, size):
    return center_crop(resize_short(img, size), size)


def ffmpeg(*args):
    subprocess.run(["ffmpeg", "-hide_banner", "-v", "error", "-y", *args], check=True)


def make_inputs(outdir):
    shared = os.environ.get("CLIPGREP_SHARED_DATA", os.path.join(TOP, "..", "shared", "data"))
    camera = os.path.join(shared, "videos", "parakeet-ladder.mp4")
    with tempfile.TemporaryDirectory() as tmp:
        clip_path = os.path.join(tmp, "testsrc2.mp4")
        ffmpeg("-f", "lavfi", "-i", "testsrc2=size=128x72:rate=10:duration=1",
               "-c:v", "libx264", "-preset", "medium", "-crf", "20", "-pix_fmt", "yuv420p",
               clip_path)
        ffmpeg("-i", clip_path, "-vf", "select=eq(n\\,7)", "-frames:v", "1",
               "-pix_fmt", "rgb24", os.path.join(outdir, "frame-testsrc2.png"))
    ffmpeg("-ss", "2", "-i", camera, "-vf", "crop=96:128:150:300", "-frames:v", "1",
           "-pix_fmt", "rgb24", os.path.join(outdir, "frame-camera.png"))


def write_f32(path, img):
    """ToTensor + Normalize in float32, as torchvision computes them."""
    import torch
    w, h = img.size
    t = torch.tensor(list(img.getdata()), dtype=torch.uint8).reshape(h, w, 3)
    t = t.permute(2, 0, 1).float().div(255)
    t = (t - torch.tensor(MEAN).view(3, 1, 1)) / torch.tensor(STD).view(3, 1, 1)
    with open(path, "wb") as f:
        f.write(struct.pack("<%df" % t.numel(), *t.flatten().tolist()))


def main():
    outdir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(TOP, "tests", "golden", "resize")
    os.makedirs(outdir, exist_ok=True)
    make_inputs(outdir)
    lines = []

    def load(name):
        return Image.open(os.path.join(outdir, name)).convert("RGB")

    def save(img, name):
        img.save(os.path.join(outdir, name), optimize=True)

    for src, sizes, resizes in (("frame-testsrc2.png", (32, 45, 71, 80), ((50, 37), (200, 30))),
                                ("frame-camera.png", (32, 57, 100), ((61, 37),))):
        stem = src[len("frame-"):-len(".png")]
        img = load(src)
        for s in sizes:  # 80 and 100 upscale: the kernel is not stretched then
            out = f"{stem}-clip{s}.png"
            save(clip(img, s), out)
            lines.append(f"clip {src} {s} {out}")
        for w, h in resizes:  # anamorphic: x and y scale differently
            out = f"{stem}-{w}x{h}.png"
            save(img.resize((w, h), Image.BICUBIC), out)
            lines.append(f"resize {src} {w} {h} {out}")
    img = load("frame-testsrc2.png")
    for op in OPS:
        out = f"testsrc2-{op.lower()}-clip40.png"
        save(clip(img.transpose(OPS[op]), 40), out)
        lines.append(f"orient frame-testsrc2.png {op} 40 {out}")
    out = "testsrc2-clip32.f32"
    write_f32(os.path.join(outdir, out), clip(img, 32))
    lines.append(f"norm frame-testsrc2.png 32 {out}")

    with open(os.path.join(outdir, "manifest.txt"), "w") as f:
        f.write("# written by tools/reference/gen_resize_golden.py; do not edit\n")
        f.write("\n".join(lines) + "\n")
    print(f"wrote {outdir}: {len(lines)} cases")


if __name__ == "__main__":
    main()
