/*
 * http — libcurl's multi interface on the libuv loop.
 *
 * The shape is curl's docs/examples/multi-uv.c, with what that example
 * leaves out:
 *
 *   - curl tells us which sockets to watch (CURLMOPT_SOCKETFUNCTION) and
 *     when to wake it (CURLMOPT_TIMERFUNCTION). Each watched socket gets a
 *     struct http_sock owning a uv_poll_t; its memory is released only in
 *     the poll's close callback. At CURL_POLL_REMOVE the poll is stopped
 *     and closed there and then: curl has not closed the fd yet, and
 *     uv_poll_stop() drops it from epoll synchronously, so a new socket
 *     that reuses the fd number can get its own poll at once.
 *   - A poll error is passed to curl as CURL_CSELECT_ERR, so the transfer
 *     fails instead of the socket being forgotten.
 *   - The timer callback only (re)arms a uv_timer_t; curl is driven from
 *     the loop, never from inside one of its own callbacks (a timeout of 0
 *     becomes a 0 ms uv timer, run on the next loop iteration).
 *   - Completions are collected with curl_multi_info_read() after
 *     curl_multi_socket_action() has returned, and delivered then. A
 *     callback may start requests, cancel others (curl_multi_remove_handle
 *     also drops their pending completion message) or close everything.
 *   - At most max_in_flight transfers are inside curl; the rest wait in a
 *     FIFO queue and start as slots free up. A queued request that cannot
 *     be started is completed as HTTP_NOT_SENT through a deferred 0 ms
 *     timer, so no callback ever runs from inside http_request() or
 *     http_cancel().
 *
 * Request life cycle (r->state):
 *
 *      http_request()
 *          |            slot free
 *          +-> QUEUED -------------> ACTIVE ---- curl done ----> DELIVERING
 *          |     |   add failed          |                          |
 *          |     +-----------------> FAILED --- defer timer ------->+
 *          |                                                        v
 *          +-- http_cancel()/http_close() at any state but   freed after cb
 *              DELIVERING frees it without a callback
 *
 * Invariants: an ACTIVE request's easy handle is in the multi and it is on
 * h->active; QUEUED and FAILED requests are on h->queue / h->failed and
 * their easy handle is not in the multi; h->nactive == length of active.
 *
 * Timeouts and the low-speed limit: each request has a connect timeout, a
 * total timeout and a low-speed limit of 1 byte/s over low_speed_time_s
 * (default 60 s, never longer than the request's total timeout, where it
 * would be meaningless). Callers doing long polls keep their wait below
 * low_speed_time_s: the limit also runs while the server holds the answer.
 *
 * TLS: peer and host are verified unless opts->tls_insecure, so a zeroed
 * struct http_opts is the safe one; only the configuration's explicit
 * "tls_verify": false turns verification off.
 *
 * curl_global_init() is called once, by the first http_new(), which the
 * daemon runs on its main thread before any other thread could exist (the
 * daemon is single-threaded); curl_global_cleanup() is left to process
 * exit, since other users (tests) may still hold easy handles.
 */
#include "http.h"

#include <curl/curl.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>
#include <time.h>

#include "log.h"

#define HTTP_DEFAULT_CONNECT_S	10.0
#define HTTP_DEFAULT_TIMEOUT_S	30.0
#define HTTP_DEFAULT_LOW_SPEED_S 60.0
#define HTTP_DEFAULT_MAX_BODY	(4u * 1024 * 1024)
#define HTTP_DEFAULT_IN_FLIGHT	16

enum http_req_state {
	REQ_QUEUED,
	REQ_ACTIVE,
	REQ_FAILED,
	REQ_DELIVERING,
};

struct http_req {
	TAILQ_ENTRY(http_req) entry;	/* on queue, active or failed */
	struct http *h;
	enum http_req_state state;
	CURL *easy;
	struct curl_slist *headers;
	char *body;			/* request body, owned (POSTFIELDS) */
	http_cb cb;
	void *arg;
	char *resp;			/* response body, NUL terminated */
	size_t resp_len;
	size_t resp_cap;
	bool over_cap;
	double retry_after_s;
	char fail[128];			/* FAILED: why it could not start */
	char errbuf[CURL_ERROR_SIZE];
};

TAILQ_HEAD(http_req_list, http_req);

struct http_sock {
	uv_poll_t poll;
	struct http *h;
	curl_socket_t fd;
	LIST_ENTRY(http_sock) entry;
};

struct http {
	uv_loop_t *loop;
	CURLM *multi;
	uv_timer_t timer;		/* curl's timeout */
	uv_timer_t defer;		/* delivers FAILED requests */
	struct http_opts opts;
	char *ca_file;
	struct http_req_list queue;
	struct http_req_list active;
	struct http_req_list failed;
	int nactive;
	LIST_HEAD(, http_sock) socks;
	int nhandles;			/* uv handles not yet closed */
	bool closing;
	void (*done)(void *arg);
	void *done_arg;
};

static bool http_global_ready;

static void http_check_info(struct http *h);
static void http_start_queued(struct http *h);

/* Counts a closed uv handle of h; the last one, once closing, frees h. */
static void
http_handle_gone(struct http *h)
{
	void (*done)(void *);
	void *arg;

	if (--h->nhandles > 0 || !h->closing)
		return;
	done = h->done;
	arg = h->done_arg;
	free(h->ca_file);
	free(h);
	if (done != NULL)
		done(arg);
}

static void
http_handle_closed(uv_handle_t *handle)
{
	http_handle_gone(handle->data);
}

static void
http_sock_closed(uv_handle_t *handle)
{
	struct http_sock *s = handle->data;
	struct http *h = s->h;

	free(s);
	http_handle_gone(h);
}

/* Stops watching and closes: synchronous as far as epoll is concerned. */
static void
http_sock_close(struct http_sock *s)
{
	LIST_REMOVE(s, entry);
	uv_poll_stop(&s->poll);
	uv_close((uv_handle_t *)&s->poll, http_sock_closed);
}

static void
http_on_poll(uv_poll_t *poll, int status, int events)
{
	struct http_sock *s = poll->data;
	struct http *h = s->h;
	int flags = 0, running;

	if (status < 0) {
		flags = CURL_CSELECT_ERR;
	} else {
		if (events & UV_READABLE)
			flags |= CURL_CSELECT_IN;
		if (events & UV_WRITABLE)
			flags |= CURL_CSELECT_OUT;
	}
	/* s may be closed by curl inside this call; only h is used after. */
	curl_multi_socket_action(h->multi, s->fd, flags, &running);
	http_check_info(h);
}

/*
 * CURLMOPT_SOCKETFUNCTION: uv only, never back into curl. Failures return
 * 0 after logging: since curl 7.84 a -1 here marks the whole multi handle
 * dead, failing every transfer for good, whereas an unwatched socket only
 * lets its own transfer run into its timeout (then retried by the caller).
 */
static int
http_socket_cb(CURL *easy, curl_socket_t fd, int what, void *userp,
    void *socketp)
{
	struct http *h = userp;
	struct http_sock *s = socketp;
	int events = 0, rc;

	(void)easy;
	switch (what) {
	case CURL_POLL_IN:
	case CURL_POLL_OUT:
	case CURL_POLL_INOUT:
		if (s == NULL) {
			if ((s = calloc(1, sizeof(*s))) == NULL) {
				log_warnx("http: out of memory watching a socket");
				return 0;
			}
			if ((rc = uv_poll_init_socket(h->loop, &s->poll,
			    fd)) != 0) {
				log_warnx("http: cannot watch socket %d: %s",
				    (int)fd, uv_strerror(rc));
				free(s);
				return 0;
			}
			s->h = h;
			s->fd = fd;
			s->poll.data = s;
			h->nhandles++;
			LIST_INSERT_HEAD(&h->socks, s, entry);
			curl_multi_assign(h->multi, fd, s);
		}
		if (what != CURL_POLL_OUT)
			events |= UV_READABLE;
		if (what != CURL_POLL_IN)
			events |= UV_WRITABLE;
		if ((rc = uv_poll_start(&s->poll, events, http_on_poll)) != 0)
			log_warnx("http: cannot poll socket %d: %s", (int)fd,
			    uv_strerror(rc));
		break;
	case CURL_POLL_REMOVE:
		if (s != NULL) {
			curl_multi_assign(h->multi, fd, NULL);
			http_sock_close(s);
		}
		break;
	default:
		break;
	}
	return 0;
}

static void
http_on_timer(uv_timer_t *t)
{
	struct http *h = t->data;
	int running;

	curl_multi_socket_action(h->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	http_check_info(h);
}

/* CURLMOPT_TIMERFUNCTION: arms the uv timer; 0 runs on the next loop
 * iteration rather than re-entering curl from here. */
static int
http_timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
	struct http *h = userp;

	(void)multi;
	if (timeout_ms < 0)
		uv_timer_stop(&h->timer);
	else
		uv_timer_start(&h->timer, http_on_timer, (uint64_t)timeout_ms,
		    0);
	return 0;
}

static size_t
http_write_cb(char *data, size_t size, size_t nmemb, void *arg)
{
	struct http_req *r = arg;
	size_t n = size * nmemb, max = r->h->opts.max_body;

	if (n > max - r->resp_len || r->resp_len > max) {
		/* Abort the transfer: curl reports CURLE_WRITE_ERROR. */
		r->over_cap = true;
#ifdef CURL_WRITEFUNC_ERROR
		return CURL_WRITEFUNC_ERROR;
#else
		return 0;
#endif
	}
	if (r->resp_len + n + 1 > r->resp_cap) {
		size_t cap = r->resp_cap ? r->resp_cap : 1024;
		char *p;

		while (cap < r->resp_len + n + 1)
			cap *= 2;
		if (cap > max + 1)
			cap = max + 1;
		if ((p = realloc(r->resp, cap)) == NULL)
			return 0;	/* CURLE_WRITE_ERROR, outcome unknown */
		r->resp = p;
		r->resp_cap = cap;
	}
	memcpy(r->resp + r->resp_len, data, n);
	r->resp_len += n;
	r->resp[r->resp_len] = '\0';
	return n;
}

/* Retry-After: delay-seconds, or an HTTP-date (RFC 9110 §10.2.3). */
static double
http_parse_retry_after(const char *v, size_t n)
{
	char buf[64];
	char *end;
	long secs;
	struct tm tm;
	time_t when;

	while (n > 0 && (v[n - 1] == '\r' || v[n - 1] == '\n' ||
	    v[n - 1] == ' ' || v[n - 1] == '\t'))
		n--;
	while (n > 0 && (*v == ' ' || *v == '\t')) {
		v++;
		n--;
	}
	if (n == 0 || n >= sizeof(buf))
		return -1;
	memcpy(buf, v, n);
	buf[n] = '\0';
	if (buf[0] >= '0' && buf[0] <= '9') {
		errno = 0;
		secs = strtol(buf, &end, 10);
		if (*end != '\0' || errno != 0 || secs < 0)
			return -1;
		return (double)secs;
	}
	memset(&tm, 0, sizeof(tm));
	end = strptime(buf, "%a, %d %b %Y %H:%M:%S GMT", &tm);
	if (end == NULL || *end != '\0')
		return -1;
	if ((when = timegm(&tm)) == (time_t)-1)
		return -1;
	return when > time(NULL) ? difftime(when, time(NULL)) : 0;
}

static size_t
http_header_cb(char *data, size_t size, size_t nmemb, void *arg)
{
	struct http_req *r = arg;
	size_t n = size * nmemb;
	static const char name[] = "retry-after:";

	/* A new status line (1xx before the final answer) starts afresh. */
	if (n >= 5 && strncmp(data, "HTTP/", 5) == 0)
		r->retry_after_s = -1;
	else if (n > sizeof(name) - 1 &&
	    strncasecmp(data, name, sizeof(name) - 1) == 0)
		r->retry_after_s = http_parse_retry_after(
		    data + sizeof(name) - 1, n - (sizeof(name) - 1));
	return n;
}

static void
http_req_free(struct http_req *r)
{
	if (r->easy != NULL)
		curl_easy_cleanup(r->easy);
	curl_slist_free_all(r->headers);
	free(r->body);
	free(r->resp);
	free(r);
}

/* Errors that happen before a byte of the request can have left: DNS,
 * connect, TLS set-up and verification, local set-up. */
static const CURLcode http_not_sent_codes[] = {
	CURLE_UNSUPPORTED_PROTOCOL, CURLE_FAILED_INIT, CURLE_URL_MALFORMAT,
	CURLE_NOT_BUILT_IN, CURLE_COULDNT_RESOLVE_PROXY,
	CURLE_COULDNT_RESOLVE_HOST, CURLE_COULDNT_CONNECT,
	CURLE_SSL_CONNECT_ERROR, CURLE_SSL_ENGINE_NOTFOUND,
	CURLE_SSL_ENGINE_SETFAILED, CURLE_SSL_CERTPROBLEM, CURLE_SSL_CIPHER,
	CURLE_PEER_FAILED_VERIFICATION, CURLE_SSL_CACERT_BADFILE,
	CURLE_SSL_ENGINE_INITFAILED, CURLE_USE_SSL_FAILED,
	CURLE_SSL_CRL_BADFILE, CURLE_SSL_ISSUER_ERROR,
	CURLE_SSL_PINNEDPUBKEYNOTMATCH, CURLE_SSL_INVALIDCERTSTATUS,
	CURLE_SSL_CLIENTCERT,
};

static bool
http_code_not_sent(CURLcode cc)
{
	for (size_t i = 0; i < sizeof(http_not_sent_codes) /
	    sizeof(http_not_sent_codes[0]); i++) {
		if (cc == http_not_sent_codes[i])
			return true;
	}
	return false;
}

/* Fills res from a finished transfer. Returns the outcome's message
 * storage in buf. */
static void
http_classify(struct http_req *r, CURLcode cc, struct http_response *res,
    char *buf, size_t buflen)
{
	const char *detail = r->errbuf[0] != '\0' ? r->errbuf :
	    curl_easy_strerror(cc);
	curl_off_t pretransfer = 0;
	long status = 0;

	memset(res, 0, sizeof(*res));
	res->retry_after_s = r->retry_after_s;
	res->body = r->resp != NULL ? r->resp : "";
	res->body_len = r->resp_len;
	if (cc == CURLE_OK) {
		curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &status);
		res->outcome = HTTP_DONE;
		res->status = status;
		return;
	}
	res->body = "";
	res->body_len = 0;
	if (r->over_cap) {
		res->outcome = HTTP_UNKNOWN;
		snprintf(buf, buflen, "response body over %zu bytes",
		    r->h->opts.max_body);
	} else if (http_code_not_sent(cc)) {
		res->outcome = HTTP_NOT_SENT;
		snprintf(buf, buflen, "%s", detail);
	} else if (cc == CURLE_OPERATION_TIMEDOUT &&
	    curl_easy_getinfo(r->easy, CURLINFO_PRETRANSFER_TIME_T,
	    &pretransfer) == CURLE_OK && pretransfer == 0) {
		/* Timed out connecting or in the TLS handshake: the request
		 * itself was never written. */
		res->outcome = HTTP_NOT_SENT;
		snprintf(buf, buflen, "%s", detail);
	} else {
		res->outcome = HTTP_UNKNOWN;
		snprintf(buf, buflen, "%s", detail);
	}
	res->error = buf;
}

/* Calls the callback of r, which has left every list, then frees it.
 * Returns false when the callback closed h (the caller must stop). */
static bool
http_deliver(struct http *h, struct http_req *r, const struct http_response *res)
{
	r->state = REQ_DELIVERING;
	r->cb(r->arg, res);
	http_req_free(r);
	return !h->closing;
}

static void
http_check_info(struct http *h)
{
	CURLMsg *msg;
	int pending;

	while (!h->closing &&
	    (msg = curl_multi_info_read(h->multi, &pending)) != NULL) {
		struct http_response res;
		struct http_req *r;
		void *priv = NULL;
		CURL *easy = msg->easy_handle;
		CURLcode cc = msg->data.result;
		char buf[CURL_ERROR_SIZE + 64];

		if (msg->msg != CURLMSG_DONE)
			continue;
		/* msg is invalid once the handle is removed. */
		curl_easy_getinfo(easy, CURLINFO_PRIVATE, &priv);
		r = priv;
		curl_multi_remove_handle(h->multi, easy);
		TAILQ_REMOVE(&h->active, r, entry);
		h->nactive--;
		http_classify(r, cc, &res, buf, sizeof(buf));
		if (res.outcome != HTTP_DONE)
			log_debug("http: request failed: %s", res.error);
		if (!http_deliver(h, r, &res))
			return;
		http_start_queued(h);
	}
}

static void
http_on_defer(uv_timer_t *t)
{
	struct http *h = t->data;
	struct http_req *r;

	while (!h->closing && (r = TAILQ_FIRST(&h->failed)) != NULL) {
		struct http_response res = {
			.outcome = HTTP_NOT_SENT,
			.retry_after_s = -1,
			.body = "",
			.error = r->fail,
		};

		TAILQ_REMOVE(&h->failed, r, entry);
		if (!http_deliver(h, r, &res))
			return;
	}
}

static void
http_fail_later(struct http *h, struct http_req *r, const char *why)
{
	snprintf(r->fail, sizeof(r->fail), "%s", why);
	r->state = REQ_FAILED;
	TAILQ_INSERT_TAIL(&h->failed, r, entry);
	uv_timer_start(&h->defer, http_on_defer, 0, 0);
}

static void
http_start_queued(struct http *h)
{
	struct http_req *r;
	CURLMcode mc;

	while (!h->closing && h->nactive < h->opts.max_in_flight &&
	    (r = TAILQ_FIRST(&h->queue)) != NULL) {
		TAILQ_REMOVE(&h->queue, r, entry);
		if ((mc = curl_multi_add_handle(h->multi, r->easy)) != CURLM_OK) {
			http_fail_later(h, r, curl_multi_strerror(mc));
			continue;
		}
		r->state = REQ_ACTIVE;
		TAILQ_INSERT_TAIL(&h->active, r, entry);
		h->nactive++;
	}
}

int
http_new(uv_loop_t *loop, const struct http_opts *opts, struct http **out)
{
	struct http *h;
	int rc;

	if (!http_global_ready) {
		if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
			return -EIO;
		http_global_ready = true;
	}
	if ((h = calloc(1, sizeof(*h))) == NULL)
		return -ENOMEM;
	h->loop = loop;
	h->opts = *opts;
	h->opts.ca_file = NULL;
	if (opts->ca_file != NULL &&
	    (h->ca_file = strdup(opts->ca_file)) == NULL) {
		free(h);
		return -ENOMEM;
	}
	h->opts.ca_file = h->ca_file;
	if (h->opts.connect_timeout_s <= 0)
		h->opts.connect_timeout_s = HTTP_DEFAULT_CONNECT_S;
	if (h->opts.timeout_s <= 0)
		h->opts.timeout_s = HTTP_DEFAULT_TIMEOUT_S;
	if (h->opts.low_speed_time_s <= 0)
		h->opts.low_speed_time_s = HTTP_DEFAULT_LOW_SPEED_S;
	if (h->opts.max_body == 0)
		h->opts.max_body = HTTP_DEFAULT_MAX_BODY;
	if (h->opts.max_in_flight <= 0)
		h->opts.max_in_flight = HTTP_DEFAULT_IN_FLIGHT;
	TAILQ_INIT(&h->queue);
	TAILQ_INIT(&h->active);
	TAILQ_INIT(&h->failed);
	LIST_INIT(&h->socks);
	if ((h->multi = curl_multi_init()) == NULL) {
		free(h->ca_file);
		free(h);
		return -ENOMEM;
	}
	/* Both timers are initialised before anything can fail, so that the
	 * one error path below is a plain close. */
	if ((rc = uv_timer_init(loop, &h->timer)) != 0) {
		curl_multi_cleanup(h->multi);
		free(h->ca_file);
		free(h);
		return rc;
	}
	h->timer.data = h;
	h->nhandles++;
	if ((rc = uv_timer_init(loop, &h->defer)) != 0) {
		h->closing = true;
		curl_multi_cleanup(h->multi);
		h->multi = NULL;
		uv_close((uv_handle_t *)&h->timer, http_handle_closed);
		return rc;
	}
	h->defer.data = h;
	h->nhandles++;
	curl_multi_setopt(h->multi, CURLMOPT_SOCKETFUNCTION, http_socket_cb);
	curl_multi_setopt(h->multi, CURLMOPT_SOCKETDATA, h);
	curl_multi_setopt(h->multi, CURLMOPT_TIMERFUNCTION, http_timer_cb);
	curl_multi_setopt(h->multi, CURLMOPT_TIMERDATA, h);
	*out = h;
	return 0;
}

static long
http_ms(double s)
{
	double ms = ceil(s * 1000.0);

	return ms > (double)LONG_MAX ? LONG_MAX : (long)ms;
}

/* Header values must not carry a line break (header injection). */
static bool
http_header_safe(const char *s)
{
	return strpbrk(s, "\r\n") == NULL;
}

int
http_request(struct http *h, const char *method, const char *url,
    const char *bearer, const char *body, double timeout_s, http_cb cb,
    void *arg, struct http_req **out)
{
	struct http_req *r = NULL;
	struct curl_slist *l;
	char *auth = NULL;
	double low;
	int rc = -ENOMEM;
	bool post;

	if (h->closing)
		return -ECANCELED;
	if (method == NULL || url == NULL || cb == NULL)
		return -EINVAL;
	if (strcmp(method, "POST") == 0)
		post = true;
	else if (strcmp(method, "GET") == 0)
		post = false;
	else
		return -EINVAL;
	if (bearer != NULL && !http_header_safe(bearer))
		return -EINVAL;
	if (timeout_s <= 0)
		timeout_s = h->opts.timeout_s;
	low = h->opts.low_speed_time_s < timeout_s ?
	    h->opts.low_speed_time_s : timeout_s;

	if ((r = calloc(1, sizeof(*r))) == NULL)
		goto fail;
	r->h = h;
	r->cb = cb;
	r->arg = arg;
	r->retry_after_s = -1;
	if (post && (r->body = strdup(body != NULL ? body : "")) == NULL)
		goto fail;
	if ((r->easy = curl_easy_init()) == NULL)
		goto fail;
	/* Each append returns NULL on ENOMEM, leaving the old list. */
	if ((l = curl_slist_append(r->headers, "Accept: application/json")) == NULL)
		goto fail;
	r->headers = l;
	if (post) {
		if ((l = curl_slist_append(r->headers,
		    "Content-Type: application/json")) == NULL)
			goto fail;
		r->headers = l;
		/* No "Expect: 100-continue" round trip for small bodies. */
		if ((l = curl_slist_append(r->headers, "Expect:")) == NULL)
			goto fail;
		r->headers = l;
	}
	if (bearer != NULL) {
		if (asprintf(&auth, "Authorization: Bearer %s", bearer) < 0) {
			auth = NULL;
			goto fail;
		}
		l = curl_slist_append(r->headers, auth);
		/* The token is not left behind in freed memory. */
		explicit_bzero(auth, strlen(auth));
		free(auth);
		if (l == NULL)
			goto fail;
		r->headers = l;
	}

	rc = -EINVAL;
	if (curl_easy_setopt(r->easy, CURLOPT_URL, url) != CURLE_OK ||
	    curl_easy_setopt(r->easy, CURLOPT_PROTOCOLS_STR, "http,https") !=
	    CURLE_OK)
		goto fail;
	curl_easy_setopt(r->easy, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(r->easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(r->easy, CURLOPT_PRIVATE, r);
	curl_easy_setopt(r->easy, CURLOPT_ERRORBUFFER, r->errbuf);
	curl_easy_setopt(r->easy, CURLOPT_HTTPHEADER, r->headers);
	curl_easy_setopt(r->easy, CURLOPT_USERAGENT, "exrolld/" EXROLL_VERSION);
	curl_easy_setopt(r->easy, CURLOPT_WRITEFUNCTION, http_write_cb);
	curl_easy_setopt(r->easy, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(r->easy, CURLOPT_HEADERFUNCTION, http_header_cb);
	curl_easy_setopt(r->easy, CURLOPT_HEADERDATA, r);
	curl_easy_setopt(r->easy, CURLOPT_CONNECTTIMEOUT_MS,
	    http_ms(h->opts.connect_timeout_s));
	curl_easy_setopt(r->easy, CURLOPT_TIMEOUT_MS, http_ms(timeout_s));
	curl_easy_setopt(r->easy, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(r->easy, CURLOPT_LOW_SPEED_TIME,
	    low < 1 ? 1L : (long)ceil(low));
	curl_easy_setopt(r->easy, CURLOPT_SSL_VERIFYPEER,
	    h->opts.tls_insecure ? 0L : 1L);
	curl_easy_setopt(r->easy, CURLOPT_SSL_VERIFYHOST,
	    h->opts.tls_insecure ? 0L : 2L);
	if (h->opts.ca_file != NULL &&
	    curl_easy_setopt(r->easy, CURLOPT_CAINFO, h->opts.ca_file) !=
	    CURLE_OK)
		goto fail;
	if (post) {
		curl_easy_setopt(r->easy, CURLOPT_POST, 1L);
		curl_easy_setopt(r->easy, CURLOPT_POSTFIELDSIZE_LARGE,
		    (curl_off_t)strlen(r->body));
		curl_easy_setopt(r->easy, CURLOPT_POSTFIELDS, r->body);
	} else {
		curl_easy_setopt(r->easy, CURLOPT_HTTPGET, 1L);
	}

	r->state = REQ_QUEUED;
	TAILQ_INSERT_TAIL(&h->queue, r, entry);
	http_start_queued(h);
	if (out != NULL)
		*out = r;
	return 0;
fail:
	if (r != NULL)
		http_req_free(r);
	return rc;
}

void
http_cancel(struct http_req *r)
{
	struct http *h;

	if (r == NULL)
		return;
	h = r->h;
	switch (r->state) {
	case REQ_QUEUED:
		TAILQ_REMOVE(&h->queue, r, entry);
		break;
	case REQ_FAILED:
		TAILQ_REMOVE(&h->failed, r, entry);
		break;
	case REQ_ACTIVE:
		/* Also drops a completion message not yet read. */
		curl_multi_remove_handle(h->multi, r->easy);
		TAILQ_REMOVE(&h->active, r, entry);
		h->nactive--;
		break;
	case REQ_DELIVERING:
		/* Its callback is running; it is freed when that returns. */
		return;
	}
	http_req_free(r);
	if (!h->closing)
		http_start_queued(h);
}

void
http_close(struct http *h, void (*done)(void *arg), void *arg)
{
	struct http_req *r;
	struct http_sock *s;

	if (h->closing)
		return;
	h->closing = true;
	h->done = done;
	h->done_arg = arg;
	while ((r = TAILQ_FIRST(&h->queue)) != NULL) {
		TAILQ_REMOVE(&h->queue, r, entry);
		http_req_free(r);
	}
	while ((r = TAILQ_FIRST(&h->failed)) != NULL) {
		TAILQ_REMOVE(&h->failed, r, entry);
		http_req_free(r);
	}
	while ((r = TAILQ_FIRST(&h->active)) != NULL) {
		curl_multi_remove_handle(h->multi, r->easy);
		TAILQ_REMOVE(&h->active, r, entry);
		h->nactive--;
		http_req_free(r);
	}
	/* Closes cached connections, telling us CURL_POLL_REMOVE for each. */
	curl_multi_cleanup(h->multi);
	h->multi = NULL;
	/* Whatever curl did not remove is closed here. */
	while ((s = LIST_FIRST(&h->socks)) != NULL)
		http_sock_close(s);
	uv_timer_stop(&h->timer);
	uv_close((uv_handle_t *)&h->timer, http_handle_closed);
	uv_timer_stop(&h->defer);
	uv_close((uv_handle_t *)&h->defer, http_handle_closed);
}
