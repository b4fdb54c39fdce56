/*
 * test-npy — core/npy: round trip, headers written by NumPy (1.0, 2.0,
 * 3.0), and malformed files giving clear errors.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "npy.h"
#include "tap.h"

/* A .npy in memory: version, raw header text, then nbytes of data. */
static size_t make_npy(unsigned char *buf, int major, const char *hdr, size_t nbytes)
{
	size_t hl = strlen(hdr), off;

	memcpy(buf, "\x93NUMPY", 6);
	buf[6] = (unsigned char)major;
	buf[7] = 0;
	if (major == 1) {
		buf[8] = (unsigned char)hl;
		buf[9] = (unsigned char)(hl >> 8);
		off = 10;
	} else {
		buf[8] = (unsigned char)hl;
		buf[9] = (unsigned char)(hl >> 8);
		buf[10] = 0;
		buf[11] = 0;
		off = 12;
	}
	memcpy(buf + off, hdr, hl);
	memset(buf + off + hl, 0, nbytes);
	return off + hl + nbytes;
}

static void expect_error(const unsigned char *buf, size_t len, const char *what,
    const char *needle)
{
	npy_array a;
	char *cause = NULL;
	int rc = npy_parse(buf, len, "bad.npy", &a, &cause);

	tap_ok(rc == -1 && cause != NULL && strstr(cause, "bad.npy: ") == cause &&
	    strstr(cause, needle) != NULL, "%s: %s", what, cause ? cause : "(no error)");
	free(cause);
}

/*
 * Parse len bytes placed so that they end exactly where an inaccessible page
 * begins: a read one byte past the buffer faults in any build, not only
 * under AddressSanitizer.
 */
static void expect_error_guarded(const unsigned char *image, size_t len, const char *what,
    const char *needle)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	unsigned char *map;

	if (len > page || (map = mmap(NULL, 2 * page, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)) == MAP_FAILED) {
		tap_ok(0, "%s: cannot set up a guard page", what);
		return;
	}
	mprotect(map + page, page, PROT_NONE);
	memcpy(map + page - len, image, len);
	expect_error(map + page - len, len, what, needle);
	munmap(map, 2 * page);
}

int main(void)
{
	static unsigned char buf[4096];
	char path[] = "/tmp/test-npy-XXXXXX";
	char file[64];
	float v[24];
	int64_t shape[4] = { 2, 3, 2, 2 };
	npy_array a;
	char *cause = NULL;
	size_t n;
	int fd, same = 1;

	for (int i = 0; i < 24; i++)
		v[i] = (float)i * 0.5f - 3.25f;
	fd = mkstemp(path);
	if (fd >= 0)
		close(fd);
	snprintf(file, sizeof file, "%s.npy", path);
	tap_ok(npy_write(file, 4, shape, v, &cause) == 0, "write [2,3,2,2]");
	tap_ok(npy_read(file, &a, &cause) == 0, "read back: %s", cause ? cause : "ok");
	tap_ok(a.ndim == 4 && a.shape[0] == 2 && a.shape[1] == 3 && a.shape[2] == 2 &&
	    a.shape[3] == 2, "shape round trip");
	for (int i = 0; a.data != NULL && i < 24; i++)
		same &= a.data[i] == v[i];
	tap_ok(a.data != NULL && same, "data round trip");
	npy_array_free(&a);
	tap_ok(npy_write(file, 1, shape + 1, v, &cause) == 0 && npy_read(file, &a, &cause) == 0 &&
	    a.ndim == 1 && a.shape[0] == 3 && a.data[2] == v[2], "1-d round trip");
	npy_array_free(&a);
	unlink(file);
	unlink(path);

	n = make_npy(buf, 2, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }\n", 16);
	tap_ok(npy_parse(buf, n, "v2.npy", &a, &cause) == 0 && a.ndim == 2, "version 2.0 header");
	npy_array_free(&a);
	n = make_npy(buf, 3, "{\"descr\": \"<f4\", \"fortran_order\": False, \"shape\": (5,)}\n", 20);
	tap_ok(npy_parse(buf, n, "v3.npy", &a, &cause) == 0 && a.ndim == 1 && a.shape[0] == 5,
	    "version 3.0 header, double quotes");
	npy_array_free(&a);
	n = make_npy(buf, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (), }\n", 4);
	tap_ok(npy_parse(buf, n, "s.npy", &a, &cause) == 0 && a.ndim == 0 &&
	    npy_array_numel(&a) == 1, "scalar");
	npy_array_free(&a);

	n = make_npy(buf, 1, "{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }\n", 16);
	expect_error(buf, n, "float64 refused", "not float32");
	n = make_npy(buf, 1, "{'descr': '>f4', 'fortran_order': False, 'shape': (2,), }\n", 8);
	expect_error(buf, n, "big-endian refused", "not float32");
	n = make_npy(buf, 1, "{'descr': '<f4', 'fortran_order': True, 'shape': (2,), }\n", 8);
	expect_error(buf, n, "Fortran order refused", "fortran_order");
	n = make_npy(buf, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }\n", 20);
	expect_error(buf, n, "truncated data", "truncated");
	n = make_npy(buf, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }\n", 28);
	expect_error(buf, n, "trailing data", "shape needs");
	n = make_npy(buf, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, x), }\n", 8);
	expect_error(buf, n, "malformed shape", "malformed shape");
	n = make_npy(buf, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (1,1,1,1,1,1,1,1,1), }\n", 4);
	expect_error(buf, n, "too many dimensions", "more than");
	n = make_npy(buf, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999, 99999999999, 99999999999), }\n", 4);
	expect_error(buf, n, "overflowing shape", "too large");
	n = make_npy(buf, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }\n", 8);
	buf[0] = 'X';
	expect_error(buf, n, "bad magic", "bad magic");
	buf[0] = 0x93;
	buf[6] = 4;
	expect_error(buf, n, "unknown version", "version 4.0");
	buf[6] = 1;
	buf[8] = 0xff;
	buf[9] = 0xff;
	expect_error(buf, n, "header length past the file", "runs past");
	n = make_npy(buf, 2, "{}", 0);
	buf[11] = 0x7f;
	expect_error(buf, n, "huge header length (2.0)", "runs past");
	expect_error(buf, 7, "file shorter than the magic", "bad magic");
	n = make_npy(buf, 1, "{'fortran_order': False, 'shape': (2,), }\n", 8);
	expect_error(buf, n, "no descr", "no 'descr'");
	/* The header ends right after the shape key: nothing may be read past it. */
	n = make_npy(buf, 1, "{'descr': '<f4', 'fortran_order': False, }'shape':", 0);
	expect_error_guarded(buf, n, "header ends after 'shape':", "no shape tuple");
	n = make_npy(buf, 1, "{'descr': '<f4', 'fortran_order': False, }'shape': ", 0);
	expect_error_guarded(buf, n, "header ends in blanks after 'shape':", "no shape tuple");
	int rc = npy_read("/nonexistent/x.npy", &a, &cause);
	tap_ok(rc == -1 && cause != NULL && strstr(cause, "/nonexistent/x.npy") != NULL,
	    "missing file named: %s", cause);
	free(cause);
	npy_array_free(NULL);
	return tap_done();
}
