#!/usr/bin/python3
"""synth — clipgrep's synthetic text-video data generator.

Renders short clips of simple objects (shape, colour, size, texture) moving
over varied backgrounds, encodes them as H.264 mp4 with the ffmpeg CLI, and
writes captions that need every granularity to be ranked right: the objects
(frame level), the motion (video level), counts, and the order of two events.
Each scene comes with hard negatives rendered as separate clips (the other
direction, another colour, the reversed order, another count/size/texture/
shape), and every record lists the clips its captions must not match.

Offline only: Debian's /usr/bin/python3 with python3-numpy and python3-pil,
and /usr/bin/ffmpeg.  See tools/synth/README.md.

	/usr/bin/python3 tools/synth/synth.py --out /tmp/synth --train 3000 --test 500
	/usr/bin/python3 tools/synth/synth.py --demo --out /tmp/demo
	/usr/bin/python3 tools/synth/synth.py --selftest

Everything is a function of --seed and the flags: the scenes and captions are
drawn from per-group random streams (seed, split, group), so the val and test
sets do not change when --train does, and the output does not depend on
--jobs.  The rendered frames are bit-identical across runs; the mp4 bytes are
identical for the same FFmpeg/x264 build.
"""
import argparse
import functools
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

GENERATOR_VERSION = 1
FFMPEG = os.environ.get("FFMPEG", "ffmpeg")
FFPROBE = os.environ.get("FFPROBE", "ffprobe")
SPLITS = ("train", "val", "test")

# ---------------------------------------------------------------------------
# Vocabulary.  Each entry: canonical name -> rendering data and the words a
# caption may use for it, with weights (the canonical word is the likeliest).

COLORS = {
	# name: (sRGB, [(word, weight)])
	"red": ((214, 40, 40), [("red", 1)]),
	"orange": ((247, 127, 0), [("orange", 1)]),
	"yellow": ((250, 212, 30), [("yellow", 1)]),
	"green": ((40, 170, 70), [("green", 1)]),
	"blue": ((40, 90, 225), [("blue", 1)]),
	"purple": ((135, 60, 195), [("purple", 3), ("violet", 1)]),
	"pink": ((245, 105, 180), [("pink", 1)]),
	"white": ((246, 246, 246), [("white", 1)]),
}

# (singular, plural, weight)
SHAPES = {
	"square": [("square", "squares", 4), ("box", "boxes", 2), ("block", "blocks", 1)],
	"circle": [("circle", "circles", 4), ("ball", "balls", 1), ("disc", "discs", 1)],
	"triangle": [("triangle", "triangles", 1)],
	"star": [("star", "stars", 1)],
	"diamond": [("diamond", "diamonds", 3), ("rhombus", "rhombuses", 1)],
	"hexagon": [("hexagon", "hexagons", 1)],
	"cross": [("cross", "crosses", 3), ("plus sign", "plus signs", 1)],
}
SHAPE_NAMES = list(SHAPES)

SIZES = {
	# name: (radius as a fraction of the action square's side, [(word, weight)])
	"small": (0.09, [("small", 3), ("little", 2), ("tiny", 1)]),
	"large": (0.15, [("large", 3), ("big", 3), ("huge", 1)]),
}
MEDIUM_RADIUS = 0.115   # objects that grow or shrink have no size word

TEXTURES = {
	# name: (prefix adjectives, postfix phrases); plain is named only when required
	"plain": ([("plain", 2), ("solid", 1)], []),
	"striped": ([("striped", 3), ("stripy", 1)], [("with stripes", 2)]),
	"dotted": ([("dotted", 3), ("spotted", 1), ("polka-dot", 1)], [("with dots", 2), ("with polka dots", 1)]),
}

# (singular verb phrase, plural verb phrase, weight)
MOTIONS = {
	"left": [("moves left", "move left", 3), ("slides to the left", "slide to the left", 2),
		("travels leftward", "travel leftward", 1), ("drifts to the left", "drift to the left", 1),
		("glides left", "glide left", 1), ("heads left", "head left", 1)],
	"right": [("moves right", "move right", 3), ("slides to the right", "slide to the right", 2),
		("travels rightward", "travel rightward", 1), ("drifts to the right", "drift to the right", 1),
		("glides right", "glide right", 1), ("heads right", "head right", 1)],
	"up": [("moves up", "move up", 3), ("rises", "rise", 2), ("floats upward", "float upward", 1),
		("slides up", "slide up", 1), ("travels upward", "travel upward", 1), ("climbs", "climb", 1)],
	"down": [("moves down", "move down", 3), ("falls", "fall", 2), ("sinks", "sink", 1),
		("slides down", "slide down", 1), ("travels downward", "travel downward", 1), ("drops", "drop", 1)],
	"grow": [("grows", "grow", 3), ("gets bigger", "get bigger", 2), ("expands", "expand", 1),
		("grows larger", "grow larger", 1), ("swells up", "swell up", 1)],
	"shrink": [("shrinks", "shrink", 3), ("gets smaller", "get smaller", 2), ("contracts", "contract", 1),
		("shrinks down", "shrink down", 1)],
	"spin": [("spins", "spin", 3), ("rotates", "rotate", 2), ("turns around", "turn around", 1),
		("spins around", "spin around", 1), ("twirls", "twirl", 1)],
	"appear": [("appears", "appear", 3), ("shows up", "show up", 1), ("pops into view", "pop into view", 1),
		("fades in", "fade in", 1), ("comes into view", "come into view", 1)],
	"disappear": [("disappears", "disappear", 3), ("vanishes", "vanish", 2), ("fades away", "fade away", 1),
		("fades out", "fade out", 1), ("goes out of view", "go out of view", 1)],
	"bounce": [("bounces", "bounce", 3), ("bounces up and down", "bounce up and down", 1),
		("hops up and down", "hop up and down", 1), ("jumps up and down", "jump up and down", 1)],
}
MOTION_NAMES = list(MOTIONS)
MOVES = {"left": (-1, 0), "right": (1, 0), "up": (0, -1), "down": (0, 1)}
OPPOSITE = {"left": "right", "right": "left", "up": "down", "down": "up", "grow": "shrink",
	"shrink": "grow", "appear": "disappear", "disappear": "appear"}
SCALE_MOTIONS = ("grow", "shrink")
# Motions one object can do twice in a row (appear/disappear would make the
# order reversal impossible: an object cannot appear after it was seen).
CHAIN_MOTIONS = ("left", "right", "up", "down", "grow", "shrink", "spin", "bounce")
# Motion draw weights: appear/disappear/spin/bounce/scale a little rarer than moves.
MOTION_WEIGHTS = {"left": 1.2, "right": 1.2, "up": 1.0, "down": 1.0, "grow": 0.9, "shrink": 0.9,
	"spin": 0.9, "appear": 0.9, "disappear": 0.9, "bounce": 0.9}

STATIC_PHRASES = [("while {np} stays still", 3), ("while {np} stays put", 1), ("next to {np}", 2),
	("as {np} sits still", 1), ("beside a motionless {npn}", 1)]
BACKGROUND_PHRASES = {
	"solid": [("on a plain {tone} background", 2), ("on a {tone} background", 3)],
	"gradient": [("on a {tone} gradient background", 2), ("over a {tone} gradient", 1), ("on a gradient", 1)],
	"noise": [("on a noisy {tone} background", 2), ("against a mottled {tone} background", 1), ("on a noisy background", 1)],
}
SINGLE_TEMPLATES = [("{e}", 6), ("a clip where {e}", 1), ("a video in which {e}", 1), ("a video where {e}", 1)]
# Two events, e1 before e2.
PAIR_TEMPLATES = [("{e1}, then {e2}", 4), ("{e1}, and then {e2}", 2), ("first {e1}, then {e2}", 2),
	("{e1}; after that, {e2}", 1), ("{e1} before {e2}", 2), ("after {e1}, {e2}", 2),
	("{e2} after {e1}", 2), ("{e1}, and afterwards {e2}", 1), ("at first {e1}, later {e2}", 1)]
# One subject doing two things, v1 before v2.
CHAIN_TEMPLATES = [("{np} {v1}, then {v2}", 4), ("{np} {v1} and then {v2}", 3), ("{np} first {v1}, then {v2}", 2),
	("{np} {v1}; after that, {pron} {v2}", 1), ("{np} {v1} before {pron} {v2}", 2),
	("after {np} {v1}, {pron} {v2}", 1)]

# Backgrounds: muted colours (so saturated objects always stand out), by tone.
BG_COLORS = {
	"dark": [(26, 28, 36), (40, 48, 68), (28, 56, 54), (58, 44, 40), (52, 52, 58), (46, 34, 58)],
	"light": [(232, 228, 212), (204, 208, 214), (206, 222, 238), (216, 232, 210), (238, 218, 212), (226, 214, 236)],
}
BG_TYPES = [("solid", 1.0), ("gradient", 1.0), ("noise", 1.0)]
MIN_DELTA_E = 40.0   # object colour vs every background colour (CIE76)

# Captions must fit CLIP's context (L = 32 for the demo model: 30 word tokens
# after SOT/EOT).  CLIP's BPE works word by word, so a caption's length is the
# sum over its words and punctuation marks; these words of the grammar take
# more than one token (counted with `clipgrep tokenize` on the real
# vocabulary), every other word and mark takes one.
MULTI_TOKEN_WORDS = {"bounces": 2, "drifts": 2, "glides": 2, "hexagon": 2, "hexagons": 3, "leftward": 3,
	"motionless": 2, "mottled": 2, "rhombus": 3, "rhombuses": 3, "rightward": 3, "rotate": 2, "rotates": 2,
	"shrinks": 2, "stripy": 2, "swells": 2, "triangles": 2, "twirl": 2, "twirls": 2, "vanish": 2, "vanishes": 2}


def approx_tokens(text):
	"""CLIP BPE tokens of a caption of this grammar (SOT/EOT not counted)."""
	n = 0
	for w in re.findall(r"[a-z]+|[^a-z\s]", text):
		n += MULTI_TOKEN_WORDS.get(w, 1)
	return n


# ---------------------------------------------------------------------------
# Small helpers.

def pick(rng, items):
	"""items: [(value, weight)] or [(a, b, weight)]; returns the value (or tuple without weight)."""
	w = np.array([it[-1] for it in items], dtype=np.float64)
	i = int(rng.choice(len(items), p=w / w.sum()))
	it = items[i]
	return it[0] if len(it) == 2 else it[:-1]


def srgb_to_lab(rgb):
	c = np.asarray(rgb, dtype=np.float64) / 255.0
	c = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
	m = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]])
	xyz = m @ c / np.array([0.95047, 1.0, 1.08883])
	f = np.where(xyz > 0.008856, np.cbrt(xyz), 7.787 * xyz + 16 / 116)
	return np.array([116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])])


@functools.lru_cache(maxsize=None)
def _delta_e(a, b):
	return float(np.linalg.norm(srgb_to_lab(a) - srgb_to_lab(b)))


def delta_e(a, b):
	return _delta_e(tuple(a), tuple(b))


def smooth01(u, t0, t1):
	"""Smoothstep progress of an event over [t0, t1] at normalised times u."""
	p = np.clip((u - t0) / max(t1 - t0, 1e-9), 0.0, 1.0)
	return p * p * (3.0 - 2.0 * p)


def linear01(u, t0, t1):
	return np.clip((u - t0) / max(t1 - t0, 1e-9), 0.0, 1.0)


def sample_frame_indices(n_frames, F):
	"""The frame on screen at t_i = (i + 0.5) * duration / F for a constant-rate clip of
	n_frames frames starting at 0: floor((2i + 1) * n / (2F)).  With n odd no target
	falls on a frame boundary, so float rounding in any reader cannot change the pick."""
	return [((2 * i + 1) * n_frames) // (2 * F) for i in range(F)]


# ---------------------------------------------------------------------------
# Shapes as signed distances in object-local units (circumradius about 1), so
# edges, outlines and shadows are antialiased without supersampling.  Convex
# pieces are half-plane sets; a shape is the union (min) of its pieces.

def _polygon_planes(verts):
	"""Outward normals (nx, ny) and offsets c of a convex polygon: inside <=> n.p - c <= 0."""
	v = np.asarray(verts, dtype=np.float64)
	cx, cy = v.mean(axis=0)
	planes = []
	for k in range(len(v)):
		a, b = v[k], v[(k + 1) % len(v)]
		nx, ny = b[1] - a[1], -(b[0] - a[0])
		ln = math.hypot(nx, ny)
		nx, ny = nx / ln, ny / ln
		c = nx * a[0] + ny * a[1]
		if nx * cx + ny * cy - c > 0:   # flip so the centroid is inside
			nx, ny, c = -nx, -ny, -c
		planes.append((nx, ny, c))
	return planes


def _regular(n, r, phase_deg):
	return [(r * math.cos(math.radians(phase_deg + 360.0 * k / n)),
		r * math.sin(math.radians(phase_deg + 360.0 * k / n))) for k in range(n)]


def _box(hx, hy):
	return [(-hx, -hy), (hx, -hy), (hx, hy), (-hx, hy)]


def _star_kites(n=5, outer=1.05, inner=0.5):
	kites = []
	for k in range(n):
		a = -90.0 + 360.0 * k / n
		tip = (outer * math.cos(math.radians(a)), outer * math.sin(math.radians(a)))
		l = (inner * math.cos(math.radians(a - 180.0 / n)), inner * math.sin(math.radians(a - 180.0 / n)))
		r = (inner * math.cos(math.radians(a + 180.0 / n)), inner * math.sin(math.radians(a + 180.0 / n)))
		kites.append([(0.0, 0.0), l, tip, r])
	return kites


# y grows downwards; a triangle "points up".
SHAPE_PIECES = {
	"square": [_box(0.78, 0.78)],
	"diamond": [[(0.0, -1.0), (0.72, 0.0), (0.0, 1.0), (-0.72, 0.0)]],
	"triangle": [_regular(3, 1.08, -90.0)],
	"hexagon": [_regular(6, 0.95, -90.0)],
	"star": _star_kites(),
	"cross": [_box(0.95, 0.31), _box(0.31, 0.95)],
}
SHAPE_PLANES = {}
for _name, _pieces in SHAPE_PIECES.items():
	_pl = [_polygon_planes(p) for p in _pieces]
	_m = max(len(p) for p in _pl)
	# pad pieces to the same plane count by repeating a plane (max is unchanged)
	_pl = [p + [p[0]] * (_m - len(p)) for p in _pl]
	_arr = np.array(_pl, dtype=np.float32)     # [pieces, planes, 3]
	SHAPE_PLANES[_name] = (_arr[..., 0].reshape(-1, 1, 1), _arr[..., 1].reshape(-1, 1, 1), _arr[..., 2].reshape(-1, 1, 1),
		_arr.shape[0], _arr.shape[1])
# Rotational symmetry (degrees); 0: spinning is invisible, so circles never spin.
SHAPE_SYMMETRY = {"square": 90, "diamond": 180, "triangle": 120, "hexagon": 60, "star": 72, "cross": 90, "circle": 0}


def shape_sdf(shape, X, Y):
	"""Signed distance (local units; < 0 inside) of shape at local coordinates X, Y (float32 arrays)."""
	if shape == "circle":
		return np.sqrt(X * X + Y * Y) - 0.9
	nx, ny, c, pieces, planes = SHAPE_PLANES[shape]
	d = X[None] * nx + Y[None] * ny - c          # [pieces * planes, h, w]: reduce over leading axes (fast)
	d = d.reshape((pieces, planes) + X.shape).max(axis=1)
	return d.min(axis=0) if pieces > 1 else d[0]


# ---------------------------------------------------------------------------
# Scene state over time.  A scene is a JSON-ready dict (it is the record's
# "attributes"): positions and sizes in units of the action square (the
# centred square of side min(W, H), which is exactly what the C engine's
# centre crop keeps), times as fractions of the clip's duration.

def group_state(obj, events, u):
	"""Offsets (dx, dy), scale, angle (radians) and alpha of an object group at times u."""
	u = np.asarray(u, dtype=np.float64)
	dx = np.zeros_like(u)
	dy = np.zeros_like(u)
	scale = np.full_like(u, obj.get("scale0", 1.0))
	angle = np.zeros_like(u)
	alpha = np.ones_like(u)
	for ev in events:
		m, t0, t1 = ev["motion"], ev["start"], ev["end"]
		if m in MOVES:
			p = smooth01(u, t0, t1)
			vx, vy = MOVES[m]
			dx += vx * ev["distance"] * p
			dy += vy * ev["distance"] * p
		elif m == "bounce":
			q = linear01(u, t0, t1)
			f = (q * ev["hops"]) % 1.0
			dy -= ev["height"] * 4.0 * f * (1.0 - f)
		elif m in SCALE_MOTIONS:
			p = smooth01(u, t0, t1)
			scale *= (ev["scale_to"] / ev["scale_from"]) ** p
		elif m == "spin":
			angle += math.radians(ev["degrees"]) * linear01(u, t0, t1)
		elif m in ("appear", "disappear"):
			a = smooth01(u, ev["at"] - ev["fade"] / 2, ev["at"] + ev["fade"] / 2)
			if m == "disappear":
				a = 1.0 - a
			alpha *= a
			scale *= 0.55 + 0.45 * a
	return dx, dy, scale, angle, alpha


def events_of(scene, gi):
	return [e for e in scene["events"] if e["object"] == gi]


# ---------------------------------------------------------------------------
# Rendering.

def make_background(bg, W, H):
	"""float32 [H, W, 3] in 0..255."""
	c0 = np.array(bg["colors"][0], dtype=np.float32)
	c1 = np.array(bg["colors"][-1], dtype=np.float32)
	if bg["type"] == "solid":
		return np.broadcast_to(c0, (H, W, 3)).astype(np.float32)
	yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
	if bg["type"] == "gradient":
		a = math.radians(bg["angle"])
		t = (xx - W / 2) * math.cos(a) + (yy - H / 2) * math.sin(a)
		t = (t - t.min()) / max(float(t.max() - t.min()), 1e-6)
	else:
		from PIL import Image
		rng = np.random.default_rng(bg["noise_seed"])
		t = np.zeros((H, W), dtype=np.float32)
		for cells, amp in ((4, 1.0), (9, 0.45)):
			grid = rng.random((cells, cells)).astype(np.float32)
			t += amp * np.asarray(Image.fromarray(grid, mode="F").resize((W, H), Image.BICUBIC))
		t = (t - t.min()) / max(float(t.max() - t.min()), 1e-6)
	img = c0 * (1.0 - t[..., None]) + c1 * t[..., None]
	if bg["type"] == "noise":
		rng = np.random.default_rng(bg["noise_seed"] + 1)
		img += rng.normal(0.0, bg.get("grain", 3.0), size=(H, W, 1)).astype(np.float32)
	return np.clip(img, 0, 255).astype(np.float32)


def texture_color(rgb):
	c = np.array(rgb, dtype=np.float32)
	luma = 0.299 * c[0] + 0.587 * c[1] + 0.114 * c[2]
	return c + (255.0 - c) * 0.6 if luma < 105 else c * 0.45


def object_patch(H, W, shape, rgb, texture, cx, cy, rpx, angle, alpha):
	"""One object (shadow included) as a window and two arrays: frame[win] = frame[win] * mul + add.
	cx, cy, rpx in pixels; None when nothing shows."""
	if alpha <= 0.004 or rpx <= 0.3:
		return None
	# the shadow is the shape's own distance field shifted by whole pixels
	sh_dx, sh_dy, soft = int(round(0.10 * rpx + 0.6)), int(round(0.14 * rpx + 0.8)), max(1.2, 0.22 * rpx)
	half = rpx * 1.1 + soft + max(sh_dx, sh_dy) + 2.0
	x0, x1 = max(int(cx - half), 0), min(int(cx + half) + 2, W)
	y0, y1 = max(int(cy - half), 0), min(int(cy + half) + 2, H)
	if x0 >= x1 or y0 >= y1:
		return None
	px = np.arange(x0, x1, dtype=np.float32)[None, :] + 0.5 - cx
	py = np.arange(y0, y1, dtype=np.float32)[:, None] + 0.5 - cy
	ca, sa = math.cos(angle), math.sin(angle)
	inv = 1.0 / rpx

	def local(qx, qy):
		return (qx * ca + qy * sa) * inv, (-qx * sa + qy * ca) * inv

	X, Y = local(px, py)
	X, Y = np.broadcast_arrays(X, Y)
	d = shape_sdf(shape, X, Y) * rpx                      # pixels
	h, w = d.shape
	ds = np.full_like(d, 1e3)
	ds[sh_dy:, sh_dx:] = d[:h - sh_dy, :w - sh_dx]
	shadow = np.clip(0.5 - ds / (2.0 * soft), 0.0, 1.0) * (0.38 * alpha)
	cov = np.clip(0.5 - d, 0.0, 1.0) * alpha
	base = np.array(rgb, dtype=np.float32)
	col = np.broadcast_to(base, X.shape + (3,)).copy()
	if texture == "striped":
		period = max(0.42, 5.0 * inv)
		s = np.sin((X + Y) * (0.70710678 * 2.0 * math.pi / period))
		t = np.clip(0.5 + s * (period * rpx / (2.0 * math.pi)), 0.0, 1.0)
		col += (texture_color(rgb) - base) * t[..., None]
	elif texture == "dotted":
		g = max(0.5, 6.0 * inv)
		qx = X - g * np.round(X / g)
		qy = Y - g * np.round(Y / g)
		t = np.clip(0.5 - (np.sqrt(qx * qx + qy * qy) - 0.3 * g) * rpx, 0.0, 1.0)
		col += (texture_color(rgb) - base) * t[..., None]
	# soft top light and a thin dark rim so small objects stay crisp
	shade = 1.07 - 0.14 * np.clip((Y + 1.0) * 0.5, 0.0, 1.0)
	rim = np.clip(d + 1.4, 0.0, 1.0) * 0.28
	col *= (shade * (1.0 - rim) * cov)[..., None]
	return (y0, y1, x0, x1, ((1.0 - shadow) * (1.0 - cov))[..., None], col)


def apply_patch(frame, patch):
	if patch is not None:
		y0, y1, x0, x1, mul, add = patch
		region = frame[y0:y1, x0:x1]
		region *= mul
		region += add


def draw_object(frame, shape, rgb, texture, cx, cy, rpx, angle, alpha):
	"""Composite one object onto frame (float32 [H, W, 3]) in place."""
	apply_patch(frame, object_patch(frame.shape[0], frame.shape[1], shape, rgb, texture, cx, cy, rpx, angle, alpha))


def render_frames(scene, W, H, frame_indices=None):
	"""Yield uint8 [H, W, 3] frames (all of them, or those of frame_indices)."""
	n = scene["frames"]
	idx = np.arange(n) if frame_indices is None else np.asarray(frame_indices)
	u = idx / float(n)                 # each frame is rendered at its own pts
	A = min(W, H)
	ox, oy = (W - A) / 2.0, (H - A) / 2.0
	bg = make_background(scene["background"], W, H)
	movers = []
	# objects without events never change: draw them into the background (under the movers)
	for gi, obj in enumerate(scene["objects"]):
		evs = events_of(scene, gi)
		st = group_state(obj, evs, u)
		if evs:
			movers.append((obj, st))
			continue
		for (x, y) in obj["positions"]:
			draw_object(bg, obj["shape"], COLORS[obj["color"]][0], obj["texture"], ox + x * A, oy + y * A,
				obj["radius"] * A, math.radians(obj.get("angle0", 0.0)), 1.0)
	cache = {}     # (object, instance) -> (state key, patch): idle objects are not redrawn
	for k in range(len(idx)):
		frame = bg.copy()
		for mi, (obj, st) in enumerate(movers):
			dx, dy, sc, an, al = (float(s[k]) for s in st)
			rgb = COLORS[obj["color"]][0]
			for ii, (x, y) in enumerate(obj["positions"]):
				key = (dx, dy, sc, an, al)
				hit = cache.get((mi, ii))
				if hit is None or hit[0] != key:
					patch = object_patch(H, W, obj["shape"], rgb, obj["texture"], ox + (x + dx) * A,
						oy + (y + dy) * A, obj["radius"] * sc * A, an + math.radians(obj.get("angle0", 0.0)), al)
					cache[(mi, ii)] = hit = (key, patch)
				apply_patch(frame, hit[1])
		frame += 0.5
		np.clip(frame, 0, 255, out=frame)
		yield frame.astype(np.uint8)


# ---------------------------------------------------------------------------
# Scene sampling.

class Reject(Exception):
	pass


U_GRID = np.unique(np.concatenate([np.linspace(0.0, 1.0, 61), (np.arange(12) + 0.5) / 12.0]))
MARGIN = 0.02


def sample_background(rng, kind=None, tone=None):
	k, t = pick(rng, BG_TYPES), ("dark" if rng.random() < 0.55 else "light")
	kind, tone = kind or k, tone or t
	pal = BG_COLORS[tone]
	i = int(rng.integers(len(pal)))
	bg = {"type": kind, "tone": tone, "colors": [list(pal[i])]}
	if kind != "solid":
		j = (i + 1 + int(rng.integers(len(pal) - 1))) % len(pal)
		c1 = list(pal[j])
		bg["colors"].append(c1)
	if kind == "gradient":
		bg["angle"] = float(rng.choice([0.0, 45.0, 90.0, 135.0, 180.0, 270.0]))
	if kind == "noise":
		bg["noise_seed"] = int(rng.integers(2 ** 31))
		bg["grain"] = 3.0
	return bg


def color_ok(name, bg):
	return all(delta_e(COLORS[name][0], c) >= MIN_DELTA_E for c in bg["colors"])


def motion_ok(shape, motion):
	return not (motion == "spin" and SHAPE_SYMMETRY[shape] == 0)


def new_object(rng, bg, role, taken, shape=None, color=None):
	"""An object group with a (color, shape) pair not in taken."""
	for _ in range(100):
		s = shape or SHAPE_NAMES[int(rng.integers(len(SHAPE_NAMES)))]
		c = color or list(COLORS)[int(rng.integers(len(COLORS)))]
		if (c, s) not in taken and color_ok(c, bg):
			break
	else:
		raise Reject("no free colour/shape")
	tex = pick(rng, [("plain", 2), ("striped", 1), ("dotted", 1)])
	size = "small" if rng.random() < 0.5 else "large"
	if role == "subject":
		count = int(pick(rng, [(1, 6), (2, 3), (3, 1.3)]))
	else:
		count = 1
	return {"role": role, "shape": s, "color": c, "size": size, "texture": tex, "count": count}


def finish_object(obj, rng, scale_event):
	"""Radius from size (medium, and no size, for an object that grows or shrinks)."""
	jit = 1.0 + 0.12 * (rng.random() - 0.5)
	if scale_event:
		obj["size"] = None
		obj["radius"] = MEDIUM_RADIUS * jit
	else:
		obj["radius"] = SIZES[obj["size"]][0] * jit


def event_params(rng, motion, t0, t1, shape, chained):
	ev = {"motion": motion, "start": t0, "end": t1}
	if motion in MOVES:
		ev["distance"] = float(rng.uniform(0.28, 0.38) if chained else rng.uniform(0.32, 0.48))
	elif motion == "bounce":
		ev["height"] = float(rng.uniform(0.18, 0.24))
		ev["hops"] = int(max(2, min(4, round((t1 - t0) * 12 / 2.6))))
	elif motion in SCALE_MOTIONS:
		lo, hi = 0.6, float(rng.uniform(1.45, 1.6))
		ev["scale_from"], ev["scale_to"] = (lo, hi) if motion == "grow" else (hi, lo)
	elif motion == "spin":
		# about 30 degrees between two of the C engine's 12 samples: never a
		# multiple of the shape's symmetry, so the turn shows in sampled frames
		step = float(rng.uniform(26.0, 34.0))
		ev["degrees"] = float((1 if rng.random() < 0.5 else -1) * step * (t1 - t0) * 12)
	elif motion in ("appear", "disappear"):
		ev["at"] = float(0.5 * (t0 + t1) + rng.uniform(-0.05, 0.05) * (t1 - t0))
		ev["fade"] = 0.06
	return ev


def set_motion(scene, ei, motion, rng):
	"""Replace event ei's motion, keeping its window; fixes the object's scale bookkeeping."""
	ev = scene["events"][ei]
	obj = scene["objects"][ev["object"]]
	chained = scene["chain"]
	new = event_params(rng, motion, ev["start"], ev["end"], obj["shape"], chained)
	new["object"] = ev["object"]
	scene["events"][ei] = new
	refresh_scale(scene, ev["object"])


def refresh_scale(scene, gi):
	"""After an event change: an object that grows or shrinks has no size word and a medium radius."""
	obj = scene["objects"][gi]
	sev = [e for e in events_of(scene, gi) if e["motion"] in SCALE_MOTIONS]
	if sev:
		if obj["size"] is not None:
			obj["radius"] *= MEDIUM_RADIUS / SIZES[obj["size"]][0]
			obj["size"] = None
		obj["scale0"] = sev[0]["scale_from"]
	else:
		if obj["size"] is None:
			raise Reject("scale event removed")
		obj["scale0"] = 1.0


def windows(rng, n_events):
	if n_events == 1:
		return [(float(rng.uniform(0.08, 0.2)), float(rng.uniform(0.8, 0.92)))]
	return [(float(rng.uniform(0.04, 0.1)), float(rng.uniform(0.42, 0.47))),
		(float(rng.uniform(0.53, 0.58)), float(rng.uniform(0.9, 0.96)))]


def pick_motion(rng, shape, exclude=()):
	names = [m for m in MOTION_NAMES if motion_ok(shape, m) and m not in exclude]
	w = np.array([MOTION_WEIGHTS[m] for m in names])
	return names[int(rng.choice(len(names), p=w / w.sum()))]


def sample_base(rng, cfg, want=None):
	"""A random scene; want (demo) may fix bg_type, tone, and the first event's motion, shape and color."""
	want = want or {}
	bg = sample_background(rng, want.get("bg_type"), want.get("tone"))
	n_events = 1 if rng.random() < cfg.single_prob else 2
	chain = n_events == 2 and rng.random() < 0.25
	m0 = want.get("motion")
	s0 = want.get("shape") if want.get("shape") and (not m0 or motion_ok(want["shape"], m0)) else None
	c0 = want.get("color") if want.get("color") and color_ok(want["color"], bg) else None
	if m0 in ("appear", "disappear"):
		chain = False
	taken = set()
	objects = []
	events = []
	wins = windows(rng, n_events)
	if chain:
		o = new_object(rng, bg, "subject", taken, shape=s0, color=c0)
		taken.add((o["color"], o["shape"]))
		objects.append(o)
		m1 = m0 or pick_motion(rng, o["shape"], exclude=("appear", "disappear"))
		excl = {"appear", "disappear", m1}
		if m1 in SCALE_MOTIONS:
			excl |= set(SCALE_MOTIONS)
		m2 = pick_motion(rng, o["shape"], exclude=excl)
		motions = [(0, m1), (0, m2)]
	else:
		motions = []
		for k in range(n_events):
			o = new_object(rng, bg, "subject", taken, shape=s0 if k == 0 else None, color=c0 if k == 0 else None)
			taken.add((o["color"], o["shape"]))
			objects.append(o)
			motions.append((k, m0 if (k == 0 and m0) else pick_motion(rng, o["shape"])))
	for (gi, m), (t0, t1) in zip(motions, wins):
		ev = event_params(rng, m, t0, t1, objects[gi]["shape"], chain)
		ev["object"] = gi
		events.append(ev)
	n_static = int(pick(rng, [(0, 4), (1, 4.5), (2, 1.5)]))
	for _ in range(n_static):
		o = new_object(rng, bg, "static", taken)
		taken.add((o["color"], o["shape"]))
		objects.append(o)
	for gi, o in enumerate(objects):
		sev = [e for e in events if e["object"] == gi and e["motion"] in SCALE_MOTIONS]
		o["scale0"] = sev[0]["scale_from"] if sev else 1.0
		finish_object(o, rng, bool(sev))
	return {"background": bg, "objects": objects, "events": events, "chain": chain}


def check_unique(scene):
	seen = set()
	for o in scene["objects"]:
		k = (o["color"], o["shape"])
		if k in seen:
			raise Reject("duplicate colour/shape")
		seen.add(k)
	if scene["chain"]:
		m = [e["motion"] for e in scene["events"]]
		if m[0] == m[1]:
			raise Reject("same motion twice")
		if sum(x in SCALE_MOTIONS for x in m) > 1:
			raise Reject("two scale events")
	for e in scene["events"]:
		if not motion_ok(scene["objects"][e["object"]]["shape"], e["motion"]):
			raise Reject("invisible motion")


# ---- layout

def instance_tracks(scene):
	"""Per group: (dx, dy, extent, alpha) on U_GRID."""
	out = []
	for gi, o in enumerate(scene["objects"]):
		dx, dy, sc, _, al = group_state(o, events_of(scene, gi), U_GRID)
		out.append((dx, dy, o["radius"] * sc, al))
	return out


def layout_valid(scene, tracks):
	inst = []
	for gi, o in enumerate(scene["objects"]):
		dx, dy, ext, al = tracks[gi]
		for (x, y) in o["positions"]:
			X, Y = x + dx, y + dy
			e = ext * 1.12
			if (X - e).min() < MARGIN or (X + e).max() > 1 - MARGIN or (Y - e).min() < MARGIN or (Y + e).max() > 1 - MARGIN:
				return False
			inst.append((X, Y, ext, al > 0.01))
	for i in range(len(inst)):
		for j in range(i):
			Xi, Yi, ei, vi = inst[i]
			Xj, Yj, ej, vj = inst[j]
			both = vi & vj
			if not both.any():
				continue
			dist = np.hypot(Xi - Xj, Yi - Yj)
			if (dist[both] < (ei + ej)[both] * 0.98 + 0.025).any():
				return False
	return True


def place(scene, rng, presets=None):
	"""Fill every group's "positions" (keeping presets where they still fit).

	Instances are placed one by one, biggest path first; each is the first of
	40 random candidates (a preset goes first) whose whole track stays in the
	action square and clear of every placed instance while both are visible."""
	tracks = instance_tracks(scene)
	order = sorted(range(len(scene["objects"])), key=lambda g: -float(np.ptp(tracks[g][0]) + np.ptp(tracks[g][1])))
	for attempt in range(20):
		PX, PY, PE, PV = [], [], [], []
		ok = True
		for o in scene["objects"]:
			o["positions"] = []
		for gi in order:
			o = scene["objects"][gi]
			dx, dy, ext, al = tracks[gi]
			e = ext * 1.12
			lox, hix = MARGIN - (dx - e).min(), 1 - MARGIN - (dx + e).max()
			loy, hiy = MARGIN - (dy - e).min(), 1 - MARGIN - (dy + e).max()
			if lox > hix or loy > hiy:
				raise Reject("path does not fit")
			pre = list(presets[gi]) if (presets and attempt == 0 and presets[gi]) else []
			vis = al > 0.01
			for k in range(o["count"]):
				cx = rng.uniform(lox, hix, 40)
				cy = rng.uniform(loy, hiy, 40)
				if k < len(pre):
					cx = np.concatenate([[pre[k][0]], cx])
					cy = np.concatenate([[pre[k][1]], cy])
				good = (cx >= lox - 1e-9) & (cx <= hix + 1e-9) & (cy >= loy - 1e-9) & (cy <= hiy + 1e-9)
				if PX:
					X = cx[:, None, None] + dx                  # [cand, 1, T]
					Y = cy[:, None, None] + dy
					dist = np.hypot(X - np.array(PX), Y - np.array(PY))      # [cand, placed, T]
					clash = (dist < (np.array(PE) + ext) * 0.98 + 0.025) & np.array(PV) & vis
					good &= ~clash.any(axis=(1, 2))
				hits = np.flatnonzero(good)
				if not len(hits):
					ok = False
					break
				x, y = float(cx[hits[0]]), float(cy[hits[0]])
				o["positions"].append([round(x, 5), round(y, 5)])
				PX.append(x + dx)
				PY.append(y + dy)
				PE.append(ext)
				PV.append(vis)
			if not ok:
				break
		if ok and layout_valid(scene, tracks):
			return
	raise Reject("no layout")


def shifted_presets(base, var):
	"""Base positions moved so each group's path covers the same span as in base."""
	bt, vt = instance_tracks(base), instance_tracks(var)
	out = []
	for gi, o in enumerate(var["objects"]):
		bo = base["objects"][gi]
		sx = (bt[gi][0].min() + bt[gi][0].max()) / 2 - (vt[gi][0].min() + vt[gi][0].max()) / 2
		sy = (bt[gi][1].min() + bt[gi][1].max()) / 2 - (vt[gi][1].min() + vt[gi][1].max()) / 2
		out.append([[x + sx, y + sy] for x, y in bo.get("positions", [])][:o["count"]])
	return out


# ---- hard negatives

def clone(scene):
	return json.loads(json.dumps(scene))


def variant_motion(base, rng):
	s = clone(base)
	for ei in rng.permutation(len(s["events"])):
		ei = int(ei)
		ev = s["events"][ei]
		obj = s["objects"][ev["object"]]
		m = ev["motion"]
		others = [e["motion"] for k, e in enumerate(s["events"]) if k != ei and e["object"] == ev["object"]]
		if m in OPPOSITE:
			new = OPPOSITE[m]
		else:
			excl = {m} | set(others)
			if s["chain"]:
				excl |= {"appear", "disappear"}
				if any(o in SCALE_MOTIONS for o in others):
					excl |= set(SCALE_MOTIONS)
			new = pick_motion(rng, obj["shape"], exclude=excl)
		if new in others or (new in SCALE_MOTIONS and any(o in SCALE_MOTIONS for o in others)):
			continue
		if m in SCALE_MOTIONS and new not in SCALE_MOTIONS:
			continue   # the object would lose its scale bookkeeping; try the other event
		set_motion(s, ei, new, rng)
		return s, {"kind": "motion", "event": ei, "from": m, "to": new}
	raise Reject("no motion negative")


def variant_color(base, rng):
	s = clone(base)
	ei = int(rng.integers(len(s["events"])))
	gi = s["events"][ei]["object"]
	obj = s["objects"][gi]
	taken = {(o["color"], o["shape"]) for o in s["objects"]}
	cands = [c for c in COLORS if c != obj["color"] and (c, obj["shape"]) not in taken and color_ok(c, s["background"])]
	if not cands:
		raise Reject("no colour negative")
	new = cands[int(rng.integers(len(cands)))]
	old = obj["color"]
	obj["color"] = new
	return s, {"kind": "color", "object": gi, "from": old, "to": new}


def variant_order(base, rng):
	s = clone(base)
	if len(s["events"]) != 2:
		raise Reject("single event")
	e1, e2 = s["events"]
	w1, w2 = (e1["start"], e1["end"]), (e2["start"], e2["end"])
	n1 = event_params(rng, e1["motion"], w2[0], w2[1], "", s["chain"])
	n2 = event_params(rng, e2["motion"], w1[0], w1[1], "", s["chain"])
	# keep each event's own parameters (distance, spin, ...) and move only its window
	for old, new in ((e1, n1), (e2, n2)):
		for k, v in old.items():
			if k not in ("start", "end", "at"):
				new[k] = v
		if "at" in old:
			new["at"] = new["start"] + (old["at"] - old["start"]) / (old["end"] - old["start"]) * (new["end"] - new["start"])
	s["events"] = [n2, n1]   # temporal order
	return s, {"kind": "order"}


def variant_detail(base, rng):
	s = clone(base)
	subjects = sorted({e["object"] for e in s["events"]})
	gi = subjects[int(rng.integers(len(subjects)))]
	obj = s["objects"][gi]
	opts = ["count", "texture", "shape"] + (["size"] if obj["size"] else [])
	what = opts[int(rng.integers(len(opts)))]
	old = obj[what]
	if what == "count":
		obj["count"] = {1: 2, 2: int(rng.choice([1, 3])), 3: 2}[obj["count"]]
	elif what == "texture":
		obj["texture"] = [t for t in TEXTURES if t != old][int(rng.integers(2))]
	elif what == "size":
		obj["size"] = "large" if old == "small" else "small"
		obj["radius"] = obj["radius"] * SIZES[obj["size"]][0] / SIZES[old][0]
	else:
		taken = {(o["color"], o["shape"]) for o in s["objects"]}
		mot = [e["motion"] for e in events_of(s, gi)]
		cands = [sh for sh in SHAPE_NAMES if sh != old and (obj["color"], sh) not in taken and all(motion_ok(sh, m) for m in mot)]
		if not cands:
			raise Reject("no shape negative")
		obj["shape"] = cands[int(rng.integers(len(cands)))]
	return s, {"kind": what, "object": gi, "from": old, "to": obj[what]}


VARIANT_LETTER = {"base": "b", "motion": "m", "color": "c", "order": "o", "detail": "d"}


def sample_group(rng, cfg):
	"""A base scene and its hard negatives: [(kind, scene, change)], plus the attributes every caption must name."""
	base = sample_base(rng, cfg)
	check_unique(base)
	place(base, rng)
	members = [("base", base, None)]
	must = set()
	makers = [("motion", variant_motion), ("color", variant_color), ("order", variant_order)]
	if rng.random() < cfg.detail_prob:
		makers.append(("detail", variant_detail))
	for kind, fn in makers:
		if kind not in cfg.negatives:
			continue
		try:
			var, change = fn(base, rng)
			check_unique(var)
			place(var, rng, presets=shifted_presets(base, var))
		except Reject:
			if kind in ("order", "detail"):
				continue
			raise
		if kind == "detail":
			must.add((change["object"], change["kind"]))
		members.append((kind, var, change))
	return members, must


def coarse_key(scene):
	ev = []
	for e in scene["events"]:
		o = scene["objects"][e["object"]]
		ev.append((o["count"], o["color"], o["shape"], e["motion"]))
	return json.dumps([scene["chain"], ev])


def fine_key(scene):
	ev = []
	for e in scene["events"]:
		o = scene["objects"][e["object"]]
		ev.append((o["count"], o["color"], o["shape"], o["size"], o["texture"], e["motion"]))
	st = sorted((o["color"], o["shape"], o["size"], o["texture"]) for o in scene["objects"] if o["role"] == "static")
	return json.dumps([scene["chain"], ev, st])


# ---------------------------------------------------------------------------
# Captions.

def article_fix(text):
	return re.sub(r"\ba (?=[aeiou])", "an ", text)


def noun_phrase(rng, obj, must, gi, opt_prob, force_article=False):
	"""'two small striped red boxes', 'a big blue star with dots'."""
	count = obj["count"]
	sing, plur = pick(rng, SHAPES[obj["shape"]])
	noun = sing if count == 1 else plur
	words = []
	if count == 1:
		words.append("a" if force_article or rng.random() < 0.88 else "one")
	elif count == 2:
		words.append("two" if rng.random() < 0.8 else "a pair of")
	else:
		words.append("three")
	size_w = None
	if obj.get("size") and ((gi, "size") in must or rng.random() < opt_prob):
		size_w = pick(rng, SIZES[obj["size"]][1])
	tex_pre, tex_post = None, None
	tex = obj["texture"]
	if (gi, "texture") in must or (tex != "plain" and rng.random() < opt_prob):
		pre, post = TEXTURES[tex]
		if post and rng.random() < 0.35:
			tex_post = pick(rng, post)
		else:
			tex_pre = pick(rng, pre)
	if size_w:
		words.append(size_w)
	if tex_pre:
		words.append(tex_pre)
	words.append(pick(rng, COLORS[obj["color"]][1]))
	words.append(noun)
	if tex_post:
		words.append(tex_post)
	return " ".join(words)


def verb_phrase(rng, motion, plural):
	s, p = pick(rng, MOTIONS[motion])
	return p if plural else s


def make_caption(rng, scene, must, opt_prob, extras=True):
	evs = scene["events"]
	objs = scene["objects"]
	if scene["chain"]:
		o = objs[evs[0]["object"]]
		plural = o["count"] > 1
		np_ = noun_phrase(rng, o, must, evs[0]["object"], opt_prob)
		tpl = pick(rng, CHAIN_TEMPLATES)
		text = tpl.format(np=np_, v1=verb_phrase(rng, evs[0]["motion"], plural),
			v2=verb_phrase(rng, evs[1]["motion"], plural), pron="they" if plural else "it")
	else:
		clauses = []
		for e in evs:
			o = objs[e["object"]]
			clauses.append(noun_phrase(rng, o, must, e["object"], opt_prob) + " " + verb_phrase(rng, e["motion"], o["count"] > 1))
		if len(clauses) == 1:
			text = pick(rng, SINGLE_TEMPLATES).format(e=clauses[0])
		else:
			text = pick(rng, PAIR_TEMPLATES).format(e1=clauses[0], e2=clauses[1])
	if extras:
		statics = [(gi, o) for gi, o in enumerate(objs) if o["role"] == "static"]
		if statics and rng.random() < 0.3:
			gi, o = statics[int(rng.integers(len(statics)))]
			phrase = pick(rng, STATIC_PHRASES)
			text += " " + phrase.format(np=noun_phrase(rng, o, must, gi, opt_prob * 0.5, force_article=True),
				npn=noun_phrase(rng, o, must, gi, opt_prob * 0.5, force_article=True)[2:])
		if rng.random() < 0.2:
			bg = scene["background"]
			text += " " + pick(rng, BACKGROUND_PHRASES[bg["type"]]).format(tone=bg["tone"])
	return article_fix(text)


def make_captions(rng, scene, must, k, max_tokens):
	out = []
	for attempt in range(12 * k):
		relax = attempt >= 6 * k
		c = make_caption(rng, scene, must, 0.0 if relax else 0.4, extras=not relax)
		if approx_tokens(c) > max_tokens:
			continue
		if c not in out:
			out.append(c)
		if len(out) == k:
			break
	if not out:
		raise Reject("captions too long")
	return out


# ---------------------------------------------------------------------------
# Encoding.

def encode_options(crf, preset):
	"""Output options of one clip: H.264 yuv420p, tagged BT.601 limited range (what
	swscale's RGB->YUV uses), no version strings, moov first."""
	return ["-c:v", "libx264", "-preset", preset, "-crf", str(crf), "-pix_fmt", "yuv420p",
		"-colorspace", "smpte170m", "-color_primaries", "smpte170m", "-color_trc", "smpte170m",
		"-color_range", "tv", "-threads", "1", "-map_metadata", "-1", "-fflags", "+bitexact",
		"-flags:v", "+bitexact", "-movflags", "+faststart", "-f", "mp4"]


def ffmpeg_encode_cmd(W, H, fps, crf, preset, out):
	"""One clip from raw RGB frames on standard input (what render_batch does per clip)."""
	return [FFMPEG, "-nostdin", "-hide_banner", "-loglevel", "error", "-y", "-filter_threads", "1",
		"-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{W}x{H}", "-r", str(fps), "-i", "-"] + encode_options(crf, preset) + [out]


def scratch_dir():
	shm = "/dev/shm"
	return tempfile.mkdtemp(prefix="synth-", dir=shm if os.access(shm, os.W_OK) else None)


def render_batch(jobs):
	"""Render a batch of clips to raw RGB files and encode them with one ffmpeg process.

	Starting ffmpeg costs more than encoding a 112x112 clip, so one process takes
	the whole batch: one rawvideo input and one mp4 output per clip, each output
	with its own single-threaded libx264, so a clip's bytes do not depend on the
	batch it was in.  Returns the mp4 sizes."""
	tmp = scratch_dir()
	try:
		cmd = [FFMPEG, "-nostdin", "-hide_banner", "-loglevel", "error", "-y", "-filter_threads", "1"]
		outs = []
		for j, (scene, W, H, path, npy_path, F, crf, preset) in enumerate(jobs):
			raw = os.path.join(tmp, f"{j}.rgb")
			keep = set(sample_frame_indices(scene["frames"], F)) if npy_path else set()
			kept = {}
			with open(raw, "wb") as f:
				for k, fr in enumerate(render_frames(scene, W, H)):
					if k in keep:
						kept[k] = fr
					f.write(fr.tobytes())
			if npy_path:
				os.makedirs(os.path.dirname(npy_path), exist_ok=True)
				np.save(npy_path + ".part.npy", np.stack([kept[i] for i in sample_frame_indices(scene["frames"], F)]))
				os.replace(npy_path + ".part.npy", npy_path)
			cmd += ["-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{W}x{H}", "-r", str(scene["fps"]), "-i", raw]
			os.makedirs(os.path.dirname(path), exist_ok=True)
			outs.append(path)
		for j, (scene, W, H, path, npy_path, F, crf, preset) in enumerate(jobs):
			cmd += ["-map", f"{j}:v:0"] + encode_options(crf, preset) + [path + ".part"]
		res = subprocess.run(cmd, capture_output=True)
		if res.returncode != 0:
			raise RuntimeError(f"{outs[0]}...: ffmpeg failed: {res.stderr.decode(errors='replace').strip()}")
		for p in outs:
			os.replace(p + ".part", p)
		return [os.path.getsize(p) for p in outs]
	finally:
		shutil.rmtree(tmp, ignore_errors=True)


def run_jobs(jobs, n_workers, progress=True, batch=16):
	t0 = time.time()
	total = 0
	# small sets: smaller batches, so every worker gets some
	batch = max(1, min(batch, -(-len(jobs) // max(1, 2 * n_workers))))
	batches = [jobs[i:i + batch] for i in range(0, len(jobs), batch)]
	if n_workers <= 1:
		it = map(render_batch, batches)
		pool = None
	else:
		import multiprocessing as mp
		pool = mp.get_context("fork").Pool(n_workers)
		it = pool.imap(render_batch, batches)
	done = 0
	last = 0
	try:
		for sizes in it:
			total += sum(sizes)
			done += len(sizes)
			if progress and (done - last >= 250 or done == len(jobs)):
				last = done
				dt = time.time() - t0
				print(f"synth: {done}/{len(jobs)} clips, {done / max(dt, 1e-9):.1f} clips/s", file=sys.stderr)
	finally:
		if pool:
			pool.close()
			pool.join()
	return total, time.time() - t0


# ---------------------------------------------------------------------------
# Loading (for training).

def _probe(path):
	out = subprocess.run([FFPROBE, "-v", "error", "-select_streams", "v:0", "-show_entries",
		"stream=duration,start_time,nb_frames,r_frame_rate,width,height:stream_side_data=rotation:format=duration",
		"-of", "json", path],
		capture_output=True, text=True)
	if out.returncode != 0:
		raise RuntimeError(f"{path}: ffprobe failed: {out.stderr.strip()}")
	return json.loads(out.stdout)


def video_pts(path):
	"""Presentation times (seconds) of the first video stream's frames, sorted, from the demuxer only."""
	out = subprocess.run([FFPROBE, "-v", "error", "-select_streams", "v:0", "-show_entries",
		"packet=pts_time,flags", "-of", "csv=p=0", path], capture_output=True, text=True)
	if out.returncode != 0:
		raise RuntimeError(f"{path}: ffprobe failed: {out.stderr.strip()}")
	pts = []
	for line in out.stdout.split():
		f = line.split(",")[0]
		if f not in ("", "N/A") and "D" not in line.split(",")[-1]:   # skip discarded packets
			pts.append(float(f))
	return sorted(pts)


def clip_resize_crop(rgb, size):
	"""CLIP's preprocessing up to normalisation, as core/preprocess.c does it: PIL bicubic
	resize so the short side is size (long side int(size * long / short)), then a centre
	crop whose offset is round-half-even((long - size) / 2).  uint8 [H, W, 3] -> [size, size, 3]."""
	from PIL import Image
	h, w = rgb.shape[:2]
	if w <= h:
		nw, nh = size, int(size * h / w)
	else:
		nw, nh = int(size * w / h), size
	top, left = int(round((nh - size) / 2.0)), int(round((nw - size) / 2.0))
	im = Image.fromarray(rgb)
	if (nw, nh) != (w, h):
		im = im.resize((nw, nh), Image.BICUBIC)
	return np.asarray(im)[top:top + size, left:left + size]


def load_clip_frames(path, F=12, size=112, return_times=False):
	"""Decode F frames of a video the way clipgrep's C engine samples them.

	t_i = start + (i + 0.5) * duration / F, i = 0..F-1, and for each the frame on
	screen at t_i (the last frame whose pts <= t_i).  Each frame is resized with
	PIL bicubic so the short side is `size` (long side int(size * long / short),
	as torchvision's Resize), then centre-cropped (offset round-half-even of
	(long - size) / 2, as torchvision's CenterCrop).

	Returns uint8 [F, size, size, 3] (a frame shown at several targets repeats;
	the C engine keeps it once and pads instead), and with return_times also
	the [F] pts of the frames.  Needs the ffmpeg and ffprobe CLIs.
	"""
	info = _probe(path)
	st = info["streams"][0]
	start = float(st.get("start_time", 0.0) or 0.0)
	dur = st.get("duration")
	dur = float(dur) if dur not in (None, "N/A") else float(info["format"]["duration"])
	pts = [p for p in video_pts(path) if p >= start - 1e-6]
	if not pts:
		raise RuntimeError(f"{path}: no video frames")
	targets = [start + (i + 0.5) * dur / F for i in range(F)]
	pick_idx = []
	for t in targets:
		j = int(np.searchsorted(pts, t + 1e-9, side="right")) - 1
		pick_idx.append(max(j, 0))
	uniq = sorted(set(pick_idx))
	# select by timestamp; -copyts keeps the demuxer's times, as ffprobe printed them
	gaps = np.diff(pts)
	eps = max(float(gaps.min()) / 2 if len(gaps) else 0.5, 1e-4) * 0.9
	expr = "+".join(f"lt(abs(t-{pts[j]:.6f}),{eps:.6f})" for j in uniq)
	base_cmd = [FFMPEG, "-nostdin", "-hide_banner", "-loglevel", "error", "-threads", "1", "-copyts", "-i", path,
		"-map", "0:v:0", "-vf", f"select='{expr}'"]
	tail = ["-f", "rawvideo", "-pix_fmt", "rgb24", "-"]
	res = subprocess.run(base_cmd + ["-fps_mode", "passthrough"] + tail, capture_output=True)
	if res.returncode != 0 and b"fps_mode" in res.stderr:   # FFmpeg < 5.1
		res = subprocess.run(base_cmd + ["-vsync", "passthrough"] + tail, capture_output=True)
	if res.returncode != 0:
		raise RuntimeError(f"{path}: ffmpeg failed: {res.stderr.decode(errors='replace').strip()}")
	w, h = int(st["width"]), int(st["height"])
	rot = 0
	for sd in st.get("side_data_list", []) or []:
		if "rotation" in sd:
			rot = int(sd["rotation"])
	if rot % 180:
		w, h = h, w
	raw = np.frombuffer(res.stdout, dtype=np.uint8)
	n = raw.size // (w * h * 3)
	if n < len(uniq):
		raise RuntimeError(f"{path}: decoded {n} of {len(uniq)} frames")
	raw = raw[: len(uniq) * w * h * 3].reshape(len(uniq), h, w, 3)
	frames = {j: clip_resize_crop(raw[k], size) for k, j in enumerate(uniq)}
	out = np.stack([frames[j] for j in pick_idx])
	if return_times:
		return out, [pts[j] for j in pick_idx]
	return out


# ---------------------------------------------------------------------------
# Dataset assembly.

def group_rng(seed, split, gi, attempt):
	return np.random.default_rng(np.random.SeedSequence([seed, SPLITS.index(split) + 1, gi, attempt]))


def build_split(split, n_clips, cfg, fine_keys, log):
	"""Records (without file paths) for n_clips clips of split."""
	coarse = set()
	records = []
	gi = 0
	rejects = 0
	while len(records) < n_clips:
		for attempt in range(1000):
			rng = group_rng(cfg.seed, split, gi, attempt)
			try:
				members, must = sample_group(rng, cfg)
			except Reject:
				rejects += 1
				continue
			fk = [fine_key(s) for _, s, _ in members]
			ck = {coarse_key(s) for _, s, _ in members}
			if any(k in fine_keys for k in fk) or len(set(fk)) != len(fk):
				rejects += 1
				continue
			# what every caption names (counts, colours, shapes, motions, order) is unique
			# within the split, unless that gets hard to find
			if ck & coarse and attempt < 40:
				rejects += 1
				continue
			# an odd frame count: no sample time falls on a frame boundary (sample_frame_indices)
			n = 2 * int(rng.integers((cfg.min_frames) // 2, (cfg.max_frames - 1) // 2 + 1)) + 1
			try:
				caps = [make_captions(rng, s, must, cfg.captions, cfg.max_tokens) for _, s, _ in members]
			except Reject:
				rejects += 1
				continue
			break
		else:
			raise SystemExit(f"synth: cannot draw group {gi} of {split}")
		fine_keys.update(fk)
		coarse |= ck
		members = members[: n_clips - len(records)]
		caps = caps[: len(members)]
		ids = [f"{split}-{gi:05d}-{VARIANT_LETTER[kind]}" for kind, _, _ in members]
		for k, (kind, scene, change) in enumerate(members):
			attrs = scene_attributes(scene, n, cfg.fps)
			rec = {"id": ids[k], "split": split, "caption": caps[k][0], "captions": caps[k],
				"hard_negatives": [i for j, i in enumerate(ids) if j != k], "group": f"{split}-{gi:05d}",
				"variant": kind}
			if change:
				rec["change"] = change
			rec["attributes"] = attrs
			records.append(rec)
		gi += 1
	if log:
		print(f"synth: {split}: {n_clips} clips in {gi} groups ({rejects} draws rejected)", file=sys.stderr)
	return records


def _rounded(x):
	if isinstance(x, float):
		return round(x, 6)
	if isinstance(x, list):
		return [_rounded(v) for v in x]
	if isinstance(x, dict):
		return {k: _rounded(v) for k, v in x.items()}
	return x


def scene_attributes(scene, n_frames, fps):
	"""The record's attributes: the scene (rounded; the clip is rendered from exactly this) and its timing."""
	s = _rounded(scene)
	for o in s["objects"]:
		if o.get("scale0", 1.0) == 1.0:
			o.pop("scale0", None)
	s["fps"] = fps
	s["frames"] = n_frames
	s["duration"] = round(n_frames / fps, 6)
	return s


def write_dataset(out, cfg, log=True):
	os.makedirs(out, exist_ok=True)
	fine_keys = set()
	by_split = {}
	# test and val first, so they do not depend on --train
	for split in ("test", "val", "train"):
		n = getattr(cfg, split)
		by_split[split] = build_split(split, n, cfg, fine_keys, log) if n else []
	records = by_split["train"] + by_split["val"] + by_split["test"]
	jobs = []
	for r in records:
		r["path"] = f"clips/{r['split']}/{r['id']}.mp4"
		npy = None
		if cfg.frames_npy:
			r["frames_path"] = f"frames/{r['split']}/{r['id']}.npy"
			npy = os.path.join(out, r["frames_path"])
		r["attributes"]["width"], r["attributes"]["height"] = cfg.width, cfg.height
		jobs.append((r["attributes"], cfg.width, cfg.height, os.path.join(out, r["path"]), npy,
			cfg.num_frames, cfg.crf, cfg.preset))
	total, dt = run_jobs(jobs, cfg.jobs, progress=log)
	with open(os.path.join(out, "captions.jsonl.part"), "w") as f:
		for r in records:
			ordered = {k: r[k] for k in ("id", "split", "path", "caption", "captions", "hard_negatives")}
			for k in ("frames_path", "group", "variant", "change", "attributes"):
				if k in r:
					ordered[k] = r[k]
			f.write(json.dumps(ordered, separators=(",", ":")) + "\n")
	os.replace(os.path.join(out, "captions.jsonl.part"), os.path.join(out, "captions.jsonl"))
	meta = {"generator": "clipgrep tools/synth", "version": GENERATOR_VERSION, "seed": cfg.seed,
		"width": cfg.width, "height": cfg.height, "fps": cfg.fps, "num_frames": cfg.num_frames,
		"crf": cfg.crf, "preset": cfg.preset, "splits": {s: len(by_split[s]) for s in SPLITS},
		"sampling": "t_i = (i + 0.5) * duration / F; frame on screen at t_i"}
	with open(os.path.join(out, "dataset.json"), "w") as f:
		json.dump(meta, f, indent=1)
		f.write("\n")
	if log:
		print(f"synth: wrote {len(records)} clips to {out} in {dt:.1f} s "
			f"({len(records) / max(dt, 1e-9):.1f} clips/s), {total / 1e6:.1f} MB of video", file=sys.stderr)
	return records, total, dt


# ---------------------------------------------------------------------------
# Demo set: a few dozen clips, each different, covering every motion, shape
# and colour, with some hard-negative pairs so the demo can show them apart.

def build_demo(cfg):
	records = []
	used_keys = set()
	plan_motions = MOTION_NAMES * 10
	bg_cycle = [(t, tone) for t in ("solid", "gradient", "noise") for tone in ("dark", "light")]
	n = cfg.demo_count
	pairs = max(0, n // 6)      # base clips that also get their hard negative
	k = 0
	gi = 0
	while len(records) < n:
		gi += 1
		grng = np.random.default_rng(np.random.SeedSequence([cfg.seed, 99, gi]))
		try:
			# steer toward coverage: the k-th clip's first motion, shape and background
			bt, tone = bg_cycle[k % len(bg_cycle)]
			want = {"motion": plan_motions[k], "shape": SHAPE_NAMES[k % len(SHAPE_NAMES)], "bg_type": bt, "tone": tone,
				"color": list(COLORS)[(k // 2 + 4 * (k % 2)) % len(COLORS)]}   # white lands on dark backgrounds
			base = sample_base(grng, cfg, want)
			check_unique(base)
			place(base, grng)
			members = [("base", base, None)]
			if k < pairs * 2 and k % 2 == 0:
				fn = variant_motion if (k // 2) % 2 == 0 else variant_color
				var, change = fn(base, grng)
				check_unique(var)
				place(var, grng, presets=shifted_presets(base, var))
				members.append(("motion" if fn is variant_motion else "color", var, change))
			fk = [fine_key(s) for _, s, _ in members]
			if any(x in used_keys for x in fk):
				continue
			caps = [make_captions(grng, s, set(), cfg.captions, cfg.max_tokens) for _, s, _ in members]
		except Reject:
			continue
		used_keys.update(fk)
		members = members[: n - len(records)]
		ids = [f"clip-{len(records) + j + 1:02d}" for j in range(len(members))]
		for j, (kind, scene, change) in enumerate(members):
			rec = {"id": ids[j], "split": "demo", "path": f"{ids[j]}.mp4", "caption": caps[j][0],
				"captions": caps[j], "hard_negatives": [x for y, x in enumerate(ids) if y != j]}
			if change:
				rec["change"] = change
			rec["attributes"] = scene_attributes(scene, cfg.demo_frames, cfg.demo_fps)
			rec["attributes"]["width"], rec["attributes"]["height"] = cfg.width, cfg.height
			records.append(rec)
		k += 1
	return records


def write_demo(out, cfg, log=True):
	os.makedirs(out, exist_ok=True)
	records = build_demo(cfg)
	jobs = [(r["attributes"], cfg.width, cfg.height, os.path.join(out, r["path"]), None, cfg.num_frames,
		cfg.crf, cfg.preset) for r in records]
	total, dt = run_jobs(jobs, cfg.jobs, progress=False)
	with open(os.path.join(out, "captions.jsonl"), "w") as f:
		for r in records:
			f.write(json.dumps(r, separators=(",", ":")) + "\n")
	if log:
		print(f"synth: demo: {len(records)} clips, {total / 1e6:.2f} MB of video in {out} ({dt:.1f} s)", file=sys.stderr)
	return records, total


# ---------------------------------------------------------------------------
# Self-test.

def selftest(cfg):
	"""Generate 10 clips (6 train, 2 val, 2 test) in a temporary folder and check them."""
	results = {}      # check -> [passed, total, first failure]

	def check(name, ok, detail=""):
		r = results.setdefault(name, [0, 0, None])
		r[1] += 1
		if ok:
			r[0] += 1
		elif r[2] is None:
			r[2] = detail

	tmp = tempfile.mkdtemp(prefix="synth-selftest-")
	try:
		cfg.train, cfg.val, cfg.test = 6, 2, 2
		cfg.frames_npy = True
		out = os.path.join(tmp, "a")
		records, total, dt = write_dataset(out, cfg, log=False)
		print(f"selftest: generated {len(records)} clips in {dt:.2f} s, {total} bytes of video, in {out}")
		recs = [json.loads(l) for l in open(os.path.join(out, "captions.jsonl"))]
		ids = {r["id"] for r in recs}
		by_id = {r["id"]: r for r in recs}
		check("10 records, unique ids", len(recs) == 10 and len(ids) == 10, f"{len(recs)} records, {len(ids)} ids")
		check("splits 6/2/2", [sum(r["split"] == s for r in recs) for s in SPLITS] == [6, 2, 2])
		for r in recs:
			check("record fields", set(r) >= {"id", "split", "path", "caption", "captions", "hard_negatives", "attributes"}, r["id"])
			check("hard negatives are clips of the same split", set(r["hard_negatives"]) <= {i for i in ids if by_id[i]["split"] == r["split"]} and r["id"] not in r["hard_negatives"], r["id"])
			check(f"captions fit {cfg.max_tokens} CLIP tokens", all(approx_tokens(c) <= cfg.max_tokens for c in r["captions"]), r["id"])
			check("caption is the first of captions", r["captions"][0] == r["caption"], r["id"])
		check("most clips have hard negatives", sum(bool(r["hard_negatives"]) for r in recs) >= 8)
		decoded = {}
		for r in recs:
			a = r["attributes"]
			path = os.path.join(out, r["path"])
			st = _probe(path)["streams"][0]
			nb, dur = int(st.get("nb_frames", 0)), float(st["duration"])
			check("frame count (ffprobe) = rendered frames", nb == a["frames"], f"{r['id']}: {nb} != {a['frames']}")
			check("duration (ffprobe) = frames / fps, within 4..8 s", abs(dur - a["duration"]) < 1e-3 and
				cfg.min_duration <= dur <= cfg.max_duration, f"{r['id']}: {dur} vs {a['duration']}")
			check("video starts at 0", abs(float(st.get("start_time", 0))) < 1e-6, r["id"])
			fr, times = load_clip_frames(path, cfg.num_frames, min(cfg.width, cfg.height), return_times=True)
			want_t = [i / cfg.fps for i in sample_frame_indices(a["frames"], cfg.num_frames)]
			check("load_clip_frames picks the frame on screen at (i + 0.5) * duration / F",
				np.allclose(times, want_t, atol=1e-4), f"{r['id']}: {times} vs {want_t}")
			ref = np.load(os.path.join(out, r["frames_path"]))
			check("npy is uint8 [F, H, W, 3]", ref.shape == (cfg.num_frames, cfg.height, cfg.width, 3) and ref.dtype == np.uint8, f"{r['id']}: {ref.shape}")
			diff = fr.astype(np.float64) - np.stack([clip_resize_crop(x, min(cfg.width, cfg.height)) for x in ref])
			psnr = 10 * math.log10(255.0 ** 2 / max(float(np.mean(diff ** 2)), 1e-9))
			bias = float(np.abs(diff.mean(axis=(0, 1, 2))).max())
			check("decoded frames match the npy frames (PSNR > 28 dB, colour bias < 3)", psnr > 28.0 and bias < 3.0,
				f"{r['id']}: {psnr:.1f} dB, bias {bias:.2f}")
			allf = np.stack(list(render_frames(a, cfg.width, cfg.height)))
			idx = sample_frame_indices(a["frames"], cfg.num_frames)
			check("npy equals a fresh render from the attributes", np.array_equal(allf[idx], ref), r["id"])
			decoded[r["id"]] = fr.astype(np.float64)
		for r in recs:
			for h in r["hard_negatives"]:
				d = int((np.abs(decoded[r["id"]] - decoded[h]).max(axis=-1) > 40).sum())
				check("hard negative's decoded frames differ (> 40 pixels changed by > 40)", d > 40, f"{r['id']} vs {h}: {d} pixels")
				check("hard negative shares no caption", not set(r["captions"]) & set(by_id[h]["captions"]), f"{r['id']} vs {h}")
				check("hard negative differs in a captioned attribute", fine_key(r["attributes"]) != fine_key(by_id[h]["attributes"]), f"{r['id']} vs {h}")
		r = recs[0]
		data = b"".join(f.tobytes() for f in render_frames(r["attributes"], cfg.width, cfg.height))
		single = os.path.join(tmp, "single.mp4")
		subprocess.run(ffmpeg_encode_cmd(cfg.width, cfg.height, cfg.fps, cfg.crf, cfg.preset, single), input=data, check=True)
		check("batched encoding = one ffmpeg per clip (same bytes)",
			open(single, "rb").read() == open(os.path.join(out, r["path"]), "rb").read())
		out2 = os.path.join(tmp, "b")
		cfg.jobs = 1 if cfg.jobs != 1 else 2
		write_dataset(out2, cfg, log=False)
		check("second run (other --jobs): same captions.jsonl",
			open(os.path.join(out, "captions.jsonl")).read() == open(os.path.join(out2, "captions.jsonl")).read())
		check("second run: same frames", all(np.array_equal(np.load(os.path.join(out, r["frames_path"])),
			np.load(os.path.join(out2, r["frames_path"]))) for r in recs))
		check("second run: same mp4 bytes", all(open(os.path.join(out, r["path"]), "rb").read() ==
			open(os.path.join(out2, r["path"]), "rb").read() for r in recs))
	finally:
		shutil.rmtree(tmp, ignore_errors=True)
	failed = 0
	for name, (ok, n, first) in results.items():
		print(f"{'ok    ' if ok == n else 'FAILED'} {ok:3d}/{n:<3d} {name}" + (f"  (first: {first})" if ok != n else ""))
		failed += ok != n
	print("selftest: " + ("PASS" if not failed else f"FAIL ({failed} checks)"))
	return 0 if not failed else 1


# ---------------------------------------------------------------------------

def parse_size(text):
	m = re.fullmatch(r"(\d+)(?:x(\d+))?", text)
	if not m:
		raise argparse.ArgumentTypeError("SIZE is N or WxH")
	w = int(m.group(1))
	h = int(m.group(2) or w)
	if w < 16 or h < 16 or w % 2 or h % 2:
		raise argparse.ArgumentTypeError("width and height must be even and >= 16")
	return w, h


def main(argv=None):
	ap = argparse.ArgumentParser(prog="synth.py", description="Generate clipgrep's synthetic text-video dataset "
		"(H.264 mp4 clips with captions and hard negatives), the demo clips, or run a self-test.",
		epilog="Example: /usr/bin/python3 tools/synth/synth.py --out /tmp/synth --train 3000 --val 300 --test 500 --frames-npy")
	ap.add_argument("--out", help="output folder (clips/<split>/<id>.mp4, captions.jsonl, dataset.json)")
	ap.add_argument("--train", type=int, default=0, metavar="N", help="training clips (hard negatives included)")
	ap.add_argument("--val", type=int, default=0, metavar="N", help="validation clips")
	ap.add_argument("--test", type=int, default=0, metavar="N", help="test clips")
	ap.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
	ap.add_argument("--size", type=parse_size, default=None, metavar="N|WxH",
		help="frame size (default 112, demo 192x144); objects stay in the centred square the C engine's crop keeps")
	ap.add_argument("--fps", type=int, default=8, help="frame rate (default 8)")
	ap.add_argument("--min-duration", type=float, default=4.0, metavar="S", help="shortest clip, seconds (default 4)")
	ap.add_argument("--max-duration", type=float, default=8.0, metavar="S", help="longest clip, seconds (default 8)")
	ap.add_argument("--num-frames", type=int, default=12, metavar="F", help="frames the C engine samples, for --frames-npy (default 12)")
	ap.add_argument("--frames-npy", action="store_true", help="also write frames/<split>/<id>.npy: the exact rendered frames "
		"at the F sample times, uint8 [F,H,W,3]")
	ap.add_argument("--captions", type=int, default=5, metavar="K", help="phrasings per clip (default 5)")
	ap.add_argument("--max-tokens", type=int, default=30, metavar="N", help="longest caption in CLIP BPE tokens (default 30, "
		"i.e. L = 32 with SOT/EOT)")
	ap.add_argument("--negatives", default="motion,color,order,detail", metavar="LIST",
		help="hard-negative kinds to render: motion,color,order,detail (default all; 'none' for none)")
	ap.add_argument("--detail-prob", type=float, default=0.5, metavar="P", help="chance a group also gets a count/size/"
		"texture/shape negative (default 0.5)")
	ap.add_argument("--single-prob", type=float, default=0.35, metavar="P", help="share of one-event scenes (default 0.35)")
	ap.add_argument("--crf", type=int, default=None, help="x264 CRF (default 28; demo 23)")
	ap.add_argument("--preset", default="veryfast", help="x264 preset (default veryfast)")
	ap.add_argument("--jobs", type=int, default=2, help="parallel render+encode processes (default 2)")
	ap.add_argument("--demo", action="store_true", help="write the demo clips (a few dozen, 192x144, about 6 s) to --out")
	ap.add_argument("--demo-count", type=int, default=36, metavar="N", help="demo clips (default 36)")
	ap.add_argument("--selftest", action="store_true", help="generate 10 clips in a temporary folder and check them")
	cfg = ap.parse_args(argv)

	if cfg.negatives.strip() == "none":
		cfg.negatives = set()
	else:
		cfg.negatives = {x.strip().replace("colour", "color") for x in cfg.negatives.split(",") if x.strip()}
		bad = cfg.negatives - {"motion", "color", "order", "detail"}
		if bad:
			ap.error(f"unknown negative kind: {', '.join(sorted(bad))}")
	if cfg.size is None:
		cfg.size = (192, 144) if cfg.demo else (112, 112)
	cfg.width, cfg.height = cfg.size
	if cfg.demo and cfg.fps == 8:
		cfg.fps = 24
	if cfg.crf is None:
		cfg.crf = 23 if cfg.demo else 28
	if not (0 < cfg.min_duration <= cfg.max_duration):
		ap.error("need 0 < --min-duration <= --max-duration")
	cfg.min_frames = max(3, int(round(cfg.min_duration * cfg.fps)))
	cfg.max_frames = max(cfg.min_frames, int(round(cfg.max_duration * cfg.fps)))
	cfg.demo_fps = cfg.fps
	cfg.demo_frames = int(round(6.0 * cfg.fps)) | 1
	if cfg.max_frames < 2 * cfg.num_frames:
		ap.error("clips need at least 2F frames so the F samples see distinct frames")

	if cfg.selftest:
		return selftest(cfg)
	if not cfg.out:
		ap.error("--out is required")
	if cfg.demo:
		write_demo(cfg.out, cfg)
		return 0
	if cfg.train + cfg.val + cfg.test <= 0:
		ap.error("nothing to do: give --train/--val/--test counts, --demo or --selftest")
	write_dataset(cfg.out, cfg)
	return 0


if __name__ == "__main__":
	sys.exit(main())
