/*
 * setup.c — process mode's options (evpool_config_set_max_jobs_per_worker(),
 * evpool_config_set_worker_rlimit()) and its pool-wide state: the fork
 * server and the executable ranges a job function must lie in, made by
 * ops->pool_start and freed by ops->pool_stop.
 */
#include "process/proxy.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <link.h>

/* ---- configuration ------------------------------------------------------- */

int
evpool_config_set_max_jobs_per_worker(struct evpool_config *cfg, unsigned n)
{
	if (!cfg)
		return evpool__err(-EINVAL,
				   "evpool_config_set_max_jobs_per_worker: NULL config");
	cfg->max_jobs_per_worker = n;
	return 0;
}

int
evpool_config_set_worker_rlimit(struct evpool_config *cfg, int resource,
				uint64_t limit)
{
	if (!cfg)
		return evpool__err(-EINVAL,
				   "evpool_config_set_worker_rlimit: NULL config");
	if (resource < 0 || resource >= RLIMIT_NLIMITS ||
	    resource >= EVPOOL__RLIMITS)
		return evpool__err(-EINVAL,
				   "evpool_config_set_worker_rlimit: unknown resource %d",
				   resource);
	cfg->rlimits[resource] = limit;
	cfg->rlimits_set |= 1u << resource;
	return 0;
}

/* ---- pool-wide state ----------------------------------------------------- */

static int
collect_xrange(struct dl_phdr_info *info, size_t size, void *arg)
{
	struct proc_pool *pp = arg;

	(void)size;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		struct xrange *xr;

		if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_X))
			continue;
		xr = realloc(pp->xr, (pp->nxr + 1) * sizeof(*xr));
		if (!xr)
			return 1;
		pp->xr = xr;
		xr[pp->nxr].lo = info->dlpi_addr + ph->p_vaddr;
		xr[pp->nxr].hi = info->dlpi_addr + ph->p_vaddr + ph->p_memsz;
		pp->nxr++;
	}
	return 0;
}

/* Is @p fn code that a worker process (a fork of the program as it was at
 * pool creation) has?  A function of a library dlopen()ed later is not. */
bool
evpool__proc_fn_in_workers(const struct proc_pool *pp, evpool_fn fn)
{
	uintptr_t a = (uintptr_t)fn;

	if (!pp->xr)
		return true; /* unknown: let the worker try */
	for (size_t i = 0; i < pp->nxr; i++)
		if (a >= pp->xr[i].lo && a < pp->xr[i].hi)
			return true;
	return false;
}

int
evpool__proc_pool_start(struct evpool *pool)
{
	struct proc_pool *pp = calloc(1, sizeof(*pp));
	int r;

	if (!pp)
		return evpool__err(-ENOMEM, "process pool: out of memory");
	if (dl_iterate_phdr(collect_xrange, pp) != 0) {
		free(pp->xr);
		pp->xr = NULL;
		pp->nxr = 0;
	}
	r = evpool__fs_start(&pp->fs, pool);
	if (r < 0) {
		free(pp->xr);
		free(pp);
		return r;
	}
	pool->mode_data = pp;
	return 0;
}

void
evpool__proc_pool_stop(struct evpool *pool)
{
	struct proc_pool *pp = pool->mode_data;

	if (!pp)
		return;
	evpool__fs_stop(&pp->fs);
	free(pp->xr);
	free(pp);
	pool->mode_data = NULL;
}
