/*
 * log — stderr logging with journald priorities or terminal timestamps.
 */
#include "log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *log_ident = "exroll";
static enum log_level log_level = LOG_LEVEL_INFO;
static int log_journal;

void
log_init(const char *ident, enum log_level level, int journal)
{
	log_ident = ident;
	log_level = level;
	if (journal < 0)
		journal = getenv("JOURNAL_STREAM") != NULL;
	log_journal = journal;
}

void
log_set_level(enum log_level level)
{
	log_level = level;
}

enum log_level
log_get_level(void)
{
	return log_level;
}

int
log_level_parse(const char *s, enum log_level *out)
{
	static const struct {
		const char *name;
		enum log_level level;
	} names[] = {
		{ "error", LOG_LEVEL_ERR },	{ "warning", LOG_LEVEL_WARNING },
		{ "notice", LOG_LEVEL_NOTICE }, { "info", LOG_LEVEL_INFO },
		{ "debug", LOG_LEVEL_DEBUG },
	};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (strcmp(s, names[i].name) == 0) {
			*out = names[i].level;
			return 0;
		}
	}
	return -EINVAL;
}

void
log_vmsg(enum log_level level, int errnum, const char *fmt, va_list ap)
{
	char msg[2048];
	int saved = errno;

	if (level > log_level)
		return;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (log_journal) {
		if (errnum)
			fprintf(stderr, "<%d>%s: %s\n", level, msg, strerror(errnum));
		else
			fprintf(stderr, "<%d>%s\n", level, msg);
	} else {
		char ts[32];
		struct timespec now;
		struct tm tm;

		clock_gettime(CLOCK_REALTIME, &now);
		localtime_r(&now.tv_sec, &tm);
		strftime(ts, sizeof(ts), "%Y-%m-%d %H:%M:%S", &tm);
		if (errnum)
			fprintf(stderr, "%s.%03ld %s: %s: %s\n", ts,
			    now.tv_nsec / 1000000, log_ident, msg, strerror(errnum));
		else
			fprintf(stderr, "%s.%03ld %s: %s\n", ts,
			    now.tv_nsec / 1000000, log_ident, msg);
	}
	errno = saved;
}

#define LOG_BODY(level, errnum)                      \
	do {                                         \
		va_list ap;                          \
		va_start(ap, fmt);                   \
		log_vmsg((level), (errnum), fmt, ap); \
		va_end(ap);                          \
	} while (0)

void
log_warn(const char *fmt, ...)
{
	LOG_BODY(LOG_LEVEL_WARNING, errno);
}

void
log_warnx(const char *fmt, ...)
{
	LOG_BODY(LOG_LEVEL_WARNING, 0);
}

void
log_notice(const char *fmt, ...)
{
	LOG_BODY(LOG_LEVEL_NOTICE, 0);
}

void
log_info(const char *fmt, ...)
{
	LOG_BODY(LOG_LEVEL_INFO, 0);
}

void
log_debug(const char *fmt, ...)
{
	LOG_BODY(LOG_LEVEL_DEBUG, 0);
}

void
fatal(const char *fmt, ...)
{
	LOG_BODY(LOG_LEVEL_ERR, errno);
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	LOG_BODY(LOG_LEVEL_ERR, 0);
	exit(1);
}
