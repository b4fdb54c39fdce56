#!/bin/sh
# cli-import — `clipgrep model import` on tiny torch.save checkpoints
# (tests/golden/torch, made by tools/convert/make_tiny_checkpoints.py): the
# output must be byte for byte what tools/convert/convert.py wrote for the
# same input (kept gzipped beside it).  And the refusals, exit 2 naming the
# cause: a pickle calling os.system, a cut-short zip, a deflated entry.
. "${top_srcdir:-.}/tests/lib.sh"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/clipgrep-cli-import.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
torch="$top_srcdir/tests/golden/torch"

for a in tcmgc ea; do
	run "$CLIPGREP" model import "$torch/$a/pytorch_model_best.bin" -o "$tmp/$a.safetensors"
	[ $rc -eq 0 ]; ok $? "$a: imported ($err)"
	contains "$err" "architecture $a"; ok $? "$a: architecture $a detected"
	gzip -dc "$torch/$a.safetensors.gz" > "$tmp/$a.expected"
	cmp "$tmp/$a.safetensors" "$tmp/$a.expected" >/dev/null
	ok $? "$a: identical to convert.py's output"
done

run "$CLIPGREP" model import "$torch/refuse-global.bin" -o "$tmp/x.safetensors"
[ $rc -eq 2 ] && contains "$err" "global posix.system is not allowed"
ok $? "a pickle calling os.system is refused naming the global ($err)"
[ ! -e "$tmp/x.safetensors" ]; ok $? "nothing written for a refused file"

head -c 50000 "$torch/tcmgc/pytorch_model_best.bin" > "$tmp/cut.bin"
run "$CLIPGREP" model import "$tmp/cut.bin" -o "$tmp/x.safetensors"
[ $rc -eq 2 ] && contains "$err" "cut.bin" && contains "$err" "truncated"
ok $? "a cut-short zip is refused ($err)"

run "$CLIPGREP" model import "$torch/refuse-compressed.bin" -o "$tmp/x.safetensors"
[ $rc -eq 2 ] && contains "$err" "data.pkl" && contains "$err" "compressed"
ok $? "a deflated entry is refused naming it ($err)"

done_testing
