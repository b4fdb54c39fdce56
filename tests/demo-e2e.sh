#!/bin/sh
# demo-e2e — the bundled demo end to end: the C engine indexes the demo
# clips with the bundled TC-MGC and EA models, and captions rank their own
# clip first in every mode.  (The demo model is tiny and trained on
# synthetic clips; these are captions it gets right, see tools/train/README.md,
# so a regression anywhere in decode → towers → heads → index → search
# shows up here.)
. "${top_srcdir:-.}/tests/lib.sh"

demo="$top_srcdir/assets/demo"
[ -r "$demo/demo-tcmgc.safetensors" ] || skip_all "no demo model in $demo"
work=$(mktemp -d) || exit 1
trap 'rm -rf "$work"' EXIT
models="--model $demo/demo-tcmgc.safetensors --model $demo/demo-ea.safetensors"

run "$CLIPGREP" index --db "$work/demo.db" $models "$demo/clips"
ok $rc "the demo clips index ($err)"
contains "$err" "36 added"; ok $? "all 36 demo clips are added"

for clip in 15 16 19 20 21 22 28 29; do
	caption=$(sed -n "s/.*\"id\":\"clip-$clip\".*\"caption\":\"\([^\"]*\)\".*/\1/p" \
		"$demo/clips/captions.jsonl")
	[ -n "$caption" ]; ok $? "clip-$clip has a caption"
	for mode in tcmgc ea fused; do
		run "$CLIPGREP" search --db "$work/demo.db" $models --mode $mode -n 1 "$caption"
		contains "$out" "/clip-$clip.mp4"
		ok $? "$mode ranks clip-$clip first for \"$caption\" (got: $out)"
	done
done

run env XDG_DATA_HOME="$work/data" XDG_STATE_HOME="$work/state" "$CLIPGREP" demo --print
[ $rc -eq 0 ] && contains "$out" "clip-"; ok $? "clipgrep demo --print prints a ranking"

done_testing
