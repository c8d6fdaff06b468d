/*
 * test_control — the control socket's transport over a real Unix socket.
 *
 * The server side is the real control.c on a real libuv loop, run in a
 * thread of its own; the test thread is a plain blocking client (poll with
 * deadlines, never a fixed sleep). The commands come from a small
 * control_ops written here: "echo" returns the request, "fail" fails with
 * the code asked for, "big" returns a result of the size asked for,
 * "count" counts its calls, "publish" sends events to watch clients.
 * Every test ends by closing the server and checking that the done
 * callback ran, the socket file is gone and the loop holds no handle.
 */
#include <check.h>
#include <errno.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "control.h"
#include "control_parse.h"
#include "log.h"
#include "proto.h"
#include "testutil.h"

/* ---- the server in its thread -------------------------------------- */

struct fx {
	uv_loop_t loop;
	uv_async_t async;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	void (*call)(struct fx *fx, void *arg);	/* pending call, or NULL */
	void *call_arg;
	bool called;
	struct control *ctl;
	struct config_control acl;
	uid_t acl_uids[4];
	char *dir;
	char *sock;
	atomic_int counted;		/* "count" calls */
	atomic_int done_calls;		/* control_close's done */
	long event_seq;			/* loop thread only */
};

static struct fx fx;

static enum control_err
fx_run(void *arg, const char *cmd, const json_t *req,
    const struct control_peer *peer, json_t **result, char *msg,
    size_t msglen)
{
	struct fx *f = arg;

	(void)peer;
	if (strcmp(cmd, "echo") == 0) {
		*result = json_deep_copy(req);
		return CONTROL_OK;
	}
	if (strcmp(cmd, "ping") == 0) {
		*result = json_pack("{s:s}", "version", "test");
		return CONTROL_OK;
	}
	if (strcmp(cmd, "count") == 0) {
		int n = atomic_fetch_add(&f->counted, 1) + 1;

		*result = json_pack("{s:i}", "n", n);
		return CONTROL_OK;
	}
	if (strcmp(cmd, "fail") == 0) {
		const char *code = json_string_value(json_object_get(req,
		    "code"));
		static const enum control_err codes[] = {
			CONTROL_BAD_REQUEST, CONTROL_UNKNOWN_COMMAND,
			CONTROL_NOT_FOUND, CONTROL_CONFLICT, CONTROL_FORBIDDEN,
			CONTROL_INTERNAL,
		};

		for (size_t i = 0; code != NULL && i < 6; i++) {
			if (strcmp(code, control_err_name(codes[i])) == 0) {
				snprintf(msg, msglen, "failing on demand");
				return codes[i];
			}
		}
		snprintf(msg, msglen, "no such code");
		return CONTROL_BAD_REQUEST;
	}
	if (strcmp(cmd, "big") == 0) {
		json_int_t n = json_integer_value(json_object_get(req, "size"));
		char *s = malloc((size_t)n + 1);

		memset(s, 'b', (size_t)n);
		s[n] = '\0';
		*result = json_pack("{s:s}", "blob", s);
		free(s);
		return CONTROL_OK;
	}
	if (strcmp(cmd, "publish") == 0) {
		json_int_t n = json_integer_value(json_object_get(req, "n"));
		json_int_t size = json_integer_value(json_object_get(req,
		    "size"));
		char *pad = malloc((size_t)size + 1);

		memset(pad, 'p', (size_t)size);
		pad[size] = '\0';
		for (json_int_t i = 0; i < n; i++) {
			json_t *ev = json_pack("{s:I, s:s}", "seq",
			    (json_int_t)++f->event_seq, "pad", pad);

			control_publish(f->ctl, ev);
			json_decref(ev);
		}
		free(pad);
		*result = json_pack("{s:I}", "last", (json_int_t)f->event_seq);
		return CONTROL_OK;
	}
	snprintf(msg, msglen, "unknown command '%s'", cmd);
	return CONTROL_UNKNOWN_COMMAND;
}

static void
fx_async_cb(uv_async_t *a)
{
	struct fx *f = a->data;

	pthread_mutex_lock(&f->mu);
	if (f->call != NULL) {
		f->call(f, f->call_arg);
		f->call = NULL;
		f->called = true;
		pthread_cond_broadcast(&f->cv);
	}
	pthread_mutex_unlock(&f->mu);
}

/* Runs fn on the loop thread and waits for it. */
static void
fx_call(void (*fn)(struct fx *, void *), void *arg)
{
	pthread_mutex_lock(&fx.mu);
	fx.call = fn;
	fx.call_arg = arg;
	fx.called = false;
	uv_async_send(&fx.async);
	while (!fx.called)
		pthread_cond_wait(&fx.cv, &fx.mu);
	pthread_mutex_unlock(&fx.mu);
}

static void *
fx_thread(void *arg)
{
	struct fx *f = arg;

	uv_run(&f->loop, UV_RUN_DEFAULT);
	return NULL;
}

static void
fx_done(void *arg)
{
	struct fx *f = arg;

	atomic_fetch_add(&f->done_calls, 1);
}

static void
fx_close_on_loop(struct fx *f, void *arg)
{
	(void)arg;
	if (f->ctl != NULL)
		control_close(f->ctl, fx_done, f);
	f->ctl = NULL;
	uv_close((uv_handle_t *)&f->async, NULL);
}

struct fx_timeouts {
	int64_t deadline, idle;
};

static void
fx_timeouts_on_loop(struct fx *f, void *arg)
{
	struct fx_timeouts *t = arg;

	control_set_timeouts(f->ctl, t->deadline, t->idle);
}

static void
fx_set_timeouts(int64_t deadline_ms, int64_t idle_ms)
{
	struct fx_timeouts t = { deadline_ms, idle_ms };

	fx_call(fx_timeouts_on_loop, &t);
}

static void
fx_reconfigure_on_loop(struct fx *f, void *arg)
{
	(void)arg;
	control_reconfigure(f->ctl, &f->acl);
}

/* Makes the temp dir and loop; the socket is opened by fx_open. */
static void
fx_prepare(void)
{
	memset(&fx, 0, sizeof(fx));
	ck_assert_int_eq(uv_loop_init(&fx.loop), 0);
	pthread_mutex_init(&fx.mu, NULL);
	pthread_cond_init(&fx.cv, NULL);
	fx.dir = tu_tmpdir("control");
	ck_assert_ptr_nonnull(fx.dir);
	fx.sock = tu_path(fx.dir, "control.sock");
	fx.acl.allow_uids = fx.acl_uids;
}

/* Opens the server on fx.sock and starts the loop thread. */
static int
fx_open(char *err, size_t errlen)
{
	struct control_ops ops = { fx_run, &fx };
	int r;

	r = control_open(&fx.loop, fx.sock, &fx.acl, &ops, &fx.ctl, err,
	    errlen);
	if (r != 0) {
		/* Let the failed server's handles close. */
		uv_run(&fx.loop, UV_RUN_DEFAULT);
		return r;
	}
	ck_assert_int_eq(uv_async_init(&fx.loop, &fx.async, fx_async_cb), 0);
	fx.async.data = &fx;
	ck_assert_int_eq(pthread_create(&fx.thread, NULL, fx_thread, &fx), 0);
	return 0;
}

static void
fx_start(void)
{
	char err[256];

	fx_prepare();
	ck_assert_msg(fx_open(err, sizeof(err)) == 0, "control_open: %s", err);
}

/* Closes the server and checks that it left nothing behind. */
static void
fx_stop(void)
{
	struct stat st;

	fx_call(fx_close_on_loop, NULL);
	pthread_join(fx.thread, NULL);
	ck_assert_int_eq(atomic_load(&fx.done_calls), 1);
	ck_assert_int_eq(uv_loop_close(&fx.loop), 0);
	ck_assert_msg(lstat(fx.sock, &st) != 0 && errno == ENOENT,
	    "socket file left behind");
	tu_rmrf(fx.dir);
	free(fx.dir);
	free(fx.sock);
	pthread_mutex_destroy(&fx.mu);
	pthread_cond_destroy(&fx.cv);
}

/* ---- a blocking client --------------------------------------------- */

static void
cl_open(struct tu_conn *c)
{
	ck_assert_msg(tu_conn_open(c, fx.sock), "connect: %s", strerror(errno));
}

static void
cl_sends(struct tu_conn *c, const char *s)
{
	ck_assert(tu_conn_send(c, s, strlen(s)));
}

static json_t *
cl_json(struct tu_conn *c)
{
	char *line = tu_conn_line(c, tu_ms(10000));
	json_t *j;
	json_error_t e;

	ck_assert_msg(line != NULL, "no answer (eof=%d)", c->eof);
	j = json_loads(line, JSON_REJECT_DUPLICATES, &e);
	ck_assert_msg(j != NULL, "unparsable answer '%s': %s", line, e.text);
	free(line);
	return j;
}

/* True when the server closed the connection (after any lines). */
static bool
cl_wait_eof(struct tu_conn *c, int timeout_ms, int *lines)
{
	char *l;
	int n = 0;

	while ((l = tu_conn_line(c, timeout_ms)) != NULL) {
		free(l);
		n++;
	}
	if (lines != NULL)
		*lines = n;
	return c->eof;
}

static const char *
err_code(const json_t *resp)
{
	return json_string_value(json_object_get(json_object_get(resp,
	    "error"), "code"));
}

static const char *
err_msg(const json_t *resp)
{
	return json_string_value(json_object_get(json_object_get(resp,
	    "error"), "message"));
}

static void
assert_ok(const json_t *r)
{
	ck_assert_msg(json_is_true(json_object_get(r, "ok")),
	    "not ok: %s", err_msg(r) ? err_msg(r) : "?");
}

static void
assert_err(const json_t *r, const char *code)
{
	ck_assert(json_is_false(json_object_get(r, "ok")));
	ck_assert_str_eq(err_code(r), code);
	ck_assert_ptr_nonnull(err_msg(r));
}

/* ---- tests --------------------------------------------------------- */

START_TEST(test_ids_echoed)
{
	struct tu_conn c;
	json_t *r, *id;

	fx_start();
	cl_open(&c);
	cl_sends(&c, "{\"id\": 7, \"cmd\": \"ping\"}\n");
	r = cl_json(&c);
	assert_ok(r);
	ck_assert_int_eq(json_integer_value(json_object_get(r, "id")), 7);
	ck_assert_str_eq(json_string_value(json_object_get(
	    json_object_get(r, "result"), "version")), "test");
	json_decref(r);

	cl_sends(&c, "{\"id\": \"abc-1\", \"cmd\": \"ping\"}\n");
	r = cl_json(&c);
	ck_assert_str_eq(json_string_value(json_object_get(r, "id")), "abc-1");
	json_decref(r);

	cl_sends(&c, "{\"id\": null, \"cmd\": \"ping\"}\n");
	r = cl_json(&c);
	id = json_object_get(r, "id");
	ck_assert(id != NULL && json_is_null(id));
	json_decref(r);

	cl_sends(&c, "{\"id\": 2.5, \"cmd\": \"ping\"}\n");
	r = cl_json(&c);
	ck_assert(json_real_value(json_object_get(r, "id")) == 2.5);
	json_decref(r);

	cl_sends(&c, "{\"id\": true, \"cmd\": \"ping\"}\n");
	r = cl_json(&c);
	ck_assert(json_is_true(json_object_get(r, "id")));
	json_decref(r);

	/* No id: the answer still carries one, null. */
	cl_sends(&c, "{\"cmd\": \"ping\"}\n");
	r = cl_json(&c);
	id = json_object_get(r, "id");
	ck_assert(id != NULL && json_is_null(id));
	assert_ok(r);
	json_decref(r);

	/* Errors echo the id too. */
	cl_sends(&c, "{\"id\": 9, \"cmd\": \"fail\", \"code\": \"not_found\"}\n");
	r = cl_json(&c);
	ck_assert_int_eq(json_integer_value(json_object_get(r, "id")), 9);
	assert_err(r, "not_found");
	ck_assert_str_eq(err_msg(r), "failing on demand");
	json_decref(r);

	/* A non-scalar id is refused, with id null. */
	cl_sends(&c, "{\"id\": [1], \"cmd\": \"ping\"}\n");
	r = cl_json(&c);
	assert_err(r, "bad_request");
	ck_assert(json_is_null(json_object_get(r, "id")));
	ck_assert_ptr_nonnull(strstr(err_msg(r), "'id'"));
	json_decref(r);
	cl_sends(&c, "{\"id\": {\"a\": 1}, \"cmd\": \"ping\"}\n");
	r = cl_json(&c);
	assert_err(r, "bad_request");
	json_decref(r);

	tu_conn_close(&c);
	fx_stop();
}
END_TEST

START_TEST(test_every_error_code)
{
	static const char *const codes[] = { "bad_request", "unknown_command",
		"not_found", "conflict", "forbidden", "internal" };
	struct tu_conn c;
	json_t *r;
	char req[128];

	fx_start();
	cl_open(&c);
	for (size_t i = 0; i < 6; i++) {
		snprintf(req, sizeof(req),
		    "{\"id\": %zu, \"cmd\": \"fail\", \"code\": \"%s\"}\n", i,
		    codes[i]);
		cl_sends(&c, req);
		r = cl_json(&c);
		assert_err(r, codes[i]);
		ck_assert_int_eq(json_integer_value(json_object_get(r, "id")),
		    (json_int_t)i);
		json_decref(r);
	}
	cl_sends(&c, "{\"id\": 1, \"cmd\": \"frobnicate\"}\n");
	r = cl_json(&c);
	assert_err(r, "unknown_command");
	ck_assert_ptr_nonnull(strstr(err_msg(r), "frobnicate"));
	json_decref(r);
	tu_conn_close(&c);
	fx_stop();
}
END_TEST

START_TEST(test_pipelined_in_order)
{
	enum { N = 600 };
	struct tu_conn c;
	size_t cap = N * 80, len = 0;
	char *reqs = malloc(cap);

	fx_start();
	cl_open(&c);
	/* A mix of answers of every kind, all in one write. */
	for (int i = 0; i < N; i++) {
		switch (i % 4) {
		case 0:
			len += (size_t)snprintf(reqs + len, cap - len,
			    "{\"id\":%d,\"cmd\":\"echo\"}\n", i);
			break;
		case 1:
			len += (size_t)snprintf(reqs + len, cap - len,
			    "{\"id\":%d,\"cmd\":\"fail\",\"code\":\"conflict\"}\n",
			    i);
			break;
		case 2:
			len += (size_t)snprintf(reqs + len, cap - len,
			    "{\"id\":%d,\"cmd\":\"nope\"}\n", i);
			break;
		default:
			len += (size_t)snprintf(reqs + len, cap - len,
			    "{\"id\":%d,\"cmd\":\"count\"}\n", i);
			break;
		}
	}
	ck_assert(tu_conn_send(&c, reqs, len));
	for (int i = 0; i < N; i++) {
		json_t *r = cl_json(&c);

		ck_assert_int_eq(json_integer_value(json_object_get(r, "id")),
		    i);
		if (i % 4 == 1)
			assert_err(r, "conflict");
		else if (i % 4 == 2)
			assert_err(r, "unknown_command");
		else
			assert_ok(r);
		if (i % 4 == 3)
			ck_assert_int_eq(json_integer_value(json_object_get(
			    json_object_get(r, "result"), "n")), i / 4 + 1);
		json_decref(r);
	}
	free(reqs);
	tu_conn_close(&c);
	fx_stop();
}
END_TEST

START_TEST(test_bad_requests_keep_connection)
{
	static const struct {
		const char *line;
		const char *needle;
	} bad[] = {
		{ "{not json", "invalid JSON at column" },
		{ "[1, 2]", "JSON object, not an array" },
		{ "\"ping\"", "JSON object, not a string" },
		{ "{\"id\": 3}", "missing 'cmd'" },
		{ "{\"id\": 4, \"cmd\": 5}", "'cmd' must be a string" },
		{ "{\"id\": 5, \"cmd\": \"echo\", \"id\": 6}", "duplicate" },
		{ "{\"cmd\": \"ping\"} trailing", "invalid JSON" },
		{ "{\"cmd\": \"watch\", \"since\": 3}", "unknown argument 'since'" },
		{ "{\"cmd\": \"ping\", \"x\": \"\\u0000\"}", "invalid JSON" },
	};
	struct tu_conn c;
	json_t *r;
	char line[256];

	fx_start();
	cl_open(&c);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(line, sizeof(line), "%s\n", bad[i].line);
		cl_sends(&c, line);
		r = cl_json(&c);
		assert_err(r, "bad_request");
		ck_assert_msg(strstr(err_msg(r), bad[i].needle) != NULL,
		    "'%s': message '%s' lacks '%s'", bad[i].line, err_msg(r),
		    bad[i].needle);
		json_decref(r);
	}
	/* Blank lines and CRLF are tolerated; the connection still works. */
	cl_sends(&c, "\n   \r\n{\"id\": 10, \"cmd\": \"ping\"}\r\n");
	r = cl_json(&c);
	assert_ok(r);
	ck_assert_int_eq(json_integer_value(json_object_get(r, "id")), 10);
	json_decref(r);
	tu_conn_close(&c);
	fx_stop();
}
END_TEST

START_TEST(test_long_line_closes)
{
	enum { BIG = 1024 * 1024 };
	struct tu_conn c;
	char *big = malloc(BIG + 1);
	json_t *r;
	int lines;

	fx_start();
	cl_open(&c);
	/* A good request first: it is answered before the refusal. */
	cl_sends(&c, "{\"id\": 1, \"cmd\": \"ping\"}\n");
	memset(big, 'x', BIG);
	big[BIG] = '\n';
	/* The server stops reading after 64 KiB: the rest may not go. */
	(void)tu_conn_send(&c, big, BIG + 1);
	r = cl_json(&c);
	assert_ok(r);
	json_decref(r);
	r = cl_json(&c);
	assert_err(r, "bad_request");
	ck_assert(json_is_null(json_object_get(r, "id")));
	ck_assert_ptr_nonnull(strstr(err_msg(r), "65536"));
	json_decref(r);
	ck_assert(cl_wait_eof(&c, tu_ms(10000), &lines));
	ck_assert_int_eq(lines, 0);
	tu_conn_close(&c);

	/* A line of exactly 64 KiB is still a request. */
	cl_open(&c);
	{
		char *line = malloc(PROTO_MAX_LINE + 2);
		int n = snprintf(line, PROTO_MAX_LINE, "{\"id\":2,\"cmd\":\"echo\","
		    "\"pad\":\"");

		memset(line + n, 'y', (size_t)(PROTO_MAX_LINE - n - 2));
		memcpy(line + PROTO_MAX_LINE - 2, "\"}\n", 3);
		ck_assert(tu_conn_send(&c, line, PROTO_MAX_LINE + 1));
		free(line);
	}
	r = cl_json(&c);
	assert_ok(r);
	ck_assert_int_eq(json_integer_value(json_object_get(r, "id")), 2);
	json_decref(r);
	tu_conn_close(&c);
	free(big);
	fx_stop();
}
END_TEST

static double
elapsed_ms(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) * 1000.0 +
	    (double)(t1.tv_nsec - t0->tv_nsec) / 1e6;
}

START_TEST(test_read_deadline)
{
	struct tu_conn half, idle;
	struct timespec t0;
	json_t *r;
	int lines;

	fx_start();
	fx_set_timeouts(300, 600000);
	cl_open(&idle);
	cl_open(&half);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	cl_sends(&half, "{\"id\": 1, \"cmd\":");
	r = cl_json(&half);
	assert_err(r, "bad_request");
	ck_assert_ptr_nonnull(strstr(err_msg(r), "incomplete"));
	json_decref(r);
	ck_assert(cl_wait_eof(&half, tu_ms(10000), &lines));
	/* Closed by the deadline, not at once. */
	ck_assert_msg(elapsed_ms(&t0) >= 250, "closed after %.0f ms",
	    elapsed_ms(&t0));
	tu_conn_close(&half);

	/* The idle client (no partial line) has outlived the deadline and is
	 * still served. */
	cl_sends(&idle, "{\"id\": 2, \"cmd\": \"ping\"}\n");
	r = cl_json(&idle);
	assert_ok(r);
	json_decref(r);
	tu_conn_close(&idle);
	fx_stop();
}
END_TEST

START_TEST(test_idle_limit)
{
	struct tu_conn idle, watch, pub;
	struct timespec t0;
	json_t *r;

	fx_start();
	fx_set_timeouts(30000, 300);
	cl_open(&watch);
	cl_sends(&watch, "{\"id\": 1, \"cmd\": \"watch\"}\n");
	r = cl_json(&watch);
	assert_ok(r);
	json_decref(r);
	cl_open(&idle);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	ck_assert(cl_wait_eof(&idle, tu_ms(10000), NULL));
	ck_assert(elapsed_ms(&t0) >= 250);
	tu_conn_close(&idle);

	/* The watch client, idle as long, still gets events. */
	cl_open(&pub);
	cl_sends(&pub, "{\"id\": 2, \"cmd\": \"publish\", \"n\": 1, "
	    "\"size\": 4}\n");
	r = cl_json(&pub);
	assert_ok(r);
	json_decref(r);
	r = cl_json(&watch);
	ck_assert_int_eq(json_integer_value(json_object_get(
	    json_object_get(r, "event"), "seq")), 1);
	json_decref(r);
	tu_conn_close(&pub);
	tu_conn_close(&watch);
	fx_stop();
}
END_TEST

START_TEST(test_eof_answers_last_line)
{
	struct tu_conn c;
	json_t *r;

	fx_start();
	cl_open(&c);
	cl_sends(&c, "{\"id\": 1, \"cmd\": \"ping\"}\n{\"id\": 2, \"cmd\": \"ping\"}");
	ck_assert_int_eq(shutdown(c.fd, SHUT_WR), 0);
	r = cl_json(&c);
	ck_assert_int_eq(json_integer_value(json_object_get(r, "id")), 1);
	json_decref(r);
	r = cl_json(&c);
	ck_assert_int_eq(json_integer_value(json_object_get(r, "id")), 2);
	json_decref(r);
	ck_assert(cl_wait_eof(&c, tu_ms(10000), NULL));
	tu_conn_close(&c);
	fx_stop();
}
END_TEST

static void
many_clients(int n, int *answered, int *refused)
{
	struct tu_conn *cs = calloc((size_t)n, sizeof(*cs));
	char req[64];

	*answered = *refused = 0;
	for (int i = 0; i < n; i++)
		cl_open(&cs[i]);
	for (int i = 0; i < n; i++) {
		snprintf(req, sizeof(req), "{\"id\": %d, \"cmd\": \"ping\"}\n",
		    i);
		/* A refused client may already be gone. */
		(void)tu_conn_send(&cs[i], req, strlen(req));
	}
	for (int i = 0; i < n; i++) {
		json_t *r = cl_json(&cs[i]);

		if (json_is_true(json_object_get(r, "ok"))) {
			ck_assert_int_eq(json_integer_value(json_object_get(r,
			    "id")), i);
			(*answered)++;
		} else {
			assert_err(r, "conflict");
			ck_assert_ptr_nonnull(strstr(err_msg(r),
			    "too many clients"));
			ck_assert(cl_wait_eof(&cs[i], tu_ms(10000), NULL));
			(*refused)++;
		}
		json_decref(r);
	}
	for (int i = 0; i < n; i++)
		tu_conn_close(&cs[i]);
	free(cs);
}

START_TEST(test_many_clients)
{
	int answered, refused;

	fx_start();
	many_clients(200, &answered, &refused);
	ck_assert_int_eq(answered, 200);
	ck_assert_int_eq(refused, 0);

	/* Past the cap: exactly the extra ones are refused, cleanly. */
	many_clients(CONTROL_MAX_CLIENTS + 44, &answered, &refused);
	ck_assert_int_eq(answered, CONTROL_MAX_CLIENTS);
	ck_assert_int_eq(refused, 44);

	/* Slots come back once clients leave. */
	many_clients(200, &answered, &refused);
	ck_assert_int_eq(answered, 200);
	fx_stop();
}
END_TEST

START_TEST(test_slow_watch_dropped)
{
	enum { BATCH = 50, SIZE = 8192, BATCHES = 24 };
	struct tu_conn slow, fast, pub;
	json_t *r;
	char req[128];
	long expect = 0;
	int got;

	fx_start();
	cl_open(&slow);
	cl_open(&fast);
	cl_open(&pub);
	cl_sends(&slow, "{\"id\": \"s\", \"cmd\": \"watch\"}\n");
	r = cl_json(&slow);
	assert_ok(r);
	ck_assert(json_is_true(json_object_get(json_object_get(r, "result"),
	    "watching")));
	json_decref(r);
	cl_sends(&fast, "{\"id\": \"f\", \"cmd\": \"watch\"}\n");
	r = cl_json(&fast);
	assert_ok(r);
	json_decref(r);

	/* ~9.6 MB of events in batches the fast reader keeps up with; the
	 * slow one never reads again. */
	for (int b = 0; b < BATCHES; b++) {
		snprintf(req, sizeof(req), "{\"id\": %d, \"cmd\": \"publish\", "
		    "\"n\": %d, \"size\": %d}\n", b, BATCH, SIZE);
		cl_sends(&pub, req);
		r = cl_json(&pub);
		assert_ok(r);
		json_decref(r);
		for (int i = 0; i < BATCH; i++) {
			json_t *ev;

			r = cl_json(&fast);
			ev = json_object_get(r, "event");
			ck_assert_ptr_nonnull(ev);
			ck_assert_int_eq(json_integer_value(json_object_get(ev,
			    "seq")), ++expect);
			json_decref(r);
		}
	}
	/* The slow client was dropped: what reached its socket, then EOF. */
	ck_assert(cl_wait_eof(&slow, tu_ms(10000), &got));
	ck_assert_msg(got < BATCH * BATCHES, "slow client got all %d events",
	    got);
	ck_assert_int_gt((long)got * SIZE, 0);

	/* The fast one is still there. */
	cl_sends(&fast, "{\"id\": 3, \"cmd\": \"ping\"}\n");
	r = cl_json(&fast);
	assert_ok(r);
	json_decref(r);
	tu_conn_close(&slow);
	tu_conn_close(&fast);
	tu_conn_close(&pub);
	fx_stop();
}
END_TEST

START_TEST(test_pipelining_reader_not_dropped)
{
	/* Answers totalling three times the cap, asked for in one go, read
	 * only afterwards: the client is throttled, never dropped. */
	enum { N = 48, SIZE = 256 * 1024 };
	struct tu_conn c;
	char req[96];

	fx_start();
	cl_open(&c);
	for (int i = 0; i < N; i++) {
		snprintf(req, sizeof(req),
		    "{\"id\": %d, \"cmd\": \"big\", \"size\": %d}\n", i, SIZE);
		cl_sends(&c, req);
	}
	for (int i = 0; i < N; i++) {
		json_t *r = cl_json(&c);

		assert_ok(r);
		ck_assert_int_eq(json_integer_value(json_object_get(r, "id")),
		    i);
		ck_assert_uint_eq(strlen(json_string_value(json_object_get(
		    json_object_get(r, "result"), "blob"))), SIZE);
		json_decref(r);
	}
	tu_conn_close(&c);
	fx_stop();
}
END_TEST

START_TEST(test_socket_mode)
{
	struct stat st;

	fx_start();
	ck_assert_int_eq(lstat(fx.sock, &st), 0);
	ck_assert(S_ISSOCK(st.st_mode));
	ck_assert_int_eq(st.st_mode & 07777, 0660);
	fx_stop();
}
END_TEST

START_TEST(test_stale_socket_replaced)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct tu_conn c;
	char err[256];
	json_t *r;
	int fd;

	fx_prepare();
	/* A dead daemon's socket: bound, never unlinked. */
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", fx.sock);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	close(fd);
	ck_assert_msg(fx_open(err, sizeof(err)) == 0, "control_open: %s", err);
	cl_open(&c);
	cl_sends(&c, "{\"id\": 1, \"cmd\": \"ping\"}\n");
	r = cl_json(&c);
	assert_ok(r);
	json_decref(r);
	tu_conn_close(&c);
	fx_stop();
}
END_TEST

START_TEST(test_open_refusals)
{
	struct control_ops ops = { fx_run, &fx };
	struct control *ctl = NULL;	/* must stay untouched */
	char err[256], longpath[200];
	int r;

	fx_prepare();
	/* Not a socket: never removed. */
	ck_assert_int_eq(tu_write_file(fx.sock, "precious\n"), 0);
	r = control_open(&fx.loop, fx.sock, &fx.acl, &ops, &ctl, err,
	    sizeof(err));
	ck_assert_int_eq(r, -EEXIST);
	ck_assert_ptr_nonnull(strstr(err, fx.sock));
	ck_assert_ptr_nonnull(strstr(err, "not a socket"));
	ck_assert_ptr_null(ctl);
	{
		char *text = tu_read_file(fx.sock);

		ck_assert_str_eq(text, "precious\n");
		free(text);
	}
	unlink(fx.sock);

	/* Too long for sun_path: refused, not truncated. */
	memset(longpath, 'a', sizeof(longpath) - 1);
	longpath[0] = '/';
	longpath[sizeof(longpath) - 1] = '\0';
	r = control_open(&fx.loop, longpath, &fx.acl, &ops, &ctl, err,
	    sizeof(err));
	ck_assert_int_eq(r, -ENAMETOOLONG);
	ck_assert_ptr_nonnull(strstr(err, "too long"));

	/* A directory that does not exist: an error naming the path. */
	{
		char *p = tu_path(fx.dir, "missing/control.sock");

		r = control_open(&fx.loop, p, &fx.acl, &ops, &ctl, err,
		    sizeof(err));
		ck_assert_int_lt(r, 0);
		ck_assert_ptr_nonnull(strstr(err, p));
		free(p);
	}
	uv_run(&fx.loop, UV_RUN_DEFAULT);
	ck_assert_int_eq(uv_loop_close(&fx.loop), 0);
	tu_rmrf(fx.dir);
	free(fx.dir);
	free(fx.sock);
}
END_TEST

/* The child's side of foreign_client: 0 when the answer was the expected
 * one. Frees what it allocated (valgrind checks the child too). */
static int
foreign_child(bool expect_ok)
{
	struct tu_conn c;
	json_t *r = NULL;
	char *line;
	int rc;

	memset(&c, 0, sizeof(c));
	if ((c.fd = tu_unix_connect(fx.sock)) < 0)
		return 11;
	/* A refused peer may be hung up on before this goes out. */
	if (!tu_conn_send(&c, "{\"id\": 1, \"cmd\": \"count\"}\n", 27) &&
	    expect_ok) {
		rc = 12;
		goto out;
	}
	if ((line = tu_conn_line(&c, tu_ms(10000))) == NULL) {
		rc = 13;
		goto out;
	}
	r = json_loads(line, 0, NULL);
	free(line);
	if (r == NULL)
		rc = 14;
	else if (expect_ok)
		rc = json_is_true(json_object_get(r, "ok")) ? 0 : 15;
	else if (!json_is_false(json_object_get(r, "ok")) ||
	    strcmp(err_code(r), "forbidden") != 0 ||
	    !json_is_null(json_object_get(r, "id")) ||
	    strstr(err_msg(r), "uid 65534") == NULL)
		rc = 16;
	else	/* then the server hangs up */
		rc = cl_wait_eof(&c, tu_ms(10000), NULL) ? 0 : 17;
out:
	json_decref(r);
	tu_conn_close(&c);
	return rc;
}

/* A client in a child process under another uid: 0 when the answer was
 * the expected one. */
static int
foreign_client(uid_t uid, gid_t gid, bool expect_ok)
{
	pid_t pid = fork();
	int status;

	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		if (setgroups(0, NULL) != 0 || setgid(gid) != 0 ||
		    setuid(uid) != 0)
			_exit(10);
		_exit(foreign_child(expect_ok));
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status));
	return WEXITSTATUS(status);
}

START_TEST(test_foreign_peer)
{
	if (geteuid() != 0) {
		printf("test_foreign_peer: skipped (needs root to run a client "
		    "as another uid)\n");
		return;
	}
	fx_start();
	/* Loosen the file system's guard so that the peer check itself is
	 * what stands in the way. */
	ck_assert_int_eq(chmod(fx.dir, 0755), 0);
	ck_assert_int_eq(chmod(fx.sock, 0666), 0);

	ck_assert_int_eq(foreign_client(65534, 12345, false), 0);
	/* Refused before anything was read: "count" never ran. */
	ck_assert_int_eq(atomic_load(&fx.counted), 0);

	/* Allowed by uid. */
	fx.acl_uids[0] = 65534;
	fx.acl.nallow_uids = 1;
	fx_call(fx_reconfigure_on_loop, NULL);
	ck_assert_int_eq(foreign_client(65534, 12345, true), 0);
	ck_assert_int_eq(atomic_load(&fx.counted), 1);

	/* Allowed by primary group. */
	fx.acl.nallow_uids = 0;
	fx.acl.allow_group = (char *)"exroll-test";
	fx.acl.allow_gid = 12345;
	fx_call(fx_reconfigure_on_loop, NULL);
	ck_assert_int_eq(foreign_client(65534, 12345, true), 0);
	/* ... but not with another primary group. */
	ck_assert_int_eq(foreign_client(65534, 12346, false), 0);

	/* Allowed by the user's groups in the database: nobody's own group
	 * (getgrouplist counts the passwd group) while running under
	 * another gid. */
	{
		struct passwd *pw = getpwuid(65534);

		if (pw != NULL) {
			fx.acl.allow_gid = pw->pw_gid;
			fx_call(fx_reconfigure_on_loop, NULL);
			ck_assert_int_eq(foreign_client(65534, 12345, true), 0);
		} else {
			printf("test_foreign_peer: no passwd entry for 65534, "
			    "group-database case skipped\n");
		}
	}
	/* The allow list gone again: refused. */
	fx.acl.allow_group = NULL;
	fx_call(fx_reconfigure_on_loop, NULL);
	ck_assert_int_eq(foreign_client(65534, 12345, false), 0);
	fx_stop();
}
END_TEST

START_TEST(test_parse_pure)
{
	struct control_ops ops = { fx_run, &fx };
	struct control_peer peer = { .uid = 0, .user = "root" };
	struct control_reply rep;
	json_t *j;

	memset(&fx, 0, sizeof(fx));
	ck_assert_int_eq(control_handle_line(&ops, &peer, "  \t", 3, &rep), 0);
	ck_assert_ptr_null(rep.text);
	ck_assert_int_eq(control_handle_line(&ops, &peer,
	    "{\"cmd\":\"watch\",\"id\":\"w\"}",
	    strlen("{\"cmd\":\"watch\",\"id\":\"w\"}"), &rep), 0);
	ck_assert(rep.watch);
	ck_assert_str_eq(rep.text,
	    "{\"id\":\"w\",\"ok\":true,\"result\":{\"watching\":true}}\n");
	free(rep.text);
	/* Not NUL terminated: only len bytes count. */
	ck_assert_int_eq(control_handle_line(&ops, &peer,
	    "{\"cmd\":\"ping\"}XXXX", 14, &rep), 0);
	ck_assert(!rep.watch);
	j = json_loads(rep.text, 0, NULL);
	assert_ok(j);
	json_decref(j);
	free(rep.text);
	ck_assert_str_eq(control_err_name(CONTROL_INTERNAL), "internal");
	ck_assert_str_eq(control_err_name(CONTROL_UNKNOWN_COMMAND),
	    "unknown_command");
}
END_TEST

static Suite *
control_suite(void)
{
	Suite *s = suite_create("control");
	TCase *tc = tcase_create("transport");

	tcase_set_timeout(tc, tu_ms(60));
	tcase_add_test(tc, test_parse_pure);
	tcase_add_test(tc, test_ids_echoed);
	tcase_add_test(tc, test_every_error_code);
	tcase_add_test(tc, test_pipelined_in_order);
	tcase_add_test(tc, test_bad_requests_keep_connection);
	tcase_add_test(tc, test_long_line_closes);
	tcase_add_test(tc, test_read_deadline);
	tcase_add_test(tc, test_idle_limit);
	tcase_add_test(tc, test_eof_answers_last_line);
	tcase_add_test(tc, test_many_clients);
	tcase_add_test(tc, test_slow_watch_dropped);
	tcase_add_test(tc, test_pipelining_reader_not_dropped);
	tcase_add_test(tc, test_socket_mode);
	tcase_add_test(tc, test_stale_socket_replaced);
	tcase_add_test(tc, test_open_refusals);
	tcase_add_test(tc, test_foreign_peer);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	log_init("test_control", LOG_LEVEL_WARNING, 0);
	return tu_run(control_suite());
}
