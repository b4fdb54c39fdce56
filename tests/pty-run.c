/*
 * pty-run — run a program on a pseudo-terminal and play the terminal's
 * part, for the TUI tests: answer the program's queries like a sixel
 * terminal would, type keys, wait for output, and keep every byte the
 * program wrote.
 *
 *   pty-run [-g COLSxROWS] [-p WxH] [-a DA1] [-o FILE] [-t SECONDS]
 *           [-w TEXT | -s TEXT | -d MS | -r COLSxROWS | -k SIG]... -- PROGRAM [ARGS...]
 *
 *   -g   the window size in cells (default 120x40)
 *   -p   the window size in pixels (TIOCGWINSZ ws_xpixel/ws_ypixel; default none)
 *   -a   the answer to DA1 (ESC [ c), e.g. '\e[?62;4;22c' (default: none)
 *   -R   'QUERY\tREPLY': answer QUERY (bytes the program writes, matched as
 *        a prefix) with REPLY, e.g. '\e[>0q\t\eP>|XTerm(379)\e\\' (XTVERSION)
 *        or '\e_Gi=31,\t\e_Gi=31;OK\e\\' (kitty graphics); repeatable
 *   -o   write everything the program wrote to FILE
 *   -t   give up after this many seconds (default 20)
 *   actions, in order: -w wait until TEXT appears in the output (after the
 *   previous -w match), -s send TEXT, -d sleep MS, -r resize (SIGWINCH),
 *   -k send the program signal number N
 *   TEXT takes \e, \r, \n, \t, \\ and \xNN escapes.
 *
 * Exit status: the program's, 124 on a timeout (the output so far is kept).
 *
 *   pty-run --kitty FILE
 * lists the kitty graphics commands in a captured stream, one per line:
 * "t ID W H BYTES VALID" for a transmission (VALID 1 when its chunks
 * decode to W*H*3 bytes of base64 and every chunk is at most 4096),
 * "p ID ROW COL" for a placement (from the cursor position before it),
 * "d WHAT ID" for a deletion (ID 0 when none).
 *
 *   pty-run --sixels FILE
 * lists the sixel images in a captured stream, one per line:
 * "ROW COL WIDTH HEIGHT BYTES VALID" (ROW/COL 1-based, from the cursor
 * position sequence before the image; 0 0 when none; VALID 1 when the body
 * has only sixel characters and the raster size matches the pixel rows).
 *
 * With no arguments it runs its own test (TAP), so make check can build it
 * as a check program.
 */
#define _XOPEN_SOURCE 700
#define _DEFAULT_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

typedef struct {
	char kind; /* 'w', 's', 'd', 'r', 'k' */
	char *text;
	size_t len;
} action;

static char *out_buf;
static size_t out_len, out_cap;

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Decode the escapes of TEXT in place; returns the length. */
static size_t unescape(char *s)
{
	char *o = s;

	for (char *p = s; *p != '\0'; p++) {
		if (*p != '\\' || p[1] == '\0') {
			*o++ = *p;
			continue;
		}
		p++;
		switch (*p) {
		case 'e': *o++ = '\033'; break;
		case 'r': *o++ = '\r'; break;
		case 'n': *o++ = '\n'; break;
		case 't': *o++ = '\t'; break;
		case 'x': {
			unsigned v = 0;
			for (int i = 0; i < 2 && p[1] != '\0'; i++) {
				char c = p[1];
				if (c >= '0' && c <= '9')
					v = v * 16 + (unsigned)(c - '0');
				else if (c >= 'a' && c <= 'f')
					v = v * 16 + (unsigned)(c - 'a' + 10);
				else if (c >= 'A' && c <= 'F')
					v = v * 16 + (unsigned)(c - 'A' + 10);
				else
					break;
				p++;
			}
			*o++ = (char)v;
			break;
		}
		default: *o++ = *p; break;
		}
	}
	*o = '\0';
	return (size_t)(o - s);
}

static void append(const char *p, size_t n)
{
	if (out_len + n + 1 > out_cap) {
		out_cap = (out_len + n + 1) * 2;
		out_buf = realloc(out_buf, out_cap);
		if (out_buf == NULL) {
			perror("pty-run");
			exit(2);
		}
	}
	memcpy(out_buf + out_len, p, n);
	out_len += n;
	out_buf[out_len] = '\0';
}

static const char *find(const char *hay, size_t hlen, const char *needle, size_t nlen)
{
	if (nlen == 0)
		return hay;
	for (size_t i = 0; i + nlen <= hlen; i++)
		if (memcmp(hay + i, needle, nlen) == 0)
			return hay + i;
	return NULL;
}

static void write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return;
		}
		p += w;
		n -= (size_t)w;
	}
}

/* -R: extra queries and their answers. */
static struct {
	char *query, *reply;
	size_t qlen, rlen;
} replies[16];
static int n_replies;

/* Answer the terminal queries in out_buf[*scanned..). */
static void answer(int master, size_t *scanned, const char *da1)
{
	static const char q_da1[] = "\033[c", q_gfx[] = "\033[?1;1;0S";

	while (*scanned + 2 < out_len) {
		const char *p = out_buf + *scanned;
		size_t left = out_len - *scanned;
		int k;
		for (k = 0; k < n_replies; k++)
			if (left >= replies[k].qlen && memcmp(p, replies[k].query, replies[k].qlen) == 0)
				break;
		if (k < n_replies) {
			write_all(master, replies[k].reply, replies[k].rlen);
			*scanned += replies[k].qlen;
		} else if (left >= 3 && memcmp(p, q_da1, 3) == 0) {
			if (da1 != NULL)
				write_all(master, da1, strlen(da1));
			*scanned += 3;
		} else if (left >= sizeof q_gfx - 1 && memcmp(p, q_gfx, sizeof q_gfx - 1) == 0) {
			if (da1 != NULL && strstr(da1, ";4") != NULL)
				write_all(master, "\033[?1;0;256S", 11);
			*scanned += sizeof q_gfx - 1;
		} else {
			(*scanned)++;
		}
	}
}

static int parse_size(const char *s, int *a, int *b)
{
	return sscanf(s, "%dx%d", a, b) == 2 && *a > 0 && *b > 0 ? 0 : -1;
}

static int run(int argc, char **argv)
{
	int cols = 120, rows = 40, xpix = 0, ypix = 0, c, master, status = 0;
	double timeout = 20, deadline;
	const char *outfile = NULL;
	char *da1 = NULL;
	action acts[256];
	int nacts = 0, ai = 0;
	size_t scanned = 0, wait_from = 0;
	double sleep_until = 0;
	pid_t pid;
	struct winsize ws;
	int exited = 0;

	out_len = 0;
	append("", 0); /* out_buf is never NULL */
	while ((c = getopt(argc, argv, "+g:p:a:o:t:w:s:d:r:k:R:")) != -1) {
		switch (c) {
		case 'R': {
			char *q = strdup(optarg), *tab;
			size_t n = unescape(q);
			tab = memchr(q, '\t', n);
			if (tab == NULL || n_replies == 16 || tab == q)
				return 2;
			replies[n_replies].query = q;
			replies[n_replies].qlen = (size_t)(tab - q);
			replies[n_replies].reply = tab + 1;
			replies[n_replies].rlen = n - (size_t)(tab - q) - 1;
			n_replies++;
			break;
		}
		case 'g':
			if (parse_size(optarg, &cols, &rows) == -1)
				return 2;
			break;
		case 'p':
			if (parse_size(optarg, &xpix, &ypix) == -1)
				return 2;
			break;
		case 'a':
			da1 = strdup(optarg);
			unescape(da1);
			break;
		case 'o':
			outfile = optarg;
			break;
		case 't':
			timeout = atof(optarg);
			break;
		case 'w':
		case 's':
		case 'd':
		case 'r':
		case 'k':
			if (nacts == 256)
				return 2;
			acts[nacts].kind = (char)c;
			acts[nacts].text = strdup(optarg);
			acts[nacts].len = unescape(acts[nacts].text);
			nacts++;
			break;
		default:
			return 2;
		}
	}
	if (optind >= argc) {
		fprintf(stderr, "pty-run: no program\n");
		return 2;
	}
	master = posix_openpt(O_RDWR | O_NOCTTY);
	if (master < 0 || grantpt(master) == -1 || unlockpt(master) == -1) {
		perror("pty-run: posix_openpt");
		return 2;
	}
	memset(&ws, 0, sizeof ws);
	ws.ws_col = (unsigned short)cols;
	ws.ws_row = (unsigned short)rows;
	ws.ws_xpixel = (unsigned short)xpix;
	ws.ws_ypixel = (unsigned short)ypix;
	pid = fork();
	if (pid < 0)
		return 2;
	if (pid == 0) {
		char *name = ptsname(master);
		int slave;
		setsid();
		slave = open(name, O_RDWR);
		if (slave < 0)
			_exit(126);
		ioctl(slave, TIOCSCTTY, 0);
		ioctl(slave, TIOCSWINSZ, &ws);
		dup2(slave, 0);
		dup2(slave, 1);
		dup2(slave, 2);
		if (slave > 2)
			close(slave);
		close(master);
		execvp(argv[optind], argv + optind);
		_exit(127);
	}
	deadline = now_s() + timeout;
	for (;;) {
		struct pollfd p = { .fd = master, .events = POLLIN };
		char buf[65536];
		int wait_ms = 20;

		/* Run the actions that can run now. */
		while (ai < nacts && !exited) {
			action *a = &acts[ai];
			if (a->kind == 'w') {
				const char *hit = find(out_buf + wait_from, out_len - wait_from, a->text, a->len);
				if (hit == NULL)
					break;
				wait_from = (size_t)(hit - out_buf) + a->len;
			} else if (a->kind == 's') {
				write_all(master, a->text, a->len);
			} else if (a->kind == 'd') {
				if (sleep_until == 0)
					sleep_until = now_s() + atof(a->text) / 1000;
				if (now_s() < sleep_until)
					break;
				sleep_until = 0;
			} else if (a->kind == 'k') {
				kill(pid, atoi(a->text));
			} else if (a->kind == 'r') {
				int nc, nr;
				if (parse_size(a->text, &nc, &nr) == 0) {
					ws.ws_col = (unsigned short)nc;
					ws.ws_row = (unsigned short)nr;
					if (xpix > 0) {
						ws.ws_xpixel = (unsigned short)(nc * (xpix / cols));
						ws.ws_ypixel = (unsigned short)(nr * (ypix / rows));
					}
					ioctl(master, TIOCSWINSZ, &ws);
					kill(pid, SIGWINCH);
				}
			}
			ai++;
		}
		if (now_s() > deadline) {
			fprintf(stderr, "pty-run: timed out (action %d of %d)\n", ai + 1, nacts);
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			status = -1;
			break;
		}
		if (poll(&p, 1, wait_ms) > 0) {
			ssize_t n = read(master, buf, sizeof buf);
			if (n > 0) {
				append(buf, (size_t)n);
				answer(master, &scanned, da1);
				continue;
			}
			/* EIO: the program and everything on the terminal closed it. */
			if (!exited && waitpid(pid, &status, 0) == pid)
				exited = 1;
			if (exited)
				break;
		}
		if (!exited && waitpid(pid, &status, WNOHANG) == pid) {
			exited = 1;
			/* Read what is left. */
			continue;
		}
	}
	close(master);
	if (outfile != NULL) {
		FILE *f = fopen(outfile, "wb");
		if (f == NULL || fwrite(out_buf, 1, out_len, f) != out_len || fclose(f) != 0) {
			perror(outfile);
			return 2;
		}
	}
	for (int i = 0; i < nacts; i++)
		free(acts[i].text);
	free(da1);
	free(out_buf);
	out_buf = NULL;
	out_cap = 0;
	if (status == -1)
		return 124;
	if (ai < nacts) {
		fprintf(stderr, "pty-run: the program ended before action %d of %d\n", ai + 1, nacts);
		return 125;
	}
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return WEXITSTATUS(status);
}

/* ---- --sixels ------------------------------------------------------------- */

static int sixels(const char *path)
{
	FILE *f = fopen(path, "rb");
	char *d;
	long n;
	int row = 0, col = 0;

	if (f == NULL) {
		perror(path);
		return 2;
	}
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	d = malloc((size_t)n + 1);
	if (d == NULL || fread(d, 1, (size_t)n, f) != (size_t)n) {
		fclose(f);
		return 2;
	}
	fclose(f);
	d[n] = '\0';
	for (long i = 0; i + 1 < n; i++) {
		if (d[i] != '\033')
			continue;
		if (d[i + 1] == '[') {
			/* A cursor position: ESC [ row ; col H */
			int r, c2;
			char fin;
			if (sscanf(d + i + 2, "%d;%d%c", &r, &c2, &fin) == 3 && fin == 'H') {
				row = r;
				col = c2;
			}
			continue;
		}
		if (d[i + 1] == 'P') {
			long j = i + 2, end, body;
			int w = 0, h = 0, valid = 1, bands = 1, any = 0;
			while (j < n && ((d[j] >= '0' && d[j] <= '9') || d[j] == ';'))
				j++;
			if (j >= n || d[j] != 'q')
				continue;
			body = ++j;
			for (end = body; end + 1 < n && !(d[end] == '\033' && d[end + 1] == '\\'); end++)
				;
			if (end + 1 >= n)
				valid = 0;
			if (body < end && d[body] == '"')
				sscanf(d + body + 1, "%*d;%*d;%d;%d", &w, &h);
			for (long k = body; k < end; k++) {
				unsigned char ch = (unsigned char)d[k];
				/* Sixel data, repeat (!), colour (#), raster ("), new band (-), CR ($). */
				if (ch == '-')
					bands++;
				else if (ch >= '?' && ch <= '~')
					any = 1;
				else if (!(ch == '!' || ch == '#' || ch == '"' || ch == '$' || ch == ';' ||
				    (ch >= '0' && ch <= '9')))
					valid = 0;
			}
			if (w <= 0 || h <= 0 || !any || (h + 5) / 6 != bands)
				valid = 0;
			printf("%d %d %d %d %ld %d\n", row, col, w, h, end - i + 2, valid);
			row = col = 0;
			i = end;
		}
	}
	free(d);
	return 0;
}

/* ---- --kitty ---------------------------------------------------------------- */

/* The value of key k in "k=v,k=v" keys[0..n), or -1. */
static long kitty_key(const char *keys, size_t n, char k)
{
	for (size_t i = 0; i + 1 < n; i++)
		if (keys[i] == k && keys[i + 1] == '=' && (i == 0 || keys[i - 1] == ','))
			return keys[i + 2] >= '0' && keys[i + 2] <= '9' ? atol(keys + i + 2) : keys[i + 2];
	return -1;
}

static int kitty(const char *path)
{
	FILE *f = fopen(path, "rb");
	char *d;
	long n, id = 0, w = 0, h = 0, b64 = 0, bytes = 0;
	int row = 0, col = 0, valid = 1, open_t = 0;

	if (f == NULL) {
		perror(path);
		return 2;
	}
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	d = malloc((size_t)n + 1);
	if (d == NULL || fread(d, 1, (size_t)n, f) != (size_t)n) {
		fclose(f);
		return 2;
	}
	fclose(f);
	d[n] = '\0';
	for (long i = 0; i + 2 < n; i++) {
		long end, semi;
		size_t klen;
		if (d[i] != '\033')
			continue;
		if (d[i + 1] == '[') {
			int r, c2;
			char fin;
			if (sscanf(d + i + 2, "%d;%d%c", &r, &c2, &fin) == 3 && fin == 'H') {
				row = r;
				col = c2;
			}
			continue;
		}
		if (d[i + 1] != '_' || d[i + 2] != 'G')
			continue;
		for (end = i + 3; end + 1 < n && !(d[end] == '\033' && d[end + 1] == '\\'); end++)
			;
		if (end + 1 >= n)
			break;
		for (semi = i + 3; semi < end && d[semi] != ';'; semi++)
			;
		klen = (size_t)(semi - (i + 3));
		{
			const char *keys = d + i + 3;
			long a = kitty_key(keys, klen, 'a'), m = kitty_key(keys, klen, 'm');
			long payload = semi < end ? end - semi - 1 : 0;
			if (a == 't' || (a == -1 && open_t)) {
				if (a == 't') {
					id = kitty_key(keys, klen, 'i');
					w = kitty_key(keys, klen, 's');
					h = kitty_key(keys, klen, 'v');
					b64 = 0;
					bytes = end - i + 2;
					valid = kitty_key(keys, klen, 'f') == 24;
					open_t = 1;
				} else {
					bytes += end - i + 2;
				}
				if (payload > 4096)
					valid = 0;
				b64 += payload;
				for (long k = semi + 1; k < end; k++)
					if (d[k] == '=')
						b64--; /* padding: count decoded bytes below */
				if (m != 1) {
					long pad = 0;
					for (long k = end - 1; k > semi && d[k] == '='; k--)
						pad++;
					/* b64 counts characters without '=': decoded = chars * 3 / 4 */
					if ((b64 + pad) % 4 != 0 || b64 * 3 / 4 != w * h * 3)
						valid = 0;
					printf("t %ld %ld %ld %ld %d\n", id, w, h, bytes, valid);
					open_t = 0;
				}
			} else if (a == 'p') {
				printf("p %ld %d %d\n", kitty_key(keys, klen, 'i'), row, col);
				row = col = 0;
			} else if (a == 'd') {
				long what = kitty_key(keys, klen, 'd'), did = kitty_key(keys, klen, 'i');
				printf("d %c %ld\n", what > 0 ? (char)what : '?', did > 0 ? did : 0);
			}
		}
		i = end;
	}
	free(d);
	return 0;
}

/* ---- self-test -------------------------------------------------------------- */

static int self_test(void)
{
	char *argv[] = { "pty-run", "-t", "5", "-w", "hello", "--", "sh", "-c",
		"test -t 0 && test -t 1 && printf hello", NULL };
	int rc;

	printf("1..1\n");
	optind = 1;
	rc = run(9, argv);
	printf("%s 1 - a program runs on a terminal and its output is read (rc %d)\n",
	    rc == 0 ? "ok" : "not ok", rc);
	return rc == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
	if (argc == 1)
		return self_test();
	if (argc == 3 && strcmp(argv[1], "--sixels") == 0)
		return sixels(argv[2]);
	if (argc == 3 && strcmp(argv[1], "--kitty") == 0)
		return kitty(argv[2]);
	return run(argc, argv);
}
