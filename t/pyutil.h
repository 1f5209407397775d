/*
 * pyutil.h — helpers shared by the tests of the Python-style API (issue 3):
 * the mode loop, and job functions that work the same on a worker thread
 * and in a worker process.
 *
 * DESIGN
 *  Every check runs once per mode: py_pool() makes the pool, and when a
 *  build refuses process mode the caller skips that mode's checks
 *  ("ok N # skip"), so the plans stay exact and the same tests run in both
 *  modes once process mode exists.
 *
 *  A job in a worker process shares no memory and no file descriptor with
 *  the test (the fork server closes them), so jobs take their instructions
 *  as bytes (struct py_task) and talk back through the FILE SYSTEM: a job
 *  blocks until a "gate" file exists, and appends a byte to a "mark" file to
 *  say it has started.  Results travel as bytes.  Only checks about pointers
 *  are mode-specific (and expect -EINVAL in process mode).
 */
#ifndef EVPOOL_T_PYUTIL_H
#define EVPOOL_T_PYUTIL_H

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <evpool.h>

#include "tap.h"

struct py_mode {
	enum evpool_mode mode;
	const char *name;
};

static const struct py_mode py_modes[] = {
	{ EVPOOL_MODE_THREAD, "thread" },
	{ EVPOOL_MODE_PROCESS, "process" },
};
#define PY_NMODES (sizeof(py_modes) / sizeof(py_modes[0]))

/* Make a pool of @p mode.  @return 0, or -1 when the build refuses the mode
 * (the reason is in py_skip_reason); any other failure bails out. */
static char py_skip_reason[256];

static __attribute__((unused)) int
py_pool_cfg(enum evpool_mode mode, struct event_base *base,
	    struct evpool_config *cfg, struct evpool **pp)
{
	int r;

	if (evpool_config_set_mode(cfg, mode) < 0)
		bail("evpool_config_set_mode: %s", evpool_errmsg());
	r = evpool_new(pp, base, cfg);
	if (r == -EINVAL && mode == EVPOOL_MODE_PROCESS) {
		snprintf(py_skip_reason, sizeof(py_skip_reason),
			 "process mode refused: %s", evpool_errmsg());
		return -1;
	}
	if (r < 0)
		bail("evpool_new(%d): %s: %s", (int)mode, evpool_strerror(r),
		     evpool_errmsg());
	return 0;
}

static __attribute__((unused)) int
py_pool(enum evpool_mode mode, struct event_base *base, unsigned max_workers,
	size_t max_queued, struct evpool **pp)
{
	struct evpool_config *cfg = evpool_config_new();
	int r;

	if (!cfg)
		bail("evpool_config_new");
	if (evpool_config_set_workers(cfg, 0, max_workers) < 0 ||
	    evpool_config_set_max_queued(cfg, max_queued) < 0 ||
	    evpool_config_set_idle_timeout(cfg, 60000) < 0)
		bail("config: %s", evpool_errmsg());
	r = py_pool_cfg(mode, base, cfg, pp);
	evpool_config_free(cfg);
	return r;
}

/* ---- the file system as a channel --------------------------------------- */

static char py_dir[128];

static __attribute__((unused)) void
py_dir_init(const char *test)
{
	const char *tmp = getenv("TMPDIR");

	snprintf(py_dir, sizeof(py_dir), "%s/evpool-%s-XXXXXX",
		 tmp && *tmp ? tmp : "/tmp", test);
	if (!mkdtemp(py_dir))
		sysbail("mkdtemp %s", py_dir);
}

static __attribute__((unused)) void
py_path(char *buf, size_t n, const char *name)
{
	snprintf(buf, n, "%s/%s", py_dir, name);
}

static __attribute__((unused)) void
py_touch(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);

	if (fd < 0)
		sysbail("open %s", path);
	close(fd);
}

static __attribute__((unused)) long
py_size(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 ? (long)st.st_size : -1;
}

static __attribute__((unused)) void
py_dir_cleanup(void)
{
	char cmd[256];
	int r;

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", py_dir);
	r = system(cmd);
	(void)r;
}

/* Append one byte to @p path (async-signal and process safe enough). */
static __attribute__((unused)) void
py_mark(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);

	if (fd >= 0) {
		ssize_t w = write(fd, "x", 1);
		(void)w;
		close(fd);
	}
}

/* Wait until @p path exists; -ETIMEDOUT after 60 s (a broken test must
 * not hang a worker for ever). */
static __attribute__((unused)) int
py_gate_wait(const char *path)
{
	for (int i = 0; i < 60000; i++) {
		if (access(path, F_OK) == 0)
			return 0;
		usleep(1000);
	}
	return -ETIMEDOUT;
}

/* ---- a job that works in both modes ------------------------------------- */

/* What a py_task_fn job does, given as its byte input (or, in thread mode,
 * as its pointer input). */
struct py_task {
	int32_t value;		/* result: value * value, as int32 bytes */
	int32_t fail;		/* nonzero: return this status instead */
	int32_t sleep_ms;	/* sleep first */
	int32_t pad;
	char gate[120];		/* if set: wait until this file exists */
	char mark[120];		/* if set: append a byte here when started */
};

static __attribute__((unused)) int
py_task_fn(struct evpool_ctx *ctx)
{
	const struct py_task *t;
	size_t len = 0;
	int32_t sq;

	t = evpool_ctx_input(ctx, &len);
	if (!t || len != sizeof(*t))
		t = evpool_ctx_arg(ctx);
	if (!t)
		return -EINVAL;
	if (t->mark[0])
		py_mark(t->mark);
	if (t->gate[0] && py_gate_wait(t->gate) < 0)
		return -ETIMEDOUT;
	if (t->sleep_ms)
		usleep((useconds_t)t->sleep_ms * 1000);
	if (t->fail)
		return t->fail;
	sq = t->value * t->value;
	return evpool_ctx_set_result_bytes(ctx, &sq, sizeof(sq));
}

/* The int32 a py_task_fn result holds, or INT32_MIN. */
static __attribute__((unused)) int32_t
py_int(const void *data, size_t len)
{
	int32_t v;

	if (!data || len != sizeof(v))
		return INT32_MIN;
	memcpy(&v, data, sizeof(v));
	return v;
}

static __attribute__((unused)) struct py_task
py_task_value(int32_t value)
{
	struct py_task t;

	memset(&t, 0, sizeof(t));
	t.value = value;
	return t;
}

static __attribute__((unused)) struct py_task
py_task_gated(int32_t value, const char *gate, const char *mark)
{
	struct py_task t = py_task_value(value);

	if (gate)
		snprintf(t.gate, sizeof(t.gate), "%s", gate);
	if (mark)
		snprintf(t.mark, sizeof(t.mark), "%s", mark);
	return t;
}

#endif /* EVPOOL_T_PYUTIL_H */
