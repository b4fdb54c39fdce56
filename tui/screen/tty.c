/*
 * tty — terminal capability probe and the signal-time restore.
 */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "provide-curses.h"
#include "tty.h"
#include "util.h"

/* ---- probing ------------------------------------------------------------ */

static double tty_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Up to max numeric parameters of a CSI sequence body "p1;p2;...". */
static int tty_csi_params(const char *p, const char *end, int *out, int max)
{
	int n = 0, v = 0, any = 0;

	for (; p < end; p++) {
		if (*p >= '0' && *p <= '9') {
			if (v < 100000)
				v = v * 10 + (*p - '0');
			any = 1;
		} else if (*p == ';') {
			if (n < max)
				out[n++] = any ? v : 0;
			v = 0;
			any = 0;
		}
	}
	if (n < max && (any || n > 0))
		out[n++] = v;
	return n;
}

/* The value of hex digit c, or -1. */
static int tty_hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Decode the hex text p[0..n) into out (at most size - 1 bytes); -1 if not hex or too long. */
static int tty_unhex(const char *p, size_t n, char *out, size_t size)
{
	size_t k = 0;

	if (n % 2 != 0 || n / 2 >= size)
		return -1;
	for (size_t i = 0; i < n; i += 2) {
		int hi = tty_hex_digit(p[i]), lo = tty_hex_digit(p[i + 1]);
		if (hi < 0 || lo < 0)
			return -1;
		out[k++] = (char)(hi << 4 | lo);
	}
	out[k] = '\0';
	return 0;
}

/* XTGETTCAP's answer body after "1+r": NAME=VALUE pairs in hex, ';' between. */
static void tty_parse_tcap(const char *p, const char *end, tty_caps *caps)
{
	while (p < end) {
		const char *semi = memchr(p, ';', (size_t)(end - p)), *eq;
		char name[16], value[32];

		if (semi == NULL)
			semi = end;
		eq = memchr(p, '=', (size_t)(semi - p));
		if (eq != NULL && tty_unhex(p, (size_t)(eq - p), name, sizeof name) == 0 &&
		    tty_unhex(eq + 1, (size_t)(semi - eq - 1), value, sizeof value) == 0) {
			if (strcmp(name, "Co") == 0 || strcmp(name, "colors") == 0) {
				long v = 0;
				int digits = 0;
				for (const char *d = value; *d >= '0' && *d <= '9' && digits < 9; d++, digits++)
					v = v * 10 + (*d - '0');
				if (digits > 0 && value[digits] == '\0')
					caps->tcap_colours = v > (1L << 24) ? 1 << 24 : (int)v;
			} else if (strcmp(name, "RGB") == 0) {
				/* "8" or "8/8/8": bits per channel; "-1": none */
				caps->tcap_rgb = value[0] >= '1' && value[0] <= '9';
			}
		}
		p = semi + 1;
	}
}

/*
 * The string ESC c2 ... ST starting at buf[i] (c2 is P for DCS, _ for
 * APC): its body's end (*body_end) and the index of its last byte; 0 when
 * the string is not complete yet.
 */
static size_t tty_string_end(const char *buf, size_t len, size_t i, size_t *body_end)
{
	for (size_t k = i + 2; k < len; k++) {
		if (buf[k] == '\007') {
			*body_end = k;
			return k;
		}
		if (buf[k] == '\033') {
			if (k + 1 >= len)
				return 0;
			if (buf[k + 1] == '\\') {
				*body_end = k;
				return k + 1;
			}
			/* Another sequence starts: this one was cut off; skip it. */
			*body_end = k;
			return k - 1;
		}
	}
	return 0;
}

int tty_parse_replies(const char *buf, size_t len, tty_caps *caps)
{
	int da1 = 0;

	for (size_t i = 0; i + 2 < len; i++) {
		size_t j;
		int priv, params[16], n;

		if (buf[i] == '\033' && (buf[i + 1] == 'P' || buf[i + 1] == '_')) {
			size_t body_end = 0, last = tty_string_end(buf, len, i, &body_end);
			const char *b = buf + i + 2, *e = buf + body_end;

			if (last == 0)
				break; /* incomplete: wait for more */
			if (buf[i + 1] == 'P' && e - b >= 2 && b[0] == '>' && b[1] == '|') {
				/* XTVERSION: DCS > | name(version) ST */
				size_t k = 0;
				for (const char *c = b + 2; c < e && k + 1 < sizeof caps->version; c++)
					if (*c >= 0x20 && *c < 0x7f)
						caps->version[k++] = *c;
				caps->version[k] = '\0';
			} else if (buf[i + 1] == 'P' && e - b >= 3 && memcmp(b, "1+r", 3) == 0) {
				tty_parse_tcap(b + 3, e, caps);
			} else if (buf[i + 1] == '_' && e - b >= 8 && memcmp(b, "Gi=31;", 6) == 0 &&
			    e - b == 8 && memcmp(b + 6, "OK", 2) == 0) {
				/* The kitty graphics protocol: our query's id, and OK. */
				caps->kitty = 1;
			}
			i = last;
			continue;
		}
		if (buf[i] != '\033' || buf[i + 1] != '[')
			continue;
		j = i + 2;
		priv = j < len && buf[j] == '?';
		if (priv)
			j++;
		while (j < len && ((buf[j] >= '0' && buf[j] <= '9') || buf[j] == ';'))
			j++;
		if (j >= len)
			break; /* incomplete: wait for more */
		n = tty_csi_params(buf + i + 2 + priv, buf + j, params, 16);
		if (priv && buf[j] == 'c') {
			/* DA1: ESC [ ? Pp ; attr ; attr ... c (the first is the class) */
			da1 = 1;
			caps->answered = 1;
			for (int k = 1; k < n; k++)
				if (params[k] == 4)
					caps->sixel = 1;
		} else if (priv && buf[j] == 'S' && n >= 3 && params[0] == 1 && params[1] == 0) {
			/* XTSMGRAPHICS: ESC [ ? 1 ; 0 ; registers S (status 0 = success) */
			caps->color_registers = params[2];
		} else if (!priv && buf[j] == 't' && n >= 3 && params[0] == 6) {
			/* ESC [ 6 ; height ; width t: the cell size in pixels */
			if (params[1] > 0 && params[2] > 0 && params[1] < 1000 && params[2] < 1000 &&
			    !caps->cell_size_known) {
				caps->cell_height = params[1];
				caps->cell_width = params[2];
				caps->cell_size_known = 1;
			}
		}
		i = j;
	}
	return da1;
}

void tty_update_cell_size(int fd, tty_caps *caps)
{
	struct winsize ws;

	if (ioctl(fd, TIOCGWINSZ, &ws) == 0 && ws.ws_xpixel > 0 && ws.ws_ypixel > 0 &&
	    ws.ws_col > 0 && ws.ws_row > 0) {
		int w = ws.ws_xpixel / ws.ws_col, h = ws.ws_ypixel / ws.ws_row;
		if (w > 0 && h > 0) {
			caps->cell_width = w;
			caps->cell_height = h;
			caps->cell_size_known = 1;
		}
	}
}

int tty_probe(int fd, int timeout_ms, tty_caps *caps)
{
	static const char basic[] = "\033[?1;1;0S\033[16t";
	/* XTVERSION; XTGETTCAP Co, RGB; kitty graphics: a 1x1 RGB picture, query only. */
	static const char extended[] = "\033[>0q\033P+q436f\033\\\033P+q524742\033\\"
	    "\033_Gi=31,s=1,v=1,a=q,t=d,f=24;AAAA\033\\";
	const char *term = getenv("TERM");
	char query[160];
	struct termios saved, raw;
	char buf[1024];
	size_t len = 0;
	double deadline;
	int n;

	memset(caps, 0, sizeof *caps);
	caps->cell_width = TTY_CELL_WIDTH;
	caps->cell_height = TTY_CELL_HEIGHT;
	if (!isatty(fd) || tcgetattr(fd, &saved) == -1)
		return -1;
	tty_update_cell_size(fd, caps);
	raw = saved;
	raw.c_lflag &= ~(tcflag_t)(ICANON | ECHO);
	raw.c_cc[VMIN] = 0;
	raw.c_cc[VTIME] = 0;
	if (tcsetattr(fd, TCSANOW, &raw) == -1)
		return -1;
	n = snprintf(query, sizeof query, "%s%s\033[c", basic,
	    term != NULL && strncmp(term, "linux", 5) == 0 ? "" : extended);
	if (util_write_all(fd, query, (size_t)n) == 0) {
		deadline = tty_now_ms() + timeout_ms;
		for (;;) {
			struct pollfd p = { .fd = fd, .events = POLLIN };
			double left = deadline - tty_now_ms();
			ssize_t r;

			if (left <= 0)
				break;
			if (poll(&p, 1, (int)left + 1) <= 0) {
				if (errno == EINTR)
					continue;
				break;
			}
			r = read(fd, buf + len, sizeof buf - 1 - len);
			if (r <= 0)
				break;
			len += (size_t)r;
			if (tty_parse_replies(buf, len, caps))
				break;
			if (len >= sizeof buf - 1) /* keep the tail: a reply may straddle */
				len = 0;
		}
	}
	/* A late answer would otherwise arrive as keystrokes. */
	tcflush(fd, TCIFLUSH);
	tcsetattr(fd, TCSANOW, &saved);
	return 0;
}

/* ---- restore from a signal handler ------------------------------------- */

static struct {
	volatile sig_atomic_t armed;
	int fd, have_modes;
	struct termios modes; /* the shell's, saved before curses started */
	char seq[512]; /* what to write, NUL-terminated */
	size_t len;
} tty_restore;

static void tty_restore_append(const char *s)
{
	size_t n;

	if (s == NULL || s == (char *)-1)
		return;
	n = strlen(s);
	if (tty_restore.len + n >= sizeof tty_restore.seq)
		return;
	memcpy(tty_restore.seq + tty_restore.len, s, n);
	tty_restore.len += n;
	tty_restore.seq[tty_restore.len] = '\0';
}

void tty_save_modes(int fd)
{
	tty_restore.fd = fd;
	tty_restore.have_modes = tcgetattr(fd, &tty_restore.modes) == 0;
}

void tty_arm_restore(const char *extra)
{
	tty_restore.armed = 0;
	tty_restore.len = 0;
	tty_restore_append(extra);
	tty_restore_append(tigetstr("sgr0"));
	tty_restore_append(tigetstr("cnorm"));
	tty_restore_append(tigetstr("rmkx"));
	tty_restore_append(tigetstr("rmcup"));
	tty_restore.armed = 1;
}

void tty_emergency_restore(void)
{
	if (!tty_restore.armed)
		return;
	tty_restore.armed = 0;
	(void)util_write_all(tty_restore.fd, tty_restore.seq, tty_restore.len);
	if (tty_restore.have_modes)
		tcsetattr(tty_restore.fd, TCSANOW, &tty_restore.modes);
}

void tty_disarm_restore(void)
{
	tty_restore.armed = 0;
}
