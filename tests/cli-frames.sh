#!/bin/sh
# cli-frames — `clipgrep frames` as a user runs it: the listing, --json,
# --out with PNG frames and JPEG thumbnails, -v routing FFmpeg's log, and
# errors that name the file.  Clips are generated with $FFMPEG (skipped
# when it is unset).
. "${top_srcdir:-.}/tests/lib.sh"

[ -n "$FFMPEG" ] || skip_all "no ffmpeg program (\$FFMPEG is empty)"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/clipgrep-cli-frames.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT

# 4 s at 10 fps, a keyframe every 10 frames.
"$FFMPEG" -nostdin -v error -y -f lavfi -i testsrc2=size=160x120:rate=10:duration=4 \
	-c:v libx264 -preset veryfast -g 10 "$tmp/clip.mp4" </dev/null ||
	skip_all "ffmpeg cannot encode H.264 here"

run "$CLIPGREP" frames --help
ok $rc "frames --help exits 0"
contains "$out" "--out DIR"; ok $? "and documents --out"

run "$CLIPGREP" frames -F 4 "$tmp/clip.mp4"
ok $rc "frames -F 4 exits 0"
# t_i = (i + 0.5) * 4 / 4: 0.5, 1.5, 2.5, 3.5 s, each a frame boundary at 10 fps.
[ "$out" = "0	0.500	ok
1	1.500	ok
2	2.500	ok
3	3.500	ok" ]; ok $? "one line per frame: index, time, flags ($out)"

run "$CLIPGREP" frames --info -F 2 "$tmp/clip.mp4"
contains "$out" "# $tmp/clip.mp4: mov, h264 160x120"; ok $? "--info describes the file ($out)"

run "$CLIPGREP" frames --json -F 3 "$tmp/clip.mp4"
contains "$out" '"count":3,'; ok $? "--json has the count"
contains "$out" '"frames":[{"index":0,"time":0.600000,"flags":[]}'; ok $? "--json lists frames ($out)"

run "$CLIPGREP" frames -F 3 --size 64 --out "$tmp/out" --thumbs "$tmp/clip.mp4"
ok $rc "--out --thumbs exits 0"
[ -f "$tmp/out/frame-00-0.600s.png" ] && [ -f "$tmp/out/frame-02-3.300s.png" ]
ok $? "writes frame-II-T.TTTs.png ($(ls "$tmp/out" | tr '\n' ' '))"
[ -f "$tmp/out/thumb-01-2.000s.jpg" ]; ok $? "and thumb-II-T.TTTs.jpg"
# The PNG is S x S: bytes 16-23 of a PNG are its width and height.
size=$(od -An -tx1 -j16 -N8 "$tmp/out/frame-01-2.000s.png" | tr -d ' \n')
[ "$size" = "0000004000000040" ]; ok $? "the frame PNG is 64x64 ($size)"
magic=$(od -An -tx1 -N2 "$tmp/out/thumb-01-2.000s.jpg" | tr -d ' \n')
[ "$magic" = "ffd8" ]; ok $? "the thumbnail is a JPEG ($magic)"

# --out creates missing parents, as mkdir -p does.
run "$CLIPGREP" frames -F 2 --out "$tmp/a/b/c" "$tmp/clip.mp4"
[ $rc -eq 0 ] && [ -f "$tmp/a/b/c/frame-00-1.000s.png" ]
ok $? "--out a/b/c creates a and b too ($rc, $err)"
mode=$(stat -c %a "$tmp/a/b")
[ "$mode" = "$(printf '%o' $((0777 & ~$(umask))))" ]; ok $? "with mode 0777 less the umask ($mode)"
: >"$tmp/plain"
run "$CLIPGREP" frames -F 2 --out "$tmp/plain/x/y" "$tmp/clip.mp4"
[ $rc -eq 2 ] && contains "$err" "'$tmp/plain'" && contains "$err" "not a directory"
ok $? "a file in the way: exit 2 naming that component ($err)"

run "$CLIPGREP" frames --thumbs "$tmp/clip.mp4"
[ $rc -eq 1 ]; ok $? "--thumbs without --out is a usage error"

run "$CLIPGREP" frames -F 0 "$tmp/clip.mp4"
[ $rc -eq 1 ]; ok $? "-F 0 is a usage error"

printf 'not a video\n' >"$tmp/notes.mp4"
run "$CLIPGREP" frames "$tmp/notes.mp4"
[ $rc -eq 2 ]; ok $? "a text file exits 2"
contains "$err" "'$tmp/notes.mp4': "; ok $? "and the message names the file ($err)"
! contains "$err" "ffmpeg:"; ok $? "and FFmpeg's own log stays quiet without -v"

run "$CLIPGREP" -v frames "$tmp/notes.mp4"
contains "$err" "clipgrep: ffmpeg: "; ok $? "-v shows FFmpeg's log ($err)"

mkdir "$tmp/dir.mp4"
run "$CLIPGREP" frames "$tmp/dir.mp4"
[ $rc -eq 2 ] && contains "$err" "is a directory"; ok $? "a directory exits 2 and says so ($err)"

run "$CLIPGREP" frames "$tmp/missing.mp4"
[ $rc -eq 2 ] && contains "$err" "'$tmp/missing.mp4': No such file"; ok $? "a missing file ($err)"

# A real video from ../shared/data when present, else a stand-in of its shape
# (H.264, 406x720 portrait, 30 fps) made here, so this runs on every clone.
parakeet="$CLIPGREP_SHARED_DATA/videos/parakeet-ladder.mp4"
if [ ! -r "$parakeet" ]; then
	parakeet="$tmp/parakeet-ladder.mp4"
	"$FFMPEG" -nostdin -v error -y -f lavfi -i testsrc2=size=406x720:rate=30:duration=8.2 \
		-c:v libx264 -preset ultrafast -pix_fmt yuv420p "$parakeet" </dev/null
fi
run "$CLIPGREP" frames --info "$parakeet"
ok $rc "parakeet-ladder.mp4 samples"
contains "$out" "h264 406x720"; ok $? "and is a 406x720 portrait"
[ "$(printf '%s\n' "$out" | grep -c '	ok$')" -eq 12 ]; ok $? "12 frames, all ok"

done_testing
