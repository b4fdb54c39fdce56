#!/bin/sh
# cli-sampling.sh — keyframe sampling (issue 13): `index --sampling keyframe`
# stores the keyframes' own times (a clip with a keyframe every 2 s: every
# frame time is even), records the mode per video, and a run in the other
# mode (flag or config) encodes those videos again while the same mode
# changes nothing.  A bad mode is refused, naming it.
. "$top_srcdir/tests/lib.sh"

[ -n "$FFMPEG" ] && [ -x "$FFMPEG" ] || skip_all "no ffmpeg program (\$FFMPEG)"
demo=$top_srcdir/assets/demo
[ -r "$demo/demo.safetensors" ] || skip_all "no demo model in $demo"
command -v sqlite3 >/dev/null || skip_all "no sqlite3 program"

T=$(mktemp -d "${TMPDIR:-/tmp}/clipgrep-cli-sampling.XXXXXX") || exit 1
trap 'rm -rf "$T"' EXIT
mkdir -p "$T/lib" "$T/cfg/clipgrep"
export XDG_CONFIG_HOME=$T/cfg XDG_DATA_HOME=$T/data
unset CLIPGREP_DB CLIPGREP_CONFIG
M="--model $demo/demo.safetensors"
DB="--db $T/index.db"

# 20 s at 10 fps, a keyframe every 2 s, B-frames: keyframes at 0, 2, ..., 18 s.
"$FFMPEG" -nostdin -v error -y -f lavfi -i testsrc=s=64x48:r=10:d=20 -c:v libx264 \
	-preset veryfast -bf 2 -g 20 -keyint_min 20 -sc_threshold 0 -pix_fmt yuv420p \
	"$T/lib/a.mp4" || skip_all "ffmpeg cannot make the video"

run "$CLIPGREP" index $DB $M --window 0 --sampling keyframe "$T/lib"
ok $([ "$rc" -eq 0 ] && contains "$err" "1 added" && echo 0 || echo 1) \
	"index --sampling keyframe (exit $rc)"
diag "$err"
times=$(sqlite3 "$T/index.db" "SELECT group_concat(time, ' ') FROM frames")
odd=$(sqlite3 "$T/index.db" "SELECT count(*) FROM frames
	WHERE abs(time / 2.0 - round(time / 2.0)) > 0.001")
ok $([ -n "$times" ] && [ "$odd" = 0 ] && echo 0 || echo 1) \
	"every stored time is a keyframe's (even seconds: $times)"
mode=$(sqlite3 "$T/index.db" "SELECT seg_sampling FROM videos")
ok $([ "$mode" = 1 ] && echo 0 || echo 1) "the video records keyframe sampling ($mode)"

run "$CLIPGREP" index $DB $M --window 0 --sampling keyframe "$T/lib"
ok $([ "$rc" -eq 0 ] && contains "$err" "1 unchanged" && echo 0 || echo 1) \
	"the same mode again changes nothing"

# The config's sampling = exact (the default) differs: encoded again.
printf 'sampling = exact\n' >"$T/cfg/clipgrep/config"
run "$CLIPGREP" index $DB $M --window 0 "$T/lib"
ok $([ "$rc" -eq 0 ] && contains "$err" "1 updated" && echo 0 || echo 1) \
	"another mode encodes the video again (exit $rc)"
diag "$err"
mode=$(sqlite3 "$T/index.db" "SELECT seg_sampling FROM videos")
odd=$(sqlite3 "$T/index.db" "SELECT count(*) FROM frames
	WHERE abs(time / 2.0 - round(time / 2.0)) > 0.001")
ok $([ "$mode" = 0 ] && [ "$odd" -gt 0 ] && echo 0 || echo 1) \
	"and records exact sampling, with the frames on screen at the targets ($mode, $odd odd)"

run "$CLIPGREP" index $DB $M --sampling fast "$T/lib"
ok $([ "$rc" -ne 0 ] && contains "$err" "--sampling: 'fast' is not exact or keyframe" &&
	echo 0 || echo 1) "a bad mode is refused, naming it (exit $rc)"
printf 'sampling = fast\n' >"$T/cfg/clipgrep/config"
run "$CLIPGREP" index $DB $M "$T/lib"
ok $([ "$rc" -ne 0 ] && contains "$err" "sampling: 'fast' is not exact or keyframe" &&
	echo 0 || echo 1) "and in the config too (exit $rc)"

done_testing
