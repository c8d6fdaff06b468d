/*
 * control — the control socket's transport (DESIGN §4).
 *
 * What a line means is control_handle_line()'s business (the pure half,
 * below, shared with the fuzz harness); this file moves bytes and enforces
 * the limits. One client's life:
 *
 *              peer refused / too many clients
 *   accept ------------------------------------------------> LINGER
 *     |                                                         |
 *     v        unsent >= CONTROL_THROTTLE                       |
 *   READING ---------------------------------> THROTTLED        |
 *     |   ^ <--------------------------------- |   |            |
 *     |   |    a write completed, unsent below |   |            |
 *     |   '------------------------------------'   |            |
 *     |  line over 64 KiB, half a line past the     |           |
 *     |  deadline, or EOF with every answer queued  |           |
 *     +---------------------------------------------+--> LINGER |
 *     |                                                     |   |
 *     | EOF/error, idle limit, a watch client over           v   v
 *     | CONTROL_MAX_PENDING, stalled while throttled      (unsent == 0 or
 *     '--------------------------------------------------> deadline) CLOSING
 *
 * Invariants:
 *  - the peer's credentials are checked right after accept, before the
 *    socket is ever read: a refused peer's bytes are never looked at;
 *  - a client is read only in READING, and a request is taken from its
 *    reader only while its unsent output is under CONTROL_THROTTLE: a
 *    client that pipelines faster than it reads is slowed, not dropped,
 *    and its buffered input stays bounded (one read on top of 64 KiB);
 *  - unsent output = bytes queued but not yet handed to libuv (out) plus
 *    bytes in uv_write requests not yet completed (inflight). Events for a
 *    watch client that would take it over CONTROL_MAX_PENDING drop it: the
 *    daemon never waits for a client. (An answer is always queued whole:
 *    the client asked for it and sends nothing more until it has read it.)
 *  - answers go out in request order: requests are handled synchronously
 *    and each answer is appended to the client's one output buffer;
 *  - output is batched: everything queued during one loop iteration goes
 *    out in one uv_write per client, from a prepare handle (so a commit
 *    that records 50 events costs a watch client one write, not 50);
 *  - handles are embedded in their owner (struct control_client, struct
 *    control) and the owner is freed only from the last close callback.
 *
 * Timers (one per client, re-armed from the state by client_arm()):
 *  READING with half a line: CONTROL_READ_DEADLINE_S after the last byte
 *  arrived, then an error line and LINGER; READING with nothing pending,
 *  not watching: CONTROL_IDLE_S, then closed; THROTTLED: CONTROL_IDLE_S
 *  without a completed write, then closed; LINGER: the read deadline.
 *
 * Peer check: root, the daemon's own uid, control.allow_uids, or
 * control.allow_group as the peer's primary gid (from SO_PEERCRED) or as a
 * group of the peer's user in the group database (getgrouplist). The
 * lookups may consult NSS; they run only for peers not allowed by uid.
 */
#include "control.h"
#include "control_parse.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "log.h"
#include "proto.h"

enum client_state {
	CLIENT_READING,
	CLIENT_THROTTLED,
	CLIENT_LINGER,		/* a last line goes out, then close */
	CLIENT_CLOSING,
};

struct control_client {
	struct control *ctl;
	struct control_client *next, *prev;
	uv_pipe_t pipe;
	uv_timer_t timer;
	int nopen;			/* handles not yet closed */
	enum client_state state;
	bool counted;			/* served: counts against the cap */
	bool reading;			/* uv_read_start in effect */
	bool watch;
	bool eof;			/* peer shut its side: answer, then go */
	bool overlong;			/* a partial line passed 64 KiB */
	struct proto_reader rd;
	struct control_peer peer;
	char *out;			/* queued, not yet handed to uv_write */
	size_t outlen, outcap;
	size_t inflight;		/* bytes in uv_write requests */
	uint64_t last_read;		/* uv_now() of the last bytes in */
	uint64_t last_active;		/* ... of the last bytes in or out */
	uint64_t linger_since;
};

struct control_write {
	uv_write_t req;
	struct control_client *cl;
	char *buf;
	size_t len;
};

struct control {
	uv_loop_t *loop;
	uv_pipe_t listener;
	uv_prepare_t flusher;		/* batches output, see above */
	int nopen;			/* listener + flusher not yet closed */
	bool listening;
	char *path;
	struct control_ops ops;
	uid_t self;
	uid_t *allow_uids;
	size_t nallow_uids;
	bool has_group;
	gid_t allow_gid;
	struct control_client *clients;
	size_t nclients;		/* counted clients */
	unsigned long nrefused;		/* over the cap, not yet logged */
	uint64_t refused_logged;	/* uv_now() of the last such log */
	uint64_t read_deadline_ms;
	uint64_t idle_ms;
	bool closing;
	void (*done)(void *arg);
	void *done_arg;
	/* One read buffer for every client: libuv calls read_cb right after
	 * alloc_cb and the reader copies the bytes out. */
	char rbuf[65536];
};

static void client_close(struct control_client *cl);
static void client_pump(struct control_client *cl);
static void client_arm(struct control_client *cl);
static void control_flush_cb(uv_prepare_t *h);
static void client_timer_cb(uv_timer_t *t);
static void client_alloc_cb(uv_handle_t *h, size_t size, uv_buf_t *buf);
static void client_read_cb(uv_stream_t *s, ssize_t nread,
    const uv_buf_t *buf);

/* ---- the pure half: one line in, one line out ---------------------- */

static const char *const control_err_names[] = {
	[CONTROL_OK] = "ok",
	[CONTROL_BAD_REQUEST] = "bad_request",
	[CONTROL_UNKNOWN_COMMAND] = "unknown_command",
	[CONTROL_NOT_FOUND] = "not_found",
	[CONTROL_CONFLICT] = "conflict",
	[CONTROL_FORBIDDEN] = "forbidden",
	[CONTROL_INTERNAL] = "internal",
};

const char *
control_err_name(enum control_err e)
{
	if ((unsigned)e >= sizeof(control_err_names) / sizeof(control_err_names[0]))
		return "internal";
	return control_err_names[e];
}

struct control_sbuf {
	char *p;
	size_t len, cap;
};

static int
control_sbuf_add(const char *data, size_t n, void *arg)
{
	struct control_sbuf *b = arg;

	if (b->len + n + 2 > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		char *np;

		while (cap < b->len + n + 2)
			cap *= 2;
		if ((np = realloc(b->p, cap)) == NULL)
			return -1;
		b->p = np;
		b->cap = cap;
	}
	memcpy(b->p + b->len, data, n);
	b->len += n;
	return 0;
}

/* j as one line of compact JSON with its newline; malloc'd, or NULL. */
static char *
control_dump_line(const json_t *j, size_t *len)
{
	struct control_sbuf b = { 0 };

	if (json_dump_callback(j, control_sbuf_add, &b, JSON_COMPACT) != 0 ||
	    b.p == NULL) {
		free(b.p);
		return NULL;
	}
	/* control_sbuf_add always leaves room for two more bytes. */
	b.p[b.len++] = '\n';
	b.p[b.len] = '\0';
	*len = b.len;
	return b.p;
}

/* The answer object; result is stolen. Returns a new reference or NULL. */
static json_t *
control_answer(const json_t *id, enum control_err e, json_t *result,
    const char *msg)
{
	json_t *resp = json_object(), *idv, *err;

	idv = id != NULL ? json_deep_copy(id) : json_null();
	if (resp == NULL || idv == NULL ||
	    json_object_set_new(resp, "id", idv) != 0)
		goto fail;
	if (e == CONTROL_OK) {
		if (json_object_set_new(resp, "ok", json_true()) != 0 ||
		    json_object_set_new(resp, "result", result) != 0) {
			result = NULL;
			goto fail;
		}
		return resp;
	}
	json_decref(result);
	result = NULL;
	err = json_pack("{s:s, s:s}", "code", control_err_name(e),
	    "message", msg != NULL && *msg != '\0' ? msg : control_err_name(e));
	if (json_object_set_new(resp, "ok", json_false()) != 0 ||
	    json_object_set_new(resp, "error", err) != 0)
		goto fail;
	return resp;
fail:
	json_decref(result);
	json_decref(resp);
	return NULL;
}

char *
control_error_line(const json_t *id, enum control_err e, const char *msg,
    size_t *len)
{
	json_t *resp = control_answer(id, e, NULL, msg);
	char *line;

	if (resp == NULL)
		return NULL;
	line = control_dump_line(resp, len);
	json_decref(resp);
	return line;
}

static const char *
control_json_type(const json_t *j)
{
	switch (json_typeof(j)) {
	case JSON_OBJECT: return "an object";
	case JSON_ARRAY: return "an array";
	case JSON_STRING: return "a string";
	case JSON_INTEGER:
	case JSON_REAL: return "a number";
	case JSON_TRUE:
	case JSON_FALSE: return "a boolean";
	case JSON_NULL: return "null";
	}
	return "a value";
}

static bool
control_blank(const char *line, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (line[i] != ' ' && line[i] != '\t')
			return false;
	return true;
}

int
control_handle_line(const struct control_ops *ops,
    const struct control_peer *peer, const char *line, size_t len,
    struct control_reply *reply)
{
	enum control_err e = CONTROL_BAD_REQUEST;
	json_t *req = NULL, *id = NULL, *cmdv, *result = NULL, *resp;
	json_error_t jerr;
	bool watch = false;
	const char *cmd;
	char msg[512] = "";
	char *text;
	size_t tlen;

	if (control_blank(line, len)) {
		reply->text = NULL;
		reply->len = 0;
		reply->watch = false;
		return 0;
	}
	if ((req = json_loadb(line, len, JSON_REJECT_DUPLICATES |
	    JSON_DECODE_ANY, &jerr)) == NULL) {
		snprintf(msg, sizeof(msg), "invalid JSON at column %d: %s",
		    jerr.column, jerr.text);
		goto answer;
	}
	if (!json_is_object(req)) {
		snprintf(msg, sizeof(msg),
		    "a request must be a JSON object, not %s",
		    control_json_type(req));
		goto answer;
	}
	id = json_object_get(req, "id");
	if (id != NULL && (json_is_object(id) || json_is_array(id))) {
		snprintf(msg, sizeof(msg),
		    "'id' must be a string, number, boolean or null, not %s",
		    control_json_type(id));
		id = NULL;
		goto answer;
	}
	if ((cmdv = json_object_get(req, "cmd")) == NULL) {
		snprintf(msg, sizeof(msg), "missing 'cmd'");
		goto answer;
	}
	if (!json_is_string(cmdv)) {
		snprintf(msg, sizeof(msg), "'cmd' must be a string, not %s",
		    control_json_type(cmdv));
		goto answer;
	}
	cmd = json_string_value(cmdv);
	if (strcmp(cmd, "watch") == 0) {
		const char *key;
		json_t *v;

		json_object_foreach(req, key, v) {
			if (strcmp(key, "id") != 0 && strcmp(key, "cmd") != 0) {
				snprintf(msg, sizeof(msg),
				    "unknown argument '%s' for 'watch'", key);
				goto answer;
			}
		}
		if ((result = json_pack("{s:b}", "watching", 1)) == NULL) {
			e = CONTROL_INTERNAL;
			goto answer;
		}
		e = CONTROL_OK;
		watch = true;
		goto answer;
	}
	if (ops == NULL || ops->run == NULL) {
		e = CONTROL_UNKNOWN_COMMAND;
		snprintf(msg, sizeof(msg), "unknown command '%s'", cmd);
		goto answer;
	}
	e = ops->run(ops->arg, cmd, req, peer, &result, msg, sizeof(msg));
	if (e == CONTROL_OK && result == NULL) {
		e = CONTROL_INTERNAL;
		snprintf(msg, sizeof(msg), "command '%s' produced no result",
		    cmd);
	}
	if (e != CONTROL_OK && result != NULL) {
		json_decref(result);
		result = NULL;
	}
answer:
	if (e != CONTROL_OK)
		watch = false;
	msg[sizeof(msg) - 1] = '\0';
	resp = control_answer(id, e, result, msg);
	json_decref(req);
	if (resp == NULL)
		return -ENOMEM;
	text = control_dump_line(resp, &tlen);
	json_decref(resp);
	if (text == NULL)
		return -ENOMEM;
	reply->text = text;
	reply->len = tlen;
	reply->watch = watch;
	return 0;
}

/* ---- access control ------------------------------------------------ */

/* Copies the allow list into c; on ENOMEM c keeps what it had. */
static int
control_set_acl(struct control *c, const struct config_control *acl)
{
	uid_t *uids = NULL;

	if (acl != NULL && acl->nallow_uids > 0) {
		uids = calloc(acl->nallow_uids, sizeof(*uids));
		if (uids == NULL)
			return -ENOMEM;
		memcpy(uids, acl->allow_uids,
		    acl->nallow_uids * sizeof(*uids));
	}
	free(c->allow_uids);
	c->allow_uids = uids;
	c->nallow_uids = uids != NULL ? acl->nallow_uids : 0;
	c->has_group = acl != NULL && acl->allow_group != NULL;
	c->allow_gid = c->has_group ? acl->allow_gid : 0;
	return 0;
}

/* Is gid among the groups of user (primary group pw_gid)? */
static bool
control_user_in_group(const char *user, gid_t pw_gid, gid_t gid)
{
	gid_t stackgroups[64], *groups = stackgroups;
	int n = 64;
	bool found = false;

	if (getgrouplist(user, pw_gid, groups, &n) < 0) {
		/* n now holds the size needed. */
		if (n <= 0 || (groups = calloc((size_t)n, sizeof(*groups))) ==
		    NULL)
			return false;
		if (getgrouplist(user, pw_gid, groups, &n) < 0)
			n = 0;
	}
	for (int i = 0; i < n && !found; i++)
		found = groups[i] == gid;
	if (groups != stackgroups)
		free(groups);
	return found;
}

/* Fills peer from SO_PEERCRED and the passwd entry; returns whether it may
 * use the socket. */
static bool
control_check_peer(struct control *c, int fd, struct control_peer *peer)
{
	struct ucred uc;
	socklen_t ulen = sizeof(uc);
	struct passwd pw, *pwp = NULL;
	char pwbuf[4096];

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &uc, &ulen) != 0 ||
	    ulen != sizeof(uc)) {
		log_warn("control: cannot read the peer's credentials");
		return false;
	}
	peer->uid = uc.uid;
	peer->gid = uc.gid;
	peer->pid = uc.pid;
	if (getpwuid_r(uc.uid, &pw, pwbuf, sizeof(pwbuf), &pwp) != 0)
		pwp = NULL;
	if (pwp != NULL && strlen(pwp->pw_name) < sizeof(peer->user))
		snprintf(peer->user, sizeof(peer->user), "%s", pwp->pw_name);
	else
		snprintf(peer->user, sizeof(peer->user), "%u",
		    (unsigned)uc.uid);

	if (uc.uid == 0 || uc.uid == c->self)
		return true;
	for (size_t i = 0; i < c->nallow_uids; i++)
		if (c->allow_uids[i] == uc.uid)
			return true;
	if (!c->has_group)
		return false;
	if (uc.gid == c->allow_gid)
		return true;
	return pwp != NULL &&
	    control_user_in_group(pwp->pw_name, pwp->pw_gid, c->allow_gid);
}

/* ---- output -------------------------------------------------------- */

static size_t
client_unsent(const struct control_client *cl)
{
	return cl->outlen + cl->inflight;
}

/* Appends a line to the client's output, taking ownership of text. */
static int
client_queue(struct control_client *cl, char *text, size_t len)
{
	struct control *c = cl->ctl;

	if (cl->outlen == 0 && cl->outcap < len) {
		/* Adopt the buffer: a large answer is never copied. */
		free(cl->out);
		cl->out = text;
		cl->outlen = len;
		cl->outcap = len;
	} else {
		if (cl->outlen + len > cl->outcap) {
			size_t cap = cl->outcap ? cl->outcap : 4096;
			char *np;

			while (cap < cl->outlen + len)
				cap *= 2;
			if ((np = realloc(cl->out, cap)) == NULL) {
				free(text);
				return -ENOMEM;
			}
			cl->out = np;
			cl->outcap = cap;
		}
		memcpy(cl->out + cl->outlen, text, len);
		cl->outlen += len;
		free(text);
	}
	if (!c->closing && !uv_is_active((uv_handle_t *)&c->flusher))
		uv_prepare_start(&c->flusher, control_flush_cb);
	return 0;
}

static void
control_write_cb(uv_write_t *req, int status)
{
	struct control_write *w = req->data;
	struct control_client *cl = w->cl;

	cl->inflight -= w->len;
	free(w->buf);
	free(w);
	if (cl->state == CLIENT_CLOSING)
		return;
	if (status < 0) {
		log_debug("control: write to pid %d failed: %s",
		    (int)cl->peer.pid, uv_strerror(status));
		client_close(cl);
		return;
	}
	cl->last_active = uv_now(cl->ctl->loop);
	if (cl->state == CLIENT_LINGER) {
		if (client_unsent(cl) == 0)
			client_close(cl);
		return;
	}
	/* Output drained: a throttled client's waiting requests may go on. */
	client_pump(cl);
}

static void
client_flush(struct control_client *cl)
{
	struct control_write *w;
	uv_buf_t buf;
	int r;

	if (cl->outlen == 0 || cl->state == CLIENT_CLOSING)
		return;
	if ((w = malloc(sizeof(*w))) == NULL) {
		log_warnx("control: out of memory writing to pid %d",
		    (int)cl->peer.pid);
		client_close(cl);
		return;
	}
	w->cl = cl;
	w->buf = cl->out;
	w->len = cl->outlen;
	w->req.data = w;
	cl->out = NULL;
	cl->outlen = cl->outcap = 0;
	cl->inflight += w->len;
	buf = uv_buf_init(w->buf, (unsigned int)w->len);
	if ((r = uv_write(&w->req, (uv_stream_t *)&cl->pipe, &buf, 1,
	    control_write_cb)) != 0) {
		cl->inflight -= w->len;
		free(w->buf);
		free(w);
		log_debug("control: write to pid %d failed: %s",
		    (int)cl->peer.pid, uv_strerror(r));
		client_close(cl);
	}
}

static void
control_flush_cb(uv_prepare_t *h)
{
	struct control *c = h->data;
	struct control_client *cl, *next;

	uv_prepare_stop(h);
	for (cl = c->clients; cl != NULL; cl = next) {
		next = cl->next;
		client_flush(cl);
	}
}

/* ---- client lifecycle ---------------------------------------------- */

static void
control_maybe_done(struct control *c)
{
	void (*done)(void *);
	void *arg;

	if (!c->closing || c->nopen > 0 || c->clients != NULL)
		return;
	done = c->done;
	arg = c->done_arg;
	free(c->allow_uids);
	free(c->path);
	free(c);
	if (done != NULL)
		done(arg);
}

static void
client_close_cb(uv_handle_t *h)
{
	struct control_client *cl = h->data;
	struct control *c = cl->ctl;

	if (--cl->nopen > 0)
		return;
	if (cl->prev != NULL)
		cl->prev->next = cl->next;
	else
		c->clients = cl->next;
	if (cl->next != NULL)
		cl->next->prev = cl->prev;
	proto_reader_free(&cl->rd);
	free(cl->out);
	free(cl);
	control_maybe_done(c);
}

static void
client_close(struct control_client *cl)
{
	if (cl->state == CLIENT_CLOSING)
		return;
	cl->state = CLIENT_CLOSING;
	if (cl->counted) {
		cl->counted = false;
		cl->ctl->nclients--;
	}
	/* Pending writes are cancelled; their callbacks run before ours. */
	uv_close((uv_handle_t *)&cl->pipe, client_close_cb);
	uv_close((uv_handle_t *)&cl->timer, client_close_cb);
}

/* Sends one last line (text owned) and closes once it is out. */
static void
client_linger(struct control_client *cl, char *text, size_t len)
{
	if (cl->state == CLIENT_CLOSING) {
		free(text);
		return;
	}
	cl->state = CLIENT_LINGER;
	cl->linger_since = uv_now(cl->ctl->loop);
	if (text != NULL && client_queue(cl, text, len) != 0) {
		client_close(cl);
		return;
	}
	if (client_unsent(cl) == 0) {
		client_close(cl);
		return;
	}
	client_arm(cl);
}

/* An error line of the transport's own, then close. */
static void
client_refuse(struct control_client *cl, enum control_err e,
    const char *msg)
{
	size_t len;
	char *text = control_error_line(NULL, e, msg, &len);

	if (text == NULL) {
		client_close(cl);
		return;
	}
	client_linger(cl, text, len);
}

static bool
client_has_partial(const struct control_client *cl)
{
	return cl->rd.len > cl->rd.start;
}

static void
client_timer_cb(uv_timer_t *t)
{
	struct control_client *cl = t->data;
	struct control *c = cl->ctl;
	char msg[128];

	switch (cl->state) {
	case CLIENT_READING:
		if (client_has_partial(cl)) {
			snprintf(msg, sizeof(msg),
			    "request line incomplete after %.3g s; closing",
			    (double)c->read_deadline_ms / 1000.0);
			log_info("control: pid %d sent half a line, closing",
			    (int)cl->peer.pid);
			client_refuse(cl, CONTROL_BAD_REQUEST, msg);
		} else {
			log_debug("control: pid %d idle, closing",
			    (int)cl->peer.pid);
			client_close(cl);
		}
		break;
	case CLIENT_THROTTLED:
		log_warnx("control: pid %d (uid %u) does not read its answers, "
		    "closing", (int)cl->peer.pid, (unsigned)cl->peer.uid);
		client_close(cl);
		break;
	case CLIENT_LINGER:
		client_close(cl);
		break;
	case CLIENT_CLOSING:
		break;
	}
}

/* Starts or stops reading and sets the timer from the client's state. */
static void
client_arm(struct control_client *cl)
{
	struct control *c = cl->ctl;
	uint64_t now = uv_now(c->loop), due = 0;
	bool want_read = false, timed = true;

	switch (cl->state) {
	case CLIENT_READING:
		want_read = !cl->eof && !cl->overlong;
		if (client_has_partial(cl))
			due = cl->last_read + c->read_deadline_ms;
		else if (!cl->watch)
			due = cl->last_active + c->idle_ms;
		else
			timed = false;
		break;
	case CLIENT_THROTTLED:
		due = cl->last_active + c->idle_ms;
		break;
	case CLIENT_LINGER:
		due = cl->linger_since + c->read_deadline_ms;
		break;
	case CLIENT_CLOSING:
		return;
	}
	if (want_read && !cl->reading) {
		int r = uv_read_start((uv_stream_t *)&cl->pipe, client_alloc_cb,
		    client_read_cb);

		if (r != 0) {
			log_debug("control: cannot read from pid %d: %s",
			    (int)cl->peer.pid, uv_strerror(r));
			client_close(cl);
			return;
		}
		cl->reading = true;
	} else if (!want_read && cl->reading) {
		uv_read_stop((uv_stream_t *)&cl->pipe);
		cl->reading = false;
	}
	if (!timed) {
		uv_timer_stop(&cl->timer);
		return;
	}
	uv_timer_start(&cl->timer, client_timer_cb, due > now ? due - now : 0,
	    0);
}

/* Handles one request line. */
static void
client_request(struct control_client *cl, const char *line, size_t len)
{
	struct control *c = cl->ctl;
	struct control_reply rep;

	if (control_handle_line(&c->ops, &cl->peer, line, len, &rep) != 0) {
		log_warnx("control: out of memory answering pid %d",
		    (int)cl->peer.pid);
		client_close(cl);
		return;
	}
	if (rep.text == NULL)
		return;
	/* The command may have closed us (control_close, or a drop while it
	 * published events). */
	if (cl->state == CLIENT_CLOSING) {
		free(rep.text);
		return;
	}
	if (rep.watch)
		cl->watch = true;
	if (client_queue(cl, rep.text, rep.len) != 0) {
		log_warnx("control: out of memory answering pid %d",
		    (int)cl->peer.pid);
		client_close(cl);
	}
}

/* Takes requests from the reader while the client may have more answers
 * queued, then sets reading and the timer from what is left. */
static void
client_pump(struct control_client *cl)
{
	char *line, msg[96];
	size_t len;
	int r;

	while (cl->state == CLIENT_READING || cl->state == CLIENT_THROTTLED) {
		if (client_unsent(cl) >= CONTROL_THROTTLE) {
			cl->state = CLIENT_THROTTLED;
			break;
		}
		cl->state = CLIENT_READING;
		r = proto_reader_next(&cl->rd, &line, &len);
		if (r < 0 || (r == 0 && cl->overlong)) {
			snprintf(msg, sizeof(msg),
			    "request line longer than %d bytes; closing",
			    PROTO_MAX_LINE);
			log_info("control: pid %d sent a line over %d bytes, "
			    "closing", (int)cl->peer.pid, PROTO_MAX_LINE);
			client_refuse(cl, CONTROL_BAD_REQUEST, msg);
			return;
		}
		if (r == 0) {
			if (cl->eof) {
				client_linger(cl, NULL, 0);
				return;
			}
			break;
		}
		client_request(cl, line, len);
	}
	client_arm(cl);
}

static void
client_alloc_cb(uv_handle_t *h, size_t size, uv_buf_t *buf)
{
	struct control_client *cl = h->data;

	(void)size;
	*buf = uv_buf_init(cl->ctl->rbuf, sizeof(cl->ctl->rbuf));
}

static void
client_read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct control_client *cl = s->data;
	struct control *c = cl->ctl;
	int r;

	if (nread == 0 || cl->state == CLIENT_CLOSING)
		return;
	if (nread == UV_EOF) {
		/* The peer is done sending: a last line without its newline
		 * still counts (`printf '{"cmd":"ping"}' | socat ...`). */
		cl->eof = true;
		if (client_has_partial(cl) && !cl->overlong &&
		    proto_reader_feed(&cl->rd, "\n", 1) != 0)
			cl->overlong = true;
		client_pump(cl);
		return;
	}
	if (nread < 0) {
		log_debug("control: read from pid %d failed: %s",
		    (int)cl->peer.pid, uv_strerror((int)nread));
		client_close(cl);
		return;
	}
	cl->last_read = cl->last_active = uv_now(c->loop);
	r = proto_reader_feed(&cl->rd, buf->base, (size_t)nread);
	if (r == -EMSGSIZE) {
		/* Answer the complete lines before it, then refuse. */
		cl->overlong = true;
	} else if (r != 0) {
		log_warnx("control: out of memory reading from pid %d",
		    (int)cl->peer.pid);
		client_close(cl);
		return;
	}
	client_pump(cl);
}

static void
control_connection_cb(uv_stream_t *server, int status)
{
	struct control *c = server->data;
	struct control_client *cl;
	uv_os_fd_t fd;
	char msg[160];
	int r;

	if (status < 0) {
		log_warnx("control: accept failed: %s", uv_strerror(status));
		return;
	}
	if (c->closing)
		return;
	if ((cl = calloc(1, sizeof(*cl))) == NULL) {
		/* libuv keeps the pending connection and stops accepting
		 * until we take it; there is nothing to take it with. */
		log_warnx("control: out of memory accepting a client");
		return;
	}
	cl->ctl = c;
	proto_reader_init(&cl->rd);
	uv_pipe_init(c->loop, &cl->pipe, 0);
	uv_timer_init(c->loop, &cl->timer);
	cl->pipe.data = cl;
	cl->timer.data = cl;
	cl->nopen = 2;
	cl->state = CLIENT_READING;
	cl->last_read = cl->last_active = uv_now(c->loop);
	snprintf(cl->peer.user, sizeof(cl->peer.user), "?");
	cl->next = c->clients;
	if (c->clients != NULL)
		c->clients->prev = cl;
	c->clients = cl;

	if ((r = uv_accept(server, (uv_stream_t *)&cl->pipe)) != 0) {
		log_warnx("control: accept failed: %s", uv_strerror(r));
		client_close(cl);
		return;
	}
	/* Credentials first: nothing is read from a peer before this. */
	if (uv_fileno((uv_handle_t *)&cl->pipe, &fd) != 0 ||
	    !control_check_peer(c, fd, &cl->peer)) {
		log_warnx("control: refused uid %u (pid %d): not allowed by "
		    "control.allow_uids or control.allow_group",
		    (unsigned)cl->peer.uid, (int)cl->peer.pid);
		snprintf(msg, sizeof(msg), "uid %u may not use this socket "
		    "(see control.allow_uids and control.allow_group)",
		    (unsigned)cl->peer.uid);
		client_refuse(cl, CONTROL_FORBIDDEN, msg);
		return;
	}
	if (c->nclients >= CONTROL_MAX_CLIENTS) {
		/* A burst of refusals is one log line per 10 s, not one per
		 * connection. */
		uint64_t now = uv_now(c->loop);

		c->nrefused++;
		if (c->refused_logged == 0 || now - c->refused_logged >= 10000) {
			log_warnx("control: already %d clients, refused %lu "
			    "connection(s)", CONTROL_MAX_CLIENTS,
			    c->nrefused);
			c->refused_logged = now;
			c->nrefused = 0;
		}
		snprintf(msg, sizeof(msg), "too many clients (%d); try again "
		    "later", CONTROL_MAX_CLIENTS);
		client_refuse(cl, CONTROL_CONFLICT, msg);
		return;
	}
	cl->counted = true;
	c->nclients++;
	log_debug("control: client pid %d uid %u ('%s') connected",
	    (int)cl->peer.pid, (unsigned)cl->peer.uid, cl->peer.user);
	client_arm(cl);
}

/* ---- the server ---------------------------------------------------- */

static void
control_handle_close_cb(uv_handle_t *h)
{
	struct control *c = h->data;

	c->nopen--;
	control_maybe_done(c);
}

int
control_open(uv_loop_t *loop, const char *path,
    const struct config_control *acl, const struct control_ops *ops,
    struct control **out, char *err, size_t errlen)
{
	struct sockaddr_un sun;
	struct control *c = NULL;
	struct stat st;
	mode_t old;
	int r;

	if (strlen(path) >= sizeof(sun.sun_path)) {
		snprintf(err, errlen, "socket path '%s' is too long (%zu bytes, "
		    "at most %zu)", path, strlen(path),
		    sizeof(sun.sun_path) - 1);
		return -ENAMETOOLONG;
	}
	/* The caller holds the state file's lock, so a socket here is a dead
	 * daemon's; anything that is not a socket is not ours to remove. */
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			snprintf(err, errlen, "'%s' exists and is not a socket; "
			    "not replacing it", path);
			return -EEXIST;
		}
		if (unlink(path) != 0 && errno != ENOENT) {
			r = -errno;
			snprintf(err, errlen, "cannot remove stale socket "
			    "'%s': %s", path, strerror(errno));
			return r;
		}
		log_info("control: replaced stale socket '%s'", path);
	}
	if ((c = calloc(1, sizeof(*c))) == NULL ||
	    (c->path = strdup(path)) == NULL ||
	    control_set_acl(c, acl) != 0) {
		if (c != NULL) {
			free(c->path);
			free(c->allow_uids);
		}
		free(c);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	c->loop = loop;
	c->ops = *ops;
	c->self = geteuid();
	c->read_deadline_ms = (uint64_t)CONTROL_READ_DEADLINE_S * 1000;
	c->idle_ms = (uint64_t)CONTROL_IDLE_S * 1000;
	uv_pipe_init(loop, &c->listener, 0);
	uv_prepare_init(loop, &c->flusher);
	c->listener.data = c;
	c->flusher.data = c;
	c->nopen = 2;

	/* umask is per process: the daemon binds at start-up, before any
	 * other thread exists. */
	old = umask(077);
	r = uv_pipe_bind(&c->listener, path);
	umask(old);
	if (r != 0) {
		snprintf(err, errlen, "cannot bind '%s': %s", path,
		    uv_strerror(r));
		goto fail;
	}
	if (chmod(path, 0660) != 0) {
		r = -errno;
		snprintf(err, errlen, "cannot set the mode of '%s': %s", path,
		    strerror(errno));
		goto fail;
	}
	if ((r = uv_listen((uv_stream_t *)&c->listener, SOMAXCONN,
	    control_connection_cb)) != 0) {
		snprintf(err, errlen, "cannot listen on '%s': %s", path,
		    uv_strerror(r));
		goto fail;
	}
	c->listening = true;
	*out = c;
	return 0;
fail:
	/* The handles are initialised: c goes with their close callbacks. */
	c->closing = true;
	uv_close((uv_handle_t *)&c->listener, control_handle_close_cb);
	uv_close((uv_handle_t *)&c->flusher, control_handle_close_cb);
	unlink(path);
	return r;
}

void
control_reconfigure(struct control *c, const struct config_control *acl)
{
	if (control_set_acl(c, acl) != 0)
		log_warnx("control: out of memory; keeping the old allow list");
}

void
control_publish(struct control *c, const json_t *ev)
{
	struct control_client *cl, *next;
	char *evtext = NULL, *line;
	size_t evlen, len;

	if (c == NULL || c->closing)
		return;
	for (cl = c->clients; cl != NULL; cl = next) {
		next = cl->next;
		if (!cl->watch || (cl->state != CLIENT_READING &&
		    cl->state != CLIENT_THROTTLED))
			continue;
		if (evtext == NULL) {
			/* Serialised once, wrapped without touching ev. */
			char *body = json_dumps(ev, JSON_COMPACT);

			if (body == NULL)
				return;
			evlen = strlen(body) + sizeof("{\"event\":}\n") - 1;
			if ((evtext = malloc(evlen + 1)) == NULL) {
				free(body);
				return;
			}
			snprintf(evtext, evlen + 1, "{\"event\":%s}\n", body);
			free(body);
		}
		if (client_unsent(cl) + evlen > CONTROL_MAX_PENDING) {
			log_warnx("control: dropping watch client pid %d "
			    "(uid %u): %zu bytes unsent", (int)cl->peer.pid,
			    (unsigned)cl->peer.uid, client_unsent(cl));
			client_close(cl);
			continue;
		}
		len = evlen;
		if ((line = malloc(len)) == NULL) {
			client_close(cl);
			continue;
		}
		memcpy(line, evtext, len);
		if (client_queue(cl, line, len) != 0)
			client_close(cl);
	}
	free(evtext);
}

void
control_close(struct control *c, void (*done)(void *arg), void *arg)
{
	struct control_client *cl, *next;

	if (c->closing)
		return;
	c->closing = true;
	c->done = done;
	c->done_arg = arg;
	if (c->listening && unlink(c->path) != 0 && errno != ENOENT)
		log_warn("control: cannot remove '%s'", c->path);
	uv_close((uv_handle_t *)&c->listener, control_handle_close_cb);
	uv_close((uv_handle_t *)&c->flusher, control_handle_close_cb);
	for (cl = c->clients; cl != NULL; cl = next) {
		next = cl->next;
		client_close(cl);
	}
}

void
control_set_timeouts(struct control *c, int64_t read_deadline_ms,
    int64_t idle_ms)
{
	if (read_deadline_ms > 0)
		c->read_deadline_ms = (uint64_t)read_deadline_ms;
	if (idle_ms > 0)
		c->idle_ms = (uint64_t)idle_ms;
}

size_t
control_nclients(const struct control *c)
{
	return c->nclients;
}
