/*
 * output — what exrollctl prints: text for people (output.c; the run
 * report, as text or Markdown, in output_report.c) and, with --json, the
 * daemon's result as is (output_json.c). Printing lives here and nowhere
 * else in exrollctl.
 *
 * The text renderers take the wall clock as now (ms) instead of reading
 * it, and print times in the local zone (TZ), so golden tests fix both.
 * Nothing here depends on the terminal's width.
 */
#ifndef EXROLL_CTL_OUTPUT_H
#define EXROLL_CTL_OUTPUT_H

#include <stdint.h>
#include <stdio.h>
#include <jansson.h>

/* The status screen. failed (may be NULL) is the servers list filtered on
 * state failed, for the failures' reasons. */
void ctl_text_status(FILE *f, const json_t *status, const json_t *failed,
    int64_t now);
void ctl_text_servers(FILE *f, const json_t *servers, int64_t now);
void ctl_text_clusters(FILE *f, const json_t *clusters);
void ctl_text_events(FILE *f, const json_t *events, int64_t now);
/* One event as a line of its own (events --follow, watch when piped). */
void ctl_text_event(FILE *f, const json_t *ev, int64_t now);
void ctl_text_plan(FILE *f, const json_t *plan);
/* A mutating command's or ping's answer as a sentence; req is what was
 * sent. */
void ctl_text_result(FILE *f, const json_t *req, const json_t *result);
/* The daemon's error, "exrollctl: CMD: message (code)". */
void ctl_text_error(FILE *f, const char *cmd, const json_t *error);

/* --json: result as is, pretty-printed, one document. */
void ctl_json_result(FILE *f, const json_t *result);
/* --json streams: one compact document a line. */
void ctl_json_line(FILE *f, const json_t *j);

/* report: the daemon's run report for people, and as a Markdown document
 * for a change record (output_report.c). The report carries the time it
 * was made (generated_at), so they take no now. */
void ctl_text_report(FILE *f, const json_t *report);
void ctl_markdown_report(FILE *f, const json_t *report);

/* Aligned tables, shared by the text renderers. Cells are copied (NULL
 * prints as "-"); printing frees the table. */
struct ctl_table {
	size_t ncols;
	char **cells;		/* row-major */
	size_t nrows, cap;
	unsigned right;		/* bit c set: column c is right-aligned */
};

void ctl_table_init(struct ctl_table *t, size_t ncols);
void ctl_table_row(struct ctl_table *t, const char *const *cells);
/* Columns padded to their widest cell, two spaces apart; the last column
 * (the long free text) is not padded unless right-aligned. */
void ctl_table_print(FILE *f, struct ctl_table *t, int indent);
/* A Markdown (GFM) table, the first row as its header; markup characters
 * in cells are escaped, columns padded so that the source reads too. */
void ctl_table_markdown(FILE *f, struct ctl_table *t);
/* s as Markdown text: markup characters escaped, on one line. */
void ctl_markdown_text(FILE *f, const char *s);
/* Frees a table that is not printed after all. */
void ctl_table_free(struct ctl_table *t);

/* "Sat 2026-11-28 20:14" local and "12 min ago" / "in 3 h 5 min". */
char *ctl_time_local(int64_t ms, char *buf, size_t len);
char *ctl_time_relative(int64_t ms, int64_t now, char *buf, size_t len);

#endif
