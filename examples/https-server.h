/*
 * https-server.h — private declarations shared by the files of the example
 * HTTPS server (https-server.c: options, HTTP and shutdown; https-jobs.c: the
 * blocking work; https-tls.c: certificates and the TLS context).
 *
 * WIRE FORMAT OF THE JOBS
 * Every job takes its input as bytes and gives its result as bytes, never a
 * pointer, so the same code runs in a thread-mode pool, in a process-mode pool
 * (where input and result cross a process boundary) and inline on the loop
 * (--inline).  Sender and receiver are the same binary on the same machine,
 * so fixed-layout structs with native byte order are enough; variable parts
 * (paths, salt, password, host name) follow the struct, with their lengths in
 * it.  Every result starts with a struct job_res: the job's own outcome as 0
 * or a negative errno value, then the payload (the data, or on failure an
 * optional human-readable message).  The evpool job status itself is kept
 * for what the pool says (cancelled, timed out, worker crashed).
 */
#ifndef HTTPS_SERVER_H
#define HTTPS_SERVER_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>
#include <time.h>

#include <evpool.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

struct bufferevent;
struct event;
struct event_base;
struct evhttp;
struct evhttp_bound_socket;
struct evhttp_connection;
struct evhttp_request;

/* A growable byte buffer for job results.  The first sizeof(struct job_res)
 * bytes are reserved for the header that job_finish_bytes() fills in. */
struct outbuf {
	unsigned char *p;
	size_t len, cap;
	int oom;		/* an append failed: the result is incomplete */
};

struct job_res {
	int32_t err;		/* 0, or a negative errno value */
	uint32_t pad;
};

/* GET /files/<path>: read one chunk of a file under the root.  The first
 * request of a file has dev == ino == 0; later chunks pass the identity the
 * first one returned, and fail with -ESTALE if the path now names another
 * file. */
struct file_in {
	uint64_t offset;
	uint64_t dev, ino;
	uint32_t chunk;		/* bytes wanted; 0: only stat the file */
	uint16_t root_len;	/* followed by the root directory (no NUL) */
	uint16_t path_len;	/* then the path relative to it (no NUL) */
};

struct file_out {
	uint64_t size, dev, ino;
	int64_t mtime;
	uint32_t nread;		/* followed by nread bytes of data */
	uint32_t is_index;	/* a directory: its index.html was served */
	uint64_t data_at;	/* where the job read the data to (its
				 * address in the worker), for /stats */
};

/* POST /hash: PBKDF2-HMAC-SHA256; the result payload is the 32-byte key. */
struct hash_in {
	uint32_t iterations;
	uint32_t salt_len;	/* followed by the salt, then the password */
};
#define HASH_DK_LEN 32

/* GET /sleep: the input is a struct sleep_in, the result a JSON object. */
struct sleep_in {
	uint32_t ms;
};

/* GET /resolve: the input is the host name (no NUL), the result a JSON
 * object with its addresses. */

/* A unit of blocking work.  @ctx is NULL when it runs inline on the loop. */
typedef int (*work_fn)(struct evpool_ctx *ctx, const unsigned char *in,
		       size_t len, struct outbuf *out);

int work_hash(struct evpool_ctx *ctx, const unsigned char *in, size_t len,
	      struct outbuf *out);
int work_resolve(struct evpool_ctx *ctx, const unsigned char *in, size_t len,
		 struct outbuf *out);
int work_sleep(struct evpool_ctx *ctx, const unsigned char *in, size_t len,
	       struct outbuf *out);

/* GET /files: read the chunk @in asks for into @out: a struct job_res, a
 * struct file_out and the data, in one chain (the job's result evbuffer in
 * the pool).  Returns 0, or -ENOMEM if not even the outcome fits. */
struct evbuffer;
int work_file(const unsigned char *in, size_t len, struct evbuffer *out);

/* The same four as evpool job functions (hash, resolve and sleep run work_*
 * and store the result with evpool_ctx_set_result_bytes(); files write into
 * evpool_ctx_output()). */
int job_file(struct evpool_ctx *ctx);
int job_hash(struct evpool_ctx *ctx);
int job_resolve(struct evpool_ctx *ctx);
int job_sleep(struct evpool_ctx *ctx);
/* Result: one byte, 1 if the job ran in a worker process. */
int job_probe(struct evpool_ctx *ctx);

/* Run @fn on @in inline; on return @out holds header + payload. */
void work_run_inline(work_fn fn, const void *in, size_t len,
		     struct outbuf *out);

void outbuf_init(struct outbuf *ob);
void outbuf_free(struct outbuf *ob);
void outbuf_add(struct outbuf *ob, const void *data, size_t len);
void outbuf_printf(struct outbuf *ob, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Reserve @len bytes at the end and return them (NULL when out of memory). */
unsigned char *outbuf_reserve(struct outbuf *ob, size_t len);

/* Limits the loop checks before it submits (the jobs check them again). */
#define SLEEP_MAX_MS 10000u
#define HASH_MIN_ITER 1u
#define HASH_MAX_ITER 1000000u
#define HASH_DEFAULT_ITER 100000u
#define HASH_MAX_SALT 256u
#define HOST_MAX_LEN 253u
/* A file is read in chunks of this size: with the result's header and
 * libevent's chain header, one 128 KiB allocation. */
#define FILE_CHUNK (128u * 1024u - 512u)

/* https-tls.c */
struct tls_identity {
	X509 *cert;		/* NULL when loaded from files into the ctx */
	EVP_PKEY *key;
	char fingerprint[32 * 3];	/* "AB:CD:..." of the leaf certificate */
};

/* Make the server context: TLS 1.2 and 1.3 only, AEAD ciphers with forward
 * secrecy.  With @cert_file and @key_file NULL, a self-signed certificate
 * is generated in memory.  On failure prints why and returns NULL. */
SSL_CTX *tls_context_new(const char *cert_file, const char *key_file,
			 struct tls_identity *id);
void tls_identity_clear(struct tls_identity *id);

/* ------------------------------------------------------------------------ */
/* The server (https-server.c) and its HTTP side (https-http.c) */

struct opts {
	const char *bind, *root, *cert, *key;
	int port;
	/* Pool settings: the server's defaults, then EVPOOL_* variables,
	 * then --evpool-* options, then --mode/--workers/--queue/
	 * --job-timeout (each overwrites what it names). */
	struct evpool_config *cfg;
	int mode_set;		/* --mode given: its value is in mode */
	enum evpool_mode mode;
	int inline_work;
	unsigned processes;
	unsigned max_conns;
	size_t max_body, max_header;
	unsigned timeout_s, header_timeout_s, grace_s;
	int quiet;
};

struct rq;

/* The kinds of blocking work, each on a named queue of the pool with its
 * own workers and its own bound (--queue), so that a flood of one kind
 * (say /sleep) never delays another (/files). */
enum qkind { Q_FILES, Q_HASH, Q_RESOLVE, Q_SLEEP, Q_COUNT };
extern const char *const qkind_name[Q_COUNT];

struct conn {
	TAILQ_ENTRY(conn) link;
	struct server *srv;
	struct bufferevent *bev;
	struct evhttp_connection *evcon; /* known from its first request */
	struct event *deadline;		 /* head deadline (slowloris) */
	struct rq *active;		 /* the request being handled */
	int closing;			 /* evhttp is freeing it */
	int extended;			 /* this head's deadline was extended */
	int replied;			 /* our handshake reply went out */
	struct bufferevent *fbev;	 /* evhttp's: the framing filter */
	struct frame *fr;		 /* its state (https-frame.c) */
};

struct server {
	const struct opts *o;
	char root[PATH_MAX];
	struct event_base *base;
	struct evhttp *http;
	struct evhttp_bound_socket *bound;
	SSL_CTX *ssl;
	int port;	     /* the port we listen on */
	struct evpool *pool; /* NULL with --inline */
	struct evpool_queue *q[Q_COUNT];
	uint64_t qbusy[Q_COUNT]; /* 503s: that queue was full */
	int process_mode;    /* the pool's jobs run in worker processes */
	struct event *sig_int, *sig_term, *grace;
	TAILQ_HEAD(, conn) conns;
	unsigned nconns, nactive;
	uint64_t nrequests, nbusy, naborted;
	uint64_t nretries; /* stream chunks resubmitted: queue was full */
	uint64_t nrefused; /* requests refused by the framing filter */
	/* File chunks sent, and of those the ones that reached the TLS layer
	 * in the very memory the job read them into (thread mode, --inline;
	 * in process mode they cross into this process). */
	uint64_t nchunks, nchunks_in_place;
	int paused, draining, finished, pool_closed;
	struct timespec started;
};


/* https-http.c */
extern int conn_idx; /* SSL ex_data index of struct conn */
void on_request(struct evhttp_request *req, void *arg);	  /* gencb */
struct bufferevent *make_bev(struct event_base *base, void *arg); /* bevcb */
void conn_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx,
	       long argl, void *argp); /* ex_data free: a connection ends */
void arm_deadline(struct conn *c, int fuse);
int parse_num(const char *s, unsigned long long lo, unsigned long long hi,
	      unsigned long long *out);
double ms_since(const struct timespec *t0);

/* https-frame.c: strict framing in front of evhttp, clean TLS closes */
struct frame;
/* Wrap the TLS bufferevent of @c in the framing filter; NULL: no memory. */
struct bufferevent *frame_wrap(struct conn *c, struct bufferevent *tls);
void frame_free(struct frame *f);
/* evhttp has answered a request of @c (@one = 1; 0 only re-checks). */
void frame_answered(struct conn *c, unsigned one);
/* Close @c ourselves: once its output has drained, close_notify, half
 * close, drop its input for a moment, then shut the socket. */
void frame_close(struct conn *c);
int frame_closing(const struct conn *c);
/* close_notify now, if everything before it has been written. */
void tls_close_notify(struct conn *c);

/* https-server.c: leave the loop once draining and nothing is left. */
void check_drain_done(struct server *srv);

#endif
