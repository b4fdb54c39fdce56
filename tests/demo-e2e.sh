#!/bin/sh
# demo-e2e — the bundled demo end to end: the C engine indexes the demo
# clips with the bundled model (one file: TC-MGC, EA, EA seqTransf +
# aggregation and the meanP baseline), and captions rank their own clip
# first in every mode, one per head and fused.  (The demo model is tiny
# and trained on synthetic clips; these are captions it gets right, see
# tools/train/README.md, so a regression anywhere in decode → towers →
# heads → index → search shows up here.)
. "${top_srcdir:-.}/tests/lib.sh"

demo="$top_srcdir/assets/demo"
[ -r "$demo/demo.safetensors" ] || skip_all "no demo model in $demo"
work=$(mktemp -d) || exit 1
trap 'rm -rf "$work"' EXIT
models="--model $demo/demo.safetensors"

run "$CLIPGREP" index --db "$work/demo.db" $models "$demo/clips"
ok $rc "the demo clips index ($err)"
contains "$err" "36 added"; ok $? "all 36 demo clips are added"

caption_of() {
	sed -n "s/.*\"id\":\"clip-$1\".*\"caption\":\"\([^\"]*\)\".*/\1/p" "$demo/clips/captions.jsonl"
}
for clip in 06 08 09 13 15 16 19 22 26; do
	caption=$(caption_of $clip)
	[ -n "$caption" ]; ok $? "clip-$clip has a caption"
	for mode in tcmgc ea ea-seq meanp fused; do
		run "$CLIPGREP" search --db "$work/demo.db" $models --mode $mode -n 1 "$caption"
		contains "$out" "/clip-$clip.mp4"
		ok $? "$mode ranks clip-$clip first for \"$caption\" (got: $out)"
	done
done
# Without --model the index's model is used: the one file, every head.
run "$CLIPGREP" search --db "$work/demo.db" --mode ea-seq -n 1 --json "$(caption_of 22)"
contains "$out" '"mode":"ea-seq"' && contains "$out" "/clip-22.mp4"
ok $? "--mode ea-seq without --model: the index's file ($out)"
run "$CLIPGREP" search --db "$work/demo.db" --mode nope "$(caption_of 22)"
[ $rc -eq 1 ] && contains "$err" "'nope' is not tcmgc, ea, fused or a head of the model file: ea-seq, meanp"
ok $? "an unknown mode names the file's heads ($rc: $err)"

# export and embed take one head of the file.
run "$CLIPGREP" export --db "$work/demo.db" $models --head ea-seq --format jsonl --out "$work/x.jsonl"
[ $rc -eq 0 ] && [ "$(wc -l < "$work/x.jsonl")" -eq 36 ]; ok $? "export --head ea-seq: 36 videos ($err)"
run "$CLIPGREP" embed $models --head meanp --text "a red ball"
[ $rc -eq 0 ] && contains "$out" '"architecture":"ea"'; ok $? "embed --head meanp"
run "$CLIPGREP" export --db "$work/demo.db" $models --head nope --format jsonl --out "$work/y.jsonl"
[ $rc -ne 0 ] && contains "$err" "no head 'nope' (the file's heads: tcmgc,ea,ea-seq,meanp)"
ok $? "an unknown head is named with the file's heads ($err)"

run env XDG_DATA_HOME="$work/data" XDG_STATE_HOME="$work/state" "$CLIPGREP" demo --print
[ $rc -eq 0 ] && contains "$out" "clip-"; ok $? "clipgrep demo --print prints a ranking"
run env XDG_DATA_HOME="$work/data" XDG_STATE_HOME="$work/state" "$CLIPGREP" demo --print \
	--mode meanp
[ $rc -eq 0 ] && contains "$out" "(mode meanp, 36 clips)"; ok $? "clipgrep demo --mode meanp ($out)"

done_testing
