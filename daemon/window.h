/*
 * window — maintenance windows (DESIGN §5), pure arithmetic.
 *
 * Weekly windows are read in the process's local time zone (TZ), so
 * "Sat 20:00-06:00" means 20:00 local on Saturday until 06:00 local on
 * Sunday, also across a daylight-saving change (the window then lasts 9 or
 * 11 hours of real time). Absolute windows are local times too. Windows
 * that overlap or touch are merged: "closes_at" is the end of the whole
 * contiguous open span. No windows at all means always open.
 *
 * Nothing here reads the clock: now is passed in.
 */
#ifndef EXROLL_WINDOW_H
#define EXROLL_WINDOW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"

struct window_state {
	bool open;
	int64_t closes_at;	/* open: end of the open span (ms), 0 = never */
	int64_t next_open;	/* start of the next span (while open: the
				 * one after this), 0 = never */
};

/* Evaluates n windows at now (epoch ms). */
void window_eval(const struct config_window *w, size_t n, int64_t now,
    struct window_state *out);

/* The next instant after now at which window_eval's answer changes (an
 * opening or a closing), or 0 when it never will. The shell arms one timer
 * for it: windows are never polled. */
int64_t window_next_edge(const struct config_window *w, size_t n, int64_t now);

#endif
