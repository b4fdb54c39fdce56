#!/bin/sh
# cli-precision.sh — `--precision bf16` and the config's `precision =`: the index
# records each model's precision, refuses to mix, re-encodes on --reencode, merges
# only like with like; bf16 falls back to fp32 with a notice where it cannot run.
# The bf16 runs use the portable reference kernel (CLIPGREP_LINEAR_KERNEL=bf16ref),
# which gives the SIMD kernels' numbers, so this runs the same on any CPU.
. "$top_srcdir/tests/lib.sh"

[ -n "$FFMPEG" ] && [ -x "$FFMPEG" ] || skip_all "no ffmpeg program (\$FFMPEG)"

T=$(mktemp -d "${TMPDIR:-/tmp}/clipgrep-cli-precision.XXXXXX") || exit 1
trap 'rm -rf "$T"' EXIT
LIB=$T/lib
mkdir -p "$LIB" "$T/cfg/clipgrep"
M1=$top_srcdir/tests/golden/tiny-tcmgc.safetensors
export XDG_CONFIG_HOME=$T/cfg XDG_DATA_HOME=$T/data
unset CLIPGREP_DB CLIPGREP_CONFIG CLIPGREP_LINEAR_KERNEL
DB=$T/p.db

clip() { # clip NAME SOURCE SECONDS FILTER
	"$FFMPEG" -nostdin -v error -y -f lavfi -i "$2=size=96x64:rate=10:duration=$3" -vf "$4" \
		-c:v libx264 -preset ultrafast -pix_fmt yuv420p "$LIB/$1.tmp.mp4" &&
		mv "$LIB/$1.tmp.mp4" "$LIB/$1"
}
clip red.mp4 testsrc2 2 hue=h=0 || skip_all "ffmpeg cannot make clips"
clip bars.mp4 smptebars 2 null

run "$CLIPGREP" index --db "$DB" -m "$M1" --precision fp16 "$LIB"
ok $([ "$rc" -eq 1 ] && contains "$err" "--precision: 'fp16' is not fp32 or bf16" &&
	[ ! -f "$DB" ] && echo 0 || echo 1) "an unknown precision is a usage error, before any work"

# bf16 on the reference kernel: the index records it.
CLIPGREP_LINEAR_KERNEL=bf16ref run "$CLIPGREP" index --db "$DB" -m "$M1" --precision bf16 "$LIB"
ok $([ "$rc" -eq 0 ] && contains "$err" "2 added" && contains "$err" "frames/s, bf16)" &&
	echo 0 || echo 1) "index --precision bf16 (exit $rc)"
diag "$err"
run "$CLIPGREP" info --db "$DB" --json
ok $(contains "$out" '"precision":"bf16"' && echo 0 || echo 1) "info --json: the model's vectors are bf16"
run "$CLIPGREP" info --db "$DB"
ok $(contains "$out" " bf16, added " && echo 0 || echo 1) "info: the model's line says bf16"

# fp32 on a bf16 index: refused, naming the index, both precisions and the ways out.
run "$CLIPGREP" index --db "$DB" -m "$M1" "$LIB"
ok $([ "$rc" -eq 2 ] && contains "$err" "'$DB' holds 2 videos' vectors of model '$M1' made in bf16" &&
	contains "$err" "this run would make fp32 ones" && contains "$err" "--precision bf16" &&
	contains "$err" "--reencode" && echo 0 || echo 1) "fp32 on a bf16 index is refused with both ways out"
diag "$err"
run "$CLIPGREP" info --db "$DB" --json
ok $(contains "$out" '"precision":"bf16"' && contains "$out" '"videos":2' && echo 0 || echo 1) \
	"the refusal changed nothing"

# The same precision again: nothing to do.
CLIPGREP_LINEAR_KERNEL=bf16ref run "$CLIPGREP" index --db "$DB" -m "$M1" --precision bf16 "$LIB"
ok $([ "$rc" -eq 0 ] && contains "$err" "2 unchanged" && contains "$err" "0 frames encoded" &&
	echo 0 || echo 1) "bf16 again: unchanged"

# Search with a bf16 text tower against the bf16 index, and with fp32: the same ranking here.
CLIPGREP_LINEAR_KERNEL=bf16ref run "$CLIPGREP" search --db "$DB" -m "$M1" --precision bf16 -l red
bf16_hits=$out
ok $([ "$rc" -eq 0 ] && [ "$(printf '%s\n' "$out" | wc -l)" -eq 2 ] && echo 0 || echo 1) \
	"search --precision bf16"
run "$CLIPGREP" search --db "$DB" -m "$M1" -l red
ok $([ "$rc" -eq 0 ] && [ "$out" = "$bf16_hits" ] && echo 0 || echo 1) \
	"an fp32 query against bf16 vectors is allowed and ranks the same here"

# --reencode: the vectors are dropped and made again in fp32.
run "$CLIPGREP" index --db "$DB" -m "$M1" --reencode "$LIB"
ok $([ "$rc" -eq 0 ] && contains "$err" "dropped 2 videos' bf16 vectors" && contains "$err" "2 extended" &&
	contains "$err" "frames/s, fp32)" && echo 0 || echo 1) "--reencode encodes every video again in fp32"
diag "$err"
run "$CLIPGREP" info --db "$DB" --json
ok $(contains "$out" '"precision":"fp32"' && contains "$out" '"videos":2' && echo 0 || echo 1) \
	"info: fp32 now, every video encoded"

# The config's precision = is the default; --precision overrides it.
printf 'precision = bf16\n' >"$T/cfg/clipgrep/config"
CLIPGREP_LINEAR_KERNEL=bf16ref run "$CLIPGREP" index --db "$DB" -m "$M1" "$LIB"
ok $([ "$rc" -eq 2 ] && contains "$err" "made in fp32" && contains "$err" "would make bf16 ones" &&
	echo 0 || echo 1) "precision = bf16 in the config applies (and is refused on this fp32 index)"
CLIPGREP_LINEAR_KERNEL=bf16ref run "$CLIPGREP" index --db "$DB" -m "$M1" --precision fp32 "$LIB"
ok $([ "$rc" -eq 0 ] && contains "$err" "2 unchanged" && echo 0 || echo 1) "--precision fp32 overrides it"
printf 'precision = half\n' >"$T/cfg/clipgrep/config"
run "$CLIPGREP" index --db "$DB" -m "$M1" "$LIB"
ok $([ "$rc" -ne 0 ] && contains "$err" "'$T/cfg/clipgrep/config':1: precision: 'half' is not fp32 or bf16" &&
	echo 0 || echo 1) "a bad precision in the config names the file and the line"
rm "$T/cfg/clipgrep/config"

# No AVX512_BF16 (forced here by naming an fp32 kernel): fp32 with a one-line notice.
CLIPGREP_LINEAR_KERNEL=blas run "$CLIPGREP" index --db "$DB" -m "$M1" --precision bf16 "$LIB"
ok $([ "$rc" -eq 0 ] && contains "$err" "no AVX512_BF16" && contains "$err" "encoding in fp32" &&
	contains "$err" "2 unchanged" && echo 0 || echo 1) "bf16 without AVX512_BF16: fp32 with a notice"
diag "$err"
CLIPGREP_LINEAR_KERNEL=blas run "$CLIPGREP" search --db "$DB" -m "$M1" --precision bf16 -l red
ok $([ "$rc" -eq 0 ] && contains "$err" "notice: this CPU has no AVX512_BF16: the text tower runs in fp32" &&
	[ "$(printf '%s\n' "$err" | wc -l)" -eq 1 ] && echo 0 || echo 1) "search says so in one line"
CLIPGREP_LINEAR_KERNEL=blas run "$CLIPGREP" --db "$DB" -m "$M1" --precision bf16 red
ok $([ "$rc" -eq 0 ] && contains "$err" "the text tower runs in fp32" && contains "$out" "red.mp4" &&
	echo 0 || echo 1) "clipgrep --precision bf16 QUERY into a pipe passes --precision on to search"

# Merge: a bf16 shard into an fp32 index is refused, naming the shard.
CLIPGREP_LINEAR_KERNEL=bf16ref run "$CLIPGREP" index --db "$T/shard.db" -m "$M1" --precision bf16 "$LIB"
run "$CLIPGREP" merge "$DB" "$T/shard.db"
ok $([ "$rc" -ne 0 ] && contains "$err" "'$T/shard.db': its vectors of model" &&
	contains "$err" "made in bf16, those of '$DB' in fp32" && echo 0 || echo 1) \
	"merging a bf16 shard into an fp32 index is refused"
diag "$err"
run "$CLIPGREP" merge "$T/new.db" "$T/shard.db"
run2=$rc
run "$CLIPGREP" info --db "$T/new.db" --json
ok $([ "$run2" -eq 0 ] && contains "$out" '"precision":"bf16"' && echo 0 || echo 1) \
	"merging into a new index carries the shard's precision"

# Schema 2 (before precision provenance): read as fp32, upgraded when written.
if command -v sqlite3 >/dev/null; then
	cp "$DB" "$T/v2.db"
	sqlite3 "$T/v2.db" "ALTER TABLE models DROP COLUMN precision; DROP TABLE segments;
		ALTER TABLE videos DROP COLUMN seg_window; ALTER TABLE videos DROP COLUMN seg_shots;
		ALTER TABLE videos DROP COLUMN seg_sampling;
		PRAGMA user_version = 2"
	chmod a-w "$T/v2.db"
	run "$CLIPGREP" info --db "$T/v2.db" --json
	ok $([ "$rc" -eq 0 ] && contains "$out" '"precision":"fp32"' && echo 0 || echo 1) \
		"a read-only schema 2 index reads as fp32"
	chmod u+w "$T/v2.db"
	CLIPGREP_LINEAR_KERNEL=bf16ref run "$CLIPGREP" index --db "$T/v2.db" -m "$M1" --precision bf16 "$LIB"
	ok $([ "$rc" -eq 2 ] && contains "$err" "made in fp32" && echo 0 || echo 1) \
		"upgraded on write: its vectors are fp32, so bf16 is refused"
fi

done_testing
