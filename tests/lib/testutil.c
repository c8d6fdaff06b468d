/*
 * testutil — helpers for integration tests: processes, waits, simulator,
 * daemon, HTTP and control-socket clients, and the rig made of them.
 */
#include "testutil.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

int
tu_ms(int ms)
{
	const char *s = getenv("EXROLL_TEST_TIMEOUT_SCALE");
	int scale = s ? atoi(s) : 1;

	return ms * (scale > 0 ? scale : 1);
}

char *
tu_tmpdir(const char *tag)
{
	const char *base = getenv("TMPDIR");
	char *p;

	if (base == NULL || *base == '\0')
		base = "/tmp";
	if (asprintf(&p, "%s/exroll-%s-XXXXXX", base, tag) < 0)
		return NULL;
	if (mkdtemp(p) == NULL) {
		free(p);
		return NULL;
	}
	return p;
}

static int
tu_rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(path);	/* best effort: a leftover temp file is harmless */
	return 0;
}

void
tu_rmrf(const char *path)
{
	if (path != NULL)
		nftw(path, tu_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

char *
tu_path(const char *dir, const char *name)
{
	char *p;

	if (asprintf(&p, "%s/%s", dir, name) < 0)
		return NULL;
	return p;
}

int
tu_write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	int rc = 0;

	if (f == NULL)
		return -errno;
	if (fputs(text, f) == EOF)
		rc = -EIO;
	if (fclose(f) != 0 && rc == 0)
		rc = -errno;
	return rc;
}

char *
tu_read_file(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf = NULL;
	size_t len = 0, cap = 0, n;

	if (f == NULL)
		return NULL;
	do {
		if (len + 4096 + 1 > cap) {
			char *nb;

			cap = cap ? cap * 2 : 8192;
			if ((nb = realloc(buf, cap)) == NULL) {
				free(buf);
				fclose(f);
				return NULL;
			}
			buf = nb;
		}
		n = fread(buf + len, 1, 4096, f);
		len += n;
	} while (n > 0);
	fclose(f);
	buf[len] = '\0';
	return buf;
}

char *
tu_compose_config(const char *dir, const char *name, const char *head,
    const char *org_file)
{
	char *org = tu_read_file(org_file), *inv, *text = NULL, *path = NULL;

	if (org == NULL || (inv = strstr(org, "\"servers\"")) == NULL)
		goto out;
	if (asprintf(&text, "{%s,\n  %s", head, inv) < 0) {
		text = NULL;
		goto out;
	}
	if ((path = tu_path(dir, name)) != NULL &&
	    tu_write_file(path, text) != 0) {
		free(path);
		path = NULL;
	}
out:
	free(org);
	free(text);
	return path;
}

static char *
tu_env_path(const char *var, const char *def, const char *name)
{
	const char *dir = getenv(var);

	return tu_path(dir && *dir ? dir : def, name);
}

char *
tu_build_path(const char *name)
{
	return tu_env_path("EXROLL_BUILD", "build", name);
}

char *
tu_src_path(const char *name)
{
	return tu_env_path("EXROLL_SRCDIR", ".", name);
}

bool
tu_wait(bool (*cond)(void *arg), void *arg, int timeout_ms)
{
	struct timespec start, now;
	int backoff = 1;

	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		long elapsed;

		if (cond(arg))
			return true;
		clock_gettime(CLOCK_MONOTONIC, &now);
		elapsed = (now.tv_sec - start.tv_sec) * 1000 +
		    (now.tv_nsec - start.tv_nsec) / 1000000;
		if (elapsed >= timeout_ms)
			return cond(arg);
		/* Back off between checks: the condition is re-checked, never
		 * assumed, so the pace only costs latency. */
		poll(NULL, 0, backoff);
		if (backoff < 50)
			backoff *= 2;
	}
}

int
tu_spawn(struct tu_proc *p, const char *log, char *const argv[])
{
	pid_t pid, parent = getpid();
	int fd;

	memset(p, 0, sizeof(*p));
	if ((p->log = strdup(log)) == NULL)
		return -ENOMEM;
	fflush(NULL);
	if ((pid = fork()) < 0)
		return -errno;
	if (pid == 0) {
		fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
			close(fd);
		}
		fd = open("/dev/null", O_RDONLY);
		if (fd >= 0) {
			dup2(fd, 0);
			close(fd);
		}
		/* Its own process group, so ^C on make reaches it once; and
		 * killed with the test process, so a failed assertion (the
		 * test's process exits at once) leaves nothing running. */
		setpgid(0, 0);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		/* A parent that ended before prctl sends no signal: the child
		 * was already reparented, so it must not run on. */
		if (getppid() != parent)
			_exit(127);
		execv(argv[0], argv);
		fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	p->pid = pid;
	return 0;
}

bool
tu_proc_exited(struct tu_proc *p)
{
	int st;

	if (p->exited)
		return true;
	if (p->pid > 0 && waitpid(p->pid, &st, WNOHANG) == p->pid) {
		p->exited = true;
		p->status = st;
	}
	return p->exited;
}

static bool
tu_proc_exited_cond(void *arg)
{
	return tu_proc_exited(arg);
}

bool
tu_kill_wait(struct tu_proc *p, int sig, int timeout_ms)
{
	if (p->pid <= 0 || tu_proc_exited(p))
		return true;
	if (sig != 0)
		kill(p->pid, sig);
	return tu_wait(tu_proc_exited_cond, p, timeout_ms);
}

void
tu_proc_free(struct tu_proc *p)
{
	if (p->pid > 0 && !tu_proc_exited(p)) {
		kill(p->pid, SIGKILL);
		tu_kill_wait(p, 0, tu_ms(5000));
	}
	free(p->log);
	p->log = NULL;
}

char *
tu_proc_output(const struct tu_proc *p)
{
	char *s = p->log ? tu_read_file(p->log) : NULL;

	return s ? s : strdup("(no output)");
}

struct tu_portwait {
	const char *file;
	struct tu_proc *proc;
	int port;
};

static bool
tu_port_ready(void *arg)
{
	struct tu_portwait *w = arg;
	char *s;

	if (tu_proc_exited(w->proc))
		return true;
	if ((s = tu_read_file(w->file)) == NULL)
		return false;
	w->port = atoi(s);
	free(s);
	return w->port > 0;
}

int
tu_sim_start(struct tu_sim *s, const char *dir, const char *org,
    const char *const extra[])
{
	char *argv[64];
	size_t n = 0;
	char *bin = tu_build_path("exchange-sim");
	char *portfile = tu_path(dir, "sim.port");
	char *log = tu_path(dir, "sim.log");
	struct tu_portwait w = { .file = portfile };
	int rc = -1;

	memset(s, 0, sizeof(*s));
	if (bin == NULL || portfile == NULL || log == NULL)
		goto out;
	unlink(portfile);
	argv[n++] = bin;
	argv[n++] = (char *)"--org";
	argv[n++] = (char *)org;
	argv[n++] = (char *)"--port";
	argv[n++] = (char *)"0";
	argv[n++] = (char *)"--port-file";
	argv[n++] = portfile;
	for (size_t i = 0; extra != NULL && extra[i] != NULL && n < 62; i++)
		argv[n++] = (char *)extra[i];
	argv[n] = NULL;
	if (tu_spawn(&s->proc, log, argv) != 0)
		goto out;
	w.proc = &s->proc;
	if (!tu_wait(tu_port_ready, &w, tu_ms(10000)) || w.port <= 0) {
		char *o = tu_proc_output(&s->proc);

		fprintf(stderr, "exchange-sim did not start:\n%s\n", o);
		free(o);
		goto out;
	}
	s->port = w.port;
	snprintf(s->url, sizeof(s->url), "http://127.0.0.1:%d/", s->port);
	s->dir = strdup(dir);
	rc = 0;
out:
	free(bin);
	free(portfile);
	free(log);
	return rc;
}

void
tu_sim_stop(struct tu_sim *s)
{
	if (s->proc.pid > 0)
		tu_kill_wait(&s->proc, SIGTERM, tu_ms(5000));
	tu_proc_free(&s->proc);
	free(s->dir);
	s->dir = NULL;
}

struct tu_buf {
	char *p;
	size_t len;
};

static size_t
tu_curl_write(char *data, size_t size, size_t nmemb, void *arg)
{
	struct tu_buf *b = arg;
	size_t n = size * nmemb;
	char *np = realloc(b->p, b->len + n + 1);

	if (np == NULL)
		return 0;
	memcpy(np + b->len, data, n);
	b->p = np;
	b->len += n;
	b->p[b->len] = '\0';
	return n;
}

int
tu_http(const char *method, const char *url, const char *bearer,
    const char *body, long *status, char **resp)
{
	CURL *c = curl_easy_init();
	struct curl_slist *hdr = NULL;
	struct tu_buf b = { 0 };
	char auth[1024];
	CURLcode cc;

	if (c == NULL)
		return -1;
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, tu_curl_write);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)tu_ms(20000));
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	hdr = curl_slist_append(hdr, "Content-Type: application/json");
	if (bearer != NULL) {
		snprintf(auth, sizeof(auth), "Authorization: Bearer %s", bearer);
		hdr = curl_slist_append(hdr, auth);
	}
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
	if (body != NULL)
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	cc = curl_easy_perform(c);
	if (cc == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
	curl_slist_free_all(hdr);
	curl_easy_cleanup(c);
	if (cc != CURLE_OK) {
		free(b.p);
		return -1;
	}
	*resp = b.p ? b.p : strdup("");
	return 0;
}

static json_t *
tu_sim_call(const struct tu_sim *s, const char *method, const char *path,
    const char *body)
{
	char url[256];
	long status = 0;
	char *resp = NULL;
	json_t *j;

	snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", s->port, path);
	if (tu_http(method, url, NULL, body, &status, &resp) != 0)
		return NULL;
	j = json_loads(resp, 0, NULL);
	free(resp);
	return j;
}

json_t *
tu_sim_get(const struct tu_sim *s, const char *path)
{
	return tu_sim_call(s, "GET", path, NULL);
}

json_t *
tu_sim_post(const struct tu_sim *s, const char *path, const char *body)
{
	return tu_sim_call(s, "POST", path, body ? body : "{}");
}

int
tu_run(Suite *s)
{
	SRunner *sr = srunner_create(s);
	int failed;

	signal(SIGPIPE, SIG_IGN);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

const char *
tu_jstr(const json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));

	return s ? s : "";
}

int
tu_event_seq(const json_t *events, const char *kind, const char *subject,
    const char *needle)
{
	size_t i;
	json_t *ev;

	json_array_foreach(events, i, ev) {
		if (strcmp(tu_jstr(ev, "kind"), kind) == 0 &&
		    strcmp(tu_jstr(ev, "subject"), subject) == 0 &&
		    strstr(tu_jstr(ev, "message"), needle) != NULL)
			return (int)json_integer_value(json_object_get(ev, "seq"));
	}
	return -1;
}

int
tu_unix_connect(const char *path)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(path) >= sizeof(sun.sun_path))
		return -1;
	strcpy(sun.sun_path, path);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

bool
tu_conn_open(struct tu_conn *c, const char *path)
{
	memset(c, 0, sizeof(*c));
	c->fd = tu_unix_connect(path);
	return c->fd >= 0;
}

void
tu_conn_close(struct tu_conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	free(c->buf);
	c->buf = NULL;
	c->len = c->cap = 0;
}

bool
tu_conn_send(struct tu_conn *c, const char *data, size_t n)
{
	while (n > 0) {
		ssize_t w = send(c->fd, data, n, MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return false;
		data += w;
		n -= (size_t)w;
	}
	return true;
}

char *
tu_conn_line(struct tu_conn *c, int timeout_ms)
{
	struct timespec t0, t1;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		char *nl = c->len ? memchr(c->buf, '\n', c->len) : NULL;
		struct pollfd p = { .fd = c->fd, .events = POLLIN };
		long el;
		ssize_t r;

		if (nl != NULL) {
			size_t n = (size_t)(nl - c->buf);
			char *line = malloc(n + 1);

			if (line == NULL)
				return NULL;
			memcpy(line, c->buf, n);
			line[n] = '\0';
			memmove(c->buf, nl + 1, c->len - n - 1);
			c->len -= n + 1;
			return line;
		}
		if (c->eof)
			return NULL;
		clock_gettime(CLOCK_MONOTONIC, &t1);
		el = (t1.tv_sec - t0.tv_sec) * 1000 +
		    (t1.tv_nsec - t0.tv_nsec) / 1000000;
		if (el >= timeout_ms || poll(&p, 1, (int)(timeout_ms - el)) <= 0)
			return NULL;
		if (c->cap - c->len < 65536) {
			size_t cap = c->cap ? c->cap * 2 : 262144;
			char *nb = realloc(c->buf, cap);

			if (nb == NULL)
				return NULL;
			c->buf = nb;
			c->cap = cap;
		}
		r = read(c->fd, c->buf + c->len, c->cap - c->len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			/* ECONNRESET after the last line counts as the end. */
			c->eof = true;
			continue;
		}
		c->len += (size_t)r;
	}
}

json_t *
tu_ctl(const char *socket_path, const char *request_line)
{
	struct tu_conn c;
	char *line = NULL;
	json_t *j = NULL;

	if (!tu_conn_open(&c, socket_path))
		return NULL;
	if (tu_conn_send(&c, request_line, strlen(request_line)) &&
	    tu_conn_send(&c, "\n", 1) &&
	    (line = tu_conn_line(&c, tu_ms(20000))) != NULL)
		j = json_loads(line, 0, NULL);
	free(line);
	tu_conn_close(&c);
	return j;
}

json_t *
tu_ctl_cmd(const char *socket_path, const char *cmd, json_t *args)
{
	json_t *req = json_pack("{s:i, s:s}", "id", 1, "cmd", cmd);
	json_t *resp, *result = NULL;
	char *line;

	if (req == NULL)
		return NULL;
	if (args != NULL)
		json_object_update(req, args);
	line = json_dumps(req, JSON_COMPACT);
	json_decref(req);
	if (line == NULL)
		return NULL;
	resp = tu_ctl(socket_path, line);
	free(line);
	if (resp != NULL && json_is_true(json_object_get(resp, "ok")))
		result = json_incref(json_object_get(resp, "result"));
	json_decref(resp);
	return result;
}

static bool
tu_daemon_ready(void *arg)
{
	struct tu_daemon *d = arg;
	json_t *r;

	if (tu_proc_exited(&d->proc))
		return true;
	if ((r = tu_ctl_cmd(d->socket, "ping", NULL)) == NULL)
		return false;
	json_decref(r);
	return true;
}

int
tu_daemon_start(struct tu_daemon *d, const char *dir, const char *cfg,
    const char *socket_path, const char *const extra[])
{
	char *argv[64];
	size_t n = 0;
	char *bin = tu_build_path("exrolld");
	char *log = tu_path(dir, "exrolld.log");
	int rc = -1;

	memset(d, 0, sizeof(*d));
	if (bin == NULL || log == NULL)
		goto out;
	if ((d->socket = strdup(socket_path)) == NULL)
		goto out;
	argv[n++] = bin;
	argv[n++] = (char *)"--config";
	argv[n++] = (char *)cfg;
	for (size_t i = 0; extra != NULL && extra[i] != NULL && n < 62; i++)
		argv[n++] = (char *)extra[i];
	argv[n] = NULL;
	if (tu_spawn(&d->proc, log, argv) != 0)
		goto out;
	if (!tu_wait(tu_daemon_ready, d, tu_ms(20000)) ||
	    tu_proc_exited(&d->proc)) {
		char *o = tu_proc_output(&d->proc);

		fprintf(stderr, "exrolld did not come up:\n%s\n", o);
		free(o);
		goto out;
	}
	rc = 0;
out:
	free(bin);
	free(log);
	return rc;
}

void
tu_daemon_free(struct tu_daemon *d)
{
	tu_proc_free(&d->proc);
	free(d->socket);
	d->socket = NULL;
}

int
tu_rig_start(struct tu_rig *r, const char *tag, const char *org,
    const char *gateway, const char *policy, const char *top,
    const char *const sim_args[])
{
	char *state = NULL, *head = NULL;

	memset(r, 0, sizeof(*r));
	if ((r->dir = tu_tmpdir(tag)) == NULL) {
		fprintf(stderr, "rig '%s': no temporary directory: %s\n", tag,
		    strerror(errno));
		goto fail;
	}
	r->org = org != NULL ? strdup(org) :
	    tu_src_path("contrib/examples/exroll.json");
	r->sock = tu_path(r->dir, "control.sock");
	state = tu_path(r->dir, "state.db");
	if (r->org == NULL || r->sock == NULL || state == NULL)
		goto nomem;
	if (tu_sim_start(&r->sim, r->dir, r->org, sim_args) != 0)
		goto fail;	/* tu_sim_start printed its output */
	if (asprintf(&head, "\"state_file\": \"%s\", \"socket\": \"%s\",\n"
	    "  \"gateway\": {\"url\": \"%s\", \"poll_interval_s\": 0.05%s%s},\n"
	    "  \"policy\": {\"verify_interval_s\": 0.1, "
	    "\"retry_backoff_s\": 0.2%s%s}%s%s", state, r->sock, r->sim.url,
	    gateway ? ", " : "", gateway ? gateway : "",
	    policy ? ", " : "", policy ? policy : "",
	    top ? ",\n  " : "", top ? top : "") < 0) {
		head = NULL;
		goto nomem;
	}
	if ((r->cfg = tu_compose_config(r->dir, "exroll.json", head,
	    r->org)) == NULL) {
		fprintf(stderr, "rig '%s': no configuration from '%s'\n", tag,
		    r->org);
		goto fail;
	}
	free(state);
	free(head);
	return 0;
nomem:
	fprintf(stderr, "rig '%s': out of memory\n", tag);
fail:
	free(state);
	free(head);
	tu_rig_stop(r);
	return -1;
}

int
tu_rig_daemon(struct tu_rig *r)
{
	tu_daemon_free(&r->d);
	return tu_daemon_start(&r->d, r->dir, r->cfg, r->sock, NULL);
}

void
tu_rig_stop(struct tu_rig *r)
{
	/* Both are no-ops on a daemon never started or already reaped. */
	tu_kill_wait(&r->d.proc, SIGTERM, tu_ms(10000));
	tu_daemon_free(&r->d);
	tu_sim_stop(&r->sim);
	tu_rmrf(r->dir);
	free(r->dir);
	free(r->org);
	free(r->cfg);
	free(r->sock);
	memset(r, 0, sizeof(*r));
}

json_t *
tu_rig_status(const struct tu_rig *r)
{
	return tu_ctl_cmd(r->sock, "status", NULL);
}

bool
tu_rig_state_is(const struct tu_rig *r, const char *state)
{
	json_t *st = tu_rig_status(r);
	bool yes = st != NULL && strcmp(tu_jstr(st, "state"), state) == 0;

	json_decref(st);
	return yes;
}

struct tu_rig_wait {
	const struct tu_rig *r;
	const char *state;
	json_t *status;		/* the last one read */
};

static bool
tu_rig_state_cond(void *arg)
{
	struct tu_rig_wait *w = arg;

	return tu_rig_state_is(w->r, w->state);
}

bool
tu_rig_wait_state(const struct tu_rig *r, const char *state, int timeout_ms)
{
	struct tu_rig_wait w = { .r = r, .state = state };

	return tu_wait(tu_rig_state_cond, &w, timeout_ms);
}

static bool
tu_rig_checkpoint_cond(void *arg)
{
	struct tu_rig_wait *w = arg;

	json_decref(w->status);
	w->status = tu_rig_status(w->r);
	return w->status != NULL &&
	    (strcmp(tu_jstr(w->status, "state"), "completed") == 0 ||
	    json_array_size(json_object_get(w->status,
	    "pending_checkpoints")) > 0);
}

json_t *
tu_rig_wait_checkpoint(const struct tu_rig *r, int timeout_ms)
{
	struct tu_rig_wait w = { .r = r };

	if (!tu_wait(tu_rig_checkpoint_cond, &w, timeout_ms)) {
		json_decref(w.status);
		return NULL;
	}
	return w.status;
}

int
tu_rig_exrollctl(const struct tu_rig *r, const char *const args[],
    char **out)
{
	char *bin = tu_build_path("exrollctl");
	char *log = tu_path(r->dir, "exrollctl.out");
	char *argv[32], *text;
	struct tu_proc p = { .pid = 0 };
	size_t n = 0;
	int rc = -1, e;

	if (bin == NULL || log == NULL)
		goto out;
	argv[n++] = bin;
	argv[n++] = (char *)"--socket";
	argv[n++] = r->sock;
	for (size_t i = 0; args[i] != NULL && n < 31; i++)
		argv[n++] = (char *)args[i];
	argv[n] = NULL;
	/* The log is appended to: a fresh one per run. */
	unlink(log);
	if ((e = tu_spawn(&p, log, argv)) != 0) {
		fprintf(stderr, "exrollctl: no process: %s\n", strerror(-e));
		goto out;
	}
	if (!tu_wait(tu_proc_exited_cond, &p, tu_ms(20000))) {
		fprintf(stderr, "exrollctl did not exit within %d ms\n",
		    tu_ms(20000));
		goto out;
	}
	if ((text = tu_proc_output(&p)) == NULL)
		goto out;
	*out = text;
	rc = WIFEXITED(p.status) ? WEXITSTATUS(p.status) :
	    128 + WTERMSIG(p.status);
out:
	tu_proc_free(&p);	/* kills it if it is still running */
	free(bin);
	free(log);
	return rc;
}
