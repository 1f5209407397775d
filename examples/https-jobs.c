/*
 * https-jobs.c — the blocking work of the example HTTPS server.
 *
 * DESIGN
 * Each endpoint's work is a plain function (work_*) from input bytes to
 * result bytes; it never touches libevent or the HTTP request, so it can run
 * on a worker thread, in a worker process (nothing here holds a pointer that
 * came from the loop) or inline on the loop thread for --inline.  The job_*
 * wrappers adapt them to evpool_fn.  The layouts are in https-server.h.
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

#include <openssl/evp.h>

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

int job_file(struct evpool_ctx *ctx) { return job_run(ctx, work_file); }
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

int
work_file(struct evpool_ctx *ctx, const unsigned char *in, size_t len,
	  struct outbuf *out)
{
	struct file_in fi;
	struct file_out fo;
	struct stat st;
	char root[PATH_MAX], path[PATH_MAX];
	unsigned char *data;
	size_t want;
	int rootfd = -1, fd = -1, r;

	(void)ctx;
	if (len < sizeof(fi))
		return -EINVAL;
	memcpy(&fi, in, sizeof(fi));
	in += sizeof(fi);
	len -= sizeof(fi);
	if ((size_t)fi.root_len + fi.path_len != len || fi.chunk > 4 * FILE_CHUNK)
		return -EINVAL;
	if (copy_part(root, sizeof(root), in, fi.root_len) < 0 ||
	    copy_part(path, sizeof(path), in + fi.root_len, fi.path_len) < 0)
		return -EINVAL;
	if (path[0] == '/')
		return -EXDEV;

	memset(&fo, 0, sizeof(fo));
	rootfd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0) {
		r = -errno;
		outbuf_printf(out, "root %s: %s", root, strerror(-r));
		return r == -ENOENT ? -EIO : r;
	}
	fd = open_beneath(rootfd, root, path[0] ? path : ".");
	if (fd < 0) {
		r = fd;
		goto out;
	}
	if (fstat(fd, &st) < 0) {
		r = -errno;
		goto out;
	}
	if (S_ISDIR(st.st_mode)) {
		/* A directory serves its index.html (never a symlink). */
		int ifd = openat(fd, "index.html", O_RDONLY | O_CLOEXEC |
				 O_NOCTTY | O_NONBLOCK | O_NOFOLLOW);

		if (ifd < 0) {
			r = errno == ELOOP ? -EACCES : -ENOENT;
			goto out;
		}
		close(fd);
		fd = ifd;
		fo.is_index = 1;
		if (fstat(fd, &st) < 0) {
			r = -errno;
			goto out;
		}
	}
	if (!S_ISREG(st.st_mode)) {
		r = -EACCES; /* FIFOs, devices, sockets: never */
		goto out;
	}
	if ((fi.dev || fi.ino) &&
	    ((uint64_t)st.st_dev != fi.dev || (uint64_t)st.st_ino != fi.ino)) {
		r = -ESTALE; /* replaced while we were streaming it */
		goto out;
	}
	fo.size = (uint64_t)st.st_size;
	fo.dev = (uint64_t)st.st_dev;
	fo.ino = (uint64_t)st.st_ino;
	fo.mtime = (int64_t)st.st_mtime;

	want = fi.chunk;
	if (fi.offset >= fo.size)
		want = 0;
	else if (want > fo.size - fi.offset)
		want = (size_t)(fo.size - fi.offset);
	data = outbuf_reserve(out, sizeof(fo) + want);
	if (!data) {
		r = -ENOMEM;
		goto out;
	}
	while (fo.nread < want) {
		ssize_t n = pread(fd, data + sizeof(fo) + fo.nread, want - fo.nread,
				  (off_t)(fi.offset + fo.nread));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = -errno;
			goto out;
		}
		if (n == 0)
			break; /* shrank under us: the loop sees a short read */
		fo.nread += (uint32_t)n;
	}
	out->len -= want - fo.nread;
	memcpy(out->p + sizeof(struct job_res), &fo, sizeof(fo));
	r = 0;
out:
	if (fd >= 0)
		close(fd);
	if (rootfd >= 0)
		close(rootfd);
	if (r < 0)
		out->len = sizeof(struct job_res);
	return r;
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
