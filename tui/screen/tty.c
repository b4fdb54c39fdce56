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

int tty_parse_replies(const char *buf, size_t len, tty_caps *caps)
{
	int da1 = 0;

	for (size_t i = 0; i + 2 < len; i++) {
		size_t j;
		int priv, params[16], n;

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
	static const char query[] = "\033[?1;1;0S\033[16t\033[c";
	struct termios saved, raw;
	char buf[512];
	size_t len = 0;
	double deadline;

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
	if (util_write_all(fd, query, sizeof query - 1) == 0) {
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
