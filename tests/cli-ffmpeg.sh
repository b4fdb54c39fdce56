#!/bin/sh
# cli-ffmpeg.sh — FFmpeg's libraries are opened when a video is first read,
# not when clipgrep starts (core/ffmpeg.c): with a broken FFmpeg in the
# library path (files of FFmpeg's sonames that are not libraries), `clipgrep
# search`, `info` and `--version` work as before, while `clipgrep index`
# stops before touching any file, with an error that names the library, the
# package and why, and keeps what is already indexed; once FFmpeg is back,
# the next run indexes the new clip.
. "$top_srcdir/tests/lib.sh"

[ -n "$FFMPEG" ] && [ -x "$FFMPEG" ] || skip_all "no ffmpeg program (\$FFMPEG)"
demo=$top_srcdir/assets/demo
[ -r "$demo/demo.safetensors" ] || skip_all "no demo model in $demo"

T=$(mktemp -d "${TMPDIR:-/tmp}/clipgrep-cli-ffmpeg.XXXXXX") || exit 1
trap 'rm -rf "$T"' EXIT
mkdir -p "$T/lib" "$T/more" "$T/cfg/clipgrep" "$T/broken"
export XDG_CONFIG_HOME=$T/cfg XDG_DATA_HOME=$T/data
unset CLIPGREP_DB CLIPGREP_CONFIG
M="--model $demo/demo.safetensors"
DB="--db $T/index.db"
Q="a red circle moving right"

clip() { # clip PATH LAVFI-SOURCE
	"$FFMPEG" -nostdin -v error -y -f lavfi -i "$2=s=64x48:r=10:d=2" \
		-c:v libx264 -preset ultrafast -pix_fmt yuv420p "$1" ||
		skip_all "ffmpeg cannot make the clips"
}
clip "$T/lib/a.mp4" testsrc2
clip "$T/lib/b.mp4" smptebars
clip "$T/more/c.mp4" testsrc

run "$CLIPGREP" index $DB $M "$T/lib"
ok $([ "$rc" -eq 0 ] && echo 0 || echo 1) "index 2 clips with FFmpeg as installed"
run "$CLIPGREP" search $DB $M --json -n 10 "$Q"
want=$out
ok $([ "$rc" -eq 0 ] && [ -n "$want" ] && echo 0 || echo 1) "search them"

# Every soname an FFmpeg of the last ten years has used, as a file that is
# not a library: opening any of them fails.
for lib in avutil avcodec avformat swscale swresample; do
	for major in $(seq 2 70); do
		echo "not a library" >"$T/broken/lib$lib.so.$major"
	done
done
broken() { LD_LIBRARY_PATH=$T/broken${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH} "$@"; }

run broken "$CLIPGREP" --version
ok $([ "$rc" -eq 0 ] && echo 0 || echo 1) "--version starts without opening FFmpeg"
run broken "$CLIPGREP" search $DB $M --json -n 10 "$Q"
ok $([ "$rc" -eq 0 ] && [ "$out" = "$want" ] && echo 0 || echo 1) \
	"search works without opening FFmpeg: the same output"
[ "$rc" -eq 0 ] || diag "$err"
run broken "$CLIPGREP" info $DB --quick
ok $([ "$rc" -eq 0 ] && contains "$out" "(2 ok, 0 partial, 0 error)" && echo 0 || echo 1) "so does info"
[ "$rc" -eq 0 ] || diag "$out" "$err"

cp "$T/more/c.mp4" "$T/lib/"
run broken "$CLIPGREP" index $DB $M "$T/lib"
ok $([ "$rc" -eq 2 ] && contains "$err" "cannot open FFmpeg's libavutil.so." &&
	contains "$err" "Debian package libavutil" && echo 0 || echo 1) \
	"index with a broken FFmpeg stops (exit status 2), naming the library and the package"
diag "$(printf '%s\n' "$err" | tail -2)"
run "$CLIPGREP" info $DB --quick
ok $(contains "$out" "(2 ok, 0 partial, 0 error)" && echo 0 || echo 1) \
	"and records nothing: the new clip is not marked as undecodable"
contains "$out" "(2 ok, 0 partial, 0 error)" || diag "$out"
run "$CLIPGREP" search $DB $M --json -n 10 "$Q"
ok $([ "$rc" -eq 0 ] && [ "$out" = "$want" ] && echo 0 || echo 1) \
	"the 2 clips indexed before are kept, searched as before"
run "$CLIPGREP" index $DB $M "$T/lib"
ok $([ "$rc" -eq 0 ] && echo 0 || echo 1) "with FFmpeg as installed, the next index run adds the clip"
run "$CLIPGREP" info $DB --quick
ok $(contains "$out" "(3 ok, 0 partial, 0 error)" && echo 0 || echo 1) "3 videos indexed, none in error"
contains "$out" "(3 ok, 0 partial, 0 error)" || diag "$out"

done_testing
