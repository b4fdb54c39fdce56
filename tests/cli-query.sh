#!/bin/sh
# cli-query.sh — queries that hold no words: the empty query and the ones
# that only look empty (spaces, tabs, newlines, Unicode spaces) are refused
# with "the query is empty" by search, explain and embed --text, in text and
# JSON modes, and never crash (issue 21.1: explain "" freed its cause twice).
. "$top_srcdir/tests/lib.sh"

[ -n "$FFMPEG" ] && [ -x "$FFMPEG" ] || skip_all "no ffmpeg program (\$FFMPEG)"

T=$(mktemp -d "${TMPDIR:-/tmp}/clipgrep-cli-query.XXXXXX") || exit 1
trap 'rm -rf "$T"' EXIT
M1=$top_srcdir/tests/golden/tiny-tcmgc.safetensors
M2=$top_srcdir/tests/golden/tiny-ea.safetensors
DB=$T/index.db
unset CLIPGREP_DB CLIPGREP_CONFIG
export XDG_CONFIG_HOME=$T/cfg XDG_DATA_HOME=$T/data

mkdir -p "$T/lib"
"$FFMPEG" -nostdin -v error -y -f lavfi -i "testsrc2=size=96x64:rate=10:duration=2" \
	-c:v libx264 -preset ultrafast -pix_fmt yuv420p "$T/lib/red.mp4" ||
	skip_all "ffmpeg cannot make clips"
"$CLIPGREP" index -q --db "$DB" --model "$M1" --model "$M2" "$T/lib" >/dev/null 2>&1
ok $? "index one clip"
CLIP=$T/lib/red.mp4

# refused NAME CMD...: exit 1 with "the query is empty", no crash, no output.
refused() {
	name=$1
	shift
	run "$@"
	ok $([ "$rc" -eq 1 ] && echo 0 || echo 1) "$name: exit 1 (got $rc)"
	contains "$err" "the query is empty"; ok $? "$name: says the query is empty"
	ok $(contains "$err" "double free" || contains "$err" "free()" ||
		contains "$err" "Abort" || [ "$rc" -ge 128 ] && echo 1 || echo 0) "$name: no crash"
	ok $([ -z "$out" ] && echo 0 || echo 1) "$name: nothing on stdout"
	[ "$rc" -eq 1 ] || diag "$err"
}

# Issue 21.1: exactly the command that freed its cause twice.
refused 'explain ""' "$CLIPGREP" explain "" "$CLIP" --db "$DB" --model "$M1"

NL='
'
TAB=$(printf '\t')
NBSP=$(printf '\302\240')     # U+00A0
IDSP=$(printf '\343\200\200') # U+3000 ideographic space
for q in "" "   " "$TAB" "$NL" " $TAB$NL " "$NBSP" "$IDSP $NBSP"; do
	shown=$(printf '%s' "$q" | od -An -c | tr -s ' ' | sed 's/^ //')
	refused "search '$shown'" "$CLIPGREP" search "$q" --db "$DB" --model "$M1" --model "$M2"
	refused "search --json '$shown'" "$CLIPGREP" search --json "$q" --db "$DB" --model "$M1" --model "$M2"
	refused "explain '$shown'" "$CLIPGREP" explain "$q" "$CLIP" --db "$DB" --model "$M1" --model "$M2"
	refused "explain --json '$shown'" "$CLIPGREP" explain --json "$q" "$CLIP" --db "$DB" \
		--model "$M1" --model "$M2"
	refused "embed --text '$shown'" "$CLIPGREP" embed --model "$M1" --text "$q"
done

# A query with words around the spaces is still a query.
run "$CLIPGREP" search "  red $TAB" --db "$DB" --model "$M1" --model "$M2"
ok $([ "$rc" -eq 0 ] && contains "$out" "red.mp4" && echo 0 || echo 1) "a padded query ranks (exit $rc)"
run "$CLIPGREP" embed --model "$M1" --text " red "
ok $rc "embed --text with padding encodes"

done_testing
