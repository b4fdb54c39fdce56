#!/bin/sh
# cli-import — `clipgrep model import` on tiny checkpoints in the three
# formats (tests/golden/torch, made by tools/convert/make_tiny_checkpoints.py):
# torch.save state dicts (TC-MGC, EA), OpenAI's TorchScript ViT-B-32.pt, and
# Hugging Face CLIP safetensors with vocab.json and merges.txt.  The output
# must be byte for byte what tools/convert/convert.py wrote for the same
# input (kept gzipped beside it, or its SHA-256), and `model check` must
# pass on it.  And the refusals, exit 2 naming the cause: a pickle calling
# os.system, a cut-short zip, a deflated entry, a vocab.json that disagrees.
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
	# tiny towers are narrower than one 64-wide head: at least one head each
	run "$CLIPGREP" model check "$tmp/$a.safetensors"
	[ $rc -eq 0 ]; ok $? "$a: model check passes on the import ($err)"
done

# OpenAI's TorchScript archive: a zip with code/ (deflated) and a module pickle
run "$CLIPGREP" model import "$torch/openai/ViT-B-32.pt" -o "$tmp/openai.safetensors"
[ $rc -eq 0 ] && contains "$err" "architecture clip"; ok $? "TorchScript: imported ($err)"
gzip -dc "$torch/openai.safetensors.gz" > "$tmp/openai.expected"
cmp "$tmp/openai.safetensors" "$tmp/openai.expected" >/dev/null
ok $? "TorchScript: identical to convert.py's output"
run "$CLIPGREP" model check "$tmp/openai.safetensors"
[ $rc -eq 0 ]; ok $? "TorchScript: model check passes ($err)"

# Hugging Face: model.safetensors with vocab.json and merges.txt beside it
hf="$tmp/clip-vit-tiny"
mkdir "$hf"
cp "$torch/hf/model.safetensors" "$hf/"
gzip -dc "$torch/hf/vocab.json.gz" > "$hf/vocab.json"
# Hugging Face's merges.txt: its version line, then CLIP's merges
{ echo '#version: 0.2'; gzip -dc "$top_srcdir/assets/bpe_simple_vocab_16e6.txt.gz" | sed -n '2,48895p'; } \
	> "$hf/merges.txt"
want=$(cat "$torch/hf.safetensors.sha256")
sha() { sha256sum "$1" | cut -d' ' -f1; }
run "$CLIPGREP" model import "$hf/model.safetensors" -o "$tmp/hf.safetensors" --name "tiny Hugging Face CLIP"
[ $rc -eq 0 ] && contains "$err" "architecture clip"; ok $? "Hugging Face: imported ($err)"
[ "$(sha "$tmp/hf.safetensors")" = "$want" ]; ok $? "Hugging Face: identical to convert.py's output"
run "$CLIPGREP" model check "$tmp/hf.safetensors"
[ $rc -eq 0 ]; ok $? "Hugging Face: model check passes ($err)"
run "$CLIPGREP" model import "$hf" --name "tiny Hugging Face CLIP"
[ $rc -eq 0 ] && [ "$(sha "$tmp/clip-vit-tiny.safetensors")" = "$want" ]
ok $? "Hugging Face: the folder works too, written beside it as FOLDER.safetensors ($err)"
mkdir "$tmp/bare"
cp "$torch/hf/model.safetensors" "$tmp/bare/weights.safetensors"
run "$CLIPGREP" model import "$tmp/bare/weights.safetensors" --vocab "$hf/vocab.json" \
	--merges "$hf/merges.txt" --name "tiny Hugging Face CLIP"
[ $rc -eq 0 ] && [ "$(sha "$tmp/bare/weights.clipgrep.safetensors")" = "$want" ] &&
	cmp "$tmp/bare/weights.safetensors" "$torch/hf/model.safetensors" >/dev/null
ok $? "Hugging Face: --vocab/--merges; the default output never replaces the input ($err)"
sed 's/"!":0,/"!":5,/' "$hf/vocab.json" > "$tmp/bad-vocab.json"
run "$CLIPGREP" model import "$hf/model.safetensors" --vocab "$tmp/bad-vocab.json" -o "$tmp/x.safetensors"
[ $rc -eq 2 ] && contains "$err" "bad-vocab.json" && contains "$err" "id 5"
ok $? "a vocab.json that disagrees with the merges is refused naming it ($err)"
[ ! -e "$tmp/x.safetensors" ]; ok $? "nothing written for a refused vocabulary"

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
