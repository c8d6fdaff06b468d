/*
 * config — exroll.json parsing and validation (DESIGN §5).
 *
 * How it works:
 *  1. the file is read whole and parsed by jansson with duplicate keys
 *     rejected; a syntax error is then the only message, at jansson's line
 *     and column (which is the END of the offending token);
 *  2. the tree is walked with one table of fields per JSON object, in the
 *     manner of bgpd's parse tables: unknown keys, types and ranges first,
 *     then the cross-checks (unique names, cluster nodes, role_order covers
 *     every server's roles);
 *  3. each problem is recorded with the JSON path of the value. jansson
 *     keeps no positions, so on the first problem a small tokenizer walks
 *     the text once and indexes every value's path to the line and column
 *     where it STARTS (columns count characters, from 1); a valid file never
 *     pays for it;
 *  4. the messages are sorted by position, so the list reads top to bottom.
 *
 * A problem in one place does not produce echoes elsewhere: a server whose
 * name or roles are invalid is left out of the duplicate, cluster-node and
 * role_order checks, a node naming such a server is not "unknown", and a
 * misspelt key that suggests a required one does not also make it
 * "missing".
 *
 * Choices where DESIGN §5 is silent (schema/config.schema.json says the
 * same to administrators):
 *  - gateway.url defaults to "https://localhost:8443/", a gateway on the
 *    same host;
 *  - state_file, socket, token_file, ca_file and notify.exec must be
 *    absolute: the daemon runs from "/" under systemd, where a relative path
 *    would silently mean something else; socket must also fit sun_path;
 *  - durations are at most 366 days, so that milliseconds stay exact;
 *  - URLs: http:// only to a loopback host; no user or password (the secret
 *    belongs in token_file, not in a world-readable file); no query or
 *    fragment (the base URL is joined with /v1/...); ASCII only;
 *  - the token must be one line of printable characters (it becomes an
 *    HTTP header) and at most 16 KiB;
 *  - a cluster's "type" is required and only "CCR" is accepted: SCC and
 *    LCR need other procedures;
 *  - "windows": [] is refused (it would mean "never"): leave it out for
 *    "always open". Day names are Mon..Sun, case-sensitive like role
 *    names. An absolute time that a daylight-saving change skips is an
 *    error, not silently moved by an hour;
 *  - a UTF-8 byte order mark (Notepad writes one) is skipped;
 *  - "$schema" is accepted at the top level and ignored, so that editors
 *    can validate the file against schema/config.schema.json.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <jansson.h>

#include "name.h"

#define CFG_DEFAULT_URL "https://localhost:8443/"
#define CFG_MAX_FILE (64u * 1024 * 1024)
#define CFG_MAX_TOKEN (16u * 1024)
#define CFG_MAX_SETUP_SOURCE 1024
#define CFG_MAX_SECONDS (366.0 * 86400)
#define CFG_MAX_UID 4294967294LL	/* (uid_t)-1 means "no uid" */
#define CFG_SHOW_LEN 96			/* a value quoted in a message */
#define CFG_SUGGEST_MAX 2		/* edit distance for "did you mean" */
#define POS_MAX_DEPTH 8			/* no error names a deeper value */

#define CFG_PRINTF(a, b) __attribute__((format(printf, a, b)))

/* A value of the file, quoted for a message (one buffer per use). */
#define SHOW(v) cfg_show((v), (char[CFG_SHOW_LEN]){ 0 })
#define Q(s) cfg_quote((s), (char[CFG_SHOW_LEN]){ 0 })

static const char *const reboot_names[] = {
	[REBOOT_IF_REQUIRED] = "if_required",
	[REBOOT_ALWAYS] = "always",
	[REBOOT_NEVER] = "never",
	NULL,
};
static const char *const checkpoints_names[] = {
	[CHECKPOINTS_APPROVE] = "approve",
	[CHECKPOINTS_AUTO] = "auto",
	NULL,
};
static const char *const ccr_names[] = {
	[CCR_SERVICE_PACK] = "service_pack",
	[CCR_ROLLUP] = "rollup",
	NULL,
};
/* Indexed by tm_wday. */
static const char *const day_names[] = {
	"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat", NULL,
};

struct strbuf {
	char *s;
	size_t len, cap;
};

/* Where a value, and the key that names it, start in the text. */
struct pos_entry {
	char *path;
	int line, col;
	int kline, kcol;
};

struct pos_index {
	struct pos_entry *e;
	size_t n, cap;
	bool built;
};

struct cfg_err {
	int line, col;
	size_t seq;
	char *msg;
};

struct name_ref {
	const char *name;
	size_t idx;
};

struct cfg_ctx {
	const char *file;		/* as given, for messages */
	const char *text;		/* the JSON text, BOM skipped */
	size_t len;
	json_t *root;			/* borrowed */
	struct config *cfg;
	struct strbuf path;		/* path of the value being checked */
	struct pos_index pos;
	struct cfg_err *errs;
	size_t nerrs, errcap;
	bool nomem;
	bool servers_ok;		/* "servers" is a non-empty array */
	bool role_order_set;		/* policy.role_order given and valid */
	struct name_ref *server_names;	/* servers with valid names, sorted */
	size_t nserver_names;
};

enum cfg_type {
	CFG_STRING,	/* char *, not empty, at most max bytes */
	CFG_PATH,	/* char *, absolute */
	CFG_URL,	/* char *, see url_problem() */
	CFG_BOOL,	/* bool */
	CFG_INT,	/* int, min..max */
	CFG_SECONDS,	/* double, > 0 and at most CFG_MAX_SECONDS */
	CFG_OBJECT,	/* sub table, at off */
	CFG_CUSTOM,	/* parse() */
	CFG_IGNORE,	/* any string, not stored ("$schema") */
};

struct cfg_field {
	const char *key;
	enum cfg_type type;
	size_t off;			/* destination in the base struct */
	long long min, max;		/* CFG_INT range; CFG_STRING max */
	const struct cfg_field *sub;	/* CFG_OBJECT */
	void (*parse)(struct cfg_ctx *c, json_t *v, void *base);
	bool required;
};

/* ---- small strings ---- */

static int
sb_add(struct strbuf *b, const char *s, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 64;
		char *ns;

		while (cap < b->len + n + 1)
			cap *= 2;
		if ((ns = realloc(b->s, cap)) == NULL)
			return -ENOMEM;
		b->s = ns;
		b->cap = cap;
	}
	memcpy(b->s + b->len, s, n);
	b->len += n;
	b->s[b->len] = '\0';
	return 0;
}

static void
sb_truncate(struct strbuf *b, size_t len)
{
	b->len = len;
	b->s[len] = '\0';
}

/* Appends ".key" (or "key" at the root) or "[i]" to a path. */
static int
sb_path_key(struct strbuf *b, const char *key, size_t n)
{
	if (b->len > 0 && sb_add(b, ".", 1) < 0)
		return -ENOMEM;
	return sb_add(b, key, n);
}

static int
sb_path_index(struct strbuf *b, size_t i)
{
	char idx[32];

	return sb_add(b, idx, (size_t)snprintf(idx, sizeof(idx), "[%zu]", i));
}

/* s for a message: control bytes escaped, cut at a character boundary. */
static const char *
cfg_quote(const char *s, char *buf)
{
	size_t o = 0, lim = CFG_SHOW_LEN - 8;

	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		/* Cut before a character, never inside one. */
		if (o >= lim && (*p & 0xc0) != 0x80) {
			memcpy(buf + o, "...", 4);
			return buf;
		}
		if (*p < 0x20 || *p == 0x7f)
			o += (size_t)snprintf(buf + o, 5, "\\x%02x", *p);
		else
			buf[o++] = (char)*p;
	}
	buf[o] = '\0';
	return buf;
}

/* A JSON value for a message: 'text', 42, 2.5, true, null, an array. */
static const char *
cfg_show(const json_t *v, char *buf)
{
	char q[CFG_SHOW_LEN];

	switch (json_typeof(v)) {
	case JSON_STRING:
		snprintf(buf, CFG_SHOW_LEN, "'%s'",
		    cfg_quote(json_string_value(v), q));
		break;
	case JSON_INTEGER:
		snprintf(buf, CFG_SHOW_LEN, "%lld",
		    (long long)json_integer_value(v));
		break;
	case JSON_REAL:
		/* Keeps "2.0" from reading as the integer 2. */
		snprintf(buf, CFG_SHOW_LEN, "%.15g", json_real_value(v));
		if (strpbrk(buf, ".eEn") == NULL)
			strcat(buf, ".0");
		break;
	case JSON_TRUE:
		return "true";
	case JSON_FALSE:
		return "false";
	case JSON_NULL:
		return "null";
	case JSON_OBJECT:
		return "an object";
	case JSON_ARRAY:
		return "an array";
	}
	return buf;
}

/* "a, b or c" from a NULL-terminated list. */
static const char *
cfg_list(const char *const *names, char *buf, size_t len)
{
	size_t o = 0, n = 0;

	while (names[n] != NULL)
		n++;
	buf[0] = '\0';
	for (size_t i = 0; i < n && o < len; i++)
		o += (size_t)snprintf(buf + o, len - o, "%s%s",
		    i == 0 ? "" : i + 1 == n ? " or " : ", ", names[i]);
	return buf;
}

static const char *
cfg_roles_list(char *buf, size_t len)
{
	const char *names[ROLE_COUNT + 1];

	for (int r = 0; r < ROLE_COUNT; r++)
		names[r] = role_name((enum role)r);
	names[ROLE_COUNT] = NULL;
	return cfg_list(names, buf, len);
}

/* Edit distance of two short strings, ignoring case. */
static size_t
cfg_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), row[65];

	if (la > 64 || lb > 64)
		return SIZE_MAX;
	for (size_t j = 0; j <= lb; j++)
		row[j] = j;
	for (size_t i = 1; i <= la; i++) {
		size_t diag = row[0];

		row[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t up = row[j], best;

			best = diag + (strncasecmp(a + i - 1, b + j - 1, 1) != 0);
			if (up + 1 < best)
				best = up + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			diag = up;
			row[j] = best;
		}
	}
	return row[lb];
}

/* The field whose key is close to key, or -1. */
static int
cfg_suggest(const char *key, const struct cfg_field *fields)
{
	size_t best = CFG_SUGGEST_MAX + 1;
	int found = -1;

	for (int i = 0; fields[i].key != NULL; i++) {
		size_t d = cfg_distance(key, fields[i].key);

		if (d < best && d < strlen(fields[i].key)) {
			best = d;
			found = i;
		}
	}
	return found;
}

/* ---- the position index ---- */

struct pos_scan {
	const char *s;
	size_t len, i;
	int line, col;
	struct pos_index *idx;
	struct strbuf path;
};

static char
pos_peek(const struct pos_scan *t)
{
	return t->i < t->len ? t->s[t->i] : '\0';
}

static void
pos_adv(struct pos_scan *t)
{
	unsigned char ch;

	if (t->i >= t->len)
		return;
	ch = (unsigned char)t->s[t->i++];
	if (ch == '\n') {
		t->line++;
		t->col = 1;
	} else if ((ch & 0xc0) != 0x80) {
		t->col++;
	}
}

static void
pos_skip_ws(struct pos_scan *t)
{
	while (strchr(" \t\r\n", pos_peek(t)) != NULL && t->i < t->len)
		pos_adv(t);
}

static void
pos_skip_string(struct pos_scan *t)
{
	pos_adv(t);
	while (t->i < t->len && pos_peek(t) != '"') {
		if (pos_peek(t) == '\\')
			pos_adv(t);
		pos_adv(t);
	}
	pos_adv(t);
}

static int
pos_add(struct pos_scan *t, int line, int col, int kline, int kcol)
{
	struct pos_index *x = t->idx;
	struct pos_entry *e;

	if (x->n == x->cap) {
		size_t cap = x->cap ? x->cap * 2 : 256;

		if ((e = realloc(x->e, cap * sizeof(*e))) == NULL)
			return -ENOMEM;
		x->e = e;
		x->cap = cap;
	}
	e = &x->e[x->n];
	if ((e->path = strdup(t->path.s)) == NULL)
		return -ENOMEM;
	e->line = line;
	e->col = col;
	e->kline = kline;
	e->kcol = kcol;
	x->n++;
	return 0;
}

/* Appends the key whose JSON text (quotes included) is raw[0..n). */
static int
pos_push_key(struct strbuf *path, const char *raw, size_t n)
{
	json_t *k;
	int rc;

	if (memchr(raw, '\\', n) == NULL)
		return sb_path_key(path, raw + 1, n - 2);
	/* Escapes: let jansson decode them exactly as it did the key. */
	if ((k = json_loadb(raw, n, JSON_DECODE_ANY, NULL)) == NULL)
		return -ENOMEM;
	rc = sb_path_key(path, json_string_value(k), json_string_length(k));
	json_decref(k);
	return rc;
}

/* Walks one value of text jansson has accepted; kline is 0 for an array
 * element or the root, which have no key. */
static int
pos_value(struct pos_scan *t, int depth, int kline, int kcol)
{
	size_t mark = t->path.len, n = 0;
	int rc;

	pos_skip_ws(t);
	if (depth <= POS_MAX_DEPTH &&
	    (rc = pos_add(t, t->line, t->col, kline ? kline : t->line,
	    kline ? kcol : t->col)) < 0)
		return rc;
	switch (pos_peek(t)) {
	case '{':
	case '[': {
		char close = pos_peek(t) == '{' ? '}' : ']';

		pos_adv(t);
		for (;;) {
			int kl = 0, kc = 0;

			pos_skip_ws(t);
			if (pos_peek(t) == close || t->i >= t->len)
				break;
			if (pos_peek(t) == ',') {
				pos_adv(t);
				continue;
			}
			if (close == '}') {
				size_t start = t->i;

				kl = t->line;
				kc = t->col;
				pos_skip_string(t);
				rc = pos_push_key(&t->path, t->s + start,
				    t->i - start);
				pos_skip_ws(t);
				pos_adv(t);	/* ':' */
			} else {
				rc = sb_path_index(&t->path, n++);
			}
			if (rc < 0 || (rc = pos_value(t, depth + 1, kl, kc)) < 0)
				return rc;
			sb_truncate(&t->path, mark);
		}
		pos_adv(t);
		break;
	}
	case '"':
		pos_skip_string(t);
		break;
	default:	/* number, true, false, null */
		while (t->i < t->len && strchr(",]} \t\r\n", pos_peek(t)) == NULL)
			pos_adv(t);
		break;
	}
	return 0;
}

static int
pos_cmp(const void *a, const void *b)
{
	const struct pos_entry *x = a, *y = b;

	return strcmp(x->path, y->path);
}

static void
pos_build(struct cfg_ctx *c)
{
	struct pos_scan t = {
		.s = c->text, .len = c->len, .line = 1, .col = 1, .idx = &c->pos,
	};

	c->pos.built = true;
	if (sb_add(&t.path, "", 0) < 0 || pos_value(&t, 0, 0, 0) < 0)
		c->nomem = true;
	else
		qsort(c->pos.e, c->pos.n, sizeof(*c->pos.e), pos_cmp);
	free(t.path.s);
}

/* The entry for path[0..n), or NULL. */
static const struct pos_entry *
pos_find(const struct pos_index *x, const char *path, size_t n)
{
	size_t lo = 0, hi = x->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const char *p = x->e[mid].path;
		int d = strncmp(p, path, n);

		if (d == 0 && p[n] != '\0')
			d = 1;
		if (d == 0)
			return &x->e[mid];
		if (d < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* Line and column of path (of its key when at_key); a path the index does
 * not hold (too deep) gets its nearest ancestor's. */
static void
pos_lookup(struct cfg_ctx *c, const char *path, bool at_key, int *line,
    int *col)
{
	size_t n = strlen(path);
	const struct pos_entry *e;

	if (!c->pos.built)
		pos_build(c);
	*line = *col = 1;
	while ((e = pos_find(&c->pos, path, n)) == NULL) {
		if (n == 0)
			return;
		while (n > 0 && path[n - 1] != '.' && path[n - 1] != '[')
			n--;
		if (n > 0)
			n--;
		at_key = false;
	}
	*line = at_key ? e->kline : e->line;
	*col = at_key ? e->kcol : e->col;
}

/* ---- problems ---- */

static void
cfg_add_err(struct cfg_ctx *c, int line, int col, char *msg)
{
	if (c->nerrs == c->errcap) {
		size_t cap = c->errcap ? c->errcap * 2 : 16;
		struct cfg_err *e = realloc(c->errs, cap * sizeof(*e));

		if (e == NULL) {
			free(msg);
			c->nomem = true;
			return;
		}
		c->errs = e;
		c->errcap = cap;
	}
	c->errs[c->nerrs] = (struct cfg_err){ line, col, c->nerrs, msg };
	c->nerrs++;
}

/* "FILE:LINE:COL: PATH: message", PATH being at[0..shown). */
CFG_PRINTF(5, 0) static void
cfg_verr(struct cfg_ctx *c, const char *at, bool at_key, size_t shown,
    const char *fmt, va_list ap)
{
	char *msg, *line;
	int l, col, rc;

	pos_lookup(c, at, at_key, &l, &col);
	if (vasprintf(&msg, fmt, ap) < 0) {
		c->nomem = true;
		return;
	}
	if (shown > 0)
		rc = asprintf(&line, "%s:%d:%d: %.*s: %s", c->file, l, col,
		    (int)shown, at, msg);
	else
		rc = asprintf(&line, "%s:%d:%d: %s", c->file, l, col, msg);
	free(msg);
	if (rc < 0) {
		c->nomem = true;
		return;
	}
	cfg_add_err(c, l, col, line);
}

/* About the value being checked. */
CFG_PRINTF(2, 3) static void
cfg_err(struct cfg_ctx *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	cfg_verr(c, c->path.s, false, c->path.len, fmt, ap);
	va_end(ap);
}

/* About the value at another path. */
CFG_PRINTF(3, 4) static void
cfg_err_at(struct cfg_ctx *c, const char *at, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	cfg_verr(c, at, false, strlen(at), fmt, ap);
	va_end(ap);
}

/* About the key just pushed onto the path; names the object it is in. */
CFG_PRINTF(3, 4) static void
cfg_err_key(struct cfg_ctx *c, size_t parent_len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	cfg_verr(c, c->path.s, true, parent_len, fmt, ap);
	va_end(ap);
}

static size_t
path_key(struct cfg_ctx *c, const char *key)
{
	size_t mark = c->path.len;

	if (sb_path_key(&c->path, key, strlen(key)) < 0)
		c->nomem = true;
	return mark;
}

static size_t
path_index(struct cfg_ctx *c, size_t i)
{
	size_t mark = c->path.len;

	if (sb_path_index(&c->path, i) < 0)
		c->nomem = true;
	return mark;
}

static void
path_pop(struct cfg_ctx *c, size_t mark)
{
	sb_truncate(&c->path, mark);
}

/* Where another value is, for "already used by ..." messages. */
static void
cfg_where(struct cfg_ctx *c, const char *path, char *buf, size_t len)
{
	int line, col;

	pos_lookup(c, path, false, &line, &col);
	snprintf(buf, len, "%s at %s:%d:%d", path, c->file, line, col);
}

/* ---- typed values ---- */

static void
cfg_set_str(struct cfg_ctx *c, char **dst, const char *s)
{
	char *dup = strdup(s);

	if (dup == NULL) {
		c->nomem = true;
		return;
	}
	free(*dst);
	*dst = dup;
}

static const char *
cfg_string(struct cfg_ctx *c, const json_t *v)
{
	if (!json_is_string(v)) {
		cfg_err(c, "expected a string, got %s", SHOW(v));
		return NULL;
	}
	return json_string_value(v);
}

/* v as an integer. JSON does not tell 2 from 2.0, so neither does this
 * (nor JSON Schema): a number without a fraction is an integer. */
static bool
cfg_integer(const json_t *v, long long *out)
{
	double d;

	if (json_is_integer(v)) {
		*out = json_integer_value(v);
		return true;
	}
	if (!json_is_real(v))
		return false;
	d = json_real_value(v);
	/* Within 2^53 a double holds every integer exactly. */
	if (!(d >= -9007199254740992.0 && d <= 9007199254740992.0) ||
	    (double)(long long)d != d)
		return false;
	*out = (long long)d;
	return true;
}

static const char *
cfg_abs_path(struct cfg_ctx *c, const json_t *v)
{
	const char *s = cfg_string(c, v);

	if (s != NULL && s[0] != '/') {
		cfg_err(c, "expected an absolute path, got %s", SHOW(v));
		return NULL;
	}
	return s;
}

/* The index of v in a NULL-terminated list of names, or -1. */
static int
cfg_enum(struct cfg_ctx *c, const json_t *v, const char *const *names,
    const char *what)
{
	char list[160];
	const char *s;

	if ((s = cfg_string(c, v)) == NULL)
		return -1;
	for (int i = 0; names[i] != NULL; i++) {
		if (strcmp(s, names[i]) == 0)
			return i;
	}
	cfg_err(c, "unknown %s %s (expected %s)", what, SHOW(v),
	    cfg_list(names, list, sizeof(list)));
	return -1;
}

static const char url_userinfo[] = "must not hold a user name or password";

/* Why url is not acceptable for the daemon to talk to, or NULL. */
static const char *
url_problem(const char *url)
{
	char host[256];
	const char *p, *auth, *end, *colon;
	bool https, ipv6;
	size_t hlen;

	for (p = url; *p; p++) {
		if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f)
			return "contains a space, control or non-ASCII character";
	}
	if (strncasecmp(url, "https://", 8) == 0)
		https = true;
	else if (strncasecmp(url, "http://", 7) == 0)
		https = false;
	else
		return "is not an https:// (or loopback http://) URL";
	auth = url + (https ? 8 : 7);
	end = auth + strcspn(auth, "/?#");
	if (strpbrk(end, "?#") != NULL)
		return "must not have a query or fragment";
	if (memchr(auth, '@', (size_t)(end - auth)) != NULL)
		return url_userinfo;
	if ((ipv6 = *auth == '[')) {
		const char *rb = memchr(auth, ']', (size_t)(end - auth));

		if (rb == NULL)
			return "has an unterminated [IPv6] host";
		hlen = (size_t)(rb - auth - 1);
		colon = rb + 1 < end ? rb + 1 : NULL;
		if (colon != NULL && *colon != ':')
			return "has a malformed host";
		auth++;
	} else {
		colon = memchr(auth, ':', (size_t)(end - auth));
		hlen = (size_t)((colon ? colon : end) - auth);
	}
	if (hlen == 0 || hlen >= sizeof(host))
		return "has no valid host";
	memcpy(host, auth, hlen);
	host[hlen] = '\0';
	if (colon != NULL) {
		size_t plen = (size_t)(end - colon - 1);
		long port = 0;

		if (plen == 0 || plen > 5 ||
		    strspn(colon + 1, "0123456789") < plen)
			return "has a malformed port";
		for (size_t i = 1; i <= plen; i++)
			port = port * 10 + (colon[i] - '0');
		if (port < 1 || port > 65535)
			return "has a port outside 1-65535";
	}
	if (ipv6) {
		struct in6_addr a6;

		if (inet_pton(AF_INET6, host, &a6) != 1)
			return "has a malformed IPv6 address";
		if (!https && !IN6_IS_ADDR_LOOPBACK(&a6))
			goto not_loopback;
	} else {
		struct in_addr a4;

		if (!name_valid_host(host))
			return "has a malformed host name";
		if (!https && strcasecmp(host, "localhost") != 0 &&
		    (inet_pton(AF_INET, host, &a4) != 1 ||
		    (ntohl(a4.s_addr) >> 24) != 127))
			goto not_loopback;
	}
	return NULL;
not_loopback:
	return "uses plain http:// to a host that is not loopback "
	    "(127.0.0.0/8, [::1], localhost): use https://";
}

/* ---- the tables walk ---- */

static void parse_field(struct cfg_ctx *c, const struct cfg_field *f,
    json_t *v, void *base);

/* Reports keys of obj that fields does not know. Returns a mask of the
 * fields suggested instead, so that they are not also called missing. */
static unsigned
check_keys(struct cfg_ctx *c, json_t *obj, const struct cfg_field *fields)
{
	unsigned suggested = 0;
	const char *key;
	json_t *v;

	json_object_foreach(obj, key, v) {
		size_t mark;
		int i, s;

		for (i = 0; fields[i].key != NULL; i++) {
			if (strcmp(key, fields[i].key) == 0)
				break;
		}
		if (fields[i].key != NULL)
			continue;
		mark = path_key(c, key);
		if ((s = cfg_suggest(key, fields)) >= 0) {
			cfg_err_key(c, mark,
			    "unknown key '%s' (did you mean '%s'?)", Q(key),
			    fields[s].key);
			suggested |= 1u << s;
		} else {
			cfg_err_key(c, mark, "unknown key '%s'", Q(key));
		}
		path_pop(c, mark);
	}
	return suggested;
}

static bool
parse_object(struct cfg_ctx *c, json_t *obj, const struct cfg_field *fields,
    void *base)
{
	unsigned suggested;

	if (!json_is_object(obj)) {
		cfg_err(c, "expected an object, got %s", SHOW(obj));
		return false;
	}
	suggested = check_keys(c, obj, fields);
	for (int i = 0; fields[i].key != NULL; i++) {
		json_t *v = json_object_get(obj, fields[i].key);
		size_t mark;

		if (v == NULL) {
			if (fields[i].required && !(suggested & (1u << i)))
				cfg_err(c, "missing '%s'", fields[i].key);
			continue;
		}
		mark = path_key(c, fields[i].key);
		parse_field(c, &fields[i], v, base);
		path_pop(c, mark);
	}
	return true;
}

static void
parse_field(struct cfg_ctx *c, const struct cfg_field *f, json_t *v,
    void *base)
{
	void *dst = (char *)base + f->off;
	const char *s;

	switch (f->type) {
	case CFG_STRING:
		if ((s = cfg_string(c, v)) == NULL)
			break;
		if (*s == '\0')
			cfg_err(c, "must not be empty");
		else if ((long long)strlen(s) > f->max)
			cfg_err(c, "is too long (%zu bytes, at most %lld)",
			    strlen(s), f->max);
		else
			cfg_set_str(c, dst, s);
		break;
	case CFG_PATH:
		if ((s = cfg_abs_path(c, v)) != NULL)
			cfg_set_str(c, dst, s);
		break;
	case CFG_URL: {
		const char *why;

		if ((s = cfg_string(c, v)) == NULL)
			break;
		if ((why = url_problem(s)) == NULL)
			cfg_set_str(c, dst, s);
		else if (why == url_userinfo)
			cfg_err(c, "%s", why);	/* the value holds a secret */
		else
			cfg_err(c, "%s %s", SHOW(v), why);
		break;
	}
	case CFG_BOOL:
		if (json_is_boolean(v))
			*(bool *)dst = json_is_true(v);
		else
			cfg_err(c, "expected true or false, got %s", SHOW(v));
		break;
	case CFG_INT: {
		long long n;

		if (!cfg_integer(v, &n))
			cfg_err(c, "expected an integer, got %s", SHOW(v));
		else if (n >= f->min && n <= f->max)
			*(int *)dst = (int)n;
		else if (f->max == INT_MAX)
			cfg_err(c, "must be at least %lld, got %s", f->min,
			    SHOW(v));
		else
			cfg_err(c, "must be from %lld to %lld, got %s",
			    f->min, f->max, SHOW(v));
		break;
	}
	case CFG_SECONDS: {
		double d;

		if (!json_is_number(v)) {
			cfg_err(c, "expected a number of seconds, got %s",
			    SHOW(v));
			break;
		}
		d = json_number_value(v);
		if (d > 0 && d <= CFG_MAX_SECONDS)
			*(double *)dst = d;
		else
			cfg_err(c, "must be more than 0 and at most %.0f "
			    "seconds (366 days), got %s", CFG_MAX_SECONDS,
			    SHOW(v));
		break;
	}
	case CFG_OBJECT:
		parse_object(c, v, f->sub, dst);
		break;
	case CFG_CUSTOM:
		f->parse(c, v, base);
		break;
	case CFG_IGNORE:
		cfg_string(c, v);
		break;
	}
}

/* ---- custom fields ---- */

static void
parse_target_version(struct cfg_ctx *c, json_t *v, void *base)
{
	struct config *cfg = base;
	struct version ver;
	const char *s;

	if ((s = cfg_string(c, v)) == NULL)
		return;
	if (version_parse(s, &ver) < 0) {
		cfg_err(c, "not a version %s (expected four numbers, like "
		    "8.1.240.6)", SHOW(v));
		return;
	}
	cfg->target_version = ver;
	cfg_set_str(c, &cfg->target_version_str, s);
}

static void
parse_socket(struct cfg_ctx *c, json_t *v, void *base)
{
	struct config *cfg = base;
	size_t max = sizeof(((struct sockaddr_un *)NULL)->sun_path) - 1;
	const char *s;

	if ((s = cfg_abs_path(c, v)) == NULL)
		return;
	if (strlen(s) > max)
		cfg_err(c, "%s is too long for a unix socket (%zu bytes, at "
		    "most %zu)", SHOW(v), strlen(s), max);
	else
		cfg_set_str(c, &cfg->socket, s);
}

/* Opens path, which must be a regular file. Returns the fd or -1. */
static int
cfg_open_file(struct cfg_ctx *c, const char *path, struct stat *st)
{
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK)) < 0) {
		cfg_err(c, "cannot open '%s': %s", Q(path), strerror(errno));
		return -1;
	}
	if (fstat(fd, st) < 0 || !S_ISREG(st->st_mode)) {
		cfg_err(c, "'%s' is not a regular file", Q(path));
		close(fd);
		return -1;
	}
	return fd;
}

/* Reads all of fd, at most max bytes, NUL terminated. */
static int
read_all(int fd, size_t max, char **out, size_t *outlen)
{
	size_t len = 0, cap = 4096;
	char *buf = malloc(cap), *nb;
	ssize_t n;

	if (buf == NULL)
		return -ENOMEM;
	for (;;) {
		if (len + 1 == cap) {
			if (cap > max) {
				free(buf);
				return -EFBIG;
			}
			if ((nb = realloc(buf, cap * 2)) == NULL) {
				free(buf);
				return -ENOMEM;
			}
			buf = nb;
			cap *= 2;
		}
		n = read(fd, buf + len, cap - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int err = -errno;

			free(buf);
			return err;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (len > max) {
		free(buf);
		return -EFBIG;
	}
	buf[len] = '\0';
	*out = buf;
	*outlen = len;
	return 0;
}

static void
parse_token_file(struct cfg_ctx *c, json_t *v, void *base)
{
	struct config_gateway *gw = base;
	char *tok = NULL;
	size_t len = 0;
	struct stat st;
	const char *path;
	int fd, rc;

	if ((path = cfg_abs_path(c, v)) == NULL ||
	    (fd = cfg_open_file(c, path, &st)) < 0)
		return;
	if (st.st_mode & S_IROTH) {
		cfg_err(c, "'%s' is readable by everyone (mode %04o): "
		    "chmod o-r it", Q(path), (unsigned)(st.st_mode & 07777));
		goto out;
	}
	if ((rc = read_all(fd, CFG_MAX_TOKEN, &tok, &len)) < 0) {
		if (rc == -ENOMEM)
			c->nomem = true;
		else
			cfg_err(c, "cannot read '%s': %s", Q(path),
			    rc == -EFBIG ? "larger than 16 KiB" : strerror(-rc));
		goto out;
	}
	while (len > 0 && strchr(" \t\r\n", tok[len - 1]) != NULL)
		tok[--len] = '\0';
	if (len == 0) {
		cfg_err(c, "'%s' is empty", Q(path));
		goto out;
	}
	for (size_t i = 0; i < len; i++) {
		if ((unsigned char)tok[i] < 0x20 || tok[i] == 0x7f) {
			/* It becomes an HTTP header line. */
			cfg_err(c, "'%s': the token must be one line of "
			    "printable characters", Q(path));
			goto out;
		}
	}
	cfg_set_str(c, &gw->token_file, path);
	if (gw->token != NULL) {
		explicit_bzero(gw->token, strlen(gw->token));
		free(gw->token);
	}
	gw->token = tok;
	tok = NULL;
out:
	if (tok != NULL) {
		explicit_bzero(tok, len);
		free(tok);
	}
	close(fd);
}

static void
parse_ca_file(struct cfg_ctx *c, json_t *v, void *base)
{
	struct config_gateway *gw = base;
	struct stat st;
	const char *path;
	int fd;

	if ((path = cfg_abs_path(c, v)) == NULL ||
	    (fd = cfg_open_file(c, path, &st)) < 0)
		return;
	close(fd);
	cfg_set_str(c, &gw->ca_file, path);
}

/* Role names into order[] (distinct, known); mask of them. */
static bool
parse_role_list(struct cfg_ctx *c, json_t *v, enum role *order, int *n,
    unsigned *mask)
{
	char list[128];
	unsigned m = 0;
	bool ok = true;
	size_t i;
	json_t *e;
	int k = 0;

	if (!json_is_array(v)) {
		cfg_err(c, "expected an array of roles, got %s", SHOW(v));
		return false;
	}
	if (json_array_size(v) == 0) {
		cfg_err(c, "must list at least one role");
		return false;
	}
	json_array_foreach(v, i, e) {
		size_t mark = path_index(c, i);
		const char *s = cfg_string(c, e);
		enum role r;

		if (s == NULL) {
			ok = false;
		} else if (role_parse(s, &r) < 0) {
			cfg_err(c, "unknown role %s (expected %s)", SHOW(e),
			    cfg_roles_list(list, sizeof(list)));
			ok = false;
		} else if (m & ROLE_BIT(r)) {
			cfg_err(c, "role %s is listed twice", SHOW(e));
			ok = false;
		} else {
			m |= ROLE_BIT(r);
			if (order != NULL)
				order[k++] = r;
		}
		path_pop(c, mark);
	}
	if (!ok)
		return false;
	if (n != NULL)
		*n = k;
	*mask = m;
	return true;
}

static void
parse_role_order(struct cfg_ctx *c, json_t *v, void *base)
{
	struct config_policy *p = base;
	enum role order[ROLE_COUNT];
	unsigned mask;
	int n;

	if (!parse_role_list(c, v, order, &n, &mask))
		return;
	memcpy(p->role_order, order, sizeof(order));
	p->nroles = n;
	c->role_order_set = true;
}

static const struct cfg_field max_parallel_fields[] = {
	{ "ClientAccess", CFG_INT,
	  offsetof(struct config_policy, max_parallel[ROLE_CLIENT_ACCESS]),
	  1, INT_MAX, NULL, NULL, false },
	{ "EdgeTransport", CFG_INT,
	  offsetof(struct config_policy, max_parallel[ROLE_EDGE_TRANSPORT]),
	  1, INT_MAX, NULL, NULL, false },
	{ "HubTransport", CFG_INT,
	  offsetof(struct config_policy, max_parallel[ROLE_HUB_TRANSPORT]),
	  1, INT_MAX, NULL, NULL, false },
	{ "UnifiedMessaging", CFG_INT,
	  offsetof(struct config_policy, max_parallel[ROLE_UNIFIED_MESSAGING]),
	  1, INT_MAX, NULL, NULL, false },
	{ "Mailbox", CFG_INT,
	  offsetof(struct config_policy, max_parallel[ROLE_MAILBOX]),
	  1, INT_MAX, NULL, NULL, false },
	{ NULL, CFG_IGNORE, 0, 0, 0, NULL, NULL, false },
};

static void
parse_max_parallel(struct cfg_ctx *c, json_t *v, void *base)
{
	struct config_policy *p = base;
	long long n;

	if (json_is_object(v)) {
		parse_object(c, v, max_parallel_fields, p);
	} else if (!cfg_integer(v, &n)) {
		cfg_err(c, "expected an integer or an object of roles, got %s",
		    SHOW(v));
	} else if (n < 1 || n > INT_MAX) {
		cfg_err(c, "must be at least 1, got %s", SHOW(v));
	} else {
		for (int r = 0; r < ROLE_COUNT; r++)
			p->max_parallel[r] = (int)n;
	}
}

static void
parse_reboot(struct cfg_ctx *c, json_t *v, void *base)
{
	struct config_policy *p = base;
	int i = cfg_enum(c, v, reboot_names, "reboot policy");

	if (i >= 0)
		p->reboot = (enum config_reboot)i;
}

static void
parse_checkpoints(struct cfg_ctx *c, json_t *v, void *base)
{
	struct config_policy *p = base;
	int i = cfg_enum(c, v, checkpoints_names, "checkpoint policy");

	if (i >= 0)
		p->checkpoints = (enum config_checkpoints)i;
}

static void
parse_ccr_procedure(struct cfg_ctx *c, json_t *v, void *base)
{
	struct config_policy *p = base;
	int i = cfg_enum(c, v, ccr_names, "CCR procedure");

	if (i >= 0)
		p->ccr_procedure = (enum config_ccr)i;
}

static void
parse_allow_uids(struct cfg_ctx *c, json_t *v, void *base)
{
	struct config_control *ctl = base;
	uid_t *uids;
	bool ok = true;
	size_t i, n;
	json_t *e;

	if (!json_is_array(v)) {
		cfg_err(c, "expected an array of user ids, got %s", SHOW(v));
		return;
	}
	n = json_array_size(v);
	if ((uids = calloc(n ? n : 1, sizeof(*uids))) == NULL) {
		c->nomem = true;
		return;
	}
	json_array_foreach(v, i, e) {
		size_t mark = path_index(c, i);
		long long uid;

		if (!cfg_integer(e, &uid) || uid < 0 || uid > CFG_MAX_UID) {
			cfg_err(c, "expected a user id (0 to %lld), got %s",
			    CFG_MAX_UID, SHOW(e));
			ok = false;
		} else {
			uids[i] = (uid_t)uid;
		}
		path_pop(c, mark);
	}
	if (!ok) {
		free(uids);
		return;
	}
	free(ctl->allow_uids);
	ctl->allow_uids = uids;
	ctl->nallow_uids = n;
}

static void
parse_allow_group(struct cfg_ctx *c, json_t *v, void *base)
{
	struct config_control *ctl = base;
	long sz = sysconf(_SC_GETGR_R_SIZE_MAX);
	struct group gr, *res = NULL;
	char *buf = NULL;
	const char *name;
	int rc;

	if ((name = cfg_string(c, v)) == NULL)
		return;
	if (*name == '\0') {
		cfg_err(c, "must not be empty");
		return;
	}
	if (sz <= 0)
		sz = 16384;
	for (;;) {
		if ((buf = malloc((size_t)sz)) == NULL) {
			c->nomem = true;
			return;
		}
		rc = getgrnam_r(name, &gr, buf, (size_t)sz, &res);
		if (rc != ERANGE || sz >= 1024 * 1024)
			break;
		free(buf);
		sz *= 2;
	}
	if (res == NULL && rc != 0 && rc != ENOENT)
		cfg_err(c, "cannot look up group %s: %s", SHOW(v), strerror(rc));
	else if (res == NULL)
		cfg_err(c, "unknown group %s", SHOW(v));
	else {
		ctl->allow_gid = gr.gr_gid;
		cfg_set_str(c, &ctl->allow_group, name);
	}
	free(buf);
}

static void
parse_exec(struct cfg_ctx *c, json_t *v, void *base)
{
	struct config_notify *nt = base;
	struct stat st;
	const char *path;

	if ((path = cfg_abs_path(c, v)) == NULL)
		return;
	if (stat(path, &st) < 0)
		cfg_err(c, "cannot use '%s': %s", Q(path), strerror(errno));
	else if (!S_ISREG(st.st_mode))
		cfg_err(c, "'%s' is not a regular file", Q(path));
	else if (access(path, X_OK) < 0)
		cfg_err(c, "'%s' is not executable", Q(path));
	else
		cfg_set_str(c, &nt->exec, path);
}

/* ---- windows ---- */

static void
parse_days(struct cfg_ctx *c, json_t *v, void *base)
{
	struct config_weekly *w = base;
	unsigned mask = 0;
	bool ok = true;
	size_t i;
	json_t *e;

	if (!json_is_array(v)) {
		cfg_err(c, "expected an array of days, got %s", SHOW(v));
		return;
	}
	if (json_array_size(v) == 0) {
		cfg_err(c, "must list at least one day");
		return;
	}
	json_array_foreach(v, i, e) {
		size_t mark = path_index(c, i);
		const char *s = cfg_string(c, e);
		int d;

		for (d = 0; s != NULL && day_names[d] != NULL; d++) {
			if (strcmp(s, day_names[d]) == 0)
				break;
		}
		if (s == NULL) {
			ok = false;
		} else if (day_names[d] == NULL) {
			cfg_err(c, "unknown day %s (expected Mon, Tue, Wed, "
			    "Thu, Fri, Sat or Sun)", SHOW(e));
			ok = false;
		} else if (mask & (1u << d)) {
			cfg_err(c, "day %s is listed twice", SHOW(e));
			ok = false;
		} else {
			mask |= 1u << d;
		}
		path_pop(c, mark);
	}
	if (ok)
		w->days_mask = mask;
}

/* "HH:MM", 00:00 to 23:59, into minutes after midnight. */
static int
cfg_time_of_day(struct cfg_ctx *c, const json_t *v)
{
	const char *s = cfg_string(c, v);
	int h, m;

	if (s == NULL)
		return -1;
	if (strlen(s) != 5 || strspn(s, "0123456789") != 2 || s[2] != ':' ||
	    strspn(s + 3, "0123456789") != 2 ||
	    (h = (s[0] - '0') * 10 + s[1] - '0') > 23 ||
	    (m = (s[3] - '0') * 10 + s[4] - '0') > 59) {
		cfg_err(c, "not a time of day %s (expected HH:MM, 00:00 to "
		    "23:59)", SHOW(v));
		return -1;
	}
	return h * 60 + m;
}

static void
parse_start(struct cfg_ctx *c, json_t *v, void *base)
{
	struct config_weekly *w = base;

	w->start_min = cfg_time_of_day(c, v);
}

static void
parse_end(struct cfg_ctx *c, json_t *v, void *base)
{
	struct config_weekly *w = base;

	w->end_min = cfg_time_of_day(c, v);
}

static int
cfg_num(const char *s, int n)
{
	int v = 0;

	for (int i = 0; i < n; i++)
		v = v * 10 + (s[i] - '0');
	return v;
}

/* "YYYY-MM-DDTHH:MM[:SS]" in local time, into epoch ms; INT64_MIN when
 * invalid (reported). */
static int64_t
cfg_local_time(struct cfg_ctx *c, const json_t *v)
{
	static const char shape[] = "dddd-dd-ddTdd:dd:dd";
	static const int mdays[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31,
		30, 31 };
	const char *s = cfg_string(c, v);
	struct tm tm = { .tm_isdst = -1 };
	size_t len;
	time_t t;
	int y;

	if (s == NULL)
		return INT64_MIN;
	len = strlen(s);
	if (len != 16 && len != 19)
		goto bad;
	for (size_t i = 0; i < len; i++) {
		if (shape[i] == 'd' ? s[i] < '0' || s[i] > '9' : s[i] != shape[i])
			goto bad;
	}
	y = cfg_num(s, 4);
	tm.tm_year = y - 1900;
	tm.tm_mon = cfg_num(s + 5, 2) - 1;
	tm.tm_mday = cfg_num(s + 8, 2);
	tm.tm_hour = cfg_num(s + 11, 2);
	tm.tm_min = cfg_num(s + 14, 2);
	tm.tm_sec = len == 19 ? cfg_num(s + 17, 2) : 0;
	if (y < 1970 || tm.tm_mon < 0 || tm.tm_mon > 11 || tm.tm_mday < 1 ||
	    tm.tm_mday > mdays[tm.tm_mon] || (tm.tm_mon == 1 &&
	    tm.tm_mday == 29 && (y % 4 != 0 || (y % 100 == 0 && y % 400 != 0))) ||
	    tm.tm_hour > 23 || tm.tm_min > 59 || tm.tm_sec > 59)
		goto bad;
	if ((t = mktime(&tm)) == (time_t)-1)
		goto bad;
	/* mktime moves a time that a daylight-saving change skips. */
	if (tm.tm_mday != cfg_num(s + 8, 2) || tm.tm_hour != cfg_num(s + 11, 2) ||
	    tm.tm_min != cfg_num(s + 14, 2)) {
		cfg_err(c, "%s does not exist in local time (a daylight-saving "
		    "change skips it)", SHOW(v));
		return INT64_MIN;
	}
	return (int64_t)t * 1000;
bad:
	cfg_err(c, "not a local date and time %s (expected "
	    "YYYY-MM-DDTHH:MM or YYYY-MM-DDTHH:MM:SS)", SHOW(v));
	return INT64_MIN;
}

static void
parse_from(struct cfg_ctx *c, json_t *v, void *base)
{
	struct config_absolute *a = base;

	a->from_ms = cfg_local_time(c, v);
}

static void
parse_to(struct cfg_ctx *c, json_t *v, void *base)
{
	struct config_absolute *a = base;

	a->to_ms = cfg_local_time(c, v);
}

static const struct cfg_field weekly_fields[] = {
	{ "days", CFG_CUSTOM, 0, 0, 0, NULL, parse_days, true },
	{ "start", CFG_CUSTOM, 0, 0, 0, NULL, parse_start, true },
	{ "end", CFG_CUSTOM, 0, 0, 0, NULL, parse_end, true },
	{ NULL, CFG_IGNORE, 0, 0, 0, NULL, NULL, false },
};

static const struct cfg_field absolute_fields[] = {
	{ "from", CFG_CUSTOM, 0, 0, 0, NULL, parse_from, true },
	{ "to", CFG_CUSTOM, 0, 0, 0, NULL, parse_to, true },
	{ NULL, CFG_IGNORE, 0, 0, 0, NULL, NULL, false },
};

/* Both shapes, to name unknown keys in an entry that has neither. */
static const struct cfg_field window_fields[] = {
	{ "days", CFG_IGNORE, 0, 0, 0, NULL, NULL, false },
	{ "start", CFG_IGNORE, 0, 0, 0, NULL, NULL, false },
	{ "end", CFG_IGNORE, 0, 0, 0, NULL, NULL, false },
	{ "from", CFG_IGNORE, 0, 0, 0, NULL, NULL, false },
	{ "to", CFG_IGNORE, 0, 0, 0, NULL, NULL, false },
	{ NULL, CFG_IGNORE, 0, 0, 0, NULL, NULL, false },
};

static void
parse_window(struct cfg_ctx *c, json_t *e, struct config_window *w)
{
	bool weekly, absolute;
	size_t mark;

	if (!json_is_object(e)) {
		cfg_err(c, "expected an object, got %s", SHOW(e));
		return;
	}
	weekly = json_object_get(e, "days") || json_object_get(e, "start") ||
	    json_object_get(e, "end");
	absolute = json_object_get(e, "from") || json_object_get(e, "to");
	if (weekly && absolute) {
		cfg_err(c, "mixes a weekly window (days, start, end) with an "
		    "absolute one (from, to)");
	} else if (weekly) {
		w->weekly = true;
		w->u.w = (struct config_weekly){ 0, -1, -1 };
		parse_object(c, e, weekly_fields, &w->u.w);
		if (w->u.w.start_min >= 0 && w->u.w.start_min == w->u.w.end_min) {
			mark = path_key(c, "end");
			cfg_err(c, "equals start %s: the window would be empty",
			    SHOW(json_object_get(e, "end")));
			path_pop(c, mark);
		}
	} else if (absolute) {
		w->weekly = false;
		w->u.a = (struct config_absolute){ INT64_MIN, INT64_MIN };
		parse_object(c, e, absolute_fields, &w->u.a);
		if (w->u.a.from_ms != INT64_MIN && w->u.a.to_ms != INT64_MIN &&
		    w->u.a.to_ms <= w->u.a.from_ms) {
			mark = path_key(c, "to");
			cfg_err(c, "%s is not after from %s",
			    SHOW(json_object_get(e, "to")),
			    SHOW(json_object_get(e, "from")));
			path_pop(c, mark);
		}
	} else if (check_keys(c, e, window_fields) == 0) {
		cfg_err(c, "expected a weekly window (days, start, end) or an "
		    "absolute one (from, to)");
	}
}

static void
parse_windows(struct cfg_ctx *c, json_t *v, void *base)
{
	struct config *cfg = base;
	size_t i, n;
	json_t *e;

	if (!json_is_array(v)) {
		cfg_err(c, "expected an array of windows, got %s", SHOW(v));
		return;
	}
	if ((n = json_array_size(v)) == 0) {
		cfg_err(c, "lists no window, so nothing would ever run "
		    "(leave 'windows' out for always open)");
		return;
	}
	if ((cfg->windows = calloc(n, sizeof(*cfg->windows))) == NULL) {
		c->nomem = true;
		return;
	}
	cfg->nwindows = n;
	json_array_foreach(v, i, e) {
		size_t mark = path_index(c, i);

		parse_window(c, e, &cfg->windows[i]);
		path_pop(c, mark);
	}
}

/* ---- servers and clusters ---- */

static int
name_ref_cmp(const void *a, const void *b)
{
	const struct name_ref *x = a, *y = b;
	int d = strcasecmp(x->name, y->name);

	if (d != 0)
		return d;
	return x->idx < y->idx ? -1 : x->idx > y->idx;
}

static int
name_ref_key_cmp(const void *key, const void *elem)
{
	return strcasecmp(key, ((const struct name_ref *)elem)->name);
}

/* Sorts refs and reports every name used twice (in any case), naming the
 * first use. */
static void
check_unique(struct cfg_ctx *c, struct name_ref *refs, size_t n,
    const char *array, const char *what)
{
	char first[96], path[64], where[192];
	size_t f = 0;

	qsort(refs, n, sizeof(*refs), name_ref_cmp);
	for (size_t i = 1; i < n; i++) {
		if (strcasecmp(refs[i].name, refs[f].name) != 0) {
			f = i;
			continue;
		}
		snprintf(first, sizeof(first), "%s[%zu].name", array, refs[f].idx);
		snprintf(path, sizeof(path), "%s[%zu].name", array, refs[i].idx);
		cfg_where(c, first, where, sizeof(where));
		cfg_err_at(c, path, "duplicate %s name '%s' (already used by %s)",
		    what, Q(refs[i].name), where);
	}
}

/* Index of the first server named name, or -1. */
static int
server_find(const struct cfg_ctx *c, const char *name)
{
	const struct name_ref *r;

	if (c->nserver_names == 0)	/* server_names may be NULL */
		return -1;
	r = bsearch(name, c->server_names, c->nserver_names, sizeof(*r),
	    name_ref_key_cmp);
	if (r == NULL)
		return -1;
	/* Duplicates (reported) sort by index: take the first. */
	while (r > c->server_names && strcasecmp(r[-1].name, name) == 0)
		r--;
	return (int)r->idx;
}

/* Whether name is the (invalid, hence unindexed) name of a server entry:
 * its error is already reported. */
static bool
server_name_rejected(const struct cfg_ctx *c, const char *name)
{
	json_t *servers = json_object_get(c->root, "servers"), *e;
	size_t i;

	json_array_foreach(servers, i, e) {
		const char *s = json_string_value(json_object_get(e, "name"));

		if (s != NULL && strcasecmp(s, name) == 0)
			return true;
	}
	return false;
}

static void
parse_host_name(struct cfg_ctx *c, json_t *v, char **dst)
{
	const char *s = cfg_string(c, v);

	if (s == NULL)
		return;
	if (!name_valid_host(s))
		cfg_err(c, "invalid name %s (a host name: letters, digits and "
		    "'-' in dot-separated labels of at most 63)", SHOW(v));
	else
		cfg_set_str(c, dst, s);
}

static void
parse_server_name(struct cfg_ctx *c, json_t *v, void *base)
{
	struct config_server *s = base;

	parse_host_name(c, v, &s->name);
}

static void
parse_server_roles(struct cfg_ctx *c, json_t *v, void *base)
{
	struct config_server *s = base;
	unsigned mask;

	if (parse_role_list(c, v, NULL, NULL, &mask))
		s->roles = mask;
}

static const struct cfg_field server_fields[] = {
	{ "name", CFG_CUSTOM, 0, 0, 0, NULL, parse_server_name, true },
	{ "roles", CFG_CUSTOM, 0, 0, 0, NULL, parse_server_roles, true },
	{ NULL, CFG_IGNORE, 0, 0, 0, NULL, NULL, false },
};

static void
parse_servers(struct cfg_ctx *c, json_t *v, void *base)
{
	struct config *cfg = base;
	size_t i, n, k = 0;
	json_t *e;

	if (!json_is_array(v)) {
		cfg_err(c, "expected an array of servers, got %s", SHOW(v));
		return;
	}
	if ((n = json_array_size(v)) == 0) {
		cfg_err(c, "must list at least one server");
		return;
	}
	if ((cfg->servers = calloc(n, sizeof(*cfg->servers))) == NULL ||
	    (c->server_names = calloc(n, sizeof(*c->server_names))) == NULL) {
		c->nomem = true;
		return;
	}
	cfg->nservers = n;
	json_array_foreach(v, i, e) {
		size_t mark = path_index(c, i);

		cfg->servers[i].cluster = -1;
		parse_object(c, e, server_fields, &cfg->servers[i]);
		path_pop(c, mark);
		if (cfg->servers[i].name != NULL)
			c->server_names[k++] = (struct name_ref){
				cfg->servers[i].name, i };
	}
	c->nserver_names = k;
	check_unique(c, c->server_names, k, "servers", "server");
	c->servers_ok = true;
}

static void
parse_cluster_name(struct cfg_ctx *c, json_t *v, void *base)
{
	struct config_cluster *cl = base;

	parse_host_name(c, v, &cl->name);
}

static void
parse_cluster_type(struct cfg_ctx *c, json_t *v, void *base)
{
	const char *s = cfg_string(c, v);

	(void)base;
	if (s != NULL && strcmp(s, "CCR") != 0)
		cfg_err(c, "unsupported cluster type %s (only CCR clusters "
		    "are supported)", SHOW(v));
}

static void
cluster_node(struct cfg_ctx *c, struct config_cluster *cl, int i,
    const char *name)
{
	struct config *cfg = c->cfg;
	int ci = (int)(cl - cfg->clusters), si;
	struct config_server *s;
	char roles[96];

	if ((si = server_find(c, name)) < 0) {
		if (!server_name_rejected(c, name))
			cfg_err(c, "unknown server '%s'", Q(name));
		return;
	}
	s = &cfg->servers[si];
	if (i == 1 && cl->nodes[0] == si) {
		cfg_err(c, "'%s' is the same server as nodes[0]", Q(name));
		return;
	}
	if (s->cluster >= 0) {
		const char *other = cfg->clusters[s->cluster].name;

		cfg_err(c, "server '%s' is already a node of cluster '%s'",
		    s->name, other ? other : "?");
		return;
	}
	if (s->roles != 0 && s->roles != ROLE_BIT(ROLE_MAILBOX)) {
		size_t o = 0;

		roles[0] = '\0';
		for (int r = 0; r < ROLE_COUNT; r++) {
			if (s->roles & ROLE_BIT(r))
				o += (size_t)snprintf(roles + o,
				    sizeof(roles) - o, "%s%s", o ? ", " : "",
				    role_name((enum role)r));
		}
		cfg_err(c, "server '%s' has roles %s, but a CCR node holds "
		    "only the Mailbox role", s->name, roles);
	}
	s->cluster = ci;
	cl->nodes[i] = si;
}

static void
parse_cluster_nodes(struct cfg_ctx *c, json_t *v, void *base)
{
	struct config_cluster *cl = base;

	if (!json_is_array(v)) {
		cfg_err(c, "expected an array of the two node names, got %s",
		    SHOW(v));
		return;
	}
	if (json_array_size(v) != 2) {
		cfg_err(c, "a CCR cluster has exactly two nodes, got %zu",
		    json_array_size(v));
		return;
	}
	for (int i = 0; i < 2; i++) {
		size_t mark = path_index(c, (size_t)i);
		const char *s = cfg_string(c, json_array_get(v, (size_t)i));

		if (s != NULL && c->servers_ok)
			cluster_node(c, cl, i, s);
		path_pop(c, mark);
	}
}

static const struct cfg_field cluster_fields[] = {
	{ "name", CFG_CUSTOM, 0, 0, 0, NULL, parse_cluster_name, true },
	{ "type", CFG_CUSTOM, 0, 0, 0, NULL, parse_cluster_type, true },
	{ "nodes", CFG_CUSTOM, 0, 0, 0, NULL, parse_cluster_nodes, true },
	{ NULL, CFG_IGNORE, 0, 0, 0, NULL, NULL, false },
};

/* After servers (the table's order): nodes are looked up among them. */
static void
parse_clusters(struct cfg_ctx *c, json_t *v, void *base)
{
	struct config *cfg = base;
	struct name_ref *refs;
	size_t i, n, k = 0;
	json_t *e;

	if (!json_is_array(v)) {
		cfg_err(c, "expected an array of clusters, got %s", SHOW(v));
		return;
	}
	if ((n = json_array_size(v)) == 0)
		return;
	if ((cfg->clusters = calloc(n, sizeof(*cfg->clusters))) == NULL ||
	    (refs = calloc(n, sizeof(*refs))) == NULL) {
		c->nomem = true;
		return;
	}
	cfg->nclusters = n;
	json_array_foreach(v, i, e) {
		size_t mark = path_index(c, i);
		struct config_cluster *cl = &cfg->clusters[i];
		int si;

		cl->nodes[0] = cl->nodes[1] = -1;
		parse_object(c, e, cluster_fields, cl);
		if (cl->name != NULL &&
		    (si = server_find(c, cl->name)) >= 0) {
			char other[64], where[160];
			size_t name_mark;

			snprintf(other, sizeof(other), "servers[%d].name", si);
			cfg_where(c, other, where, sizeof(where));
			name_mark = path_key(c, "name");
			cfg_err(c, "cluster name '%s' is already a server name "
			    "(%s)", cl->name, where);
			path_pop(c, name_mark);
		}
		path_pop(c, mark);
		if (cl->name != NULL)
			refs[k++] = (struct name_ref){ cl->name, i };
	}
	check_unique(c, refs, k, "clusters", "cluster");
	free(refs);
}

/* ---- the file ---- */

static const struct cfg_field gateway_fields[] = {
	{ "url", CFG_URL, offsetof(struct config_gateway, url), 0, 0, NULL,
	  NULL, false },
	{ "token_file", CFG_CUSTOM, 0, 0, 0, NULL, parse_token_file, false },
	{ "ca_file", CFG_CUSTOM, 0, 0, 0, NULL, parse_ca_file, false },
	{ "tls_verify", CFG_BOOL, offsetof(struct config_gateway, tls_verify),
	  0, 0, NULL, NULL, false },
	{ "request_timeout_s", CFG_SECONDS,
	  offsetof(struct config_gateway, request_timeout_s), 0, 0, NULL,
	  NULL, false },
	{ "poll_interval_s", CFG_SECONDS,
	  offsetof(struct config_gateway, poll_interval_s), 0, 0, NULL, NULL,
	  false },
	{ "max_in_flight", CFG_INT,
	  offsetof(struct config_gateway, max_in_flight), 1, 1024, NULL, NULL,
	  false },
	{ NULL, CFG_IGNORE, 0, 0, 0, NULL, NULL, false },
};

static const struct cfg_field policy_fields[] = {
	{ "role_order", CFG_CUSTOM, 0, 0, 0, NULL, parse_role_order, false },
	{ "max_parallel", CFG_CUSTOM, 0, 0, 0, NULL, parse_max_parallel,
	  false },
	{ "install_timeout_s", CFG_SECONDS,
	  offsetof(struct config_policy, install_timeout_s), 0, 0, NULL, NULL,
	  false },
	{ "verify_timeout_s", CFG_SECONDS,
	  offsetof(struct config_policy, verify_timeout_s), 0, 0, NULL, NULL,
	  false },
	{ "verify_interval_s", CFG_SECONDS,
	  offsetof(struct config_policy, verify_interval_s), 0, 0, NULL, NULL,
	  false },
	{ "retry_backoff_s", CFG_SECONDS,
	  offsetof(struct config_policy, retry_backoff_s), 0, 0, NULL, NULL,
	  false },
	{ "retries", CFG_INT, offsetof(struct config_policy, retries), 0, 100,
	  NULL, NULL, false },
	{ "reboot", CFG_CUSTOM, 0, 0, 0, NULL, parse_reboot, false },
	{ "checkpoints", CFG_CUSTOM, 0, 0, 0, NULL, parse_checkpoints, false },
	{ "ccr_procedure", CFG_CUSTOM, 0, 0, 0, NULL, parse_ccr_procedure,
	  false },
	{ "failback", CFG_BOOL, offsetof(struct config_policy, failback), 0, 0,
	  NULL, NULL, false },
	{ "setup_source", CFG_STRING,
	  offsetof(struct config_policy, setup_source), 0,
	  CFG_MAX_SETUP_SOURCE, NULL, NULL, false },
	{ NULL, CFG_IGNORE, 0, 0, 0, NULL, NULL, false },
};

static const struct cfg_field control_fields[] = {
	{ "allow_uids", CFG_CUSTOM, 0, 0, 0, NULL, parse_allow_uids, false },
	{ "allow_group", CFG_CUSTOM, 0, 0, 0, NULL, parse_allow_group, false },
	{ NULL, CFG_IGNORE, 0, 0, 0, NULL, NULL, false },
};

static const struct cfg_field notify_fields[] = {
	{ "webhook_url", CFG_URL, offsetof(struct config_notify, webhook_url),
	  0, 0, NULL, NULL, false },
	{ "exec", CFG_CUSTOM, 0, 0, 0, NULL, parse_exec, false },
	{ NULL, CFG_IGNORE, 0, 0, 0, NULL, NULL, false },
};

/* Servers before clusters: see parse_clusters(). */
static const struct cfg_field top_fields[] = {
	{ "$schema", CFG_IGNORE, 0, 0, 0, NULL, NULL, false },
	{ "target_version", CFG_CUSTOM, 0, 0, 0, NULL, parse_target_version,
	  false },
	{ "state_file", CFG_PATH, offsetof(struct config, state_file), 0, 0,
	  NULL, NULL, false },
	{ "socket", CFG_CUSTOM, 0, 0, 0, NULL, parse_socket, false },
	{ "gateway", CFG_OBJECT, offsetof(struct config, gateway), 0, 0,
	  gateway_fields, NULL, false },
	{ "policy", CFG_OBJECT, offsetof(struct config, policy), 0, 0,
	  policy_fields, NULL, false },
	{ "windows", CFG_CUSTOM, 0, 0, 0, NULL, parse_windows, false },
	{ "control", CFG_OBJECT, offsetof(struct config, control), 0, 0,
	  control_fields, NULL, false },
	{ "notify", CFG_OBJECT, offsetof(struct config, notify), 0, 0,
	  notify_fields, NULL, false },
	{ "servers", CFG_CUSTOM, 0, 0, 0, NULL, parse_servers, true },
	{ "clusters", CFG_CUSTOM, 0, 0, 0, NULL, parse_clusters, false },
	{ NULL, CFG_IGNORE, 0, 0, 0, NULL, NULL, false },
};

/* An explicit role_order must place every role some server holds. */
static void
check_role_order(struct cfg_ctx *c)
{
	const struct config *cfg = c->cfg;
	unsigned seen = 0;

	if (!c->role_order_set)
		return;
	for (size_t i = 0; i < cfg->nservers; i++) {
		const struct config_server *s = &cfg->servers[i];

		for (int r = 0; r < ROLE_COUNT; r++) {
			if (!(s->roles & ROLE_BIT(r)) || (seen & ROLE_BIT(r)) ||
			    config_role_rank(cfg, (enum role)r) >= 0)
				continue;
			seen |= ROLE_BIT(r);
			cfg_err_at(c, "policy.role_order", "does not include "
			    "'%s', a role of server '%s'",
			    role_name((enum role)r), s->name ? s->name : "?");
		}
	}
}

static int
cfg_defaults(struct config *cfg, const char *path)
{
	struct config_policy *p = &cfg->policy;

	if ((cfg->path = strdup(path)) == NULL ||
	    (cfg->target_version_str = strdup(CONFIG_DEFAULT_TARGET)) == NULL ||
	    (cfg->state_file = strdup(CONFIG_DEFAULT_STATE_FILE)) == NULL ||
	    (cfg->socket = strdup(CONFIG_DEFAULT_SOCKET)) == NULL ||
	    (cfg->gateway.url = strdup(CFG_DEFAULT_URL)) == NULL)
		return -ENOMEM;
	version_parse(CONFIG_DEFAULT_TARGET, &cfg->target_version);
	cfg->gateway.tls_verify = true;
	cfg->gateway.request_timeout_s = 30;
	cfg->gateway.poll_interval_s = 10;
	cfg->gateway.max_in_flight = 16;
	for (int r = 0; r < ROLE_COUNT; r++) {
		p->role_order[r] = (enum role)r;
		p->max_parallel[r] = 1;
	}
	p->nroles = ROLE_COUNT;
	p->install_timeout_s = 14400;
	p->verify_timeout_s = 1800;
	p->verify_interval_s = 30;
	p->retry_backoff_s = 60;
	p->retries = 2;
	p->reboot = REBOOT_IF_REQUIRED;
	p->checkpoints = CHECKPOINTS_APPROVE;
	p->ccr_procedure = CCR_SERVICE_PACK;
	p->failback = true;
	return 0;
}

static int
cfg_err_cmp(const void *a, const void *b)
{
	const struct cfg_err *x = a, *y = b;

	if (x->line != y->line)
		return x->line < y->line ? -1 : 1;
	if (x->col != y->col)
		return x->col < y->col ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Moves the collected messages into errs, sorted by position. */
static int
cfg_take_errors(struct cfg_ctx *c, struct config_errors *errs)
{
	qsort(c->errs, c->nerrs, sizeof(*c->errs), cfg_err_cmp);
	if ((errs->msg = calloc(c->nerrs, sizeof(char *))) == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < c->nerrs; i++) {
		errs->msg[i] = c->errs[i].msg;
		c->errs[i].msg = NULL;
	}
	errs->n = c->nerrs;
	return 0;
}

/* One message without a position: the file itself is the problem. */
static int
cfg_file_error(struct config_errors *errs, const char *path, int rc)
{
	char *msg;

	if (asprintf(&msg, "%s: cannot read: %s", path,
	    rc == -EFBIG ? "larger than 64 MiB" : strerror(-rc)) < 0)
		return -ENOMEM;
	if ((errs->msg = malloc(sizeof(char *))) == NULL) {
		free(msg);
		return -ENOMEM;
	}
	errs->msg[0] = msg;
	errs->n = 1;
	return rc;
}

int
config_load(const char *path, struct config **out, struct config_errors *errs)
{
	struct config_errors discard = { NULL, 0 };
	struct cfg_ctx c = { .file = path };
	struct config *cfg = NULL;
	char *text = NULL;
	json_error_t jerr;
	size_t len = 0;
	int fd, rc;

	if (errs == NULL)
		errs = &discard;
	*errs = (struct config_errors){ NULL, 0 };
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY)) < 0) {
		rc = cfg_file_error(errs, path, -errno);
		goto out;
	}
	rc = read_all(fd, CFG_MAX_FILE, &text, &len);
	close(fd);
	if (rc < 0) {
		rc = rc == -ENOMEM ? rc : cfg_file_error(errs, path, rc);
		goto out;
	}
	c.text = text;
	c.len = len;
	if (len >= 3 && memcmp(text, "\xef\xbb\xbf", 3) == 0) {
		c.text += 3;
		c.len -= 3;
	}
	c.root = json_loadb(c.text, c.len, JSON_REJECT_DUPLICATES, &jerr);
	if (c.root == NULL) {
		char *msg;

		if (asprintf(&msg, "%s:%d:%d: %s%s", path,
		    jerr.line > 0 ? jerr.line : 1,
		    jerr.column > 0 ? jerr.column : 1,
		    json_error_code(&jerr) == json_error_duplicate_key ?
		    "" : "invalid JSON: ", jerr.text) < 0) {
			rc = -ENOMEM;
			goto out;
		}
		cfg_add_err(&c, jerr.line, jerr.column, msg);
		rc = c.nomem ? -ENOMEM : -EINVAL;
		goto out;
	}
	if ((cfg = calloc(1, sizeof(*cfg))) == NULL ||
	    cfg_defaults(cfg, path) < 0 || sb_add(&c.path, "", 0) < 0) {
		rc = -ENOMEM;
		goto out;
	}
	c.cfg = cfg;
	if (parse_object(&c, c.root, top_fields, cfg))
		check_role_order(&c);
	if (c.nomem)
		rc = -ENOMEM;
	else if (c.nerrs > 0)
		rc = -EINVAL;
	else
		rc = 0;
out:
	if (rc == -EINVAL && c.nerrs > 0 && cfg_take_errors(&c, errs) < 0)
		rc = -ENOMEM;
	if (rc == 0) {
		*out = cfg;
		cfg = NULL;
	}
	config_free(cfg);
	config_errors_free(&discard);
	for (size_t i = 0; i < c.nerrs; i++)
		free(c.errs[i].msg);
	free(c.errs);
	for (size_t i = 0; i < c.pos.n; i++)
		free(c.pos.e[i].path);
	free(c.pos.e);
	free(c.path.s);
	free(c.server_names);
	json_decref(c.root);
	free(text);
	return rc;
}

void
config_free(struct config *cfg)
{
	if (cfg == NULL)
		return;
	free(cfg->path);
	free(cfg->target_version_str);
	free(cfg->state_file);
	free(cfg->socket);
	free(cfg->gateway.url);
	free(cfg->gateway.token_file);
	if (cfg->gateway.token != NULL) {
		explicit_bzero(cfg->gateway.token, strlen(cfg->gateway.token));
		free(cfg->gateway.token);
	}
	free(cfg->gateway.ca_file);
	free(cfg->policy.setup_source);
	free(cfg->windows);
	free(cfg->control.allow_uids);
	free(cfg->control.allow_group);
	free(cfg->notify.webhook_url);
	free(cfg->notify.exec);
	for (size_t i = 0; i < cfg->nservers; i++)
		free(cfg->servers[i].name);
	free(cfg->servers);
	for (size_t i = 0; i < cfg->nclusters; i++)
		free(cfg->clusters[i].name);
	free(cfg->clusters);
	free(cfg);
}

void
config_errors_free(struct config_errors *errs)
{
	if (errs == NULL)
		return;
	for (size_t i = 0; i < errs->n; i++)
		free(errs->msg[i]);
	free(errs->msg);
	errs->msg = NULL;
	errs->n = 0;
}

int
config_server_index(const struct config *cfg, const char *name)
{
	for (size_t i = 0; i < cfg->nservers; i++) {
		if (name_equal(cfg->servers[i].name, name))
			return (int)i;
	}
	return -1;
}

int
config_cluster_index(const struct config *cfg, const char *name)
{
	for (size_t i = 0; i < cfg->nclusters; i++) {
		if (name_equal(cfg->clusters[i].name, name))
			return (int)i;
	}
	return -1;
}

int
config_role_rank(const struct config *cfg, enum role r)
{
	for (int i = 0; i < cfg->policy.nroles; i++) {
		if (cfg->policy.role_order[i] == r)
			return i;
	}
	return -1;
}

const char *
config_reboot_name(enum config_reboot r)
{
	return (unsigned)r <= REBOOT_NEVER ? reboot_names[r] : "unknown";
}

const char *
config_checkpoints_name(enum config_checkpoints cp)
{
	return (unsigned)cp <= CHECKPOINTS_AUTO ? checkpoints_names[cp] :
	    "unknown";
}

const char *
config_ccr_name(enum config_ccr cc)
{
	return (unsigned)cc <= CCR_ROLLUP ? ccr_names[cc] : "unknown";
}
