/*
 * provide-curses — the one place that includes the curses header (htop's
 * ProvideCurses.h).  Every TUI file that draws includes this instead of
 * <curses.h>, so the wide-character build (ncursesw) is chosen once.
 */
#ifndef CLIPGREP_PROVIDE_CURSES_H
#define CLIPGREP_PROVIDE_CURSES_H

/* The wide-character API (get_wch, cchar_t, setcchar) needs these. */
#ifndef NCURSES_WIDECHAR
#define NCURSES_WIDECHAR 1
#endif
#ifndef _XOPEN_SOURCE_EXTENDED
#define _XOPEN_SOURCE_EXTENDED 1
#endif

/* curses.h declares tigetflag/tigetstr too; term.h is left out because its
 * capability macros (lines, columns, bell, ...) would shadow our names. */
#if __has_include(<ncursesw/curses.h>)
#include <ncursesw/curses.h>
#else
#include <curses.h>
#endif

#endif
