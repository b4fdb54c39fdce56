#!/bin/sh
# cli-export.sh — `clipgrep export` on a small index built here with the
# tiny models: npy (a directory) and jsonl agree, every video is listed
# with its times, the arrays have the documented shapes, and the frames
# equal what `clipgrep embed --video` computes for the same file.
. "$top_srcdir/tests/lib.sh"
[ -n "$FFMPEG" ] && [ -x "$FFMPEG" ] || skip_all "no ffmpeg program (\$FFMPEG)"
T=$(mktemp -d) || exit 99
trap 'rm -rf "$T"' EXIT
export XDG_CONFIG_HOME=$T/cfg XDG_DATA_HOME=$T/data
unset CLIPGREP_DB CLIPGREP_CONFIG
M1=$top_srcdir/tests/golden/tiny-tcmgc.safetensors
M2=$top_srcdir/tests/golden/tiny-ea.safetensors
mkdir -p "$T/lib"
for n in a b; do
	"$FFMPEG" -nostdin -v error -y -f lavfi -i "testsrc2=size=96x64:rate=10:duration=2" \
		-vf "hue=h=$([ $n = a ] && echo 0 || echo 180)" -pix_fmt yuv420p "$T/lib/$n.mp4" ||
		skip_all "ffmpeg cannot make clips"
done
run "$CLIPGREP" index "$T/lib" --db "$T/i.db" --model "$M1" --model "$M2"
ok $rc "index two clips (exit $rc: $err)"

run "$CLIPGREP" export --db "$T/i.db" --model "$M1" --format npy --out "$T/npy"
ok $rc "export --format npy (exit $rc: $err)"
[ -f "$T/npy/videos.jsonl" ] && [ -f "$T/npy/frames.npy" ] && [ -f "$T/npy/cache.tcmgc.npy" ] &&
	[ ! -f "$T/npy/cache.ea.npy" ]
ok $? "videos.jsonl, frames.npy and cache.tcmgc.npy written (no EA cache for a TC-MGC model)"
ok $([ "$(wc -l <"$T/npy/videos.jsonl")" -eq 2 ] && echo 0 || echo 1) "two videos listed"
head -c 80 "$T/npy/frames.npy" | grep -q "'shape': (2, 4, 16)"
ok $? "frames.npy is [2, F=4, D=16]"
grep -q '"path":"[^"]*a.mp4","duration":[0-9.]*,"times":\[[0-9.,]*\],"frames_row":0' "$T/npy/videos.jsonl"
ok $? "a line holds path, duration, times and the row ($(head -c 200 "$T/npy/videos.jsonl"))"

run "$CLIPGREP" export --db "$T/i.db" --model "$M2" --format jsonl --out "$T/e.jsonl"
ok $rc "export --format jsonl (exit $rc: $err)"
grep -q '"cache.ea":\[' "$T/e.jsonl" && grep -q '"frames":\[' "$T/e.jsonl"
ok $? "jsonl holds the EA cache and the frames inline"
# The indexed frame embeddings equal what embed --video computes.
"$CLIPGREP" embed --model "$M2" --video "$T/lib/a.mp4" >"$T/a.json"
want=$(sed 's/.*"frames":{"shape":\[4,16\],"data":\(\[[^]]*\]\).*/\1/' "$T/a.json")
got=$(grep 'a.mp4' "$T/e.jsonl" | sed 's/.*"frames":\(\[[^]]*\]\).*/\1/')
ok $([ -n "$want" ] && [ "$want" = "$got" ] && echo 0 || echo 1) "exported frames equal embed --video's"

run "$CLIPGREP" export --db "$T/i.db" --model "$M1" --format parquet --out "$T/p"
ok $([ "$rc" -eq 1 ] && contains "$err" "parquet" && echo 0 || echo 1) "parquet: a usage error that says why"
run "$CLIPGREP" export --db "$T/i.db" --model "$top_srcdir/tests/golden/tiny-clip.safetensors" --format npy --out "$T/x"
ok $([ "$rc" -eq 2 ] && contains "$err" "no video" && echo 0 || echo 1) "a model not in the index: exit 2 ($err)"
run "$CLIPGREP" export --db "$T/i.db" --model "$M1" --format npy --out "$T/deep/er/npy"
ok $([ "$rc" -eq 0 ] && [ -f "$T/deep/er/npy/frames.npy" ] && echo 0 || echo 1) "npy: missing parent folders are created (rc $rc)"
: >"$T/plainfile"
run "$CLIPGREP" export --db "$T/i.db" --model "$M1" --format npy --out "$T/plainfile"
ok $([ "$rc" -eq 2 ] && contains "$err" "not a directory" && echo 0 || echo 1) "npy: --out naming a file is refused ($err)"
# Without --model: the index's model (issue 16.8), the others named.
run "$CLIPGREP" export --db "$T/i.db" --format jsonl --out "$T/d.jsonl"
[ "$rc" -eq 0 ] && [ "$(wc -l <"$T/d.jsonl")" -eq 2 ] && contains "$err" "also holds" &&
	contains "$err" "tiny-ea.safetensors"
ok $? "no --model: the index's first model, a note names the other (rc $rc: $err)"
run "$CLIPGREP" index "$T/lib" --db "$T/one.db" --model "$M2"
run "$CLIPGREP" export --db "$T/one.db" --format jsonl --out "$T/one.jsonl"
[ "$rc" -eq 0 ] && [ -z "$err" ] && grep -q '"cache.ea":\[' "$T/one.jsonl"
ok $? "an index of one model: exported without --model, no note (rc $rc: $err)"
done_testing
