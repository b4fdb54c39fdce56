/*
 * fuzz-term-reply — libFuzzer target for the terminal reply parser
 * (tui/screen/tty.c tty_parse_replies: DA1, XTSMGRAPHICS, the CSI 6 ; h ; w t
 * cell size, XTVERSION, XTGETTCAP's hex NAME=VALUE pairs and the kitty
 * graphics reply), fed the input as what a terminal wrote back to
 * tty_probe's questions.  There is no refusal: any bytes must parse, leave
 * the cell size positive and below 1000 pixels, the colour registers
 * non-negative, the XTGETTCAP colour count within 0 .. 1 << 24, the
 * version printable and NUL-terminated in its buffer, and say "answered"
 * exactly when the parser reports a DA1 reply.  Parsing a prefix (a reply
 * cut short, as a timeout cuts it) must be as safe.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tty.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_parse(const char *buf, size_t len)
{
	tty_caps caps;
	int da1;

	memset(&caps, 0, sizeof caps);
	caps.cell_width = TTY_CELL_WIDTH;
	caps.cell_height = TTY_CELL_HEIGHT;
	da1 = tty_parse_replies(buf, len, &caps);
	if ((da1 != 0 && da1 != 1) || da1 != caps.answered)
		abort();
	if (caps.sixel && !caps.answered)
		abort();
	if (caps.cell_width <= 0 || caps.cell_height <= 0 || caps.cell_width >= 1000 ||
	    caps.cell_height >= 1000 || caps.color_registers < 0)
		abort();
	if (caps.tcap_colours < 0 || caps.tcap_colours > (1 << 24) || (caps.kitty != 0 && caps.kitty != 1) ||
	    (caps.tcap_rgb != 0 && caps.tcap_rgb != 1))
		abort();
	if (memchr(caps.version, '\0', sizeof caps.version) == NULL)
		abort();
	for (const char *v = caps.version; *v != '\0'; v++)
		if (*v < 0x20 || *v >= 0x7f)
			abort();
	if (!caps.cell_size_known &&
	    (caps.cell_width != TTY_CELL_WIDTH || caps.cell_height != TTY_CELL_HEIGHT))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* An exact-size copy, so that ASan sees any read past the reply. */
	char *buf = malloc(size > 0 ? size : 1);

	if (buf == NULL)
		return 0;
	memcpy(buf, data, size);
	fuzz_parse(buf, size);
	if (size > 0)
		fuzz_parse(buf, size - 1 - (size_t)(uint8_t)buf[0] % size);
	free(buf);
	return 0;
}
