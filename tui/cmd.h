/*
 * cmd — the clipgrep program's commands, one entry point each (argv[0] is
 * the command's name), dispatched by main.c.  The command line's commands
 * live in tui/cli/cmd-*.c, the benchmarks in tui/bench/; `clipgrep [DIR]`
 * and `clipgrep demo` start the screen in tui/screen/.  Each returns a
 * CLI_EXIT_* code (cli.h).
 */
#ifndef CLIPGREP_CMD_H
#define CLIPGREP_CMD_H

/* The command line (tui/cli). */
int cmd_tokenize(int argc, char **argv);
int cmd_frames(int argc, char **argv);
int cmd_index(int argc, char **argv);
int cmd_search(int argc, char **argv);
int cmd_explain(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_merge(int argc, char **argv);
int cmd_embed(int argc, char **argv);
int cmd_export(int argc, char **argv);
/* `clipgrep preview FILE` and `clipgrep similar FILE` (cli/cmd-preview.c). */
int cmd_preview(int argc, char **argv);
int cmd_similar(int argc, char **argv);
/* `clipgrep model ACTION` (cli/cmd-model.c): argv[1] is the action. */
int cmd_model(int argc, char **argv);

/*
 * The interactive screen: `clipgrep [OPTIONS] [DIR]` (argv[0] is the
 * program's name; main hands over when no command is given, when the first
 * argument is a folder, or when an option is not a global one) and
 * `clipgrep demo` (cli/cmd-tui.c, cli/cmd-demo.c start screen/tui.c).
 */
int cmd_tui(int argc, char **argv);
int cmd_demo(int argc, char **argv);

/* --images and --colours values ("auto" gives -1); -1 when s is not one of
 * them (cmd-tui.c; shared with cmd-demo.c). */
int cmd_tui_parse_images(const char *s, int *out);
int cmd_tui_parse_colours(const char *s, int *out);

/* The demo bundle (cmd-demo.c): $CLIPGREP_DEMO_DIR, else cli_demo_dir(); NULL
 * when there is none (its model files: cli_models_in). */
const char *cmd_demo_dir(void);

/* `clipgrep bench [NAME]` (bench/bench.c) and each benchmark (argv[0] is NAME). */
int cmd_bench(int argc, char **argv);
int bench_encode(int argc, char **argv);
int bench_decode(int argc, char **argv);
int bench_search(int argc, char **argv);
int bench_index(int argc, char **argv);
int bench_tui(int argc, char **argv);
int bench_cli(int argc, char **argv);
int bench_eval(int argc, char **argv);

#endif
