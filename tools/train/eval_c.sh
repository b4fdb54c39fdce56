#!/bin/sh
# eval_c.sh — text-to-video retrieval on the held-out synthetic test split,
# computed by the C engine: `clipgrep index` indexes the test clips with the
# three demo model files, then one `clipgrep search --json` per query and
# model ranks every clip; R@1/5/10, MdR and MnR come from those ranks.
#
#   tools/train/eval_c.sh [--clipgrep PROG] [--data DIR] [--work DIR]
#                         [--models DIR] [--ref FILE.json] [--limit N]
#
#   --data DIR    a tools/synth dataset with a test split; generated when it
#                 has no captions.jsonl (500 test clips, seed 0: the split
#                 the demo model was never trained on)
#   --work DIR    index and outputs (default eval-work)
#   --models DIR  where demo-{clip,ea,tcmgc}.safetensors are (default assets/demo,
#                 then assets/eval for the meanP baseline)
#   --ref FILE    eval_ref.py --json output: compare every query's rank
#   --limit N     only the first N test clips (a quick check)
#
# One query per clip (its first caption); rank = position of the clip in
# the engine's full ranking.  Needs python3 for JSON and the metrics.
set -eu

HERE=$(cd "$(dirname "$0")" && pwd)
TOP=$(cd "$HERE/../.." && pwd)
CLIPGREP=${CLIPGREP:-./clipgrep}
DATA=
WORK=eval-work
MODELS=
REF=
LIMIT=0
PYTHON=${PYTHON:-/usr/bin/python3}

while [ $# -gt 0 ]; do
	case $1 in
	--clipgrep) CLIPGREP=$2; shift 2 ;;
	--data) DATA=$2; shift 2 ;;
	--work) WORK=$2; shift 2 ;;
	--models) MODELS=$2; shift 2 ;;
	--ref) REF=$2; shift 2 ;;
	--limit) LIMIT=$2; shift 2 ;;
	-h|--help) sed -n '2,20s/^# \{0,1\}//p' "$0"; exit 0 ;;
	*) echo "eval_c.sh: unknown argument $1" >&2; exit 2 ;;
	esac
done
[ -n "$DATA" ] || DATA=$WORK/data
mkdir -p "$WORK"
# A private copy of the program: a rebuild in the tree while the searches run
# (the linker rewrites the file) must not break them.
cp "$CLIPGREP" "$WORK/clipgrep.bin" || exit 2
CLIPGREP=$WORK/clipgrep.bin

find_model() {
	for d in ${MODELS:+"$MODELS"} "$TOP/assets/demo" "$TOP/assets/eval"; do
		if [ -f "$d/demo-$1.safetensors" ]; then echo "$d/demo-$1.safetensors"; return 0; fi
	done
	echo "eval_c.sh: demo-$1.safetensors not found (train it with tools/train/train.py)" >&2
	exit 2
}
M_CLIP=$(find_model clip)
M_EA=$(find_model ea)
M_TC=$(find_model tcmgc)

if [ ! -f "$DATA/captions.jsonl" ]; then
	echo "eval_c.sh: generating the test split in $DATA" >&2
	"$PYTHON" "$TOP/tools/synth/synth.py" --out "$DATA" --test 500
fi

# id <TAB> path <TAB> caption, test split, in file order
"$PYTHON" - "$DATA" "$LIMIT" > "$WORK/queries.tsv" <<'EOF'
import json, os, sys
root, limit = sys.argv[1], int(sys.argv[2])
n = 0
for line in open(os.path.join(root, "captions.jsonl")):
    r = json.loads(line)
    if r["split"] != "test":
        continue
    print(f"{r['id']}\t{os.path.abspath(os.path.join(root, r['path']))}\t{r['caption']}")
    n += 1
    if limit and n >= limit:
        break
EOF
N=$(wc -l < "$WORK/queries.tsv")
[ "$N" -gt 0 ] || { echo "eval_c.sh: no test clips in $DATA" >&2; exit 2; }

# Index exactly these clips (a folder of links, so --limit works too).
rm -rf "$WORK/clips" "$WORK/index.db" "$WORK/index.db-wal" "$WORK/index.db-shm"
mkdir -p "$WORK/clips"
cut -f2 "$WORK/queries.tsv" | while IFS= read -r p; do ln -s "$p" "$WORK/clips/"; done
start=$(date +%s)
"$CLIPGREP" index --db "$WORK/index.db" --model "$M_CLIP" --model "$M_EA" --model "$M_TC" "$WORK/clips" >&2
echo "eval_c.sh: indexed $N clips in $(( $(date +%s) - start )) s" >&2

# One search per query; of each JSON hit only rank, file and score are kept:
# "query_id <TAB> rank <TAB> file <TAB> score" lines (the full JSON is ~1.4 KB a hit).
TAB=$(printf '\t')
run() { # name model mode
	out=$WORK/$1.tsv
	: > "$out"
	while IFS=$TAB read -r id path caption; do
		"$CLIPGREP" search --db "$WORK/index.db" --model "$2" --mode "$3" -n "$N" --json -- "$caption" \
			< /dev/null |
		sed -n 's|^{"rank":\([0-9]*\),"path":"\([^"]*/\)\{0,1\}\([^"/]*\)\.[A-Za-z0-9]*","score":\([^,]*\),.*|'"$id$TAB"'\1'"$TAB"'\3'"$TAB"'\4|p' >> "$out"
	done < "$WORK/queries.tsv"
}
start=$(date +%s)
run meanp "$M_CLIP" ea
run ea "$M_EA" ea
run tcmgc "$M_TC" tcmgc
echo "eval_c.sh: $((3 * N)) searches in $(( $(date +%s) - start )) s" >&2

"$PYTHON" - "$WORK" "$HERE" "${REF:-}" "$M_EA" <<'EOF'
import json, os, sys
import numpy as np
work, here, ref = sys.argv[1], sys.argv[2], sys.argv[3]
sys.path.insert(0, here)
queries = [ln.split("\t")[0] for ln in open(os.path.join(work, "queries.tsv"))]
import metrics
rows, out = [], {"models": {}}
def ea_name(path):  # the EA variant, from the file's safetensors header
    import struct
    with open(path, "rb") as f:
        meta = json.loads(f.read(struct.unpack("<Q", f.read(8))[0])).get("__metadata__", {})
    return (f"EA ({meta.get('clipgrep.ea.sim_header', 'meanP')} + "
            f"{meta.get('clipgrep.ea.se_type', 'excitation_aggregation')})")
names = {"meanp": ("clip", "meanP (CLIP4Clip)"), "ea": ("ea", ea_name(sys.argv[4])), "tcmgc": ("tcmgc", "TC-MGC")}
for key in ("meanp", "ea", "tcmgc"):
    arch, name = names[key]
    ranks, scores, order = {}, {}, []
    for line in open(os.path.join(work, key + ".tsv")):
        qid, rank, vid, score = line.rstrip("\n").split("\t")
        if qid not in scores:
            order.append(qid)
            scores[qid] = {}
        scores[qid][vid] = float(score)
        if vid == qid:
            ranks[qid] = int(rank)
    order = [q for q in queries if q in scores] + [q for q in queries if q not in scores]
    for q in queries:
        scores.setdefault(q, {})
    r = [ranks.get(q, len(scores[q]) + 1) for q in order]
    m = metrics.compute(r)
    rows.append((name, m))
    out["models"][arch] = {"name": name, "metrics": m, "ranks": r, "queries": order}
    out.setdefault("scores", {})[arch] = scores
print(f"Text-to-video retrieval, {len(order)} test clips, C engine (clipgrep index + search):")
print(metrics.table(rows))
json.dump({k: v for k, v in out.items() if k != "scores"}, open(os.path.join(work, "eval_c.json"), "w"), indent=1)
if ref:
    R = json.load(open(ref))
    npz = os.path.splitext(ref)[0] + "-scores.npz"
    S = dict(np.load(npz)) if os.path.exists(npz) else {}
    print("\nAgainst the PyTorch reference (eval_ref.py):")
    for arch, c in out["models"].items():
        if arch not in R["models"]:
            continue
        rq = dict(zip(R["queries"], R["models"][arch]["ranks"]))
        diff = [q for q, r in zip(c["queries"], c["ranks"]) if rq.get(q) != r]
        rm = R["models"][arch]["metrics"]
        same = all(abs(round(rm[k], 1) - round(c["metrics"][k], 1)) < 1e-9 for k in ("R@1", "R@5", "R@10", "MdR", "MnR"))
        err = ""
        if arch in S:
            col = {q: i for i, q in enumerate(R["queries"])}
            d = [abs(v - S[arch][col[q], col[vid]]) / max(1e-6, abs(S[arch][col[q]]).max())
                 for q, hv in out["scores"][arch].items() for vid, v in hv.items() if q in col and vid in col]
            err = f"; scores: max |C - ref| / max|ref| = {max(d):.1e} over {len(d)} pairs"
        print(f"  {c['name']}: {len(diff)} of {len(c['queries'])} queries ranked differently; "
              f"metrics {'equal' if same else 'differ'} at one decimal{err}"
              + (f" (e.g. {diff[0]}: C {c['ranks'][c['queries'].index(diff[0])]}, ref {rq.get(diff[0])})" if diff else ""))
EOF
