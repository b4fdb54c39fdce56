#!/bin/sh
# cli-cache.sh — the search cache file beside the index (issue 12): the
# first search writes "<index>.search-T-E", later searches use it with the
# same output, and it is rebuilt with the same output when a byte of it is
# changed, when it is cut short, or when the index changes (a new video is
# found); --no-cache and the config's search_cache = no neither read nor
# write it; `clipgrep info` says whether it is current; after indexing one
# more clip the next search keeps the others from the file and reads only the
# new one (-v says so); the temporary file of a search killed while writing
# it is removed by the next one.
. "$top_srcdir/tests/lib.sh"

[ -n "$FFMPEG" ] && [ -x "$FFMPEG" ] || skip_all "no ffmpeg program (\$FFMPEG)"
demo=$top_srcdir/assets/demo
[ -r "$demo/demo.safetensors" ] || skip_all "no demo model in $demo"

T=$(mktemp -d "${TMPDIR:-/tmp}/clipgrep-cli-cache.XXXXXX") || exit 1
trap 'rm -rf "$T"' EXIT
mkdir -p "$T/lib" "$T/cfg/clipgrep"
export XDG_CONFIG_HOME=$T/cfg XDG_DATA_HOME=$T/data
unset CLIPGREP_DB CLIPGREP_CONFIG
M="--model $demo/demo.safetensors"
DB="--db $T/index.db"
Q="a red circle moving right"

clip() { # clip NAME LAVFI-SOURCE FILTER
	"$FFMPEG" -nostdin -v error -y -f lavfi -i "$2=s=64x48:r=10:d=2" -vf "$3" \
		-c:v libx264 -preset ultrafast -pix_fmt yuv420p "$T/lib/$1" ||
		skip_all "ffmpeg cannot make the clips"
}
clip a.mp4 testsrc2 "hue=h=0"
clip b.mp4 smptebars null
clip c.mp4 testsrc negate

cache_files() { ls -1 "$T"/index.db.search-* 2>/dev/null | grep -v '\.tmp-'; }

run "$CLIPGREP" index $DB $M "$T/lib"
ok $([ "$rc" -eq 0 ] && [ -z "$(cache_files)" ] && echo 0 || echo 1) \
	"index a library of 3 clips (no cache file yet)"
run "$CLIPGREP" search $DB $M --json -n 10 "$Q"
want=$out
C=$(cache_files)
ok $([ "$rc" -eq 0 ] && [ -n "$want" ] && [ -f "$C" ] && echo 0 || echo 1) \
	"the first search writes the cache file beside the index (${C##*/})"
run "$CLIPGREP" info $DB --quick
ok $(contains "$out" "search cache: $C (" && contains "$out" "3 records, current" &&
	echo 0 || echo 1) "info names it, its records, and that it is current"
diag "$(printf '%s\n' "$out" | grep 'search cache')"
before=$(ls -li "$C")
run "$CLIPGREP" search $DB $M --json -n 10 "$Q"
ok $([ "$rc" -eq 0 ] && [ "$out" = "$want" ] && [ "$(ls -li "$C")" = "$before" ] &&
	echo 0 || echo 1) "the next search uses it as it is: the same output"

# One changed byte of the first array (the records' ids, after the 4 KB
# header), then a file cut short: each time the file is written anew (a new
# inode: written aside and renamed over).
size=$(wc -c <"$C")
inode() { ls -i "$C" | cut -d' ' -f1; }
was=$(inode)
printf '\377' | dd of="$C" bs=1 seek=4096 conv=notrunc 2>/dev/null
run "$CLIPGREP" search $DB $M --json -n 10 "$Q"
ok $([ "$rc" -eq 0 ] && [ "$out" = "$want" ] && [ "$(inode)" != "$was" ] && echo 0 || echo 1) \
	"a changed byte: loaded from the index instead (the same output), the file written anew"
run "$CLIPGREP" info $DB --quick
ok $(contains "$out" "current" && echo 0 || echo 1) "info: current again"
was=$(inode)
head -c 5000 "$C" >"$T/short" && mv "$T/short" "$C"
run "$CLIPGREP" info $DB --quick
diag "$(printf '%s\n' "$out" | grep 'search cache')"
run "$CLIPGREP" search $DB $M --json -n 10 "$Q"
ok $([ "$rc" -eq 0 ] && [ "$out" = "$want" ] && [ "$(wc -c <"$C")" -eq "$size" ] &&
	echo 0 || echo 1) "a file cut short: the same output, the file written whole again"

# --no-cache and search_cache = no: the file is neither read nor written.
rm -f "$C"
run "$CLIPGREP" search $DB $M --json -n 10 --no-cache "$Q"
ok $([ "$rc" -eq 0 ] && [ "$out" = "$want" ] && [ -z "$(cache_files)" ] && echo 0 || echo 1) \
	"--no-cache: the same output, no file written"
printf 'search_cache = no\n' >"$T/cfg/clipgrep/config"
run "$CLIPGREP" explain $DB $M "$Q" "$T/lib/a.mp4"
ok $([ "$rc" -eq 0 ] && [ -z "$(cache_files)" ] && echo 0 || echo 1) \
	"the config's search_cache = no: explain writes none either"
printf 'search_cache = maybe\n' >"$T/cfg/clipgrep/config"
run "$CLIPGREP" search $DB $M "$Q"
ok $([ "$rc" -eq 2 ] && contains "$err" "search_cache: 'maybe' is not yes or no" &&
	echo 0 || echo 1) "a bad search_cache value is refused, naming it (exit $rc)"
rm -f "$T/cfg/clipgrep/config"

# The index changes: the file is stale, the new clip is found.
run "$CLIPGREP" search $DB $M --json -n 10 "$Q"
C=$(cache_files)
clip d.mp4 testsrc2 "hue=h=120"
run "$CLIPGREP" index $DB $M "$T/lib"
run "$CLIPGREP" info $DB --quick
ok $(contains "$out" "stale: the next search updates it" && echo 0 || echo 1) \
	"after indexing another clip, info says the file is stale"
run "$CLIPGREP" -v search $DB $M -l -n 10 "$Q"
ok $([ "$rc" -eq 0 ] && contains "$out" "d.mp4" && [ "$(printf '%s\n' "$out" | wc -l)" -eq 4 ] &&
	contains "$err" "search cache: extended (3 videos kept, 1 read from the index)" &&
	echo 0 || echo 1) "the next search keeps the 3 unchanged clips from the file, reads the new one"
diag "$(printf '%s\n' "$err" | grep 'search cache')"
run "$CLIPGREP" search $DB $M --json -n 10 --no-cache "$Q"
want4=$out
run "$CLIPGREP" -v search $DB $M --json -n 10 "$Q"
ok $([ "$out" = "$want4" ] && contains "$err" "search cache: used" && echo 0 || echo 1) \
	"the extended file is used next, with the output of a search without it"
run "$CLIPGREP" info $DB --quick --json
ok $(contains "$out" '"records":4,"state":"current"' && echo 0 || echo 1) \
	"and rewrote the file (info --json: 4 records, current)"

# A search killed while writing leaves ".tmp-PID"; the next writer removes it.
pid=$(sh -c 'echo $$')
head -c 10000 /dev/zero >"$C.tmp-$pid"
run "$CLIPGREP" search $DB $M --no-cache -n 1 "$Q"
ok $([ -f "$C.tmp-$pid" ] && echo 0 || echo 1) "--no-cache leaves it alone"
rm -f "$C"
run "$CLIPGREP" search $DB $M -n 1 "$Q"
ok $([ "$rc" -eq 0 ] && [ ! -e "$C.tmp-$pid" ] && [ -f "$C" ] && echo 0 || echo 1) \
	"a dead writer's temporary file is removed when the file is next written"

# An index from before the stamps (schema 5) gets a tensor stamp for every
# stored video when it is upgraded: none is 0, so a cache file made for
# another index at this path keeps nothing.
if command -v sqlite3 >/dev/null; then
	sqlite3 "$T/index.db" "DROP TABLE tensor_stamps; DROP TABLE change_stamp;
		PRAGMA user_version = 5"
	run "$CLIPGREP" index $DB $M "$T/lib"
	n=$(sqlite3 "$T/index.db" "SELECT count(*) FROM tensor_stamps WHERE stamp <> 0")
	v=$(sqlite3 "$T/index.db" "SELECT count(DISTINCT video_id) FROM video_tensors")
	ok $([ "$rc" -eq 0 ] && [ "$n" = "$v" ] && [ "$v" -gt 0 ] && echo 0 || echo 1) \
		"the upgrade from schema 5 stamps every stored video ($n of $v)"
	run "$CLIPGREP" -v search $DB $M -l -n 10 "$Q"
	ok $([ "$rc" -eq 0 ] && contains "$err" "search cache: extended (0 videos kept, 4 read" &&
		echo 0 || echo 1) "and the older file keeps none of them"
	diag "$(printf '%s\n' "$err" | grep 'search cache')"
else
	ok 0 "# SKIP no sqlite3 program"
	ok 0 "# SKIP no sqlite3 program"
fi

done_testing
