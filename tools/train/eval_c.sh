#!/bin/sh
# eval_c.sh — text-to-video retrieval on the held-out synthetic test split,
# computed by the C engine: `clipgrep index` indexes the test clips with the
# demo model (one file, every head), then `clipgrep bench eval` ranks every
# clip for every query in every mode and prints R@1/5/10, MdR and MnR with
# 95 % bootstrap intervals, and each hard-negative kind's pairwise accuracy.
#
#   tools/train/eval_c.sh [--clipgrep PROG] [--data DIR] [--work DIR]
#                         [--model FILE]... [--models DIR] [--ref FILE.json]
#                         [--limit N] [--test N] [--bootstrap B]
#
#   --data DIR    a tools/synth dataset with a test split; generated when it
#                 has no captions.jsonl (--test clips, default 1000, seed 0:
#                 a split the demo model was never trained on; about 2 min)
#   --work DIR    index and outputs (default eval-work)
#   --model FILE  the model file(s) (default: demo.safetensors in --models)
#   --models DIR  where demo.safetensors is (default assets/demo)
#   --ref FILE    eval_ref.py --json output: compare every query's rank, the
#                 metrics and the hard-negative accuracies, head by head
#   --limit N     only the first N test clips (a quick check)
#   --bootstrap B resamples for the intervals (default 1000)
#
# One query per clip (its first caption); rank = 1 + clips scored strictly
# higher.  Hard negatives (tools/synth): a clip and its copy with one change
# (direction: left/right or up/down swapped; motion: another motion
# change; order: two events swapped; colour, count, size, shape, texture),
# each clip's caption against the pair, both ways.  Needs python3 (with numpy, for
# metrics.py) for the JSON.
set -eu

HERE=$(cd "$(dirname "$0")" && pwd)
TOP=$(cd "$HERE/../.." && pwd)
CLIPGREP=${CLIPGREP:-./clipgrep}
DATA=
WORK=eval-work
MODELS=
MODEL_ARGS=
REF=
LIMIT=0
TEST=1000
BOOT=1000
PYTHON=${PYTHON:-/usr/bin/python3}

while [ $# -gt 0 ]; do
	case $1 in
	--clipgrep) CLIPGREP=$2; shift 2 ;;
	--data) DATA=$2; shift 2 ;;
	--work) WORK=$2; shift 2 ;;
	--model) MODEL_ARGS="$MODEL_ARGS --model $2"; shift 2 ;;
	--models) MODELS=$2; shift 2 ;;
	--ref) REF=$2; shift 2 ;;
	--limit) LIMIT=$2; shift 2 ;;
	--test) TEST=$2; shift 2 ;;
	--bootstrap) BOOT=$2; shift 2 ;;
	-h|--help) sed -n '2,28s/^# \{0,1\}//p' "$0"; exit 0 ;;
	*) echo "eval_c.sh: unknown argument $1" >&2; exit 2 ;;
	esac
done
[ -n "$DATA" ] || DATA=$WORK/data
mkdir -p "$WORK"
# A private copy of the program: a rebuild in the tree while the searches run
# (the linker rewrites the file) must not break them.
cp "$CLIPGREP" "$WORK/clipgrep.bin" || exit 2
CLIPGREP=$WORK/clipgrep.bin

if [ -z "$MODEL_ARGS" ]; then
	M=${MODELS:-$TOP/assets/demo}/demo.safetensors
	[ -f "$M" ] || { echo "eval_c.sh: $M not found (tools/train/README.md builds it)" >&2; exit 2; }
	MODEL_ARGS="--model $M"
fi

if [ ! -f "$DATA/captions.jsonl" ]; then
	echo "eval_c.sh: generating the test split ($TEST clips) in $DATA" >&2
	"$PYTHON" "$TOP/tools/synth/synth.py" --out "$DATA" --test "$TEST"
fi

# queries.tsv: id <TAB> path <TAB> caption (test split, file order);
# pairs.tsv: kind <TAB> query <TAB> right <TAB> wrong.
"$PYTHON" - "$DATA" "$LIMIT" "$WORK" "$HERE" <<'EOF'
import json, os, sys
root, limit, work = sys.argv[1], int(sys.argv[2]), sys.argv[3]
sys.path.insert(0, sys.argv[4])
from metrics import hard_negative_kind  # numpy only, as train.py uses it
recs = []
for line in open(os.path.join(root, "captions.jsonl")):
    r = json.loads(line)
    if r["split"] == "test":
        recs.append(r)
if limit:
    recs = recs[:limit]
ids = {r["id"] for r in recs}
base = {r["group"]: r["id"] for r in recs if r.get("variant") == "base"}
with open(os.path.join(work, "queries.tsv"), "w") as q, open(os.path.join(work, "pairs.tsv"), "w") as p:
    for r in recs:
        caption = " ".join(r["caption"].split())
        q.write(f"{r['id']}\t{os.path.abspath(os.path.join(root, r['path']))}\t{caption}\n")
        ch, b = r.get("change"), base.get(r.get("group"))
        if not ch or b is None or b not in ids:
            continue
        kind = hard_negative_kind(ch)
        p.write(f"{kind}\t{b}\t{b}\t{r['id']}\n{kind}\t{r['id']}\t{r['id']}\t{b}\n")
EOF
N=$(wc -l < "$WORK/queries.tsv")
[ "$N" -gt 0 ] || { echo "eval_c.sh: no test clips in $DATA" >&2; exit 2; }

# Index exactly these clips (a folder of links, so --limit works too).
rm -rf "$WORK/clips" "$WORK/index.db" "$WORK/index.db-wal" "$WORK/index.db-shm"
mkdir -p "$WORK/clips"
cut -f2 "$WORK/queries.tsv" | while IFS= read -r p; do ln -s "$p" "$WORK/clips/"; done
start=$(date +%s)
# shellcheck disable=SC2086 # MODEL_ARGS is a list of options
"$CLIPGREP" index --db "$WORK/index.db" $MODEL_ARGS "$WORK/clips" >&2
echo "eval_c.sh: indexed $N clips in $(( $(date +%s) - start )) s" >&2

start=$(date +%s)
# shellcheck disable=SC2086
"$CLIPGREP" bench eval --db "$WORK/index.db" $MODEL_ARGS --queries "$WORK/queries.tsv" \
	--pairs "$WORK/pairs.tsv" --bootstrap "$BOOT" --json "$WORK/eval_c.json"
echo "eval_c.sh: every mode ranked in $(( $(date +%s) - start )) s" >&2

[ -n "$REF" ] || exit 0
"$PYTHON" - "$WORK" "$REF" <<'EOF'
import json, os, sys
import numpy as np
work, ref = sys.argv[1], sys.argv[2]
C = json.load(open(os.path.join(work, "eval_c.json")))
R = json.load(open(ref))
npz = os.path.splitext(ref)[0] + "-scores.npz"
S = dict(np.load(npz)) if os.path.exists(npz) else {}
pairs = [ln.rstrip("\n").split("\t") for ln in open(os.path.join(work, "pairs.tsv"))]
print("\nAgainst the PyTorch reference (eval_ref.py):")
for head, c in C["modes"].items():
    if head not in R["models"]:
        print(f"  {head}: no reference (the reference runs each head; fused is the engine's own)")
        continue
    rq = dict(zip(R["queries"], R["models"][head]["ranks"]))
    diff = [q for q, r in zip(C["queries"], c["ranks"]) if rq.get(q) != r]
    rm = R["models"][head]["metrics"]
    same = all(abs(rm[k] - c["metrics"][k]) < 1e-6 for k in ("R@1", "R@5", "R@10", "MdR", "MnR"))
    acc = ""
    if head in S:
        col = {q: i for i, q in enumerate(R["queries"])}
        sc, bad = S[head], 0
        for kind, stats in c["pairs"].items():
            won = [1.0 if sc[col[q], col[a]] > sc[col[q], col[b]] else
                   0.5 if sc[col[q], col[a]] == sc[col[q], col[b]] else 0.0
                   for k, q, a, b in pairs if k == kind and q in col and a in col and b in col]
            if won and abs(100 * np.mean(won) - stats.get("accuracy", -1)) > 1e-6:
                bad += 1
        acc = f"; hard-negative accuracies {'equal' if bad == 0 else f'differ in {bad} kinds'}"
    print(f"  {head}: {len(diff)} of {len(C['queries'])} queries ranked differently; "
          f"metrics {'equal' if same else 'differ'}{acc}"
          + (f" (e.g. {diff[0]}: C {c['ranks'][C['queries'].index(diff[0])]}, ref {rq.get(diff[0])})"
             if diff else ""))
EOF
