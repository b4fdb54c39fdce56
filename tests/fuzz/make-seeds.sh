#!/bin/sh
# make-seeds.sh — write the fuzz seed corpora under tests/fuzz/NAME/seeds.
# Run from anywhere: sh tests/fuzz/make-seeds.sh.  Needs python3 (standard
# library only).  The model seeds are derived from tests/golden/tiny-ea and
# tiny-tcmgc (tools/reference/gen_tiny_model.py): the EA one renamed to
# OpenAI names (no "clip." prefix), the TC-MGC one to Hugging Face names
# (q/k/v split, projections transposed), so both name mappings are seeded.
# Regressions (tests/fuzz/NAME/regressions) are never written here: they are
# the crashers libFuzzer found, copied by hand once fixed.
set -e
here=$(cd "$(dirname "$0")" && pwd)
exec python3 - "$here" <<'PY'
import json, os, struct, sys

here = sys.argv[1]
golden = os.path.join(here, '..', 'golden')

def put(name, fname, data):
    d = os.path.join(here, name, 'seeds')
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, fname), 'wb') as f:
        f.write(data)

def st_read(path):
    b = open(path, 'rb').read()
    n = struct.unpack('<Q', b[:8])[0]
    h = json.loads(b[8:8 + n])
    meta = h.pop('__metadata__', {})
    base = 8 + n
    return meta, {k: (v['dtype'], v['shape'], b[base + v['data_offsets'][0]:base + v['data_offsets'][1]])
                  for k, v in h.items()}

def st_write(meta, tensors):
    h, blob = {}, b''
    if meta:
        h['__metadata__'] = meta
    for k, (dt, shape, data) in tensors.items():
        h[k] = {'dtype': dt, 'shape': shape, 'data_offsets': [len(blob), len(blob) + len(data)]}
        blob += data
    hj = json.dumps(h, separators=(',', ':')).encode()
    hj += b' ' * (-len(hj) % 8)
    return struct.pack('<Q', len(hj)) + hj + blob

# --- safetensors, json ---------------------------------------------------
put('safetensors', 'f32.safetensors', st_write({'a': 'b'}, {
    'x': ('F32', [2, 2], struct.pack('<4f', 1, 2, 3, 4)),
    'y': ('F16', [3], struct.pack('<3e', 1, -2, 0.5)),
    's': ('BF16', [], b'\x80\x3f')}))
put('safetensors', 'empty.safetensors', st_write({}, {}))
put('json', 'object.json', '{"a": [1, -2.5e3, true, false, null], "b": {"c": "d\\u00e9\\ud83d\\ude00"}}')
put('json', 'numbers.json', '[0, -0, 1e308, 9007199254740993, -9223372036854775808, 0.1]')
put('json', 'deep.json', '[' * 40 + ']' * 40)
put('json', 'string.json', '"tab\\t nul\\u0000 quote\\" slash\\/"')

# --- tokenizer -----------------------------------------------------------
put('tokenizer', 'words.txt', "the thing's 1!! and running")
put('tokenizer', 'unicode.txt', 'café 😀 ｆｕｌｌ width\u00a0\u200b')
put('tokenizer', 'merges.txt', '#version: 0.2\nt h\nth e</w>\na n\n')

# --- model ---------------------------------------------------------------
hf_direct = {
    'clip.visual.class_embedding': 'vision_model.embeddings.class_embedding',
    'clip.visual.positional_embedding': 'vision_model.embeddings.position_embedding.weight',
    'clip.visual.conv1.weight': 'vision_model.embeddings.patch_embedding.weight',
    'clip.visual.ln_pre.weight': 'vision_model.pre_layrnorm.weight',
    'clip.visual.ln_pre.bias': 'vision_model.pre_layrnorm.bias',
    'clip.visual.ln_post.weight': 'vision_model.post_layernorm.weight',
    'clip.visual.ln_post.bias': 'vision_model.post_layernorm.bias',
    'clip.visual.proj': 'visual_projection.weight',
    'clip.token_embedding.weight': 'text_model.embeddings.token_embedding.weight',
    'clip.positional_embedding': 'text_model.embeddings.position_embedding.weight',
    'clip.ln_final.weight': 'text_model.final_layer_norm.weight',
    'clip.ln_final.bias': 'text_model.final_layer_norm.bias',
    'clip.text_projection': 'text_projection.weight',
    'clip.logit_scale': 'logit_scale',
}
hf_block = {
    'attn.out_proj.weight': 'self_attn.out_proj.weight', 'attn.out_proj.bias': 'self_attn.out_proj.bias',
    'ln_1.weight': 'layer_norm1.weight', 'ln_1.bias': 'layer_norm1.bias',
    'ln_2.weight': 'layer_norm2.weight', 'ln_2.bias': 'layer_norm2.bias',
    'mlp.c_fc.weight': 'mlp.fc1.weight', 'mlp.c_fc.bias': 'mlp.fc1.bias',
    'mlp.c_proj.weight': 'mlp.fc2.weight', 'mlp.c_proj.bias': 'mlp.fc2.bias',
}

def esize(dt):
    return {'F32': 4, 'F16': 2, 'BF16': 2}[dt]

def transpose(dt, shape, data):
    r, c = shape
    e = esize(dt)
    out = bytearray(len(data))
    for i in range(r):
        for j in range(c):
            out[(j * r + i) * e:(j * r + i + 1) * e] = data[(i * c + j) * e:(i * c + j + 1) * e]
    return dt, [c, r], bytes(out)

def to_hf(tensors):
    out = {}
    for k, (dt, shape, data) in tensors.items():
        if k in hf_direct:
            if k in ('clip.visual.proj', 'clip.text_projection'):
                dt, shape, data = transpose(dt, shape, data)
            out[hf_direct[k]] = (dt, shape, data)
            continue
        for pre, tower in (('clip.visual.transformer.resblocks.', 'vision_model'),
                           ('clip.transformer.resblocks.', 'text_model')):
            if k.startswith(pre):
                layer, suffix = k[len(pre):].split('.', 1)
                base = '%s.encoder.layers.%s.' % (tower, layer)
                if suffix.startswith('attn.in_proj_'):
                    part = len(data) // 3
                    last = 'weight' if suffix.endswith('weight') else 'bias'
                    for i, p in enumerate(('q_proj', 'k_proj', 'v_proj')):
                        out[base + 'self_attn.%s.%s' % (p, last)] = (
                            dt, [shape[0] // 3] + shape[1:], data[i * part:(i + 1) * part])
                else:
                    out[base + hf_block[suffix]] = (dt, shape, data)
                break
        else:
            out[k] = (dt, shape, data)
    return out

meta, t = st_read(os.path.join(golden, 'tiny-ea.safetensors'))
put('model', 'ea-openai.safetensors', st_write(meta, {
    (k[5:] if k.startswith('clip.') else k): v for k, v in t.items()}))
meta, t = st_read(os.path.join(golden, 'tiny-tcmgc.safetensors'))
put('model', 'tcmgc-hf.safetensors', st_write(meta, to_hf(t)))
put('model', 'not-clip.safetensors', st_write({'clipgrep.architecture': 'ea'}, {
    'clip.visual.class_embedding': ('F32', [2], b'\0' * 8)}))

# --- npy -----------------------------------------------------------------
def npy(shape, data, major=1, descr='<f4'):
    d = "{'descr': '%s', 'fortran_order': False, 'shape': (%s), }" % (
        descr, ''.join('%d, ' % s for s in shape) if len(shape) != 1 else '%d,' % shape[0])
    pre = 10 if major == 1 else 12
    d += ' ' * (-(pre + len(d) + 1) % 64) + '\n'
    hl = struct.pack('<H', len(d)) if major == 1 else struct.pack('<I', len(d))
    return b'\x93NUMPY' + bytes([major, 0]) + hl + d.encode() + data
put('npy', '2x3.npy', npy([2, 3], struct.pack('<6f', *range(6))))
put('npy', 'vector-v2.npy', npy([4], struct.pack('<4f', 1, 2, 3, 4), major=2))
put('npy', 'scalar.npy', npy([], struct.pack('<f', 7)))
put('npy', 'empty.npy', npy([0, 5], b''))
put('npy', 'f8.npy', npy([1], b'\0' * 8, descr='<f8'))

# --- config --------------------------------------------------------------
put('config', 'full', '# clipgrep config\nmodel = ~/models/a.safetensors\nmodel = rel/b.safetensors\n'
    'exclude = *.part\nexclude = tmp/**\nthreads = 4\njobs = 2\nmode = fused\ndb = /tmp/x.db\n')
put('config', 'bad-key', 'colour = blue\n')
put('config', 'bad-number', 'threads = 99999999999\n')
put('config', 'blank', '\n   \n# only a comment\n')

# --- term-reply ----------------------------------------------------------
put('term-reply', 'xterm-sixel', '\033[?1;0;1024S\033[6;20;10t\033[?63;1;2;4;6;9;15;22c')
put('term-reply', 'da1-only', '\033[?62;22c')
put('term-reply', 'cut-short', '\033[?1;0;256S\033[6;18')
put('term-reply', 'noise', 'abc\033[?;;;c\033[6;0;0t\033[?1;3;0S\033[?65;4;c')
# XTVERSION, XTGETTCAP (Co, RGB; a refusal; BEL as ST) and the kitty graphics reply.
put('term-reply', 'xterm-tcap', '\033P>|XTerm(379)\033\\\033P1+r436f=323536\033\\\033P1+r524742=38\033\\'
    '\033[?1;0;1024S\033[?63;1;2;4;6;9;15;16;22;28c')
put('term-reply', 'kitty', '\033P>|kitty(0.35.2)\033\\\033_Gi=31;OK\033\\\033[?62;c')
put('term-reply', 'refusals', '\033P0+r436f\033\\\033_Gi=31;ENOTSUPPORTED:x\033\\\033P1+r636f6c6f7273=3136\007'
    '\033P1+r436f=zz;524742=2d31\033\\\033[?1;2c')
put('term-reply', 'dcs-cut', '\033P>|WezTerm\033P1+r43')

# --- image, preprocess: sizes in the first bytes, then pixels -------------
px = bytes((i * 37) & 255 for i in range(96))
put('image', 'small', bytes([8, 6, 4, 3, 10, 20, 3, 4, 0, 1, 0x40, 0x01, 0xb4, 0x00, 12, 20]) + px)
put('image', 'grow', bytes([2, 2, 40, 30, 9, 18, 6, 6, 16, 0, 1, 0, 0, 1, 1, 1]) + px[:12])
put('image', 'zero-cells', bytes([5, 5, 5, 5, 0, 0, 0, 0, 255, 255, 0, 0, 0, 0, 0, 0]))
put('preprocess', 'square', bytes([16, 16, 8, 0, 1, 0, 1, 0, 0, 0, 7, 7]) + px)
put('preprocess', 'anamorphic', bytes([32, 18, 12, 0, 4, 0, 3, 0, 2, 1, 11, 11]) + px)
put('preprocess', 'rotated-thin', bytes([39, 1, 23, 0x0b, 1, 0, 2, 0, 0, 0, 23, 23]) + px)
put('preprocess', 'flip-pad', bytes([7, 9, 5, 0x3e, 0, 0, 0, 0, 3, 4, 2, 2]) + px)

# --- index-rows: edits of the built-in index (none: the index as built) --
put('index-rows', 'unchanged', b'')
put('index-rows', 'header-edits', bytes([0x10, 0x00, 0, 0x02, 0x1c, 0x00, 3, 0, 0x60, 0x00, 1, 0x80]))
put('index-rows', 'page2-words', bytes([0x08, 0x10, 3, 0, 0x20, 0x10, 7, 0, 0x40, 0x11, 1, 0x7f]))
# --- cachefile: small search cache files (core/cachefile.c's layout) -------
def cg_sum(b):
    M = 1 << 64
    a, s = [0] * 8, [0] * 8
    words = len(b) // 4
    full = words - words % 8
    for i in range(0, full, 8):
        for l, w in enumerate(struct.unpack_from('<8I', b, i * 4)):
            a[l] = (a[l] + w) % M
            s[l] = (s[l] + a[l]) % M
    for l, i in enumerate(range(full, words)):
        w = struct.unpack_from('<I', b, i * 4)[0]
        a[l] = (a[l] + w) % M
        s[l] = (s[l] + a[l]) % M
    for k in range(words * 4, len(b)):
        a[7] = (a[7] + b[k]) % M
        s[7] = (s[7] + a[7]) % M
    h = 0x9e3779b97f4a7c15 ^ len(b)
    for l in range(8):
        h = ((h ^ a[l]) * 0x100000001b3) % M
        h = ((h ^ s[l]) * 0x100000001b3) % M
        h ^= h >> 29
    return h

def cache_file(stamp, models, ids, damaged, widths, vmax=1.5, bad=0):
    n = len(ids)
    arrays = [struct.pack('<%dq' % n, *ids), struct.pack('<%dq' % len(damaged), *damaged)]
    for k, w in enumerate(widths[:3]):
        arrays.append(struct.pack('<%df' % (n * w), *[(i % 7) * 0.25 - 0.5 for i in range(n * w)]))
    arrays.append(struct.pack('<%dH' % (n * widths[3]), *[0x3f80 + i for i in range(n * widths[3])]))
    arrays.append(struct.pack('<%dq' % n, *[stamp ^ (i * 977) for i in range(n)]))
    page = 4096
    offs, end = [], page
    for b in arrays:
        offs.append(end)
        end = end + len(b)
        end = (end + page - 1) // page * page
    head = struct.pack('<8sIIqqqQQ4QdQ', b'CGSCACHE', 1, page, stamp, models[0], models[1],
                       n, len(damaged), *widths, vmax, bad)
    head += struct.pack('<7Q', *offs) + struct.pack('<7Q', *[len(b) for b in arrays])
    head += struct.pack('<7Q', *[cg_sum(b) for b in arrays]) + struct.pack('<Q', end)
    head += struct.pack('<Q', cg_sum(head))
    out = bytearray(head + bytes(page - len(head)))
    for o, b in zip(offs, arrays):
        out += bytes(o - len(out)) + b
    out += bytes(end - len(out))
    return bytes(out)

put('cachefile', 'two-videos', cache_file(-7, (1, 2), [1 << 16, (2 << 16) + 0, (2 << 16) + 1], [5],
                                          (3, 2, 4, 2)))
put('cachefile', 'tcmgc-only', cache_file(12345, (3, 0), [(4 << 16)], [], (5, 1, 0, 0)))
put('cachefile', 'empty', cache_file(0, (1, 1), [], [], (6, 4, 8, 4)))
PY
