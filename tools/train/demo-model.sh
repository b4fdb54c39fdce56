#!/bin/sh
# demo-model.sh — the demo model from nothing, with fixed seeds (make
# demo-model): synthetic clips (tools/synth, seed 0), the tiny CLIP with
# per-frame supervision (--frame-aux 1), the four heads on the frozen image
# tower (TC-MGC, EA meanP + E&A, EA seqTransf + aggregation; meanP is the
# CLIP stage itself), joined into one file (multihead.py), checked against
# the PyTorch reference (test_train.py) and probed (probe.py).
#
#   tools/train/demo-model.sh [--work DIR] [--out FILE] [--threads N] [--device DEV] [--recipe N]
#
# --work DIR   data, caches and the single-head files (default /tmp/clipgrep-demo-model;
#              about 1.7 GB of frames)
# --out FILE   the model file (default assets/demo/demo.safetensors)
# About 30 minutes on 2 CPU cores (28 for the shipped file).  Prints the file's SHA-256: record it in
# tools/train/README.md ("The bundled run") with this recipe's version.
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
TOP=$(cd "$HERE/../.." && pwd)
PYTHON=${PYTHON:-/usr/bin/python3}
CLIPGREP=${CLIPGREP:-$TOP/clipgrep}
WORK=/tmp/clipgrep-demo-model
OUT=$TOP/assets/demo/demo.safetensors
THREADS=2
DEVICE=cpu
# --recipe: 2 (the shipped file): contrastive + per-frame read-outs of the captioned objects;
# 3: a structured image-tower start, 1000 steps of per-colour read-outs alone, then both.
# (Recipe 1, the contrastive loss alone, is in git history.)
RECIPE=2
while [ $# -gt 0 ]; do
	case $1 in
	--work) WORK=$2; shift 2 ;;
	--out) OUT=$2; shift 2 ;;
	--threads) THREADS=$2; shift 2 ;;
	--device) DEVICE=$2; shift 2 ;;
	--recipe) RECIPE=$2; shift 2 ;;
	-h|--help) sed -n '2,16s/^# \{0,1\}//p' "$0"; exit 0 ;;
	*) echo "demo-model.sh: unknown argument $1" >&2; exit 2 ;;
	esac
done
case $RECIPE in
2) FRAME_ARGS="--frame-targets subject" ;;
3) FRAME_ARGS="--frame-targets colour --tower-init structured --frame-steps 1000" ;;
*) echo "demo-model.sh: no recipe $RECIPE (2 or 3)" >&2; exit 2 ;;
esac
[ -x "$CLIPGREP" ] || { echo "demo-model.sh: build clipgrep first (its tokenizer)" >&2; exit 2; }
mkdir -p "$WORK"
if [ ! -f "$WORK/synth/captions.jsonl" ]; then
	"$PYTHON" "$TOP/tools/synth/synth.py" --out "$WORK/synth" --train 3000 --val 300 \
		--frames-npy --seed 0 --jobs "$THREADS"
fi
"$PYTHON" "$HERE/train.py" --synth "$WORK/synth" --out "$WORK/out" --work "$WORK/train" \
	--stages clip,features,tcmgc,ea,ea-seq --frame-aux 1.0 $FRAME_ARGS --seed 42 --threads "$THREADS" \
	--device "$DEVICE" --clipgrep "$CLIPGREP"
"$PYTHON" "$HERE/multihead.py" -o "$OUT" \
	tcmgc="$WORK/out/demo-tcmgc.safetensors" ea="$WORK/out/demo-ea.safetensors" \
	ea-seq="$WORK/out/demo-ea-seq.safetensors" meanp="$WORK/out/demo-clip.safetensors" \
	--set meanp:clipgrep.architecture=ea --set meanp:clipgrep.ea.sim_header=meanP \
	--set meanp:clipgrep.ea.se_type=none \
	"--set=meanp:clipgrep.name=clipgrep demo: meanP (the CLIP stage, EA's meanP without a block)"
"$PYTHON" "$HERE/test_train.py" "$OUT"
"$PYTHON" "$HERE/probe.py" --data "$WORK/synth" --model "$OUT" --threads "$THREADS"
echo "demo-model.sh: recipe $RECIPE: $(sha256sum "$OUT" | cut -d' ' -f1)  $OUT"
