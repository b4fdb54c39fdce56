/*
 * fetch — resumable, verified downloads (see fetch.h).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifdef HAVE_CURL
#include <curl/curl.h>
#endif

#include "fetch.h"
#include "sha256.h"
#include "util.h"

int fetch_available(void)
{
#ifdef HAVE_CURL
	return 1;
#else
	return 0;
#endif
}

/* path + suffix, newly allocated. */
static char *fetch_name(const char *path, const char *suffix)
{
	char *s = malloc(strlen(path) + strlen(suffix) + 1);

	if (s != NULL)
		sprintf(s, "%s%s", path, suffix);
	return s;
}

/* 1 when path holds a file with the expected digest; 0 when not; -1 unreadable. */
static int fetch_matches(const char *path, const char *want, char got[2 * SHA256_SIZE + 1],
    char **cause)
{
	uint8_t d[SHA256_SIZE];

	if (sha256_file(path, d, cause) < 0)
		return -1;
	sha256_hex(d, got);
	return strcmp(got, want) == 0;
}

/* fsync the folder holding path, so a rename into it survives a crash. */
static void fetch_sync_dir(const char *path)
{
	char *dir = util_strdup(path), *slash;
	int fd;

	if (dir == NULL)
		return;
	if ((slash = strrchr(dir, '/')) != NULL)
		*(slash == dir ? slash + 1 : slash) = '\0';
	else
		strcpy(dir, ".");
	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0) {
		fsync(fd);
		close(fd);
	}
	free(dir);
}

/* The finished DEST.part: check its size and digest, then rename it to DEST. */
static int fetch_finish(const fetch_request *r, const char *part, int64_t have, char **cause)
{
	char got[2 * SHA256_SIZE + 1], *bad;
	int m;

	if (r->size >= 0 && have < r->size) {
		util_set_cause(cause, "%s: the server ended the file after %lld of %lld bytes; the "
		    "partial download is kept in %s: run the same command again to resume",
		    UTIL_NAME(r->url), (long long)have, (long long)r->size, UTIL_NAME(part));
		return -1;
	}
	if ((m = fetch_matches(part, r->sha256, got, cause)) < 0)
		return -1;
	if (m == 0 || (r->size >= 0 && have != r->size)) {
		/* Resuming a wrong file only repeats the mismatch: move it aside. */
		if ((bad = fetch_name(r->dest, ".bad")) == NULL || rename(part, bad) != 0) {
			util_set_cause(cause, "%s: SHA-256 %s, expected %s (%lld bytes%s); not the "
			    "file clipgrep knows", UTIL_NAME(part), got, r->sha256, (long long)have,
			    r->size >= 0 ? "" : ", size unknown");
			free(bad);
			return -1;
		}
		char sizes[96];
		if (r->size >= 0 && have != r->size)
			snprintf(sizes, sizeof sizes, "%lld bytes, expected %lld", (long long)have,
			    (long long)r->size);
		else
			snprintf(sizes, sizeof sizes, "%lld bytes", (long long)have);
		util_set_cause(cause, "%s: SHA-256 %s, expected %s (%s): a damaged download or a "
		    "changed file upstream; nothing was installed, the file is kept as %s and the next "
		    "attempt starts afresh", UTIL_NAME(r->url), got, r->sha256, sizes, UTIL_NAME(bad));
		free(bad);
		return -1;
	}
	if (rename(part, r->dest) != 0) {
		util_set_cause(cause, "%s: %s", UTIL_NAME(r->dest), strerror(errno));
		return -1;
	}
	fetch_sync_dir(r->dest);
	return 0;
}

#ifdef HAVE_CURL
typedef struct {
	const fetch_request *r;
	const char *part;
	int fd;
	int64_t have;         /* bytes in the part file */
	int64_t start;        /* bytes it had when this transfer began */
	int checked;          /* the response code was looked at (first write) */
	int restarted;        /* the server ignored the range: the part started over */
	int write_errno;      /* why a write failed, or 0 */
	CURL *curl;
} fetch_state;

static size_t fetch_on_data(char *data, size_t size, size_t n, void *arg)
{
	fetch_state *s = arg;
	size_t len = size * n;

	if (!s->checked) {
		long code = 0;
		s->checked = 1;
		curl_easy_getinfo(s->curl, CURLINFO_RESPONSE_CODE, &code);
		/* 200 to a range request: the whole file follows; start the part over */
		if (code == 200 && s->have > 0) {
			if (ftruncate(s->fd, 0) != 0) {
				s->write_errno = errno;
				return 0;
			}
			s->have = s->start = 0;
			s->restarted = 1;
		}
	}
	if (util_write_all(s->fd, data, len) < 0) {
		s->write_errno = errno ? errno : EIO;
		return 0;
	}
	s->have += (int64_t)len;
	return len;
}

static int fetch_on_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
    curl_off_t ulnow)
{
	fetch_state *s = arg;
	int64_t total = s->r->size;

	(void)dlnow;
	(void)ultotal;
	(void)ulnow;
	if (total < 0 && dltotal > 0)
		total = s->start + (int64_t)dltotal;
	if (s->r->progress != NULL)
		s->r->progress(s->r->arg, s->have, total);
	return 0;
}

/* One transfer into the part file; 0 when the server sent all it had. */
static int fetch_transfer(fetch_state *s, char **cause)
{
	char err[CURL_ERROR_SIZE] = "";
	CURLcode rc;
	long code = 0;
	char ua[64], range[32];

	if ((s->curl = curl_easy_init()) == NULL) {
		util_set_cause(cause, "%s: cannot start libcurl", UTIL_NAME(s->r->url));
		return -1;
	}
	snprintf(ua, sizeof ua, "clipgrep/%s", PACKAGE_VERSION);
	curl_easy_setopt(s->curl, CURLOPT_URL, s->r->url);
	curl_easy_setopt(s->curl, CURLOPT_USERAGENT, ua);
	curl_easy_setopt(s->curl, CURLOPT_FOLLOWLOCATION, 1L);
	curl_easy_setopt(s->curl, CURLOPT_MAXREDIRS, 10L);
#if LIBCURL_VERSION_NUM >= 0x075500
	curl_easy_setopt(s->curl, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(s->curl, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
#endif
	curl_easy_setopt(s->curl, CURLOPT_FAILONERROR, 1L);
	curl_easy_setopt(s->curl, CURLOPT_ERRORBUFFER, err);
	curl_easy_setopt(s->curl, CURLOPT_CONNECTTIMEOUT, 30L);
	/* a transfer that stalls for a minute is over; the part is kept */
	curl_easy_setopt(s->curl, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(s->curl, CURLOPT_LOW_SPEED_TIME, 60L);
	curl_easy_setopt(s->curl, CURLOPT_WRITEFUNCTION, fetch_on_data);
	curl_easy_setopt(s->curl, CURLOPT_WRITEDATA, s);
	curl_easy_setopt(s->curl, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(s->curl, CURLOPT_XFERINFOFUNCTION, fetch_on_progress);
	curl_easy_setopt(s->curl, CURLOPT_XFERINFODATA, s);
	/*
	 * A plain Range header, not CURLOPT_RESUME_FROM: a server that ignores
	 * it answers 200 with the whole file, which fetch_on_data then takes
	 * from the start instead of failing.
	 */
	if (s->have > 0) {
		snprintf(range, sizeof range, "%lld-", (long long)s->have);
		curl_easy_setopt(s->curl, CURLOPT_RANGE, range);
	}
	rc = curl_easy_perform(s->curl);
	curl_easy_getinfo(s->curl, CURLINFO_RESPONSE_CODE, &code);
	curl_easy_cleanup(s->curl);
	s->curl = NULL;
	if (rc == CURLE_OK)
		return 0;
	if (rc == CURLE_WRITE_ERROR && s->write_errno != 0) {
		util_set_cause(cause, "%s: %s; the %lld bytes downloaded so far are kept: make room "
		    "and run the same command again to resume", UTIL_NAME(s->part),
		    strerror(s->write_errno), (long long)s->have);
		return -1;
	}
	/* the part already holds the whole file (size unknown to us) */
	if (rc == CURLE_HTTP_RETURNED_ERROR && code == 416 && s->have > 0)
		return 0;
	if (rc == CURLE_HTTP_RETURNED_ERROR)
		util_set_cause(cause, "%s: the server answered HTTP %ld%s", UTIL_NAME(s->r->url), code,
		    code == 404 ? " (not found: is the model URL right?)" : "");
	else
		util_set_cause(cause, "%s: %s after %lld bytes; %s", UTIL_NAME(s->r->url),
		    err[0] != '\0' ? err : curl_easy_strerror(rc), (long long)s->have,
		    s->have > 0 ? "the partial download is kept: run the same command again to resume" :
		    "nothing was downloaded");
	return -1;
}
#endif

int fetch_file(const fetch_request *r, int *fresh, char **cause)
{
	char got[2 * SHA256_SIZE + 1], *part = NULL;
	int rc = -1;

	if (fresh != NULL)
		*fresh = 0;
	if (strlen(r->sha256) != 2 * SHA256_SIZE) {
		util_set_cause(cause, "%s: no SHA-256 to check it against", UTIL_NAME(r->url));
		return -1;
	}
	/* already in place and intact: nothing to do */
	if (access(r->dest, F_OK) == 0 && fetch_matches(r->dest, r->sha256, got, NULL) == 1)
		return 0;
	if ((part = fetch_name(r->dest, ".part")) == NULL) {
		util_set_cause(cause, "%s: out of memory", UTIL_NAME(r->dest));
		return -1;
	}
#ifdef HAVE_CURL
	{
		static int curl_ready;
		fetch_state s;
		struct stat sb;

		if (!curl_ready) {
			if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0) {
				util_set_cause(cause, "%s: cannot initialise libcurl", UTIL_NAME(r->url));
				goto out;
			}
			curl_ready = 1;
		}
		memset(&s, 0, sizeof s);
		s.r = r;
		s.part = part;
		if ((s.fd = open(part, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644)) < 0 ||
		    fstat(s.fd, &sb) != 0) {
			util_set_cause(cause, "%s: %s", UTIL_NAME(part), strerror(errno));
			if (s.fd >= 0)
				close(s.fd);
			goto out;
		}
		s.have = s.start = (int64_t)sb.st_size;
		/* a part longer than the file cannot be resumed */
		if (r->size >= 0 && s.have > r->size) {
			if (ftruncate(s.fd, 0) != 0) {
				util_set_cause(cause, "%s: %s", UTIL_NAME(part), strerror(errno));
				close(s.fd);
				goto out;
			}
			s.have = s.start = 0;
		}
		if (r->size < 0 || s.have < r->size) {
			if (fresh != NULL)
				*fresh = 1;
			if (fetch_transfer(&s, cause) < 0) {
				fsync(s.fd);
				close(s.fd);
				goto out;
			}
		}
		if (fsync(s.fd) != 0 || close(s.fd) != 0) {
			util_set_cause(cause, "%s: %s; the download is kept: run the same command again "
			    "to resume", UTIL_NAME(part), strerror(errno));
			goto out;
		}
		if (r->progress != NULL)
			r->progress(r->arg, s.have, r->size >= 0 ? r->size : s.have);
		rc = fetch_finish(r, part, s.have, cause);
	}
#else
	util_set_cause(cause, "%s: this clipgrep was built without libcurl, so it cannot download; "
	    "fetch the file yourself (curl -LO URL, or a browser), check its SHA-256 is %s, and "
	    "run clipgrep model import FILE", UTIL_NAME(r->url), r->sha256);
	(void)fetch_finish;
	(void)got;
	goto out;
#endif
out:
	free(part);
	return rc;
}
