#!/bin/sh
# cli-index.sh — clipgrep index / search / explain / info / merge as a user
# runs them, on generated clips and the tiny complete models.
. "$top_srcdir/tests/lib.sh"

[ -n "$FFMPEG" ] && [ -x "$FFMPEG" ] || skip_all "no ffmpeg program (\$FFMPEG)"
# OpenBLAS's Haswell kernels block a product by its row count, so a vector
# that depends on its batch shows there (issue 17.2: merged shards differed
# from one run); the autodetected kernels of some CPUs hide it.
grep -qw avx2 /proc/cpuinfo 2>/dev/null && export OPENBLAS_CORETYPE=Haswell

T=$(mktemp -d "${TMPDIR:-/tmp}/clipgrep-cli-index.XXXXXX") || exit 1
trap 'rm -rf "$T"' EXIT
LIB=$T/lib
mkdir -p "$LIB/sub" "$T/cfg/clipgrep"
M1=$top_srcdir/tests/golden/tiny-tcmgc.safetensors
M2=$top_srcdir/tests/golden/tiny-ea.safetensors
HELPER=$top_builddir/tests/test-engine
# Defaults from the environment and the config file, as a user sets them.
export XDG_CONFIG_HOME=$T/cfg XDG_DATA_HOME=$T/data
unset CLIPGREP_DB CLIPGREP_CONFIG

clip() { # clip NAME SOURCE SECONDS FILTER
	"$FFMPEG" -nostdin -v error -y -f lavfi -i "$2=size=96x64:rate=10:duration=$3" -vf "$4" \
		-c:v libx264 -preset ultrafast -pix_fmt yuv420p "$LIB/$1.tmp.mp4" &&
		mv "$LIB/$1.tmp.mp4" "$LIB/$1"
}
clip red.mp4 testsrc2 2 hue=h=0 || skip_all "ffmpeg cannot make clips"
clip blue.mp4 testsrc2 2 hue=h=180
clip bars.mp4 smptebars 2 null
clip sub/noise.mp4 testsrc 3 negate
echo "not a video" >"$LIB/broken.mp4"
echo "notes" >"$LIB/notes.txt"

# No model anywhere: a clear message (unless the demo model is installed).
if ! ls "$top_srcdir"/assets/demo/*.safetensors >/dev/null 2>&1; then
	run "$CLIPGREP" index "$LIB"
	ok $([ "$rc" -eq 2 ] && contains "$err" "--model" && echo 0 || echo 1) "no model: exit 2, asks for --model"
fi

printf 'model = %s\nmodel = %s\n# a comment\nexclude = *.skip.mp4\n' "$M1" "$M2" \
	>"$T/cfg/clipgrep/config"
run "$CLIPGREP" index "$LIB"
ok $([ "$rc" -eq 0 ] && echo 0 || echo 1) "index a folder (exit $rc)"
ok $(contains "$err" "4 added" && contains "$err" "1 failed" && echo 0 || echo 1) \
	"4 clips added, the broken file failed, notes.txt ignored"
ok $([ -f "$T/data/clipgrep/index.db" ] && echo 0 || echo 1) "default index in \$XDG_DATA_HOME/clipgrep"
diag "$err"

run "$CLIPGREP" info
ok $([ "$rc" -eq 0 ] && contains "$out" "5 (4 ok, 0 partial, 1 error)" &&
	contains "$out" "integrity:  ok" && echo 0 || echo 1) "info: counts and integrity"
ok $(contains "$out" "broken.mp4: not a video file" && echo 0 || echo 1) "info lists the bad file with its reason"
ok $([ "$(printf '%s\n' "$out" | grep -c 'broken\.mp4.*broken\.mp4')" -eq 0 ] && echo 0 || echo 1) \
	"info names the bad file once (the stored reason does not repeat it)"
run "$CLIPGREP" info --json
printf '%s\n' "$out" | grep -q '"integrity":"ok"'
ok $? "info --json"

run "$CLIPGREP" index "$LIB"
ok $([ "$rc" -eq 0 ] && contains "$err" "5 unchanged" && contains "$err" "0 frames encoded" &&
	echo 0 || echo 1) "a second run changes nothing"

# Search: text and JSON.
run "$CLIPGREP" search red ball
ok $([ "$rc" -eq 0 ] && [ "$(printf '%s\n' "$out" | wc -l)" -eq 4 ] &&
	contains "$out" "$LIB/red.mp4" && echo 0 || echo 1) "search prints 4 ranked hits"
diag "$out"
run "$CLIPGREP" search -n 2 --mode tcmgc red ball
ok $([ "$rc" -eq 0 ] && [ "$(printf '%s\n' "$out" | wc -l)" -eq 2 ] && echo 0 || echo 1) "-n 2 --mode tcmgc"
run "$CLIPGREP" search --json red ball
printf '%s\n' "$out" >"$T/search.json"
"$HELPER" --json-lines <"$T/search.json" >/dev/null
ok $? "search --json: one valid object per hit with every key"
ok $(contains "$out" '"token":"red</w>"' && contains "$out" '"lsa_weights":{"video_sentence"' &&
	echo 0 || echo 1) "JSON names the words and the granularities"
ok $(contains "$out" '"text":"red"' && contains "$out" '"weights":{"video_sentence"' &&
	contains "$out" '"contributions":{"video_sentence"' && echo 0 || echo 1) \
	"JSON also uses the shared vocabulary: text, weights, contributions"
for m in ea fused; do
	run "$CLIPGREP" search --mode $m --json blue bars
	ok $([ "$rc" -eq 0 ] && echo 0 || echo 1) "search --mode $m"
done
run "$CLIPGREP" search --mode nope red
ok $([ "$rc" -eq 1 ] && echo 0 || echo 1) "an unknown mode is a usage error"
run "$CLIPGREP" search --db "$T/empty.db" red
ok $([ "$rc" -eq 2 ] && contains "$err" "no index yet at '$T/empty.db'" && echo 0 || echo 1) \
	"a missing index: exit 2 naming it"

run "$CLIPGREP" explain "red ball" "$LIB/bars.mp4"
ok $([ "$rc" -eq 0 ] && contains "$out" "word x frame attention" && contains "$out" "rank:" &&
	echo 0 || echo 1) "explain"
ok $(contains "$out" "video-sentence" && contains "$out" "weight ω" &&
	contains "$out" "contribution ω·z" && contains "$out" "similarity z" &&
	printf '%s\n' "$out" | grep -q "^<start> " && printf '%s\n' "$out" | grep -q "^red " &&
	! contains "$out" "</w>" && ! contains "$out" "LSA w" && echo 0 || echo 1) \
	"explain speaks the TUI's vocabulary (weight ω, contribution ω·z, <start>, words without </w>)"
run "$CLIPGREP" explain --json "red ball" "$LIB/bars.mp4"
printf '%s\n' "$out" | "$HELPER" --json-lines >/dev/null
ok $? "explain --json"
run "$CLIPGREP" explain "red ball" "$LIB/notes.txt"
ok $([ "$rc" -eq 2 ] && contains "$err" "not a searchable video" && echo 0 || echo 1) "explain of a file not indexed"

# Move (no re-encode), change, delete, add.
mv "$LIB/blue.mp4" "$LIB/sub/blue-moved.mp4"
run "$CLIPGREP" index "$LIB"
ok $(contains "$err" "moved $LIB/sub/blue-moved.mp4" && contains "$err" "0 frames encoded" &&
	echo 0 || echo 1) "a moved file is recognised without encoding"
clip bars.mp4 smptebars 3 negate
rm "$LIB/red.mp4"
clip green.mp4 testsrc2 2 hue=h=90
clip green.skip.mp4 testsrc2 2 hue=h=90
run "$CLIPGREP" index "$LIB"
ok $(contains "$err" "1 added" && contains "$err" "1 updated" && contains "$err" "1 deleted" &&
	echo 0 || echo 1) "re-index: 1 added, 1 updated, 1 deleted (config exclude honoured)"
run "$CLIPGREP" search red
ok $(contains "$out" "green.mp4" && ! contains "$out" "$LIB/red.mp4" && ! contains "$out" "skip" &&
	echo 0 || echo 1) "search sees the new state"

# Awkward names: stored exactly, printed inert.
cp "$LIB/green.mp4" "$LIB/with space.mp4"
clip "$(printf 'new\nline.mp4')" testsrc 2 hue=h=30
clip "$(printf 'esc\033[31mred.mp4')" testsrc 2 hue=h=60
clip "$(printf 'bad\377utf8.mp4')" testsrc 2 hue=h=120
run "$CLIPGREP" index "$LIB"
ok $([ "$rc" -eq 0 ] && contains "$err" "3 added" && echo 0 || echo 1) "names with spaces, newlines, escapes, invalid UTF-8"
run "$CLIPGREP" search -n 20 red
esc=$(printf '\033')
ok $(! contains "$out" "$esc" && contains "$out" 'esc\x1b[31mred.mp4' && contains "$out" 'new\x0aline.mp4' &&
	contains "$out" 'bad\xffutf8.mp4' && contains "$out" "with space.mp4" && echo 0 || echo 1) \
	"text output shows control bytes and bad UTF-8 as \\xNN"
run "$CLIPGREP" search -n 20 --json red
ok $(! contains "$out" "$esc" && contains "$out" 'esc\u001b[31mred.mp4' && contains "$out" 'new\nline.mp4' &&
	echo 0 || echo 1) "JSON escapes them"
printf '%s\n' "$out" | "$HELPER" --json-lines >/dev/null
ok $? "and stays valid JSON"
run "$CLIPGREP" explain red "$LIB/$(printf 'new\nline.mp4')"
ok $([ "$rc" -eq 0 ] && echo 0 || echo 1) "explain finds a path with a newline (stored exactly)"

# Shards and merge: the union of the shards is the full index.
run "$CLIPGREP" index --db "$T/s0.db" --shard 0/2 "$LIB"
ok $([ "$rc" -eq 0 ] && echo 0 || echo 1) "index --shard 0/2"
run "$CLIPGREP" index --db "$T/s1.db" --shard 1/2 "$LIB"
ok $([ "$rc" -eq 0 ] && echo 0 || echo 1) "index --shard 1/2"
run "$CLIPGREP" merge "$T/merged.db" "$T/s0.db" "$T/s1.db"
ok $([ "$rc" -eq 0 ] && echo 0 || echo 1) "merge"
"$CLIPGREP" search -n 100 --json --db "$T/merged.db" test pattern | sed 's/.*"path":"\([^"]*\)".*/\1/' | sort >"$T/m.txt"
"$CLIPGREP" search -n 100 --json test pattern | sed 's/.*"path":"\([^"]*\)".*/\1/' | sort >"$T/f.txt"
cmp -s "$T/m.txt" "$T/f.txt" && [ -s "$T/m.txt" ]
ok $? "the merged shards hold the full index's videos"
# Reproducible vectors (issue 17.2): each video's stored tensors are the same bytes
# whichever videos shared its encoder batch.
blobs() { # blobs DB: path and tensor bytes of every video, by path
	sqlite3 "$1" "SELECT hex(v.path), t.kind, hex(t.data) FROM video_tensors t
		JOIN videos v ON v.id = t.video_id JOIN models m ON m.id = t.model_id
		ORDER BY v.path, hex(m.hash), t.kind"
}
if command -v sqlite3 >/dev/null; then
	blobs "$T/merged.db" >"$T/mb.txt"
	blobs "$T/data/clipgrep/index.db" >"$T/fb.txt"
	cmp -s "$T/mb.txt" "$T/fb.txt" && [ -s "$T/mb.txt" ]
	ok $? "two merged shards store the same tensor bytes as one run"
fi
run "$CLIPGREP" index --shard 2/2 "$LIB"
ok $([ "$rc" -eq 1 ] && echo 0 || echo 1) "a bad --shard is a usage error"

# A second indexer waits or refuses.
if command -v flock >/dev/null 2>&1; then
	DB=$T/data/clipgrep/index.db
	flock "$DB.lock" sleep 3 &
	holder=$!
	sleep 0.5
	run "$CLIPGREP" index "$LIB"
	ok $([ "$rc" -eq 2 ] && contains "$err" "another clipgrep is indexing" && echo 0 || echo 1) \
		"a second indexer refuses with a clear message"
	run "$CLIPGREP" index --wait "$LIB"
	ok $([ "$rc" -eq 0 ] && echo 0 || echo 1) "--wait waits for the first"
	wait $holder
else
	diag "flock(1) not found: lock tests skipped"
fi

# Walk: a link loop, a hidden file, an unreadable folder.
ln -s .. "$LIB/sub/loop"
cp "$LIB/green.mp4" "$LIB/.hidden.mp4"
run "$CLIPGREP" index "$LIB"
ok $([ "$rc" -eq 0 ] && contains "$err" "0 added" && echo 0 || echo 1) "a link loop ends; hidden files are skipped"
run "$CLIPGREP" index --include-hidden "$LIB"
ok $([ "$rc" -eq 0 ] && contains "$err" "1 copied" && echo 0 || echo 1) "--include-hidden indexes them"
if [ "$(id -u)" -ne 0 ]; then
	mkdir "$LIB/locked" && cp "$LIB/green.mp4" "$LIB/locked/x.mp4" && chmod 000 "$LIB/locked"
	run "$CLIPGREP" index "$LIB"
	chmod 700 "$LIB/locked"
	ok $([ "$rc" -eq 0 ] && contains "$err" "warning:" && contains "$err" "locked" && echo 0 || echo 1) \
		"an unreadable folder is reported and the run goes on"
else
	diag "running as root: the unreadable-folder case is skipped"
fi

# Damaged and foreign databases: clear errors, the file left alone.
echo "this is not a database, just some text long enough to look like a file header" >"$T/corrupt.db"
cp "$T/corrupt.db" "$T/corrupt.orig"
run "$CLIPGREP" index --db "$T/corrupt.db" "$LIB"
ok $([ "$rc" -eq 2 ] && contains "$err" "corrupt.db' is not a clipgrep index" && cmp -s "$T/corrupt.db" "$T/corrupt.orig" &&
	echo 0 || echo 1) "index refuses a corrupt database and leaves it alone"
run "$CLIPGREP" search --db "$T/corrupt.db" red
ok $([ "$rc" -eq 2 ] && contains "$err" "not a clipgrep index" && echo 0 || echo 1) "so does search"
run "$CLIPGREP" info --db "$T/corrupt.db"
ok $([ "$rc" -eq 2 ] && echo 0 || echo 1) "and info"

# The environment and --db.
run env CLIPGREP_DB="$T/merged.db" "$CLIPGREP" info --quick
ok $([ "$rc" -eq 0 ] && contains "$out" "merged.db" && echo 0 || echo 1) "\$CLIPGREP_DB chooses the index"
printf 'bogus = 1\n' >"$T/bad.conf"
run env CLIPGREP_CONFIG="$T/bad.conf" "$CLIPGREP" info
ok $([ "$rc" -eq 2 ] && contains "$err" "bad.conf':1: unknown key 'bogus'" && echo 0 || echo 1) \
	"a bad config line is named"

# Padding provenance (issue 17.1): an index of schema 1 padded clips shorter than F = 4
# frames with zero rows; the next run re-encodes exactly those, not the longer clips.
if command -v sqlite3 >/dev/null; then
	mkdir -p "$T/lib2"
	LIB=$T/lib2 clip short.mp4 testsrc2 0.3 null # 3 frames in all
	LIB=$T/lib2 clip long.mp4 testsrc2 6 null
	run "$CLIPGREP" index --db "$T/old.db" "$T/lib2"
	ok $([ "$rc" -eq 0 ] && contains "$err" "2 added" && echo 0 || echo 1) "index a short and a long clip"
	# What schema 1 was: no provenance tables, no model paths, no precision.
	sqlite3 "$T/old.db" "DROP TABLE tensors_zero_padded; ALTER TABLE models DROP COLUMN path;
		ALTER TABLE models DROP COLUMN precision;
		DROP TABLE segments; ALTER TABLE videos DROP COLUMN seg_window;
		ALTER TABLE videos DROP COLUMN seg_shots; ALTER TABLE videos DROP COLUMN seg_sampling;
		PRAGMA user_version = 1"
	run "$CLIPGREP" search --db "$T/old.db" test
	ok $([ "$rc" -eq 0 ] && contains "$out" "short.mp4" && contains "$out" "long.mp4" &&
		echo 0 || echo 1) "a schema 1 index is still searched, read-only, as it is (exit $rc)"
	diag "$err"
	run "$CLIPGREP" index --db "$T/old.db" "$T/lib2"
	ok $([ "$rc" -eq 0 ] && contains "$err" "1 extended" && contains "$err" "1 unchanged" &&
		contains "$err" "3 frames encoded" && echo 0 || echo 1) \
		"after the upgrade the short clip is re-encoded, the long one is not"
	diag "$err"
	run "$CLIPGREP" index --db "$T/old.db" "$T/lib2"
	ok $([ "$rc" -eq 0 ] && contains "$err" "2 unchanged" && contains "$err" "0 frames encoded" &&
		echo 0 || echo 1) "then nothing is left to re-encode"
fi

done_testing
