#!/bin/sh
# cli-damaged.sh — a damaged row in video_tensors (issue 17.5): search skips
# that video with one warning naming it, explain on it says the record is
# damaged, info reports it, and the next `clipgrep index` re-encodes it.
. "$top_srcdir/tests/lib.sh"

[ -n "$FFMPEG" ] && [ -x "$FFMPEG" ] || skip_all "no ffmpeg program (\$FFMPEG)"
command -v sqlite3 >/dev/null 2>&1 || skip_all "no sqlite3 program (bootstrap installs it)"

T=$(mktemp -d "${TMPDIR:-/tmp}/clipgrep-cli-damaged.XXXXXX") || exit 1
trap 'rm -rf "$T"' EXIT
LIB=$T/lib
DB=$T/index.db
mkdir -p "$LIB"
M1=$top_srcdir/tests/golden/tiny-tcmgc.safetensors
M2=$top_srcdir/tests/golden/tiny-ea.safetensors
export XDG_CONFIG_HOME=$T/cfg XDG_DATA_HOME=$T/data
unset CLIPGREP_DB CLIPGREP_CONFIG

clip() { # clip NAME SOURCE FILTER
	"$FFMPEG" -nostdin -v error -y -f lavfi -i "$2=size=96x64:rate=10:duration=2" -vf "$3" \
		-c:v libx264 -preset ultrafast -pix_fmt yuv420p "$LIB/$1.tmp.mp4" &&
		mv "$LIB/$1.tmp.mp4" "$LIB/$1"
}
clip a.mp4 testsrc2 hue=h=0 || skip_all "ffmpeg cannot make clips"
clip b.mp4 testsrc2 hue=h=180
clip c.mp4 smptebars null

cg() { "$CLIPGREP" "$@" --db "$DB" -m "$M1" -m "$M2"; }
hits() { printf '%s\n' "$out" | grep -c . ; }
warnings() { printf '%s\n' "$err" | grep -c "stored vectors are damaged"; }

run cg index "$LIB"
ok $([ "$rc" -eq 0 ] && contains "$err" "3 added" && echo 0 || echo 1) "index 3 clips (exit $rc)"
diag "$err"

BAD=$(sqlite3 "$DB" "SELECT CAST(path AS TEXT) FROM videos WHERE id = 1")
sqlite3 "$DB" "UPDATE video_tensors SET data = substr(data, 1, 10) WHERE video_id = 1"
ok $? "damage video 1 ($BAD) with the sqlite3 program"

run cg search red
ok $([ "$rc" -eq 0 ] && [ "$(hits)" -eq 2 ] && echo 0 || echo 1) "search: exit 0 with 2 hits (exit $rc)"
ok $([ "$(warnings)" -eq 1 ] && contains "$err" "'$BAD': stored vectors are damaged; skipped" &&
	contains "$err" "clipgrep index" && echo 0 || echo 1) "search: one warning naming the damaged file"
diag "$out" "$err"
ok $(contains "$out" "$BAD" && echo 1 || echo 0) "search: the damaged file is not a hit"

run cg explain red "$BAD"
ok $([ "$rc" -eq 2 ] && contains "$err" "$BAD" && contains "$err" "damaged" &&
	contains "$err" "clipgrep index" && echo 0 || echo 1) "explain on the damaged file: exit 2, names it"
diag "$err"
GOOD=$(sqlite3 "$DB" "SELECT CAST(path AS TEXT) FROM videos WHERE id = 2")
run cg explain red "$GOOD"
ok $([ "$rc" -eq 0 ] && echo 0 || echo 1) "explain on an intact file still works (exit $rc)"

run "$CLIPGREP" export --db "$DB" --model "$M1" --format jsonl --out "$T/e.jsonl"
ok $([ "$rc" -eq 0 ] && [ "$(warnings)" -eq 1 ] && contains "$err" "'$BAD'" &&
	[ "$(grep -c . "$T/e.jsonl")" -eq 2 ] && echo 0 || echo 1) \
	"export: the 2 intact videos, one warning naming the damaged one (exit $rc)"
diag "$err"

run "$CLIPGREP" info --db "$DB"
ok $(contains "$out" "integrity:  1 damaged record(s)" && contains "$out" "$BAD" &&
	echo 0 || echo 1) "info: 1 damaged record, naming the file"
diag "$out"
run "$CLIPGREP" info --db "$DB" --json
ok $(contains "$out" '"damaged":[' && contains "$out" "$BAD" && echo 0 || echo 1) "info --json lists it"
run "$CLIPGREP" info --db "$DB" --quick
ok $([ "$rc" -eq 0 ] && contains "$out" "not checked (--quick: no integrity or damaged-record check)" && echo 0 || echo 1) \
	"info --quick skips the check and says so"

run cg index "$LIB"
ok $([ "$rc" -eq 0 ] && contains "$err" "1 re-encoded (damaged record)" && echo 0 || echo 1) \
	"index re-encodes the damaged video (exit $rc)"
diag "$err"

run cg search red
ok $([ "$rc" -eq 0 ] && [ "$(hits)" -eq 3 ] && [ "$(warnings)" -eq 0 ] && echo 0 || echo 1) \
	"search after re-indexing: 3 hits, no warning"
run "$CLIPGREP" info --db "$DB"
ok $([ "$rc" -eq 0 ] && contains "$out" "integrity:  ok" && echo 0 || echo 1) "info: integrity ok again"

done_testing
