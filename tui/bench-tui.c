/* placeholder, replaced below */
#include "config.h"
#include "cli.h"
int bench_tui(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	return CLI_EXIT_OK;
}
