/*
 * ffmpeg — open FFmpeg's libraries on first use (see ffmpeg.h).
 */
#include "config.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>

#include "ffmpeg.h"
#include "util.h"

#define FFMPEG_STR2(x) #x
#define FFMPEG_STR(x) FFMPEG_STR2(x)
#ifdef __APPLE__
#define FFMPEG_SONAME(base, major) "lib" base "." FFMPEG_STR(major) ".dylib"
#else
#define FFMPEG_SONAME(base, major) "lib" base ".so." FFMPEG_STR(major)
#endif

ffmpeg_table ffmpeg;

enum { AVUTIL, AVCODEC, AVFORMAT, SWSCALE, FFMPEG_LIBRARIES };

/* In dependency order: each library's own needs are open before it. */
static const struct {
	const char *soname, *debian;
} ffmpeg_library[FFMPEG_LIBRARIES] = {
	[AVUTIL] = { FFMPEG_SONAME("avutil", LIBAVUTIL_VERSION_MAJOR),
		"libavutil" FFMPEG_STR(LIBAVUTIL_VERSION_MAJOR) },
	[AVCODEC] = { FFMPEG_SONAME("avcodec", LIBAVCODEC_VERSION_MAJOR),
		"libavcodec" FFMPEG_STR(LIBAVCODEC_VERSION_MAJOR) },
	[AVFORMAT] = { FFMPEG_SONAME("avformat", LIBAVFORMAT_VERSION_MAJOR),
		"libavformat" FFMPEG_STR(LIBAVFORMAT_VERSION_MAJOR) },
	[SWSCALE] = { FFMPEG_SONAME("swscale", LIBSWSCALE_VERSION_MAJOR),
		"libswscale" FFMPEG_STR(LIBSWSCALE_VERSION_MAJOR) },
};

static pthread_once_t ffmpeg_once = PTHREAD_ONCE_INIT;
static int ffmpeg_status = -1;
static char ffmpeg_error[512];

static void ffmpeg_open_all(void)
{
	void *handle[FFMPEG_LIBRARIES];
	ffmpeg_table t;

	for (int i = 0; i < FFMPEG_LIBRARIES; i++) {
		/* Lazy: a function is bound on its first call, as when linked. */
		if ((handle[i] = dlopen(ffmpeg_library[i].soname, RTLD_LAZY | RTLD_LOCAL)) == NULL) {
			const char *why = dlerror();
			snprintf(ffmpeg_error, sizeof ffmpeg_error, "cannot open FFmpeg's %s, which "
			    "reading videos and pictures needs (Debian package %s): %s",
			    ffmpeg_library[i].soname, ffmpeg_library[i].debian,
			    why != NULL ? why : "unknown error");
			return;
		}
	}
	/* The libraries stay open for the life of the process. */
#define FFMPEG_RESOLVE(lib, name) \
	if ((*(void **)&t.name = dlsym(handle[lib], #name)) == NULL) { \
		snprintf(ffmpeg_error, sizeof ffmpeg_error, "FFmpeg's %s has no function %s: " \
		    "it is not the version clipgrep was built with", ffmpeg_library[lib].soname, \
		    #name); \
		return; \
	}
	FFMPEG_FUNCTIONS(FFMPEG_RESOLVE)
#undef FFMPEG_RESOLVE
	ffmpeg = t;
	ffmpeg_status = 0;
}

int ffmpeg_load(char **cause)
{
	pthread_once(&ffmpeg_once, ffmpeg_open_all);
	if (ffmpeg_status == 0)
		return 0;
	util_set_cause(cause, "%s", ffmpeg_error);
	return -1;
}

int ffmpeg_loaded(void)
{
	return ffmpeg_status == 0;
}
