#!/bin/sh
# cli-fetch — `clipgrep model fetch` against a local HTTP server
# (tests/http-server on 127.0.0.1, a port of the kernel's choosing) serving
# the tiny TorchScript stand-in of OpenAI's ViT-B-32.pt: an interrupted
# transfer keeps its part and the next run resumes it with a Range request;
# a server that ignores the Range starts the part over; wrong bytes are
# refused by their SHA-256 and nothing is installed; a 404 says so; the
# pinned SHA-256 of vit-b-32 is checked (CLIPGREP_MODEL_URL points the known
# name at the local server); --default rewrites the config's model line and
# keeps its other lines; a full disk (a small tmpfs, root only) keeps the
# partial file.  Without libcurl the message names the manual way.
. "${top_srcdir:-.}/tests/lib.sh"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/clipgrep-cli-fetch.XXXXXX") || exit 1
server=
small=
cleanup() {
	[ -n "$server" ] && kill "$server" 2>/dev/null
	[ -n "$small" ] && umount "$small" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
export XDG_DATA_HOME="$tmp/data" CLIPGREP_CONFIG="$tmp/config"
unset CLIPGREP_MODEL_URL
models="$tmp/data/clipgrep/models"
pt="$top_srcdir/tests/golden/torch/openai/ViT-B-32.pt"
sha=$(sha256sum "$pt" | cut -d' ' -f1)
size=$(wc -c < "$pt")

run "$CLIPGREP" model fetch http://127.0.0.1:1/ok/ViT-B-32.pt --sha256 "$sha"
if contains "$err" "without libcurl"; then
	[ $rc -eq 2 ] && contains "$err" "clipgrep model import" && contains "$err" "$sha"
	ok $? "without libcurl: the manual way is named ($err)"
	done_testing
	exit
fi

mkdir "$tmp/srv"
cp "$pt" "$tmp/srv/ViT-B-32.pt"
"$top_builddir/tests/http-server" "$tmp/srv" "$tmp/port" "$tmp/log" &
server=$!
i=0
while [ ! -s "$tmp/port" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
[ -s "$tmp/port" ] || { echo "Bail out! tests/http-server did not start"; exit 1; }
base="http://127.0.0.1:$(cat "$tmp/port")"
"$CLIPGREP" model import "$pt" -o "$tmp/want.safetensors" --name tiny >/dev/null 2>&1

# interrupted after 50000 bytes: an error that says the part is kept
run "$CLIPGREP" model fetch "$base/close-after-50000/ViT-B-32.pt" --sha256 "$sha" --name tiny
part="$models/downloads/tiny/ViT-B-32.pt.part"
[ $rc -eq 2 ] && contains "$err" "kept" && contains "$err" "resume"
ok $? "an interrupted transfer fails saying the partial file is kept ($err)"
[ "$(wc -c < "$part" 2>/dev/null)" = 50000 ]; ok $? "the part holds the 50000 bytes received"
[ ! -e "$models/tiny.safetensors" ]; ok $? "nothing installed after an interruption"

# the next run resumes with a Range request, checks, imports, sets the default
printf 'threads = 2\nmodel = /old/model.safetensors\n# a comment\n' > "$tmp/config"
run "$CLIPGREP" model fetch "$base/ok/ViT-B-32.pt" --sha256 "$sha" --name tiny --default
[ $rc -eq 0 ] && contains "$err" "SHA-256 ok" && contains "$err" "installed"
ok $? "the next run completes ($err)"
grep -q "GET /ok/ViT-B-32.pt range=50000" "$tmp/log"; ok $? "it resumed with Range: bytes=50000-"
cmp "$models/tiny.safetensors" "$tmp/want.safetensors" >/dev/null
ok $? "the installed file is what model import makes of the download"
[ ! -e "$part" ] && [ ! -e "$models/downloads/tiny/ViT-B-32.pt" ]
ok $? "the verified download is removed once imported"
grep -q "^model = $models/tiny.safetensors\$" "$tmp/config" && ! grep -q /old/ "$tmp/config" &&
	grep -q "^threads = 2\$" "$tmp/config" && grep -q "^# a comment\$" "$tmp/config"
ok $? "--default makes it the config's only model line and keeps the other lines"
printf 'model = /old/model.safetensors\n' > "$tmp/config2"
CLIPGREP_CONFIG="$tmp/config2" run "$CLIPGREP" model fetch "$base/ok/ViT-B-32.pt" --sha256 "$sha" --name tiny --default
[ $rc -eq 0 ] && contains "$err" "installed already" && grep -q "^model = $models/tiny.safetensors\$" "$tmp/config2" &&
	[ "$(grep -c "GET /ok/ViT-B-32.pt" "$tmp/log")" = 1 ]
ok $? "fetching an installed model again downloads nothing; --default still applies ($err)"
run "$CLIPGREP" model list
contains "$out" "$models/tiny.safetensors  tiny, clip" && contains "$out" "[default]" &&
	contains "$out" "40d365715913c9da98579312b702a82c18be219cc2a73407c4526f58eba950af"
ok $? "model list shows it installed and default, and the pinned vit-b-32"
if [ -r "$top_srcdir/assets/demo/demo.safetensors" ]; then
	contains "$out" "demo.safetensors  heads tcmgc,ea,ea-seq,meanp"
	ok $? "model list names the heads of the bundled multi-head demo file"
else
	ok 0 "# SKIP no bundled demo model"
fi

# a server that ignores Range: the part starts over and still verifies
run "$CLIPGREP" model fetch "$base/close-after-1000/ViT-B-32.pt" --sha256 "$sha" --name again
run "$CLIPGREP" model fetch "$base/norange/ViT-B-32.pt" --sha256 "$sha" --name again
"$CLIPGREP" model import "$pt" -o "$tmp/again.safetensors" --name again >/dev/null 2>&1
[ $rc -eq 0 ] && cmp "$models/again.safetensors" "$tmp/again.safetensors" >/dev/null
ok $? "a server that ignores the Range: the download starts over ($err)"

# wrong bytes: refused by the SHA-256, nothing installed, the file set aside
run "$CLIPGREP" model fetch "$base/wrong/ViT-B-32.pt" --sha256 "$sha" --name bad
[ $rc -eq 2 ] && contains "$err" "SHA-256" && contains "$err" "expected $sha" && contains "$err" ".bad"
ok $? "wrong bytes are refused by the SHA-256 ($err)"
[ ! -e "$models/bad.safetensors" ] && [ -e "$models/downloads/bad/ViT-B-32.pt.bad" ] &&
	[ ! -e "$models/downloads/bad/ViT-B-32.pt.part" ]
ok $? "nothing installed; the wrong file is set aside, not resumed"

run "$CLIPGREP" model fetch "$base/ok/missing.pt" --sha256 "$sha"
[ $rc -eq 2 ] && contains "$err" "404" && contains "$err" "missing.pt"
ok $? "a missing file: HTTP 404, naming the URL ($err)"

# the known name checks its pinned digest (the stand-in is not OpenAI's file)
CLIPGREP_MODEL_URL="$base/ok" run "$CLIPGREP" model fetch vit-b-32
[ $rc -eq 2 ] && contains "$err" "expected 40d365715913c9da98579312b702a82c18be219cc2a73407c4526f58eba950af"
ok $? "vit-b-32 from CLIPGREP_MODEL_URL is checked against its pinned SHA-256 ($err)"
[ ! -e "$models/vit-b-32.safetensors" ]; ok $? "and not installed"
run "$CLIPGREP" model fetch vit-b-32-hf
[ $rc -eq 2 ] && contains "$err" "no SHA-256 is pinned"
ok $? "a model without pinned digests is not downloaded ($err)"
run "$CLIPGREP" model fetch "$base/ok/ViT-B-32.pt"
[ $rc -eq 1 ] && contains "$err" "--sha256"; ok $? "a URL without --sha256 is refused ($err)"

# a full disk: a 64 KiB tmpfs (root only)
if [ "$(id -u)" = 0 ] && mkdir "$tmp/small" && mount -t tmpfs -o size=64k tmpfs "$tmp/small" 2>/dev/null; then
	small="$tmp/small"
	XDG_DATA_HOME="$small" run "$CLIPGREP" model fetch "$base/ok/ViT-B-32.pt" --sha256 "$sha" --name full
	[ $rc -eq 2 ] && contains "$err" "No space left on device" && contains "$err" "kept"
	ok $? "a full disk: the error says so and keeps the partial file ($err)"
	[ -s "$small/clipgrep/models/downloads/full/ViT-B-32.pt.part" ]
	ok $? "the partial file is there for a resume"
else
	ok 0 "# SKIP a full disk needs root and a tmpfs mount (not root, or mount refused)"
	ok 0 "# SKIP a full disk keeps the partial file (as above)"
fi

done_testing
