#!/bin/sh
# cli-firstrun — first-run honesty: with no model configured, index and
# search fall back to the bundled demo model, which only knows the synthetic
# demo world; on anything but the demo clips they say so once, in one line,
# naming `clipgrep model fetch vit-b-32 --default`.  On the demo clips, or
# with a model of one's own, they say nothing of the kind.
. "${top_srcdir:-.}/tests/lib.sh"

[ -n "$FFMPEG" ] && [ -x "$FFMPEG" ] || skip_all "no ffmpeg program (\$FFMPEG)"
ls "$top_srcdir"/assets/demo/*.safetensors >/dev/null 2>&1 || skip_all "no bundled demo model"
T=$(mktemp -d "${TMPDIR:-/tmp}/clipgrep-cli-firstrun.XXXXXX") || exit 1
trap 'rm -rf "$T"' EXIT
export XDG_CONFIG_HOME=$T/cfg XDG_DATA_HOME=$T/data
unset CLIPGREP_DB CLIPGREP_CONFIG CLIPGREP_MODEL_URL
mkdir -p "$T/lib"
"$FFMPEG" -nostdin -v error -y -f lavfi -i "testsrc2=size=96x64:rate=10:duration=2" \
	-c:v libx264 -preset ultrafast -pix_fmt yuv420p "$T/lib/mine.mp4" || skip_all "ffmpeg cannot make clips"
note="only knows the synthetic demo shapes"

run "$CLIPGREP" index "$T/lib"
[ $rc -eq 0 ] && contains "$err" "$note" && contains "$err" "clipgrep model fetch vit-b-32 --default"
ok $? "index with the demo model on one's own footage says so ($err)"
[ "$(printf '%s\n' "$err" | grep -c "$note")" = 1 ]; ok $? "once, in one line"
run "$CLIPGREP" search "a red square"
[ $rc -eq 0 ] && [ "$(printf '%s\n' "$err" | grep -c "$note")" = 1 ]
ok $? "search with the demo model says so once ($err)"
own="$top_srcdir/tests/golden/tiny-tcmgc.safetensors"
run "$CLIPGREP" index --model "$own" --db "$T/other.db" "$T/lib"
[ $rc -eq 0 ] && ! contains "$err" "$note"; ok $? "index with a model of one's own: no such note ($err)"
run "$CLIPGREP" search --model "$own" --db "$T/other.db" x
[ $rc -eq 0 ] && ! contains "$err" "$note"; ok $? "search with it: none either ($err)"
if [ -d "$top_srcdir/assets/demo/clips" ]; then
	run "$CLIPGREP" index --db "$T/demo-clips.db" "$top_srcdir/assets/demo/clips"
	! contains "$err" "$note"; ok $? "the demo clips with the demo model: no note ($err)"
	# An index of one's own that holds only the demo clips: its rankings are the demo's.
	run "$CLIPGREP" search --db "$T/demo-clips.db" "a red square"
	[ $rc -eq 0 ] && [ -n "$out" ] && ! contains "$err" "$note"
	ok $? "search of an index of the demo clips alone: no note ($err)"
	run "$CLIPGREP" explain --db "$T/demo-clips.db" "a red square" \
		"$top_srcdir/assets/demo/clips/clip-01.mp4"
	[ $rc -eq 0 ] && ! contains "$err" "$note"; ok $? "nor explain of a demo clip ($err)"
	run "$CLIPGREP" index --db "$T/demo-clips.db" "$T/lib"
	run "$CLIPGREP" search --db "$T/demo-clips.db" -n 40 "a red square"
	[ $rc -eq 0 ] && [ "$(printf '%s\n' "$err" | grep -c "$note")" = 1 ]
	ok $? "once one's own clip is among the hits, the note is back ($err)"
fi
done_testing
