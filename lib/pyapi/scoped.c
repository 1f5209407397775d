/*
 * scoped.c — the context-manager form: cleanup functions for GCC/Clang's
 * cleanup attribute (EVPOOL_SCOPED, EVPOOL_SCOPED_CONFIG, EVPOOL_SCOPED_JOB).
 *
 * DESIGN: the end of an EVPOOL_SCOPED scope closes the pool, waits for every
 * submitted job (evpool_join(-1)) and frees it, which delivers every
 * completion still owed: the behaviour people expect from a scope, the
 * work they handed in gets done.  Ending a scope by cancelling queued work
 * instead would be a surprise; a caller who wants that calls
 * evpool_terminate() before leaving the scope, and the join is then
 * immediate.
 */
#include "pyapi/pyapi-internal.h"

void
evpool_scoped_free(struct evpool **poolp)
{
	struct evpool *pool;

	if (!poolp || !(pool = *poolp))
		return;
	*poolp = NULL;
	evpool_close(pool);
	evpool_join(pool, -1);
	evpool_free(pool);
}

void
evpool_scoped_config_free(struct evpool_config **cfgp)
{
	if (!cfgp)
		return;
	evpool_config_free(*cfgp);
	*cfgp = NULL;
}

void
evpool_scoped_job_unref(struct evpool_job **jobp)
{
	if (!jobp)
		return;
	evpool_job_unref(*jobp);
	*jobp = NULL;
}
