/*
 * http-server — a small HTTP/1.1 file server for the `clipgrep model fetch`
 * tests: it listens on 127.0.0.1 on a port the kernel picks, writes the
 * port to PORTFILE, and serves files from DIR one connection at a time
 * ("Connection: close"), with Range requests ("bytes=N-") answered 206.
 * The first path component picks a behaviour:
 *   /ok/FILE             the file, honouring Range
 *   /norange/FILE        the whole file, 200, whatever the Range says
 *   /close-after-N/FILE  the headers of a full answer, then N body bytes, then close
 *   /wrong/FILE          the file's size, but every byte changed
 * anything else, or a missing file: 404.  Each request is logged to LOGFILE
 * as "GET PATH range=N" (N is -1 without a Range).  It exits after 120
 * seconds without a connection, so a test that dies leaves nothing behind.
 *
 *   http-server DIR PORTFILE LOGFILE
 *   http-server           (as a test: serve one request to itself, TAP)
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static int send_all(int fd, const void *buf, size_t n)
{
	const char *p = buf;

	while (n > 0) {
		ssize_t k = send(fd, p, n, MSG_NOSIGNAL);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return -1;
		p += k;
		n -= (size_t)k;
	}
	return 0;
}

static void answer_status(int fd, int code, const char *text, const char *extra)
{
	char h[1024];

	snprintf(h, sizeof h, "HTTP/1.1 %d %s\r\nContent-Length: 0\r\nConnection: close\r\n%s\r\n",
	    code, text, extra);
	send_all(fd, h, strlen(h));
}

static void serve(int fd, const char *dir, FILE *log)
{
	char req[8192], path[4096], mode[64], file[1024], h[512], *end, *r;
	size_t got = 0;
	long long range = -1, limit = -1, size, from;
	unsigned char *data = NULL;
	int wrong = 0, norange = 0, f;
	struct stat sb;

	/* the request head, up to its blank line */
	for (;;) {
		struct pollfd p = { fd, POLLIN, 0 };
		ssize_t k;
		if (got == sizeof req - 1 || poll(&p, 1, 5000) <= 0)
			return;
		if ((k = recv(fd, req + got, sizeof req - 1 - got, 0)) <= 0)
			return;
		got += (size_t)k;
		req[got] = '\0';
		if (strstr(req, "\r\n\r\n") != NULL)
			break;
	}
	if (sscanf(req, "GET %4095s HTTP/1.", path) != 1) {
		answer_status(fd, 400, "Bad Request", "");
		return;
	}
	for (r = req; (r = strchr(r, '\n')) != NULL; r++)
		if (strncasecmp(r + 1, "Range: bytes=", 13) == 0)
			range = strtoll(r + 14, NULL, 10);
	fprintf(log, "GET %s range=%lld\n", path, range);
	fflush(log);
	if (sscanf(path, "/%63[^/]/%1023[^/?]", mode, file) != 2 || strstr(file, "..") != NULL) {
		answer_status(fd, 404, "Not Found", "");
		return;
	}
	if (strncmp(mode, "close-after-", 12) == 0)
		limit = strtoll(mode + 12, &end, 10);
	else if (strcmp(mode, "wrong") == 0)
		wrong = 1;
	else if (strcmp(mode, "norange") == 0)
		norange = 1;
	else if (strcmp(mode, "ok") != 0) {
		answer_status(fd, 404, "Not Found", "");
		return;
	}
	snprintf(path, sizeof path, "%s/%s", dir, file);
	if ((f = open(path, O_RDONLY)) < 0 || fstat(f, &sb) != 0) {
		if (f >= 0)
			close(f);
		answer_status(fd, 404, "Not Found", "");
		return;
	}
	size = (long long)sb.st_size;
	if ((data = malloc((size_t)size + 1)) == NULL || read(f, data, (size_t)size) != (ssize_t)size) {
		close(f);
		free(data);
		answer_status(fd, 500, "Internal Server Error", "");
		return;
	}
	close(f);
	if (wrong)
		for (long long i = 0; i < size; i++)
			data[i] ^= 0x55;
	from = range >= 0 && !norange ? range : 0;
	if (from > 0 && from >= size) {
		snprintf(h, sizeof h, "Content-Range: bytes */%lld\r\n", size);
		answer_status(fd, 416, "Range Not Satisfiable", h);
		free(data);
		return;
	}
	if (from > 0)
		snprintf(h, sizeof h, "HTTP/1.1 206 Partial Content\r\nContent-Length: %lld\r\n"
		    "Content-Range: bytes %lld-%lld/%lld\r\nConnection: close\r\n\r\n", size - from, from,
		    size - 1, size);
	else
		snprintf(h, sizeof h, "HTTP/1.1 200 OK\r\nContent-Length: %lld\r\nAccept-Ranges: bytes\r\n"
		    "Connection: close\r\n\r\n", size);
	if (send_all(fd, h, strlen(h)) == 0) {
		long long n = size - from;
		if (limit >= 0 && limit < n)
			n = limit;
		send_all(fd, data + from, (size_t)n);
	}
	free(data);
}

/* A listening socket on 127.0.0.1, its port in *port; -1 on failure. */
static int listen_loopback(int *port)
{
	struct sockaddr_in a;
	socklen_t alen = sizeof a;
	int s, one = 1;

	memset(&a, 0, sizeof a);
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	a.sin_port = 0;
	if ((s = socket(AF_INET, SOCK_STREAM, 0)) < 0 ||
	    setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
	    bind(s, (struct sockaddr *)&a, sizeof a) != 0 || listen(s, 16) != 0 ||
	    getsockname(s, (struct sockaddr *)&a, &alen) != 0) {
		if (s >= 0)
			close(s);
		return -1;
	}
	*port = ntohs(a.sin_port);
	return s;
}

/* make check runs this program too: serve one request to a child and check the answer. */
static int self_test(void)
{
	char buf[256] = "";
	struct sockaddr_in a;
	int s, port, status, ok;
	pid_t pid;
	FILE *log = fopen("/dev/null", "w");

	signal(SIGPIPE, SIG_IGN);
	printf("1..1\n");
	if (log == NULL || (s = listen_loopback(&port)) < 0) {
		printf("not ok 1 - listen on 127.0.0.1: %s\n", strerror(errno));
		return 1;
	}
	if ((pid = fork()) == 0) {
		int c;
		memset(&a, 0, sizeof a);
		a.sin_family = AF_INET;
		a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		a.sin_port = htons((unsigned short)port);
		c = socket(AF_INET, SOCK_STREAM, 0);
		if (c < 0 || connect(c, (struct sockaddr *)&a, sizeof a) != 0)
			_exit(1);
		{
			static const char get[] = "GET /ok/nothing HTTP/1.1\r\nHost: x\r\n\r\n";
			send_all(c, get, sizeof get - 1);
		}
		if (recv(c, buf, sizeof buf - 1, MSG_WAITALL) < 12)
			_exit(1);
		_exit(strncmp(buf, "HTTP/1.1 404", 12) == 0 ? 0 : 1);
	}
	{
		int c = accept(s, NULL, NULL);
		if (c >= 0) {
			serve(c, "/nonexistent", log);
			close(c);
		}
	}
	ok = pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0;
	printf("%sok 1 - a GET for a missing file is answered 404 over 127.0.0.1\n", ok ? "" : "not ");
	close(s);
	fclose(log);
	return ok ? 0 : 1;
}

int main(int argc, char **argv)
{
	char tmp[4096];
	FILE *log, *pf;
	int s, port;

	if (argc == 1)
		return self_test();
	if (argc != 4) {
		fprintf(stderr, "usage: http-server DIR PORTFILE LOGFILE\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	if ((log = fopen(argv[3], "a")) == NULL) {
		perror(argv[3]);
		return 1;
	}
	if ((s = listen_loopback(&port)) < 0) {
		perror("http-server: 127.0.0.1");
		return 1;
	}
	/* the port appears whole or not at all */
	snprintf(tmp, sizeof tmp, "%s.tmp", argv[2]);
	if ((pf = fopen(tmp, "w")) == NULL || fprintf(pf, "%d\n", port) < 0 ||
	    fclose(pf) != 0 || rename(tmp, argv[2]) != 0) {
		perror(argv[2]);
		return 1;
	}
	for (;;) {
		struct pollfd p = { s, POLLIN, 0 };
		int c;
		if (poll(&p, 1, 120000) <= 0)
			return 0;
		if ((c = accept(s, NULL, NULL)) < 0)
			continue;
		serve(c, argv[1], log);
		shutdown(c, SHUT_WR);
		close(c);
	}
}
