/*
 * log — the one logging facility of exrolld, exrollctl and exchange-sim.
 *
 * Messages go to stderr. Under systemd (JOURNAL_STREAM set, or forced) each
 * line carries the "<N>" priority prefix journald understands and no
 * timestamp; in a terminal each line carries a local timestamp. Log text is
 * lowercase, without a trailing period, names in single quotes.
 *
 *   log_warn()  appends ": strerror(errno)"     log_warnx()  does not
 *   fatal()     appends strerror and exits 1    fatalx()     does not
 */
#ifndef EXROLL_LOG_H
#define EXROLL_LOG_H

#include <stdarg.h>

enum log_level {
	LOG_LEVEL_ERR = 3,
	LOG_LEVEL_WARNING = 4,
	LOG_LEVEL_NOTICE = 5,
	LOG_LEVEL_INFO = 6,
	LOG_LEVEL_DEBUG = 7,
};

/* ident prefixes terminal lines; journal: 1 forces, 0 forbids, -1 detects. */
void log_init(const char *ident, enum log_level level, int journal);
void log_set_level(enum log_level level);
enum log_level log_get_level(void);
/* Parses "error", "warning", "notice", "info", "debug". Returns 0 or -EINVAL. */
int log_level_parse(const char *s, enum log_level *out);

#define LOG_PRINTF(a, b) __attribute__((format(printf, a, b)))
void log_warn(const char *fmt, ...) LOG_PRINTF(1, 2);
void log_warnx(const char *fmt, ...) LOG_PRINTF(1, 2);
void log_notice(const char *fmt, ...) LOG_PRINTF(1, 2);
void log_info(const char *fmt, ...) LOG_PRINTF(1, 2);
void log_debug(const char *fmt, ...) LOG_PRINTF(1, 2);
_Noreturn void fatal(const char *fmt, ...) LOG_PRINTF(1, 2);
_Noreturn void fatalx(const char *fmt, ...) LOG_PRINTF(1, 2);
void log_vmsg(enum log_level level, int errnum, const char *fmt, va_list ap)
	LOG_PRINTF(3, 0);

#endif
