/*
 * test-sha256 — SHA-256 against the FIPS 180-4 / NIST example digests
 * ("abc", the empty string, the 448-bit two-block message, a million
 * 'a's), fed whole and in uneven pieces, and sha256_file against
 * sha256_bytes.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sha256.h"
#include "tap.h"

static void hex_of(const void *data, size_t len, char out[65])
{
	uint8_t d[SHA256_SIZE];

	sha256_bytes(data, len, d);
	sha256_hex(d, out);
}

int main(void)
{
	static const struct { const char *msg, *digest; } vec[] = {
		{ "abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" },
		{ "", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" },
		{ "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
		  "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1" },
	};
	char hex[65], tmpl[] = "/tmp/clipgrep-test-sha256.XXXXXX";
	unsigned char *million = malloc(1000000);
	uint8_t d[SHA256_SIZE], e[SHA256_SIZE];
	sha256_ctx c;
	char *cause = NULL;
	FILE *f;
	int fd;

	for (size_t i = 0; i < sizeof vec / sizeof vec[0]; i++) {
		hex_of(vec[i].msg, strlen(vec[i].msg), hex);
		tap_ok(strcmp(hex, vec[i].digest) == 0, "SHA-256 of \"%.10s...\" (%zu bytes) is the NIST digest",
		    vec[i].msg, strlen(vec[i].msg));
	}
	memset(million, 'a', 1000000);
	/* uneven pieces cross every block boundary case */
	sha256_init(&c);
	for (size_t at = 0, step = 1; at < 1000000; at += step, step = step % 97 + 1)
		sha256_update(&c, million + at, at + step > 1000000 ? 1000000 - at : step);
	sha256_final(&c, d);
	sha256_hex(d, hex);
	tap_ok(strcmp(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0") == 0,
	    "a million 'a's in uneven pieces: the NIST digest");
	size_t n;
	for (n = 50; n < 140; n++) {
		sha256_bytes(million, n, d);
		sha256_init(&c);
		sha256_update(&c, million, n / 3);
		sha256_update(&c, million + n / 3, n - n / 3);
		sha256_final(&c, e);
		if (memcmp(d, e, sizeof d) != 0)
			break;
	}
	tap_ok(n == 140, "lengths 50..139 (padding into one or two blocks): split equals whole");
	if ((fd = mkstemp(tmpl)) < 0 || (f = fdopen(fd, "wb")) == NULL) {
		tap_ok(0, "mkstemp");
		return tap_done();
	}
	fwrite(million, 1, 200000, f);
	fclose(f);
	sha256_bytes(million, 200000, d);
	tap_ok(sha256_file(tmpl, e, &cause) == 0 && memcmp(d, e, sizeof d) == 0, "sha256_file = sha256_bytes");
	unlink(tmpl);
	fd = sha256_file(tmpl, e, &cause);
	tap_ok(fd == -1 && cause != NULL && strstr(cause, "clipgrep-test-sha256"),
	    "a missing file: -1 naming it (%s)", cause ? cause : "");
	free(cause);
	free(million);
	return tap_done();
}
