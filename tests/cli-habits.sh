#!/bin/sh
# cli-habits.sh — the command-line habits of issue 16 (items 5, 8, 9):
# `clipgrep QUERY` as rclip users type it, a missing folder named as one,
# "no index" messages that give the next step, a non-safetensors --model
# named as such, exit 2 when every named input failed, search defaulting
# to the models the index was built with, the screen's options in --help,
# the man page substituted and proofread, and ./bootstrap without autoconf's
# "rm: cannot remove 'core'" noise.
. "$top_srcdir/tests/lib.sh"

T=$(mktemp -d "${TMPDIR:-/tmp}/clipgrep-cli-habits.XXXXXX") || exit 1
trap 'rm -rf "$T"' EXIT
unset CLIPGREP_DB CLIPGREP_CONFIG
export HOME="$T/home" XDG_CONFIG_HOME="$T/cfg" XDG_DATA_HOME="$T/data" XDG_STATE_HOME="$T/state"
mkdir -p "$HOME" "$T/lib" "$T/models"
# A copy of the tiny model: the index must remember where it is, and a
# moved model file must be named.
cp "$top_srcdir/tests/golden/tiny-tcmgc.safetensors" "$T/models/tiny.safetensors"
M=$T/models/tiny.safetensors
cp "$top_srcdir/assets/demo/clips/clip-01.mp4" "$top_srcdir/assets/demo/clips/clip-02.mp4" "$T/lib/"
DB=$T/index.db

run "$CLIPGREP" index -q --db "$DB" --model "$M" "$T/lib"
ok $rc "fixture: a two-clip index made with a tiny model"

# 16.8: search without --model uses the index's own model.
run "$CLIPGREP" search --db "$DB" a dog
ok $(( rc != 0 )) "search without --model finds the videos of the index's model (rc $rc)"
contains "$out" "clip-01.mp4" && contains "$out" "clip-02.mp4"
ok $? "and lists both clips"
[ -n "$err" ] && diag "$err"
run "$CLIPGREP" explain --db "$DB" "a dog" "$T/lib/clip-01.mp4"
ok $rc "explain without --model too"
# The demo model asked for: the message names the model the index holds.
run "$CLIPGREP" search --db "$DB" --model "$top_srcdir/assets/demo/demo.safetensors" a dog
contains "$err" "tiny.safetensors"
ok $? "a search with another model names the index's model"
diag "$err"
# The model file moved: said so, naming it.
mv "$M" "$T/models/moved.safetensors"
run "$CLIPGREP" search --db "$DB" a dog
contains "$err" "'$M'" && contains "$err" "missing"
ok $? "a moved model file is named as missing"
diag "$err"
mv "$T/models/moved.safetensors" "$M"

# 16.5: a first argument that is not a command.
run "$CLIPGREP" --db "$DB" "a dog in the snow"
ok $(( rc != 0 )) "clipgrep QUERY, stdout not a terminal: exit 0 (rc $rc)"
contains "$out" "clip-01.mp4"
ok $? "and it prints the ranked list"
run "$CLIPGREP" --db "$DB" a dog
contains "$out" "clip-02.mp4"
ok $? "clipgrep a dog (several words) is one query"
run "$CLIPGREP" /no/such/folder
[ "$rc" -eq 2 ] && contains "$err" "no such folder '/no/such/folder'"
ok $? "a missing folder: \"no such folder\", exit 2 (rc $rc: $err)"
run "$CLIPGREP" ./nowhere
[ "$rc" -eq 2 ] && contains "$err" "no such folder './nowhere'"
ok $? "a missing ./folder says so"
for cmd in search info; do
	if [ $cmd = search ]; then run "$CLIPGREP" search --db "$T/none.db" dog
	else run "$CLIPGREP" info --db "$T/none.db"; fi
	[ "$rc" -eq 2 ] && contains "$err" "no index yet at '$T/none.db'" &&
	    contains "$err" "clipgrep index DIR"
	ok $? "$cmd without an index gives the next step ($err)"
done
printf 'just some notes, not a model\n' >"$T/notes.mp4"
run "$CLIPGREP" search --db "$DB" --model "$T/notes.mp4" dog
[ "$rc" -eq 2 ] && contains "$err" "'$T/notes.mp4' is not a clipgrep model file (safetensors)"
ok $? "--model with a text file: not a clipgrep model file ($err)"
run "$CLIPGREP" search --db "$DB" --model "$T/lib/clip-01.mp4" dog
contains "$err" "is not a clipgrep model file (safetensors)"
ok $? "--model with a video: not a clipgrep model file"
run "$CLIPGREP" index -q --db "$T/other.db" --model "$M" "$T/notes.mp4"
[ "$rc" -eq 2 ]
ok $? "index of one file that fails exits 2 (rc $rc)"

# 16.9: --help lists the screen's options; the man page is substituted.
run "$CLIPGREP" --help
for o in --images --colours --mode --query --top --no-index --db --model; do
	contains "$out" "$o"
	ok $? "--help lists $o"
done
if [ -f "$top_builddir/man/clipgrep.1" ]; then
	! grep -q -e 'pkgdatadir' -e 'fframe' "$top_builddir/man/clipgrep.1"
	ok $? "the built man page has no \$(pkgdatadir) or @pkgdatadir@ left, and no 'fframe'"
else
	ok 1 "the man page is built"
fi

# bootstrap: configure's "rm: cannot remove 'core'" lines are filtered,
# other errors and the exit status are kept.  Fake dpkg-query, apt-get and
# autoreconf keep it from touching the system.
mkdir -p "$T/boot/fake"
cp "$top_srcdir/bootstrap" "$T/boot/"
printf '#!/bin/sh\necho installed\n' >"$T/boot/fake/dpkg-query"
printf '#!/bin/sh\nexit 1\n' >"$T/boot/fake/apt-get"
printf '#!/bin/sh\nexit 0\n' >"$T/boot/fake/autoreconf"
cat >"$T/boot/configure" <<'EOS'
#!/bin/sh
echo "checking for something... yes"
echo "rm: cannot remove 'core': Is a directory" >&2
echo "configure: error: a real problem" >&2
exit 3
EOS
chmod +x "$T/boot/fake/"* "$T/boot/configure" "$T/boot/bootstrap"
run env PATH="$T/boot/fake:$PATH" "$T/boot/bootstrap"
[ "$rc" -eq 3 ] && ! contains "$err" "cannot remove 'core'" &&
    contains "$err" "a real problem" && contains "$out" "checking for something"
ok $? "bootstrap drops the rm core line, keeps other errors and the status (rc $rc)"
diag "$err"

done_testing
