/*
 * http — libcurl's multi interface driven by the libuv loop.
 *
 * The one place HTTP lives (the gateway client and the webhook
 * notifications both use it). Follows the shape of curl's multi-uv example,
 * done right: CURLMOPT_SOCKETFUNCTION/TIMERFUNCTION drive uv_poll and
 * uv_timer handles embedded in their owners; every allocation is checked; a
 * poll error is handed to curl as CURL_CSELECT_ERR; a poll handle is
 * stopped at CURL_POLL_REMOVE before its fd can be reused; curl is never
 * called from inside its own callbacks (completions are collected and
 * delivered from the loop).
 *
 * Every answer is classified as DESIGN §3.6 says:
 *   HTTP_DONE      a response arrived: status and body (capped) are valid;
 *   HTTP_NOT_SENT  DNS, connect or TLS failed before the request left: a
 *                  retry cannot duplicate anything;
 *   HTTP_UNKNOWN   the request may have been received (timeout after
 *                  sending, reset, truncated or over-long body): retry only
 *                  with the same idempotency key.
 * 5xx and unparsable bodies are classified by the caller (gateway.c).
 *
 * Requests beyond max_in_flight wait in a FIFO queue. Only http and https
 * are allowed (CURLOPT_PROTOCOLS_STR); which URLs are acceptable is decided
 * once, by config.c, at load. Redirects are not followed.
 */
#ifndef EXROLL_HTTP_H
#define EXROLL_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

struct http;
struct http_req;

struct http_opts {
	const char *ca_file;		/* NULL: system CAs */
	bool tls_insecure;		/* true disables peer and host checks:
				 * a zeroed struct verifies */
	double connect_timeout_s;	/* default 10 when 0 */
	double timeout_s;		/* whole transfer, default 30 when 0 */
	double low_speed_time_s;	/* abort a transfer stalled this long */
	size_t max_body;		/* response cap, default 4 MiB when 0 */
	int max_in_flight;		/* default 16 when 0 */
};

enum http_outcome {
	HTTP_DONE,
	HTTP_NOT_SENT,
	HTTP_UNKNOWN,
};

struct http_response {
	enum http_outcome outcome;
	long status;			/* HTTP_DONE only */
	const char *body;		/* NUL terminated, borrowed for the callback */
	size_t body_len;
	double retry_after_s;		/* Retry-After in seconds, or -1 */
	const char *error;		/* why, when not HTTP_DONE */
};

typedef void (*http_cb)(void *arg, const struct http_response *res);

/* Returns 0 and *out, or a negative errno. */
int http_new(uv_loop_t *loop, const struct http_opts *opts, struct http **out);

/* Starts (or queues) one request. method is "GET" or "POST"; body may be
 * NULL; bearer may be NULL; timeout_s <= 0 uses the default. cb is called
 * exactly once, from the loop, unless the request is cancelled. */
int http_request(struct http *h, const char *method, const char *url,
    const char *bearer, const char *body, double timeout_s, http_cb cb,
    void *arg, struct http_req **out);

/* Drops a request; its callback will not be called. */
void http_cancel(struct http_req *req);

/* Cancels everything, closes every handle; done(arg) runs once the last
 * handle is closed and h is freed. */
void http_close(struct http *h, void (*done)(void *arg), void *arg);

#endif
