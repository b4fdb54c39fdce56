/*
 * cli-config — where the clipgrep program finds its index and its models, and
 * the user's defaults.  Shared by the subcommands and the TUI so that
 * `clipgrep search` and the interactive screen agree.
 *
 * Index:  --db FILE, else $CLIPGREP_DB, else $XDG_DATA_HOME/clipgrep/index.db
 *         ($XDG_DATA_HOME defaults to ~/.local/share).
 * Config: $XDG_CONFIG_HOME/clipgrep/config (default ~/.config/clipgrep/config),
 *         or $CLIPGREP_CONFIG; a missing file is fine.  Lines "key = value";
 *         '#' starts a comment line; keys:
 *           model = PATH      a model file (repeatable; in priority order)
 *           exclude = GLOB    an --exclude pattern for `clipgrep index` (repeatable)
 *           threads = N       compute threads (like -t)
 *           jobs = N          decode threads for `clipgrep index`
 *           mode = tcmgc|ea|fused   the default search mode
 *           precision = fp32|bf16   the towers' precision (like --precision)
 *           db = PATH         the index (below --db and $CLIPGREP_DB)
 *           window = S        seconds per segment of a long video (like
 *                             --window; 0: whole files)
 *         A relative PATH is relative to the config file's directory; "~/"
 *         is the home directory.  Unknown keys are an error naming the file
 *         and the line.
 * Models: --model FILE... , else the config's model lines, else the
 *         bundled demo model(s): every *.safetensors in
 *         $(pkgdatadir)/demo, or, when the program runs from its build
 *         tree, in $(top_srcdir)/assets/demo.
 */
#ifndef CLIPGREP_CLI_CONFIG_H
#define CLIPGREP_CLI_CONFIG_H

#include "linear.h"

typedef struct {
	char *path;       /* the config file read, or NULL when there was none */
	char *db;         /* db = (already expanded), or NULL */
	char **models;    /* [n_models] model = lines, expanded */
	int n_models;
	char **exclude;   /* [n_exclude + 1], NULL-terminated */
	int n_exclude;
	int threads;      /* 0: not set */
	int jobs;         /* 0: not set */
	char *mode;       /* NULL: not set */
	int has_precision;          /* precision = was given */
	linear_precision precision; /* its value */
	double window;    /* window = seconds per segment of a long video; < 0: not set */
	int sampling;     /* sampling = as VIDEO_SAMPLING_*; < 0: not set */
	int no_search_cache; /* search_cache = no: search loads from the index alone */
} cli_config;

/*
 * A segment window in seconds: a number from 0 (whole files) to 86400,
 * optionally ending in 's'.  0, or -1 for anything else.
 */
int cli_parse_window(const char *s, double *out);

/*
 * The sampling mode: opt (from --sampling: "exact" or "keyframe") if
 * given, else the config's, else exact, into *out (VIDEO_SAMPLING_*).  0, or
 * -1 after printing why opt is not a mode.
 */
int cli_sampling(const char *opt, const cli_config *c, int *out);

/*
 * Read the user's config file into *c (zeroed first).  0, or -1 after
 * printing "clipgrep: FILE:LINE: ..." (the caller exits with 2).  Free
 * with cli_config_free, also after a failure.
 */
int cli_config_load(cli_config *c);
void cli_config_free(cli_config *c);

/*
 * The index path: opt_db (from --db) if given, else $CLIPGREP_DB, else the
 * config's db, else $XDG_DATA_HOME/clipgrep/index.db.  Newly allocated;
 * NULL (after printing why) only when HOME is unknown too.
 */
char *cli_db_path(const char *opt_db, const cli_config *c);

/*
 * 0 when an index file exists at db; else -1 after the message that gives
 * the next step ("no index yet at 'DB': run 'clipgrep index DIR' ..."),
 * the one every command and the screen print.
 */
int cli_db_exists(const char *db);

/*
 * The model files: the n_opt given on the command line; else the models
 * the index at db (NULL: none) was built with, as its models table
 * remembers their paths -- narrowed to the config's model lines where
 * those name some of them; else the config's; else the bundled demo
 * models.  A model of the index whose file is gone is named in a message
 * before the fallback.  *out is a newly allocated array of newly allocated
 * strings (free with cli_free_strings).  Returns the count, or -1 after
 * printing a message that tells the user to pass --model.
 */
int cli_model_paths(char *const *opt_models, int n_opt, const cli_config *c, const char *db,
    char ***out);
/*
 * The models the index at db holds, for messages: "'PATH' (N videos), ..."
 * (a model without a known path by its name), newly allocated; NULL when
 * it holds none or cannot be read.
 */
char *cli_index_models_text(const char *db);
void cli_free_strings(char **v, int n);

/*
 * The towers' precision: --precision's value opt when given (NULL: not),
 * else the config's, else fp32.  -1 after printing why opt is not fp32 or
 * bf16 (a usage error).
 */
int cli_precision(const char *opt, const cli_config *c, linear_precision *out);
/*
 * The one-line notice for bf16 asked on a CPU that runs it in fp32
 * (linear_precision_kernel); nothing otherwise.  what: "indexing",
 * "the text tower", ...
 */
void cli_precision_notice(linear_precision asked, const char *what);

/* The demo model directory that exists (build tree or installed), or NULL. */
const char *cli_demo_dir(void);

#ifndef CLIPGREP_PKGDATADIR
#define CLIPGREP_PKGDATADIR "/usr/local/share/clipgrep"
#endif

/* The file name of the bundled CLIP BPE vocabulary (assets/, $(pkgdatadir)). */
#define CLI_BPE_NAME "bpe_simple_vocab_16e6.txt.gz"

/*
 * The bundled CLIP BPE vocabulary that exists: assets/ when this program runs
 * from its build tree, else $(pkgdatadir); NULL when neither is readable.
 */
const char *cli_bpe_path(void);

/* The config file's path ($CLIPGREP_CONFIG, else XDG's), newly allocated; NULL without HOME. */
char *cli_config_path(void);
/* $XDG_DATA_HOME/clipgrep/models, where `clipgrep model fetch` installs; NULL without HOME. */
char *cli_models_dir(void);
/* mkdir -p path (mode 0755); -1 with errno. */
int cli_mkdirs(const char *path);
/*
 * Make model the config's only model line (the default model): the other
 * lines stay as written; the file is replaced atomically (and created, with
 * its folder, when missing).  0, or -1 after printing why.
 */
int cli_config_set_model(const char *model_path);
/* 1 when one of the n model files lies in the bundled demo folder (cli_demo_dir). */
int cli_models_are_demo(char *const *models, int n);
/* 1 when path (a file or folder) lies in the demo clips folder (cli_demo_dir()/clips). */
int cli_is_demo_clip(const char *path);
/* 1 when db is `clipgrep demo`'s index ($XDG_DATA_HOME/clipgrep/demo.db). */
int cli_is_demo_db(const char *db);
/*
 * Say, once per run, in one line on stderr, that the demo model only knows
 * synthetic shapes and how to get a real one.  For index and search when
 * the demo model meets anything but the demo clips.
 */
void cli_demo_notice(void);
/* Every *.safetensors in dir, sorted (as for the demo models): the count (0 for no folder), or -1. */
int cli_models_in(const char *dir, char ***out);

#endif
