#!/bin/sh
# cli-model — `clipgrep model check` on the tiny goldens and the demo models
# (complete: exit 0), and on broken variants made here from tiny-clip: cut
# short, a tower tensor renamed away, a tensor's shape transposed in the
# header, and a file that is no safetensors at all (exit 2, naming the
# problem).  The header edits keep every byte count, so only the intended
# fault is there.
. "${top_srcdir:-.}/tests/lib.sh"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/clipgrep-cli-model.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
golden="$top_srcdir/tests/golden"
tiny="$golden/tiny-clip.safetensors"

for f in "$golden/tiny-clip.safetensors" "$golden/tiny-ea.safetensors" \
	"$golden/tiny-tcmgc.safetensors" "$top_srcdir"/assets/demo/*.safetensors; do
	name=${f##*/}
	run "$CLIPGREP" model check "$f"
	[ $rc -eq 0 ] && [ -z "$err" ]; ok $? "$name: complete, exit 0 ($err)"
	contains "$out" "status         ok"; ok $? "$name: status ok"
	contains "$out" "missing        0"; ok $? "$name: nothing missing"
	run "$CLIPGREP" model check --json "$f"
	[ $rc -eq 0 ] && contains "$out" '"ok":true' && contains "$out" '"missing":[]'
	ok $? "$name: --json says ok"
done

run "$CLIPGREP" model check "$tiny"
contains "$out" "architecture   clip (heads: TC-MGC and EA, training-free)"; ok $? "architecture"
contains "$out" "vision         width 32, 2 layers, 2 heads, patch 8, image 32"; ok $? "vision config"
contains "$out" "text           width 24, 2 layers, 2 heads, context 16, vocabulary 64"; ok $? "text config"
contains "$out" "tensors        62 (F32 35, F16 27)"; ok $? "tensor count and dtypes"
contains "$out" "frames F       4" && contains "$out" "words L        12"; ok $? "F and L"
contains "$out" "tokenizer      none"; ok $? "no tokenizer in tiny-clip"
hash=$(printf '%s\n' "$out" | sed -n 's/^hash *//p')
[ ${#hash} -eq 32 ]; ok $? "a content hash ($hash)"
run "$CLIPGREP" model check --json "$tiny"
contains "$out" "\"hash\":\"$hash\""; ok $? "--json carries the same hash"
contains "$out" '"dtypes":{"F32":35,"F16":27}' || contains "$out" '"dtypes":{"F16":27,"F32":35}'
ok $? "--json dtypes ($out)"
contains "$out" '"config":{"vision_width":32,'; ok $? "--json config"
run "$CLIPGREP" model check "$top_srcdir/assets/demo/demo.safetensors"
contains "$out" "tokenizer      stored"; ok $? "the demo model stores its tokenizer"
ok $(contains "$out" "unexpected     0" && contains "$out" "ignored        8" && echo 0 || echo 1) \
	"TC-MGC's unused LVA cross-attention (MODELS.md 3.2) is ignored, not unexpected"
contains "$out" "heads          4 in one file: tcmgc (TC-MGC), ea (EA), ea-seq (EA), meanp (EA)"
ok $? "the demo model's four heads are listed ($out)"
run "$CLIPGREP" model check --json "$top_srcdir/assets/demo/demo.safetensors"
contains "$out" '"heads":[{"name":"tcmgc","architecture":"tcmgc","hash":"'
ok $? "--json lists the heads with their identities"

# Broken variants: exit 2 and the reason on standard error.
broken() { # broken FILE WHAT NEEDLE
	run "$CLIPGREP" model check "$1"
	[ $rc -eq 2 ] && contains "$err" "$3"; ok $? "$2: exit 2 naming the problem ($rc: $err)"
	run "$CLIPGREP" model check --json "$1"
	[ $rc -eq 2 ] && contains "$out" '"ok":false' && contains "$out" '"error":'
	ok $? "$2: --json says why"
}

size=$(wc -c <"$tiny")
head -c $((size - 100)) "$tiny" >"$tmp/truncated.safetensors"
broken "$tmp/truncated.safetensors" "truncated" "truncated.safetensors'"

LC_ALL=C sed 's/"clip\.visual\.proj":/"clip.visual.xxxx":/' "$tiny" >"$tmp/missing.safetensors"
[ "$(wc -c <"$tmp/missing.safetensors")" -eq "$size" ]; ok $? "the rename kept the size"
broken "$tmp/missing.safetensors" "a missing tensor" "clip.visual.proj"

LC_ALL=C sed 's/"clip\.transformer\.resblocks\.0\.mlp\.c_fc\.weight":{"dtype":"F16","shape":\[96,24\]/"clip.transformer.resblocks.0.mlp.c_fc.weight":{"dtype":"F16","shape":[24,96]/' \
	"$tiny" >"$tmp/transposed.safetensors"
cmp -s "$tiny" "$tmp/transposed.safetensors"; [ $? -eq 1 ]; ok $? "the shape edit changed the file"
broken "$tmp/transposed.safetensors" "a transposed tensor" \
	"clip.transformer.resblocks.0.mlp.c_fc.weight has shape [24, 96], expected [96, 24]"
run "$CLIPGREP" model check "$tmp/transposed.safetensors"
contains "$out" "missing        1"; ok $? "the report lists the one bad tensor ($out)"

printf 'this is not a model\n' >"$tmp/text.safetensors"
broken "$tmp/text.safetensors" "not safetensors" "text.safetensors'"
broken "$tmp/absent.safetensors" "a missing file" "absent.safetensors'"
broken "$golden/tiny-clip-out.safetensors" "a safetensors file that is no model" "not a CLIP model"

# Usage.
run "$CLIPGREP" model
[ $rc -eq 1 ]; ok $? "model with no action is a usage error"
run "$CLIPGREP" model frobnicate
[ $rc -eq 1 ] && contains "$err" "unknown action 'frobnicate'"; ok $? "an unknown action ($err)"
run "$CLIPGREP" model check
[ $rc -eq 1 ]; ok $? "check with no FILE is a usage error"
run "$CLIPGREP" model check --help
[ $rc -eq 0 ] && contains "$out" "clipgrep model check FILE"; ok $? "check --help"

done_testing
