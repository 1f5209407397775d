/*
 * https-jobs.c — the blocking work of the example HTTPS server.
 *
 * DESIGN
 * Each endpoint's work is a plain function (work_*) from input bytes to
 * result bytes; it never touches the loop or the HTTP request, so it can run
 * on a worker thread, in a worker process (nothing here holds a pointer that
 * came from the loop) or inline on the loop thread for --inline.  The job_*
 * wrappers adapt them to evpool_fn.  The layouts are in https-server.h.
 * Files are the bulk of the bytes, so work_file() writes into an evbuffer
 * (the job's evpool_ctx_output()): it pread()s the chunk straight into one
 * chain of it, and the loop moves that chain on to the TLS layer, which
 * encrypts from it.  No byte of a file is copied in user space in thread
 * mode, or on the loop in any mode (in process mode the library carries the
 * chain across: docs/evbuffer.md).  The other jobs' results are small.
 *
 * Files are opened beneath the root with openat2(RESOLVE_BENEATH), so a path
 * or symlink leaving the root fails with EXDEV (403) at the kernel, without
 * a check-then-open race.  Where openat2 is missing (Linux < 5.6, seccomp) the
 * file is opened and then the path the kernel actually opened
 * (/proc/self/fd/N) is checked to lie under the real root.
 */
#include "config.h"
#include "https-server.h"

#include <evpool.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#if defined(SYS_openat2) && defined(__has_include)
#if __has_include(<linux/openat2.h>)
#include <linux/openat2.h>
#define HAVE_OPENAT2 1
#endif
#endif

#include <event2/buffer.h>
#include <openssl/evp.h>
#include <pthread.h>

/* ------------------------------------------------------------------------ */
/* Result buffers */

void
outbuf_init(struct outbuf *ob)
{
	memset(ob, 0, sizeof(*ob));
	/* Room for the header; filled in when the job returns. */
	if (!outbuf_reserve(ob, sizeof(struct job_res)))
		ob->oom = 1;
}

void
outbuf_free(struct outbuf *ob)
{
	free(ob->p);
	memset(ob, 0, sizeof(*ob));
}

unsigned char *
outbuf_reserve(struct outbuf *ob, size_t len)
{
	unsigned char *at;

	if (ob->oom)
		return NULL;
	if (len > ob->cap - ob->len) {
		size_t cap = ob->cap ? ob->cap : 256;
		unsigned char *p;

		while (cap - ob->len < len) {
			if (cap > SIZE_MAX / 2) {
				ob->oom = 1;
				return NULL;
			}
			cap *= 2;
		}
		p = realloc(ob->p, cap);
		if (!p) {
			ob->oom = 1;
			return NULL;
		}
		ob->p = p;
		ob->cap = cap;
	}
	at = ob->p + ob->len;
	ob->len += len;
	return at;
}

void
outbuf_add(struct outbuf *ob, const void *data, size_t len)
{
	unsigned char *at = outbuf_reserve(ob, len);

	if (at && len)
		memcpy(at, data, len);
}

void
outbuf_printf(struct outbuf *ob, const char *fmt, ...)
{
	char small[256];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (n < 0) {
		ob->oom = 1;
		return;
	}
	if ((size_t)n < sizeof(small)) {
		outbuf_add(ob, small, (size_t)n);
		return;
	}
	{
		unsigned char *at = outbuf_reserve(ob, (size_t)n + 1);

		if (!at)
			return;
		va_start(ap, fmt);
		vsnprintf((char *)at, (size_t)n + 1, fmt, ap);
		va_end(ap);
		ob->len--; /* drop the NUL */
	}
}

/* Store the job's outcome in the header; an incomplete payload is dropped. */
static void
outbuf_seal(struct outbuf *ob, int err)
{
	struct job_res res = { 0, 0 };

	if (ob->oom) {
		/* outbuf_init() reserved the header unless the very first
		 * allocation failed; then there is nothing to seal. */
		if (!ob->p || ob->cap < sizeof(res))
			return;
		ob->oom = 0;
		ob->len = sizeof(res);
		err = -ENOMEM;
	}
	res.err = err;
	memcpy(ob->p, &res, sizeof(res));
}

static int
job_run(struct evpool_ctx *ctx, work_fn fn)
{
	struct outbuf ob;
	size_t len = 0;
	const void *in = evpool_ctx_input(ctx, &len);
	int r;

	outbuf_init(&ob);
	r = fn(ctx, in, len, &ob);
	outbuf_seal(&ob, r);
	if (!ob.p)
		return -ENOMEM;
	r = evpool_ctx_set_result_bytes(ctx, ob.p, ob.len);
	outbuf_free(&ob);
	return r;
}

/* The file job writes into the job's result evbuffer: the loop moves its
 * chain on without a copy (docs/evbuffer.md). */
int
job_file(struct evpool_ctx *ctx)
{
	size_t len = 0;
	const void *in = evpool_ctx_input(ctx, &len);
	struct evbuffer *out = evpool_ctx_output(ctx);

	if (!out)
		return -ENOMEM;
	return work_file(in, len, out);
}

int job_hash(struct evpool_ctx *ctx) { return job_run(ctx, work_hash); }
int job_resolve(struct evpool_ctx *ctx) { return job_run(ctx, work_resolve); }
int job_sleep(struct evpool_ctx *ctx) { return job_run(ctx, work_sleep); }

/* Asked once at start-up: where do this pool's jobs run?  (The mode may come
 * from EVPOOL_MODE or --evpool-mode, and a config cannot be read back.) */
int
job_probe(struct evpool_ctx *ctx)
{
	unsigned char in_process = evpool_ctx_pool(ctx) == NULL;

	return evpool_ctx_set_result_bytes(ctx, &in_process, 1);
}

void
work_run_inline(work_fn fn, const void *in, size_t len, struct outbuf *out)
{
	int r;

	outbuf_init(out);
	r = fn(NULL, in, len, out);
	outbuf_seal(out, r);
}

/* ------------------------------------------------------------------------ */
/* GET /files/<path> */

/* Copy a counted string out of the input, refusing embedded NULs. */
static int
copy_part(char *dst, size_t dstsize, const unsigned char *src, size_t len)
{
	if (len >= dstsize || memchr(src, '\0', len))
		return -EINVAL;
	memcpy(dst, src, len);
	dst[len] = '\0';
	return 0;
}

/* Is @path equal to @root or below it?  Both are canonical. */
static int
path_is_under(const char *path, const char *root)
{
	size_t n = strlen(root);

	if (strcmp(root, "/") == 0)
		return 1;
	return strncmp(path, root, n) == 0 &&
	       (path[n] == '\0' || path[n] == '/');
}

/* Fallback for kernels without openat2: open, then check what was opened. */
static int
open_then_check(int rootfd, const char *root, const char *path, int flags)
{
	char link[64], real[PATH_MAX], rroot[PATH_MAX];
	ssize_t n;
	int fd, e;

	fd = openat(rootfd, path, flags);
	if (fd < 0)
		return -errno;
	if (!realpath(root, rroot)) {
		e = -errno;
		close(fd);
		return e;
	}
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, real, sizeof(real) - 1);
	if (n < 0) {
		/* No /proc: resolve the name instead (racy, last resort). */
		char joined[PATH_MAX * 2];

		snprintf(joined, sizeof(joined), "%s/%s", root, path);
		if (!realpath(joined, real)) {
			e = -errno;
			close(fd);
			return e;
		}
	} else {
		real[n] = '\0';
	}
	if (!path_is_under(real, rroot)) {
		close(fd);
		return -EXDEV;
	}
	return fd;
}

static int
open_beneath(int rootfd, const char *root, const char *path)
{
	int flags = O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK;

#ifdef HAVE_OPENAT2
	struct open_how how;
	long fd;

	memset(&how, 0, sizeof(how));
	how.flags = (uint64_t)(unsigned int)flags;
	how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
	fd = syscall(SYS_openat2, rootfd, path, &how, sizeof(how));
	if (fd >= 0)
		return (int)fd;
	if (errno != ENOSYS && errno != EPERM)
		return -errno;
#endif
	return open_then_check(rootfd, root, path, flags);
}

/*
 * The root directory, opened once per process (O_PATH): thread workers share
 * it, each worker process opens its own at its first file job.  It saves an
 * open() and a close() per job; a server serves one root.
 */
static pthread_mutex_t root_lock = PTHREAD_MUTEX_INITIALIZER;
static int root_fd = -1;
static char root_name[PATH_MAX];

/* An fd of @root: the cached one (*@own = 0) or a new one (*@own = 1). */
static int
root_open(const char *root, int *own)
{
	int fd;

	*own = 0;
	pthread_mutex_lock(&root_lock);
	if (root_fd >= 0 && strcmp(root_name, root) == 0) {
		fd = root_fd;
		pthread_mutex_unlock(&root_lock);
		return fd;
	}
	fd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0 && root_fd < 0) {
		root_fd = fd;
		snprintf(root_name, sizeof(root_name), "%s", root);
	} else if (fd >= 0) {
		*own = 1;
	} else {
		fd = -errno;
	}
	pthread_mutex_unlock(&root_lock);
	return fd;
}

/* Open @fi's file: 0 and *@fdp, *@st filled, or a negative errno value. */
static int
file_open(const struct file_in *fi, const char *root, const char *path,
	  int *fdp, struct stat *st, struct file_out *fo)
{
	int rootfd, own, fd, r;

	*fdp = -1;
	if (path[0] == '/')
		return -EXDEV;
	rootfd = root_open(root, &own);
	if (rootfd < 0)
		return rootfd == -ENOENT ? -EIO : rootfd;
	fd = open_beneath(rootfd, root, path[0] ? path : ".");
	if (own)
		close(rootfd);
	if (fd < 0)
		return fd;
	if (fstat(fd, st) < 0)
		goto fail_errno;
	if (S_ISDIR(st->st_mode)) {
		/* A directory serves its index.html (never a symlink). */
		int ifd = openat(fd, "index.html", O_RDONLY | O_CLOEXEC |
				 O_NOCTTY | O_NONBLOCK | O_NOFOLLOW);

		r = errno == ELOOP ? -EACCES : -ENOENT;
		close(fd);
		if (ifd < 0)
			return r;
		fd = ifd;
		fo->is_index = 1;
		if (fstat(fd, st) < 0)
			goto fail_errno;
	}
	if (!S_ISREG(st->st_mode)) {
		close(fd);
		return -EACCES; /* FIFOs, devices, sockets: never */
	}
	if ((fi->dev || fi->ino) && ((uint64_t)st->st_dev != fi->dev ||
				     (uint64_t)st->st_ino != fi->ino)) {
		close(fd);
		return -ESTALE; /* replaced while we were streaming it */
	}
	*fdp = fd;
	return 0;
fail_errno:
	r = -errno;
	close(fd);
	return r;
}

int
work_file(const unsigned char *in, size_t len, struct evbuffer *out)
{
	struct {
		struct job_res res;
		struct file_out fo;
	} hdr;
	struct file_in fi;
	struct evbuffer_iovec v;
	struct stat st;
	char root[PATH_MAX], path[PATH_MAX];
	unsigned char *data;
	size_t want = 0;
	int fd = -1, r;

	memset(&hdr, 0, sizeof(hdr));
	if (len < sizeof(fi)) {
		r = -EINVAL;
		goto fail;
	}
	memcpy(&fi, in, sizeof(fi));
	in += sizeof(fi);
	len -= sizeof(fi);
	if ((size_t)fi.root_len + fi.path_len != len || fi.chunk > FILE_CHUNK ||
	    copy_part(root, sizeof(root), in, fi.root_len) < 0 ||
	    copy_part(path, sizeof(path), in + fi.root_len, fi.path_len) < 0) {
		r = -EINVAL;
		goto fail;
	}
	r = file_open(&fi, root, path, &fd, &st, &hdr.fo);
	if (r < 0)
		goto fail;
	hdr.fo.size = (uint64_t)st.st_size;
	hdr.fo.dev = (uint64_t)st.st_dev;
	hdr.fo.ino = (uint64_t)st.st_ino;
	hdr.fo.mtime = (int64_t)st.st_mtime;
	if (fi.offset < hdr.fo.size)
		want = fi.chunk < hdr.fo.size - fi.offset
			       ? fi.chunk : (size_t)(hdr.fo.size - fi.offset);
	/*
	 * Header and data go into one chain of @out, read straight into it by
	 * pread(): no copy in user space (the kernel's copy out of the page
	 * cache is the only one).  The chain moves from here to the TLS layer
	 * as it is.  (evbuffer_read() would do at most 4 KiB per call in
	 * libevent 2.1, and has no offset.)
	 */
	if (evbuffer_reserve_space(out, (ev_ssize_t)(sizeof(hdr) + want), &v,
				   1) != 1 || v.iov_len < sizeof(hdr) + want) {
		r = -ENOMEM;
		goto fail;
	}
	data = (unsigned char *)v.iov_base + sizeof(hdr);
	hdr.fo.data_at = (uint64_t)(uintptr_t)data;
	while (hdr.fo.nread < want) {
		ssize_t n = pread(fd, data + hdr.fo.nread, want - hdr.fo.nread,
				  (off_t)(fi.offset + hdr.fo.nread));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = -errno;
			goto fail;
		}
		if (n == 0)
			break; /* shrank under us: the loop sees a short read */
		hdr.fo.nread += (uint32_t)n;
	}
	close(fd);
	memcpy(v.iov_base, &hdr, sizeof(hdr));
	v.iov_len = sizeof(hdr) + hdr.fo.nread;
	return evbuffer_commit_space(out, &v, 1) == 0 ? 0 : -ENOMEM;
fail:
	if (fd >= 0)
		close(fd);
	/* Nothing was committed: @out holds only the outcome. */
	hdr.res.err = r;
	return evbuffer_add(out, &hdr.res, sizeof(hdr.res)) == 0 ? 0 : -ENOMEM;
}

/* ------------------------------------------------------------------------ */
/* POST /hash */

int
work_hash(struct evpool_ctx *ctx, const unsigned char *in, size_t len,
	  struct outbuf *out)
{
	struct hash_in hi;
	unsigned char *dk;

	(void)ctx;
	if (len < sizeof(hi))
		return -EINVAL;
	memcpy(&hi, in, sizeof(hi));
	if (hi.iterations < HASH_MIN_ITER || hi.iterations > HASH_MAX_ITER ||
	    hi.salt_len > HASH_MAX_SALT || hi.salt_len > len - sizeof(hi) ||
	    len - sizeof(hi) - hi.salt_len > INT_MAX)
		return -EINVAL;
	dk = outbuf_reserve(out, HASH_DK_LEN);
	if (!dk)
		return -ENOMEM;
	if (!PKCS5_PBKDF2_HMAC((const char *)in + sizeof(hi) + hi.salt_len,
			       (int)(len - sizeof(hi) - hi.salt_len),
			       in + sizeof(hi), (int)hi.salt_len,
			       (int)hi.iterations, EVP_sha256(), HASH_DK_LEN,
			       dk)) {
		out->len = sizeof(struct job_res);
		outbuf_printf(out, "PKCS5_PBKDF2_HMAC failed");
		return -EIO;
	}
	return 0;
}

/* ------------------------------------------------------------------------ */
/* GET /resolve?host= */

int
work_resolve(struct evpool_ctx *ctx, const unsigned char *in, size_t len,
	     struct outbuf *out)
{
	struct addrinfo hints, *res = NULL, *ai;
	char host[HOST_MAX_LEN + 1];
	char seen[16][INET6_ADDRSTRLEN];
	unsigned nseen = 0, i;
	int r;

	(void)ctx;
	if (len == 0 || copy_part(host, sizeof(host), in, len) < 0)
		return -EINVAL;
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	r = getaddrinfo(host, NULL, &hints, &res);
	if (r != 0) {
		int e = r == EAI_SYSTEM ? -errno : -EIO;

		outbuf_printf(out, "%s", gai_strerror(r));
		if (r == EAI_NONAME
#ifdef EAI_NODATA
		    || r == EAI_NODATA
#endif
		    )
			return -ENOENT;
		if (r == EAI_AGAIN)
			return -EAGAIN;
		if (r == EAI_MEMORY)
			return -ENOMEM;
		return e;
	}
	/* The host was checked to hold only [A-Za-z0-9.:_-]: no escaping. */
	outbuf_printf(out, "{\"host\":\"%s\",\"addresses\":[", host);
	for (ai = res; ai; ai = ai->ai_next) {
		char buf[INET6_ADDRSTRLEN];
		const void *a;

		if (ai->ai_family == AF_INET)
			a = &((struct sockaddr_in *)(void *)ai->ai_addr)->sin_addr;
		else if (ai->ai_family == AF_INET6)
			a = &((struct sockaddr_in6 *)(void *)ai->ai_addr)->sin6_addr;
		else
			continue;
		if (!inet_ntop(ai->ai_family, a, buf, sizeof(buf)))
			continue;
		for (i = 0; i < nseen; i++)
			if (strcmp(seen[i], buf) == 0)
				break;
		if (i < nseen || nseen == 16)
			continue;
		strcpy(seen[nseen], buf);
		outbuf_printf(out, "%s\"%s\"", nseen ? "," : "", buf);
		nseen++;
	}
	outbuf_printf(out, "]}\n");
	freeaddrinfo(res);
	return 0;
}

/* ------------------------------------------------------------------------ */
/* GET /sleep?ms= */

int
work_sleep(struct evpool_ctx *ctx, const unsigned char *in, size_t len,
	   struct outbuf *out)
{
	struct sleep_in si;
	uint32_t left;

	if (len != sizeof(si))
		return -EINVAL;
	memcpy(&si, in, sizeof(si));
	if (si.ms > SLEEP_MAX_MS)
		return -EINVAL;
	/* Sleep in slices so a cancelled job (shutdown) ends early. */
	for (left = si.ms; left > 0;) {
		uint32_t slice = left < 20 ? left : 20;
		struct timespec ts = { 0, (long)slice * 1000000L };

		if (ctx && evpool_ctx_cancelled(ctx))
			return -ECANCELED;
		while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
			;
		left -= slice;
	}
	outbuf_printf(out, "{\"slept_ms\":%u}\n", (unsigned)si.ms);
	return 0;
}
