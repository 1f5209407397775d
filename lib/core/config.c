/*
 * config.c — the pool configuration object.
 *
 * DESIGN: an opaque object with one setter per setting (libevent's
 * event_config style) so that settings can be added without breaking the
 * ABI.  evpool_new() copies it; a setter validates at once and says what is
 * wrong through evpool_errmsg(), so a bad value never reaches a pool.
 */
#include "core/evpool-internal.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CHECK_CFG(fn)                                                          \
	do {                                                                   \
		if (!cfg)                                                      \
			return evpool__err(-EINVAL, fn ": NULL config");       \
	} while (0)

unsigned
evpool__online_cpus(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	if (n < 1)
		return 1;
	if (n > EVPOOL__MAX_WORKERS)
		return EVPOOL__MAX_WORKERS;
	return (unsigned)n;
}

void
evpool__config_defaults(struct evpool_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->mode = EVPOOL_MODE_THREAD;
	cfg->idle_timeout_ms = 10000;
	strcpy(cfg->name, "evpool");
	cfg->notify = EVPOOL_NOTIFY_AUTO;
	cfg->emit_window = 64;
	evpool__remote_config_defaults(&cfg->remote);
}

struct evpool_config *
evpool_config_new(void)
{
	struct evpool_config *cfg = malloc(sizeof(*cfg));

	if (!cfg) {
		evpool__err(-ENOMEM, "evpool_config_new: out of memory");
		return NULL;
	}
	evpool__config_defaults(cfg);
	return cfg;
}

void
evpool_config_free(struct evpool_config *cfg)
{
	free(cfg);
}

int
evpool_config_set_mode(struct evpool_config *cfg, enum evpool_mode mode)
{
	CHECK_CFG("evpool_config_set_mode");
	if (mode != EVPOOL_MODE_THREAD && mode != EVPOOL_MODE_PROCESS)
		return evpool__err(-EINVAL,
				   "evpool_config_set_mode: unknown mode %d",
				   (int)mode);
	cfg->mode = mode;
	return 0;
}

int
evpool_config_set_workers(struct evpool_config *cfg, unsigned min_workers,
			  unsigned max_workers)
{
	unsigned max;

	CHECK_CFG("evpool_config_set_workers");
	if (max_workers > EVPOOL__MAX_WORKERS)
		return evpool__err(-EINVAL,
				   "max_workers must be 0..%d, got %u",
				   EVPOOL__MAX_WORKERS, max_workers);
	max = max_workers ? max_workers : evpool__online_cpus();
	if (min_workers > max)
		return evpool__err(-EINVAL,
				   "min_workers (%u) exceeds max_workers (%u)",
				   min_workers, max);
	cfg->min_workers = min_workers;
	cfg->max_workers = max_workers;
	return 0;
}

int
evpool_config_set_max_queued(struct evpool_config *cfg, size_t max_queued)
{
	CHECK_CFG("evpool_config_set_max_queued");
	cfg->max_queued = max_queued;
	return 0;
}

int
evpool_config_set_idle_timeout(struct evpool_config *cfg, unsigned ms)
{
	CHECK_CFG("evpool_config_set_idle_timeout");
	if (ms > 24u * 3600 * 1000)
		return evpool__err(-EINVAL,
				   "idle timeout must be at most 24 h, got %u ms",
				   ms);
	cfg->idle_timeout_ms = ms;
	return 0;
}

int
evpool_config_set_name(struct evpool_config *cfg, const char *prefix)
{
	size_t len;

	CHECK_CFG("evpool_config_set_name");
	if (!prefix)
		return evpool__err(-EINVAL, "evpool_config_set_name: NULL name");
	len = strlen(prefix);
	if (len == 0 || len > EVPOOL__NAME_MAX)
		return evpool__err(-EINVAL,
				   "thread name prefix must be 1..%d characters, got %zu",
				   EVPOOL__NAME_MAX, len);
	for (size_t i = 0; i < len; i++)
		if (!isprint((unsigned char)prefix[i]) || prefix[i] == '/')
			return evpool__err(-EINVAL,
					   "thread name prefix must be printable with no '/'");
	memcpy(cfg->name, prefix, len + 1);
	return 0;
}

int
evpool_config_set_notify(struct evpool_config *cfg, enum evpool_notify notify)
{
	CHECK_CFG("evpool_config_set_notify");
	if (notify != EVPOOL_NOTIFY_AUTO && notify != EVPOOL_NOTIFY_EVENTFD &&
	    notify != EVPOOL_NOTIFY_PIPE)
		return evpool__err(-EINVAL,
				   "evpool_config_set_notify: unknown mechanism %d",
				   (int)notify);
	cfg->notify = notify;
	return 0;
}

int
evpool_config_set_callbacks(struct evpool_config *cfg, evpool_done_cb done,
			    evpool_done_cb failed, void *arg)
{
	CHECK_CFG("evpool_config_set_callbacks");
	cfg->done_cb = done;
	cfg->failed_cb = failed;
	cfg->cb_arg = arg;
	return 0;
}

int
evpool_config_set_job_timeout(struct evpool_config *cfg, unsigned ms)
{
	CHECK_CFG("evpool_config_set_job_timeout");
	if (ms > (unsigned)INT32_MAX)
		return evpool__err(-EINVAL, "job timeout too large: %u ms", ms);
	cfg->job_timeout_ms = ms;
	return 0;
}

static int
set_hooks(struct evpool_config *cfg, evpool_worker_fn init,
	  evpool_worker_init_fn init_checked, evpool_worker_fn fini, void *arg)
{
	cfg->init = init;
	cfg->init_checked = init_checked;
	cfg->fini = fini;
	cfg->init_arg = arg;
	return 0;
}

int
evpool_config_set_job_deadline(struct evpool_config *cfg, unsigned ms)
{
	CHECK_CFG("evpool_config_set_job_deadline");
	if (ms > (unsigned)INT32_MAX)
		return evpool__err(-EINVAL, "job deadline too large: %u ms", ms);
	cfg->job_deadline_ms = ms;
	return 0;
}

int
evpool_config_set_result_free(struct evpool_config *cfg, evpool_free_fn fn)
{
	CHECK_CFG("evpool_config_set_result_free");
	cfg->result_free = fn;
	return 0;
}

int
evpool_config_set_initializer(struct evpool_config *cfg, evpool_worker_fn init,
			      evpool_worker_fn fini, void *arg)
{
	CHECK_CFG("evpool_config_set_initializer");
	return set_hooks(cfg, init, NULL, fini, arg);
}

int
evpool_config_set_worker_init(struct evpool_config *cfg,
			      evpool_worker_init_fn init, evpool_worker_fn fini,
			      void *arg)
{
	CHECK_CFG("evpool_config_set_worker_init");
	return set_hooks(cfg, NULL, init, fini, arg);
}

int
evpool__run_initializer(const struct evpool_config *cfg)
{
	if (cfg->init_checked)
		return cfg->init_checked(cfg->init_arg);
	if (cfg->init)
		cfg->init(cfg->init_arg);
	return 0;
}

int
evpool_config_set_default_fn(struct evpool_config *cfg, evpool_fn fn)
{
	CHECK_CFG("evpool_config_set_default_fn");
	cfg->default_fn = fn;
	return 0;
}

int
evpool_config_set_emit_window(struct evpool_config *cfg, unsigned n)
{
	CHECK_CFG("evpool_config_set_emit_window");
	if (n < 1 || n > 65536)
		return evpool__err(-EINVAL, "emit window must be 1..65536, got %u",
				   n);
	cfg->emit_window = n;
	return 0;
}
