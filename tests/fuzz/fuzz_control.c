/*
 * fuzz_control — what a peer can send the control socket, short of the
 * socket itself: bytes framed by proto_reader (as control.c frames them),
 * each line through control_handle_line() with a stand-in command table.
 *
 * Checked for every line (abort() on a violation, so the replay and
 * libFuzzer both report it):
 *  - a blank line gets no answer, any other line exactly one;
 *  - the answer is one line of JSON ending in '\n', an object with "id",
 *    a boolean "ok", and "result" when ok, else "error" whose "code" is
 *    one of the protocol's and whose "message" is a non-empty string;
 *  - a request that is an object with a scalar "id" gets that id back.
 * The input is fed in two pieces split where its first byte says, so
 * lines that straddle reads are exercised too.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "control.h"
#include "control_parse.h"
#include "proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond) do { if (!(cond)) abort(); } while (0)

/* The stand-in commands: every way a command may answer. */
static enum control_err
fuzz_run(void *arg, const char *cmd, const json_t *req,
    const struct control_peer *peer, json_t **result, char *msg,
    size_t msglen)
{
	(void)arg;
	(void)peer;
	if (strcmp(cmd, "echo") == 0) {
		*result = json_deep_copy(req);
		return CONTROL_OK;
	}
	if (strcmp(cmd, "ping") == 0) {
		*result = json_pack("{s:s}", "version", "fuzz");
		return CONTROL_OK;
	}
	if (strcmp(cmd, "nothing") == 0)
		return CONTROL_OK;		/* ok without a result */
	if (strcmp(cmd, "leaky") == 0) {
		/* An error with a stray result: must be dropped. */
		*result = json_object();
		snprintf(msg, msglen, "leaky");
		return CONTROL_CONFLICT;
	}
	if (strcmp(cmd, "silent") == 0)
		return CONTROL_NOT_FOUND;	/* an error without a message */
	if (strcmp(cmd, "long") == 0) {
		/* A message longer than the buffer. */
		memset(msg, 'm', msglen);
		return CONTROL_INTERNAL;
	}
	snprintf(msg, msglen, "unknown command '%s'", cmd);
	return CONTROL_UNKNOWN_COMMAND;
}

static bool
fuzz_blank(const char *line, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (line[i] != ' ' && line[i] != '\t')
			return false;
	return true;
}

static bool
fuzz_known_code(const char *code)
{
	static const char *const codes[] = { "bad_request",
		"unknown_command", "not_found", "conflict", "forbidden",
		"internal" };

	for (size_t i = 0; code != NULL && i < 6; i++)
		if (strcmp(code, codes[i]) == 0)
			return true;
	return false;
}

static void
fuzz_line(const struct control_ops *ops, const char *line, size_t len)
{
	struct control_peer peer = { .uid = 1000, .gid = 1000, .pid = 1,
		.user = "fuzz" };
	struct control_reply rep;
	json_t *resp, *req, *ok, *id;

	if (control_handle_line(ops, &peer, line, len, &rep) != 0)
		return;		/* ENOMEM: the transport drops the client */
	if (fuzz_blank(line, len)) {
		CHECK(rep.text == NULL);
		return;
	}
	CHECK(rep.text != NULL && rep.len > 0);
	CHECK(rep.text[rep.len - 1] == '\n');
	CHECK(memchr(rep.text, '\n', rep.len) == rep.text + rep.len - 1);
	resp = json_loadb(rep.text, rep.len - 1, JSON_REJECT_DUPLICATES, NULL);
	CHECK(json_is_object(resp));
	ok = json_object_get(resp, "ok");
	CHECK(json_is_boolean(ok));
	CHECK(json_object_get(resp, "id") != NULL);
	if (json_is_true(ok)) {
		CHECK(json_object_get(resp, "result") != NULL);
		CHECK(json_object_get(resp, "error") == NULL);
	} else {
		json_t *err = json_object_get(resp, "error");
		const char *m = json_string_value(json_object_get(err,
		    "message"));

		CHECK(!rep.watch);
		CHECK(fuzz_known_code(json_string_value(json_object_get(err,
		    "code"))));
		CHECK(m != NULL && *m != '\0');
	}
	/* The id comes back when there was one to take. */
	req = json_loadb(line, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY,
	    NULL);
	id = json_object_get(req, "id");
	if (id != NULL && !json_is_object(id) && !json_is_array(id))
		CHECK(json_equal(id, json_object_get(resp, "id")));
	json_decref(req);
	json_decref(resp);
	free(rep.text);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct control_ops ops = { fuzz_run, NULL };
	struct proto_reader rd;
	size_t split = size > 0 ? (size_t)data[0] * size / 256 : 0;
	const char *in = (const char *)data;
	char *line;
	size_t len;
	int r;

	proto_reader_init(&rd);
	for (int piece = 0; piece < 2; piece++) {
		const char *p = piece == 0 ? in : in + split;
		size_t n = piece == 0 ? split : size - split;

		r = proto_reader_feed(&rd, p, n);
		if (r == -EMSGSIZE || r == -ENOMEM)
			break;	/* the transport answers, then closes */
		while ((r = proto_reader_next(&rd, &line, &len)) == 1)
			fuzz_line(&ops, line, len);
		if (r < 0)
			break;
	}
	proto_reader_free(&rd);

	/* The transport's own refusals are well-formed too. */
	{
		size_t elen;
		char *e = control_error_line(NULL, CONTROL_FORBIDDEN,
		    size > 0 ? "refused" : "", &elen);

		CHECK(e != NULL && e[elen - 1] == '\n');
		free(e);
	}
	return 0;
}
