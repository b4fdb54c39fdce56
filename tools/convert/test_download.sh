#!/bin/sh
# Offline checks of tools/download-model's checksum logic (no network):
# the SHA-256 is taken from the URL path, a matching local file passes, a
# different one is refused with exit 2 and both hashes named, a URL without
# a hash is refused.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
DL=$HERE/../download-model
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail=0
ok() { echo "ok    $1"; }
bad() { echo "FAIL  $1"; fail=1; }

printf 'not really a model\n' > "$T/ViT-B-32.pt"
SUM=$( (sha256sum "$T/ViT-B-32.pt" 2>/dev/null || shasum -a 256 "$T/ViT-B-32.pt") | cut -d' ' -f1)

if sh "$DL" --url "https://example.invalid/clip/models/$SUM/ViT-B-32.pt" --file "$T/ViT-B-32.pt" \
	--check-only 2>"$T/err"; then ok "matching file accepted"; else bad "matching file refused: $(cat "$T/err")"; fi

sh "$DL" --file "$T/ViT-B-32.pt" --check-only 2>"$T/err"
rc=$?
if [ $rc -eq 2 ] && grep -q "SHA-256 mismatch: expected 40d365715913c9da98579312b702a82c18be219cc2a73407c4526f58eba950af, got $SUM" "$T/err"
then ok "the real ViT-B/32 hash is expected and a different file refused"
else bad "mismatch not reported (rc $rc): $(cat "$T/err")"; fi

sh "$DL" --url "https://example.invalid/ViT-B-32.pt" --file "$T/ViT-B-32.pt" --check-only 2>"$T/err"
if [ $? -eq 2 ] && grep -q "no SHA-256 in the URL" "$T/err"; then ok "URL without a hash refused"
else bad "URL without a hash: $(cat "$T/err")"; fi

sh "$DL" --file "$T/missing.pt" --check-only 2>"$T/err"
if [ $? -eq 2 ] && grep -q "cannot read" "$T/err"; then ok "missing file refused"
else bad "missing file: $(cat "$T/err")"; fi

[ $fail -eq 0 ] && echo PASS || echo FAIL
exit $fail
