/*
 * https-server.c — an HTTPS server on libevent (evhttp + bufferevent_openssl)
 * that hands every blocking call to a libevpool pool and answers when the
 * result comes back on the loop thread.  Run with --help for the options;
 * GET / lists the endpoints.
 *
 * DESIGN
 * One thread runs the event loop: TLS, HTTP parsing, routing, limits and
 * replies (https-http.c).  Whatever blocks (open/read of files, PBKDF2,
 * getaddrinfo, sleep) is a job (https-jobs.c) whose input and result are
 * bytes, so the pool may run in thread or process mode unchanged; --inline
 * runs the same functions on the loop thread to show what the pool saves us
 * from.  This file holds the options, start-up, shutdown and --processes;
 * https-tls.c the TLS context and the generated certificate.
 *
 * The pool is made before the listening socket, so that a process pool's
 * fork server and workers never hold the port open.  With --processes N the
 * parent makes the certificate, reserves the port (SO_REUSEPORT) and forks N
 * servers, each with its own loop, socket and pool; it forwards SIGINT and
 * SIGTERM and exits 0 only if they all did.
 *
 * A request is a struct rq, made when evhttp hands us the request and freed
 * exactly once, by rq_release(), when the last of these has happened:
 *   - the response was fully written (evhttp's on_complete callback), or the
 *     connection died (evhttp's close callback, see on_conn_close());
 *   - the job it waits for has completed (rq->job_pending is 0).
 * evhttp owns the evhttp_request; rq->req is cleared the moment evhttp frees
 * it, and the one case where evhttp leaves it to us (a connection that fails
 * before we replied "detaches" the request) is freed in on_conn_close().
 *
 * A connection is a struct conn, tied to the lifetime of its SSL object
 * through SSL ex_data: made in the bufferevent callback, freed when OpenSSL
 * frees the SSL.  That is the only hook that sees every connection end,
 * including those that never sent a request, so it also counts connections
 * for --max-conns (the listener is paused at the limit, leaving further
 * clients in the kernel's backlog) and carries the head deadline that drops
 * slowloris clients: a connection has --header-timeout seconds from accept,
 * or from the end of its previous response, to deliver a complete request
 * head, however slowly it trickles bytes (restarted once when our TLS
 * handshake reply goes out, and extended once if bytes it sent wait unread
 * when the time is up: the time we spend is not the client's).
 *
 * Large files are streamed: the job reads one chunk; the loop sends it and
 * submits the job for the next chunk only once the connection's output buffer
 * has drained, so memory per download stays at one chunk and a slow client
 * does not make us read ahead.
 *
 * Shutdown (SIGINT/SIGTERM): stop accepting, let the requests in flight finish
 * (their responses carry "Connection: close"), close idle connections, and
 * when none is left, leave the loop, evpool_free() the pool, then free evhttp,
 * the base (whose last finalizers free the SSL objects, hence the conns) and
 * the TLS context.  If --grace runs out first, evpool_shutdown(pool, 0)
 * cancels the queued jobs and flags the running ones; their clients get 503
 * and the loop has half a second to send it.  A second signal skips all that.
 * evpool_free() comes before evhttp_free() because completions still owed
 * reply to requests that evhttp owns.
 */
#include "config.h"
#include "https-server.h"

#include <evpool.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>

#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <malloc.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef HTTPS_WWW_ROOT
#define HTTPS_WWW_ROOT "examples/www"
#endif

/* ------------------------------------------------------------------------ */
/* Shutdown */

void
check_drain_done(struct server *srv)
{
	if (srv->draining && !srv->finished && srv->nconns == 0 &&
	    srv->nactive == 0) {
		srv->finished = 1;
		event_base_loopexit(srv->base, NULL);
	}
}

static void
on_grace(evutil_socket_t fd, short what, void *arg)
{
	struct server *srv = arg;
	struct timeval flush = { 0, 500 * 1000 };

	(void)fd;
	(void)what;
	if (srv->pool && !srv->pool_closed) {
		/* Cancel what is queued and flag what runs (sleep jobs watch
		 * the flag), without waiting: the jobs complete on the loop
		 * and their clients get a 503 instead of a cut connection.
		 * Then half a second to flush those replies. */
		fprintf(stderr, "https-server: grace period over: cancelling "
			"the jobs of %u requests\n", srv->nactive);
		srv->pool_closed = 1;
		evpool_shutdown(srv->pool, 0);
		evtimer_add(srv->grace, &flush);
		return;
	}
	fprintf(stderr, "https-server: grace period over: %u requests and %u "
		"connections cut\n", srv->nactive, srv->nconns);
	srv->finished = 1;
	event_base_loopexit(srv->base, NULL);
}

static void
on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct server *srv = arg;
	struct timeval tv = { (time_t)srv->o->grace_s, 0 };
	struct conn *c;

	(void)what;
	if (srv->draining) {
		fprintf(stderr, "https-server: second signal: exiting now\n");
		srv->finished = 1;
		event_base_loopexit(srv->base, NULL);
		return;
	}
	fprintf(stderr, "https-server: %s: stopped accepting; finishing %u "
		"requests on %u connections\n", strsignal((int)sig),
		srv->nactive, srv->nconns);
	srv->draining = 1;
	if (srv->bound) {
		evhttp_del_accept_socket(srv->http, srv->bound);
		srv->bound = NULL;
	}
	evtimer_add(srv->grace, &tv);
	TAILQ_FOREACH(c, &srv->conns, link)
		if (!c->active)
			arm_deadline(c, 1);
	check_drain_done(srv);
}

/* ------------------------------------------------------------------------ */
/* Start-up */

/* A TCP socket bound to @bind_addr:@port; *@port gets the real port. */
static int
make_socket(const char *bind_addr, int *port, int reuseport, int backlog)
{
	struct addrinfo hints, *ai = NULL;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char ps[16];
	int fd, one = 1, r;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	snprintf(ps, sizeof(ps), "%d", *port);
	r = getaddrinfo(bind_addr, ps, &hints, &ai);
	if (r != 0) {
		fprintf(stderr, "https-server: %s: %s\n", bind_addr,
			gai_strerror(r));
		return -1;
	}
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
		    0);
	if (fd < 0)
		goto fail;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (reuseport &&
	    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0)
		goto fail;
	if (ai->ai_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	/* bufferevent_openssl writes a response as several TLS records;
	 * with Nagle each small one after the first waits for the client's
	 * delayed ACK (40 ms).  Accepted sockets inherit this on Linux. */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 ||
	    (backlog > 0 && listen(fd, backlog) < 0) ||
	    getsockname(fd, (struct sockaddr *)&ss, &sl) < 0)
		goto fail;
	*port = ntohs(ss.ss_family == AF_INET6
			      ? ((struct sockaddr_in6 *)&ss)->sin6_port
			      : ((struct sockaddr_in *)&ss)->sin_port);
	freeaddrinfo(ai);
	return fd;
fail:
	fprintf(stderr, "https-server: %s port %s: %s\n", bind_addr, ps,
		strerror(errno));
	if (fd >= 0)
		close(fd);
	freeaddrinfo(ai);
	return -1;
}

static void
print_listening(const struct opts *o, int port, const char *fp)
{
	int v6 = strchr(o->bind, ':') != NULL;

	fprintf(stderr, "listening on https://%s%s%s:%d (sha256 fingerprint %s)\n",
		v6 ? "[" : "", o->bind, v6 ? "]" : "", port, fp);
}

const char *const qkind_name[Q_COUNT] = { "files", "hash", "resolve",
					  "sleep" };

/*
 * One named queue per kind of work, each with the pool's worker count
 * (--workers) and bounded by --queue on its own: the isolation comes from
 * the queues being apart, not from their sizes.
 */
static int
make_queues(struct server *srv)
{
	struct evpool_stats st;
	unsigned n[Q_COUNT];
	int i, r;

	if (evpool_get_stats(srv->pool, &st) < 0)
		return -EPROTO;
	n[Q_FILES] = n[Q_HASH] = n[Q_RESOLVE] = n[Q_SLEEP] =
		st.max_workers ? st.max_workers : 4;
	for (i = 0; i < Q_COUNT; i++) {
		r = evpool_queue_new(srv->pool, qkind_name[i], n[i],
				     &srv->q[i]);
		if (r < 0) {
			fprintf(stderr, "https-server: queue %s: %s\n",
				qkind_name[i], evpool_errmsg());
			return r;
		}
	}
	return 0;
}

static int
make_pool(struct server *srv)
{
	const struct opts *o = srv->o;
	struct evpool_job_spec spec;
	struct evpool_job *job = NULL;
	const unsigned char *res;
	size_t len = 0;
	int r;

	r = evpool_new(&srv->pool, srv->base, o->cfg);
	if (r < 0) {
		fprintf(stderr, "https-server: evpool_new%s failed: %s (%s)\n",
			!o->mode_set ? ""
			: o->mode == EVPOOL_MODE_PROCESS ? " (process mode)"
							 : " (thread mode)",
			evpool_strerror(r), evpool_errmsg());
		srv->pool = NULL;
		return -1;
	}
	/* One job before we listen: the pool works, and where it runs. */
	memset(&spec, 0, sizeof(spec));
	spec.fn = job_probe;
	spec.input = "?";
	spec.input_len = 1;
	r = evpool_submit_job(srv->pool, &spec, &job);
	if (r == 0) {
		r = evpool_job_get(job, 60000, NULL);
		res = evpool_job_result_bytes(job, &len);
		if (r == 0 && res && len == 1)
			srv->process_mode = res[0] != 0;
		else if (r == 0)
			r = -EPROTO;
		evpool_job_unref(job);
	}
	if (r == 0)
		r = make_queues(srv);
	if (r != 0) {
		fprintf(stderr, "https-server: the pool does not run jobs: %s\n",
			evpool_strerror(r));
		evpool_free(srv->pool);
		srv->pool = NULL;
		return -1;
	}
	return 0;
}

/*
 * Run one server process until it is told to stop.  @ready_fd (-1 if none)
 * gets a byte once we listen; @fp is printed when we are the only process.
 */

/*
 * The loop's base.  With epoll, libevent's changelist: bufferevents add and
 * remove their read and write events several times per request (evhttp
 * suspends reading while it answers, bufferevent_openssl wants EPOLLOUT
 * only while it has output); the changelist folds what happens within one
 * loop iteration into one epoll_ctl() at the next wait (measured: 4 calls
 * per hello.txt request without it, 2.9 with it).  Its known pitfall, a
 * dup()ed fd in the same epoll set, does not arise here.  Not under
 * ThreadSanitizer: a connection closed with its epoll_ctl() still
 * deferred gets that call at the next wait, on the number of a descriptor
 * that a worker thread may have opened meanwhile (a file it serves).  The
 * kernel dropped the closed socket from the epoll set, and libevent
 * ignores the error the stray call gets, so nothing goes wrong; but the
 * loop touches a worker's descriptor, which TSan reports as a race.
 */
#if defined(__SANITIZE_THREAD__)
#define EVPOOL_EXAMPLE_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define EVPOOL_EXAMPLE_TSAN 1
#endif
#endif
static struct event_base *
new_base(void)
{
	struct event_config *cfg = event_config_new();
	struct event_base *base;

	if (!cfg)
		return NULL;
#ifndef EVPOOL_EXAMPLE_TSAN
	event_config_set_flag(cfg, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
#endif
	base = event_base_new_with_config(cfg);
	event_config_free(cfg);
	return base;
}
static int
run_server(const struct opts *o, SSL_CTX *ssl, const char *fp, int ready_fd)
{
	struct server *srv;
	struct timeval tv = { (time_t)o->timeout_s, 0 };
	int fd = -1, port = o->port, rc = 1;

	srv = calloc(1, sizeof(*srv));
	if (!srv)
		return 1;
	srv->o = o;
	srv->ssl = ssl;
	TAILQ_INIT(&srv->conns);
	clock_gettime(CLOCK_MONOTONIC, &srv->started);
	if (!realpath(o->root, srv->root) || strlen(srv->root) > 4000) {
		fprintf(stderr, "https-server: --root %s: %s\n", o->root,
			strerror(errno ? errno : ENAMETOOLONG));
		goto out;
	}
	srv->base = new_base();
	if (!srv->base)
		goto out;
	/* The pool first: a process pool's workers must not inherit the
	 * listening socket (they would keep the port open after we close). */
	if (!o->inline_work && make_pool(srv) < 0)
		goto out;
	fd = make_socket(o->bind, &port, o->processes > 1, 511);
	if (fd < 0)
		goto out;
	srv->http = evhttp_new(srv->base);
	srv->sig_int = evsignal_new(srv->base, SIGINT, on_signal, srv);
	srv->sig_term = evsignal_new(srv->base, SIGTERM, on_signal, srv);
	srv->grace = evtimer_new(srv->base, on_grace, srv);
	if (!srv->http || !srv->sig_int || !srv->sig_term || !srv->grace ||
	    evsignal_add(srv->sig_int, NULL) < 0 ||
	    evsignal_add(srv->sig_term, NULL) < 0)
		goto out;
	evhttp_set_bevcb(srv->http, make_bev, srv);
	evhttp_set_gencb(srv->http, on_request, srv);
	evhttp_set_max_body_size(srv->http, (ev_ssize_t)o->max_body);
	/* libevent answers 413 on its own above this hard cap; between
	 * --max-header and it, on_request() answers 431. */
	evhttp_set_max_headers_size(srv->http, (ev_ssize_t)(4 * o->max_header));
	evhttp_set_timeout_tv(srv->http, &tv);
	evhttp_set_flags(srv->http, EVHTTP_SERVER_LINGERING_CLOSE);
	evhttp_set_allowed_methods(srv->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD |
				   EVHTTP_REQ_POST | EVHTTP_REQ_PUT |
				   EVHTTP_REQ_DELETE | EVHTTP_REQ_OPTIONS |
				   EVHTTP_REQ_PATCH | EVHTTP_REQ_TRACE |
				   EVHTTP_REQ_CONNECT);
	srv->bound = evhttp_accept_socket_with_handle(srv->http, fd);
	if (!srv->bound)
		goto out;
	fd = -1; /* evhttp closes it */
	srv->port = port;

	if (ready_fd >= 0) {
		if (write(ready_fd, "1", 1) != 1)
			goto out;
		close(ready_fd);
		ready_fd = -1;
	} else {
		print_listening(o, port, fp);
	}
	fprintf(stderr, "https-server: pid %ld, %s, root %s\n", (long)getpid(),
		!srv->pool ? "inline (no pool)"
		: srv->process_mode ? "process pool" : "thread pool",
		srv->root);
	event_base_dispatch(srv->base);
	rc = 0;
out:
	if (rc)
		ERR_print_errors_fp(stderr);
	srv->finished = 1;
	/* The pool before evhttp: its last completions still reply. */
	if (srv->pool)
		evpool_free(srv->pool);
	srv->pool = NULL;
	srv->bound = NULL;
	if (srv->http)
		evhttp_free(srv->http);
	if (srv->sig_int)
		event_free(srv->sig_int);
	if (srv->sig_term)
		event_free(srv->sig_term);
	if (srv->grace)
		event_free(srv->grace);
	if (srv->base)
		event_base_free(srv->base); /* runs the last SSL frees */
	if (fd >= 0)
		close(fd);
	if (ready_fd >= 0)
		close(ready_fd);
	if (rc == 0)
		fprintf(stderr, "https-server: pid %ld: stopped (%llu requests)\n",
			(long)getpid(), (unsigned long long)srv->nrequests);
	free(srv);
	return rc;
}

/* ------------------------------------------------------------------------ */
/* --processes N: a parent that forks N servers sharing the port */

static pid_t *children;
static unsigned nchildren;

static void
forward_signal(int sig)
{
	unsigned i;
	int e = errno;

	for (i = 0; i < nchildren; i++)
		if (children[i] > 0)
			kill(children[i], sig);
	errno = e;
}

static int
run_parent(const struct opts *o, SSL_CTX *ssl, const char *fp)
{
	struct sigaction sa;
	sigset_t block, old;
	struct pollfd *pfd;
	unsigned i, ready = 0, alive;
	int port = o->port, fd, rc = 0, status;
	struct opts co = *o;

	/* Reserve the port (it may be 0: ephemeral) for the children. */
	fd = make_socket(o->bind, &port, 1, 0);
	if (fd < 0)
		return 1;
	co.port = port;
	children = calloc(o->processes, sizeof(*children));
	pfd = calloc(o->processes, sizeof(*pfd));
	if (!children || !pfd) {
		close(fd);
		return 1;
	}
	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	sigprocmask(SIG_BLOCK, &block, &old);
	for (i = 0; i < o->processes; i++) {
		int p[2];
		pid_t pid;

		if (pipe(p) < 0 || (pid = fork()) < 0) {
			perror("https-server: fork");
			rc = 1;
			break;
		}
		if (pid == 0) {
			unsigned j;

			close(fd);
			close(p[0]);
			for (j = 0; j < i; j++)
				close(pfd[j].fd);
			sigprocmask(SIG_SETMASK, &old, NULL);
			free(pfd);
			free(children);
			children = NULL;
			nchildren = 0;
			rc = run_server(&co, ssl, fp, p[1]);
			SSL_CTX_free(ssl);
			_exit(rc);
		}
		close(p[1]);
		children[i] = pid;
		pfd[i].fd = p[0];
		pfd[i].events = POLLIN;
		nchildren++;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = forward_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigprocmask(SIG_SETMASK, &old, NULL);

	/* Wait for every child to listen, or for one to die trying. */
	for (int waited = 0; rc == 0 && ready < nchildren; waited += 100) {
		int n = poll(pfd, nchildren, 100);

		for (i = 0; n > 0 && i < nchildren; i++) {
			char b;

			if (pfd[i].fd < 0 || !pfd[i].revents)
				continue;
			if (read(pfd[i].fd, &b, 1) == 1)
				ready++;
			else
				rc = 1;
			close(pfd[i].fd);
			pfd[i].fd = -1;
		}
		for (i = 0; i < nchildren; i++)
			if (children[i] > 0 &&
			    waitpid(children[i], &status, WNOHANG) ==
				    children[i]) {
				children[i] = -1;
				rc = 1;
			}
		if (waited > 60000)
			rc = 1;
	}
	for (i = 0; i < nchildren; i++)
		if (pfd[i].fd >= 0)
			close(pfd[i].fd);
	free(pfd);
	close(fd);
	if (rc == 0)
		print_listening(o, port, fp);
	else
		forward_signal(SIGTERM);

	/* Wait for the children; we exit 0 only if they all did. */
	for (alive = nchildren; alive > 0;) {
		pid_t pid = waitpid(-1, &status, 0);

		if (pid < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		for (i = 0; i < nchildren; i++)
			if (children[i] == pid) {
				children[i] = -1;
				alive--;
				if (!WIFEXITED(status) ||
				    WEXITSTATUS(status) != 0) {
					fprintf(stderr, "https-server: process "
						"%ld ended with status %d\n",
						(long)pid, status);
					rc = 1;
				}
			}
	}
	free(children);
	children = NULL;
	return rc;
}

/* ------------------------------------------------------------------------ */
/* Options */

static void
usage(FILE *f)
{
	fprintf(f,
"Usage: https-server [OPTION]...\n"
"An HTTPS server on libevent that runs its blocking work (file reads, PBKDF2,\n"
"DNS lookups, sleeps) in a libevpool pool; results come back on the loop.\n"
"\n"
"  -p, --port N            port (default 8443; 0: any free port, printed)\n"
"  -b, --bind ADDR         address to listen on (default 127.0.0.1)\n"
"  -m, --mode MODE         pool mode: thread (default) or process\n"
"  -w, --workers N         pool workers, all started at once (default: up to\n"
"                          the online CPUs, started on demand)\n"
"  -r, --root DIR          directory served under /files/\n"
"                          (default %s)\n"
"      --inline            do the blocking work on the loop thread, without\n"
"                          a pool: the \"before\" picture, for comparison\n"
"  -P, --processes N       run N server processes on the same port\n"
"                          (SO_REUSEPORT), each with its own pool\n"
"      --cert FILE         certificate chain, PEM (with --key); default: a\n"
"                          self-signed certificate made in memory\n"
"      --key FILE          private key, PEM\n"
"      --queue N           queued jobs before 503 + Retry-After (default 256;\n"
"                          0: unbounded)\n"
"      --max-conns N       connections at once (default 512)\n"
"      --max-body BYTES    request body limit, else 413 (default 1048576)\n"
"      --max-header BYTES  request head limit, else 431 (default 8192)\n"
"      --timeout SEC       idle read/write timeout (default 30)\n"
"      --header-timeout SEC  time allowed to send a request head (default 10)\n"
"      --grace SEC         on SIGINT/SIGTERM, time for requests in flight\n"
"                          (default 10; a second signal exits at once)\n"
"      --job-timeout MS    limit per job, else 504 (default 30000)\n"
"  -q, --quiet             no per-request log lines\n"
"  -h, --help              this help\n"
"  -V, --version           versions of the server and its libraries\n"
"\n"
"Endpoints:\n"
"  GET  /                  the endpoint list (index.html of the root)\n"
"  GET  /files/PATH        a file under the root (read in the pool)\n"
"  POST /hash?iterations=N&salt=S  PBKDF2-HMAC-SHA256 of the body\n"
"                          (iterations 1..1000000, default 100000)\n"
"  GET  /resolve?host=NAME getaddrinfo(NAME), in the pool\n"
"  GET  /sleep?ms=N        a blocking sleep of N ms (0..10000), in the pool\n"
"  GET  /stats             server and pool statistics (JSON)\n"
"\n"
"The pool also takes libevpool's own settings from EVPOOL_* variables and\n"
"--evpool-* options (--evpool-help lists them); --mode, --workers, --queue\n"
"and --job-timeout override them.\n"
"\n"
"Logs one line per request to stderr.  Exit status 0 after a clean shutdown.\n",
		HTTPS_WWW_ROOT);
}

static int
opt_num(const char *name, const char *arg, unsigned long long lo,
	unsigned long long hi, unsigned long long *out)
{
	if (parse_num(arg, lo, hi, out) < 0) {
		fprintf(stderr, "https-server: %s must be a number in %llu..%llu, "
			"got '%s'\n", name, lo, hi, arg);
		return -1;
	}
	return 0;
}

static int
parse_opts(int argc, char **argv, struct opts *o)
{
	enum { O_INLINE = 256, O_CERT, O_KEY, O_QUEUE, O_MAXCONNS, O_MAXBODY,
	       O_MAXHEADER, O_TIMEOUT, O_HTIMEOUT, O_GRACE, O_JOBTIMEOUT };
	static const struct option lo[] = {
		{ "port", required_argument, NULL, 'p' },
		{ "bind", required_argument, NULL, 'b' },
		{ "mode", required_argument, NULL, 'm' },
		{ "workers", required_argument, NULL, 'w' },
		{ "root", required_argument, NULL, 'r' },
		{ "inline", no_argument, NULL, O_INLINE },
		{ "processes", required_argument, NULL, 'P' },
		{ "cert", required_argument, NULL, O_CERT },
		{ "key", required_argument, NULL, O_KEY },
		{ "queue", required_argument, NULL, O_QUEUE },
		{ "max-conns", required_argument, NULL, O_MAXCONNS },
		{ "max-body", required_argument, NULL, O_MAXBODY },
		{ "max-header", required_argument, NULL, O_MAXHEADER },
		{ "timeout", required_argument, NULL, O_TIMEOUT },
		{ "header-timeout", required_argument, NULL, O_HTIMEOUT },
		{ "grace", required_argument, NULL, O_GRACE },
		{ "job-timeout", required_argument, NULL, O_JOBTIMEOUT },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	struct evpool_config *cfg = o->cfg;
	unsigned long long v;
	int c, r = 0;

	memset(o, 0, sizeof(*o));
	o->cfg = cfg;
	o->bind = "127.0.0.1";
	o->root = HTTPS_WWW_ROOT;
	o->port = 8443;
	o->mode = EVPOOL_MODE_THREAD;
	o->processes = 1;
	o->max_conns = 512;
	o->max_body = 1048576;
	o->max_header = 8192;
	o->timeout_s = 30;
	o->header_timeout_s = 10;
	o->grace_s = 10;

	while ((c = getopt_long(argc, argv, "p:b:m:w:r:P:qhV", lo, NULL)) != -1) {
		switch (c) {
		case 'p':
			if (opt_num("--port", optarg, 0, 65535, &v) < 0)
				return -1;
			o->port = (int)v;
			break;
		case 'b': o->bind = optarg; break;
		case 'm':
			if (strcmp(optarg, "thread") == 0) {
				o->mode = EVPOOL_MODE_THREAD;
			} else if (strcmp(optarg, "process") == 0) {
				o->mode = EVPOOL_MODE_PROCESS;
			} else {
				fprintf(stderr, "https-server: --mode must be "
					"thread or process, got '%s'\n", optarg);
				return -1;
			}
			o->mode_set = 1;
			r = evpool_config_set_mode(cfg, o->mode);
			break;
		case 'w':
			if (opt_num("--workers", optarg, 1, 4096, &v) < 0)
				return -1;
			r = evpool_config_set_workers(cfg, (unsigned)v,
						      (unsigned)v);
			break;
		case 'r': o->root = optarg; break;
		case O_INLINE: o->inline_work = 1; break;
		case 'P':
			if (opt_num("--processes", optarg, 1, 256, &v) < 0)
				return -1;
			o->processes = (unsigned)v;
			break;
		case O_CERT: o->cert = optarg; break;
		case O_KEY: o->key = optarg; break;
		case O_QUEUE:
			if (opt_num("--queue", optarg, 0, 1000000, &v) < 0)
				return -1;
			r = evpool_config_set_max_queued(cfg, (size_t)v);
			break;
		case O_MAXCONNS:
			if (opt_num("--max-conns", optarg, 1, 1000000, &v) < 0)
				return -1;
			o->max_conns = (unsigned)v;
			break;
		case O_MAXBODY:
			if (opt_num("--max-body", optarg, 0, 1u << 30, &v) < 0)
				return -1;
			o->max_body = (size_t)v;
			break;
		case O_MAXHEADER:
			if (opt_num("--max-header", optarg, 256, 1u << 20, &v) < 0)
				return -1;
			o->max_header = (size_t)v;
			break;
		case O_TIMEOUT:
			if (opt_num("--timeout", optarg, 1, 86400, &v) < 0)
				return -1;
			o->timeout_s = (unsigned)v;
			break;
		case O_HTIMEOUT:
			if (opt_num("--header-timeout", optarg, 1, 86400, &v) < 0)
				return -1;
			o->header_timeout_s = (unsigned)v;
			break;
		case O_GRACE:
			if (opt_num("--grace", optarg, 0, 86400, &v) < 0)
				return -1;
			o->grace_s = (unsigned)v;
			break;
		case O_JOBTIMEOUT:
			if (opt_num("--job-timeout", optarg, 0, 86400000, &v) < 0)
				return -1;
			r = evpool_config_set_job_timeout(cfg, (unsigned)v);
			break;
		case 'q': o->quiet = 1; break;
		case 'h':
			usage(stdout);
			exit(0);
		case 'V':
			printf("https-server (libevpool %s), libevent %s, %s\n",
			       evpool_version(), event_get_version(),
			       OpenSSL_version(OPENSSL_VERSION));
			exit(0);
		default:
			fprintf(stderr, "Try 'https-server --help'.\n");
			return -1;
		}
		if (r < 0) {
			fprintf(stderr, "https-server: %s\n", evpool_errmsg());
			return -1;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "https-server: unexpected argument '%s'\n",
			argv[optind]);
		return -1;
	}
	if (!o->cert != !o->key) {
		fprintf(stderr, "https-server: --cert and --key go together\n");
		return -1;
	}
	return 0;
}

int
main(int argc, char **argv)
{
	struct tls_identity id;
	struct opts o;
	SSL_CTX *ssl;
	int rc;

#if defined(M_MMAP_THRESHOLD) && defined(M_TRIM_THRESHOLD)
	/*
	 * File chunks are 128 KiB blocks malloc'd on one thread and freed on
	 * another, thousands a second.  glibc's default thresholds (adjusted
	 * as it goes) sometimes gave each one fresh pages from the kernel: a
	 * 64 MiB download at -c64 in process mode took 130 000 page faults in
	 * 4 s and ran at 750 MB/s; with these, under 20 and 970 MB/s.  Freed
	 * memory stays in the heap for the next chunk.
	 */
	mallopt(M_MMAP_THRESHOLD, 4 << 20);
	mallopt(M_TRIM_THRESHOLD, 64 << 20);
#endif

	/* The pool's settings: our defaults, then the environment, then
	 * --evpool-* (removed from argv), then our own options. */
	o.cfg = evpool_config_new();
	if (!o.cfg ||
	    evpool_config_set_max_queued(o.cfg, 256) < 0 ||
	    evpool_config_set_name(o.cfg, "https") < 0 ||
	    evpool_config_set_job_timeout(o.cfg, 30000) < 0)
		return 1;
	if (evpool_config_from_env(o.cfg) < 0) {
		fprintf(stderr, "https-server: %s\n", evpool_errmsg());
		evpool_config_free(o.cfg);
		return 2;
	}
	rc = evpool_config_from_argv(o.cfg, &argc, argv);
	if (rc == EVPOOL_CONFIG_HELP || rc < 0) {
		if (rc < 0)
			fprintf(stderr, "https-server: %s\n", evpool_errmsg());
		evpool_config_free(o.cfg);
		return rc < 0 ? 2 : 0;
	}
	if (parse_opts(argc, argv, &o) < 0) {
		evpool_config_free(o.cfg);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	conn_idx = SSL_get_ex_new_index(0, NULL, NULL, NULL, conn_free);
	ssl = conn_idx < 0 ? NULL : tls_context_new(o.cert, o.key, &id);
	if (!ssl) {
		evpool_config_free(o.cfg);
		return 1;
	}
	if (o.processes > 1)
		rc = run_parent(&o, ssl, id.fingerprint);
	else
		rc = run_server(&o, ssl, id.fingerprint, -1);
	SSL_CTX_free(ssl);
	tls_identity_clear(&id);
	evpool_config_free(o.cfg);
	return rc;
}
