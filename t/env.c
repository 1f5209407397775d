/*
 * env.c — a configuration from the environment and the command line
 * (ThreadRipper): every setting through EVPOOL_* and through --evpool-*
 * (both "=value" and "value" forms), every bad value refused with a message
 * naming the variable and the value, all or nothing, consumed arguments
 * removed, "--" respected, --evpool-help, and the precedence defaults <
 * environment < command line < explicit setter.  Then, in each mode, a pool
 * made from such a configuration.
 *
 * The configuration is opaque: this test reads its fields through the
 * library's private header.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/evpool-internal.h"

#include "tap.h"
#include "pyutil.h"

/* The configuration fields a setting writes, as text, for comparing. */
static void
show(const struct evpool_config *c, const char *var, char *out, size_t n)
{
	if (!strcmp(var, "EVPOOL_MODE"))
		snprintf(out, n, "%d", (int)c->mode);
	else if (!strcmp(var, "EVPOOL_MAX_WORKERS"))
		snprintf(out, n, "%u", c->max_workers);
	else if (!strcmp(var, "EVPOOL_MIN_WORKERS"))
		snprintf(out, n, "%u", c->min_workers);
	else if (!strcmp(var, "EVPOOL_MAX_QUEUED"))
		snprintf(out, n, "%zu", c->max_queued);
	else if (!strcmp(var, "EVPOOL_IDLE_TIMEOUT_MS"))
		snprintf(out, n, "%u", c->idle_timeout_ms);
	else if (!strcmp(var, "EVPOOL_NAME"))
		snprintf(out, n, "%s", c->name);
	else if (!strcmp(var, "EVPOOL_JOB_TIMEOUT_MS"))
		snprintf(out, n, "%u", c->job_timeout_ms);
	else if (!strcmp(var, "EVPOOL_JOB_DEADLINE_MS"))
		snprintf(out, n, "%u", c->job_deadline_ms);
	else if (!strcmp(var, "EVPOOL_NOTIFY"))
		snprintf(out, n, "%d", (int)c->notify);
	else if (!strcmp(var, "EVPOOL_EMIT_WINDOW"))
		snprintf(out, n, "%u", c->emit_window);
	else if (!strcmp(var, "EVPOOL_MAX_JOBS_PER_WORKER"))
		snprintf(out, n, "%u", c->max_jobs_per_worker);
	else
		bail("unknown variable %s", var);
}

/* Every setting, a good value, and what the field then reads. */
static const struct good {
	const char *var, *opt, *value, *want;
} goods[] = {
	{ "EVPOOL_MODE", "mode", "process", "1" },
	{ "EVPOOL_MODE", "mode", "Thread", "0" },
	{ "EVPOOL_MAX_WORKERS", "max-workers", "3", "3" },
	{ "EVPOOL_MAX_WORKERS", "max-workers", "4096", "4096" },
	{ "EVPOOL_MIN_WORKERS", "min-workers", "1", "1" },
	{ "EVPOOL_MIN_WORKERS", "min-workers", "0", "0" },
	{ "EVPOOL_MAX_QUEUED", "max-queued", "100", "100" },
	{ "EVPOOL_MAX_QUEUED", "max-queued", "0", "0" },
	{ "EVPOOL_IDLE_TIMEOUT_MS", "idle-timeout-ms", "1500", "1500" },
	{ "EVPOOL_NAME", "name", "web", "web" },
	{ "EVPOOL_NAME", "name", "ten_chars_", "ten_chars_" },
	{ "EVPOOL_JOB_TIMEOUT_MS", "job-timeout-ms", "250", "250" },
	{ "EVPOOL_JOB_DEADLINE_MS", "job-deadline-ms", "1500", "1500" },
	{ "EVPOOL_NOTIFY", "notify", "pipe", "2" },
	{ "EVPOOL_NOTIFY", "notify", "eventfd", "1" },
	{ "EVPOOL_NOTIFY", "notify", "auto", "0" },
	{ "EVPOOL_EMIT_WINDOW", "emit-window", "8", "8" },
	{ "EVPOOL_MAX_JOBS_PER_WORKER", "max-jobs-per-worker", "1000", "1000" },
	{ "EVPOOL_MAX_JOBS_PER_WORKER", "max-jobs-per-worker", "4294967295",
	  "4294967295" },
};
#define NGOODS (sizeof(goods) / sizeof(goods[0]))

/* Every kind of bad value, and the reason the message gives. */
static const struct badv {
	const char *var, *opt, *value, *why;
} bads[] = {
	{ "EVPOOL_MAX_WORKERS", "max-workers", "abc", "not a positive integer" },
	{ "EVPOOL_MAX_WORKERS", "max-workers", "", "not a positive integer" },
	{ "EVPOOL_MAX_WORKERS", "max-workers", "0", "not a positive integer" },
	{ "EVPOOL_MAX_WORKERS", "max-workers", "-1", "not a positive integer" },
	{ "EVPOOL_MAX_WORKERS", "max-workers", " 4", "not a positive integer" },
	{ "EVPOOL_MAX_WORKERS", "max-workers", "4x", "not a positive integer" },
	{ "EVPOOL_MAX_WORKERS", "max-workers", "1.5", "not a positive integer" },
	{ "EVPOOL_MAX_WORKERS", "max-workers", "4097", "out of range (1..4096)" },
	{ "EVPOOL_MAX_WORKERS", "max-workers", "99999999999999999999999",
	  "out of range (1..4096)" },
	{ "EVPOOL_MIN_WORKERS", "min-workers", "abc",
	  "not a non-negative integer" },
	{ "EVPOOL_MIN_WORKERS", "min-workers", "5000", "out of range (0..4096)" },
	{ "EVPOOL_MAX_QUEUED", "max-queued", "-5", "not a non-negative integer" },
	{ "EVPOOL_MAX_QUEUED", "max-queued", "99999999999999999999999",
	  "out of range (0..18446744073709551615)" },
	{ "EVPOOL_MODE", "mode", "threads", "not 'thread' or 'process'" },
	{ "EVPOOL_MODE", "mode", "", "not 'thread' or 'process'" },
	{ "EVPOOL_IDLE_TIMEOUT_MS", "idle-timeout-ms", "10s",
	  "not a non-negative integer" },
	{ "EVPOOL_IDLE_TIMEOUT_MS", "idle-timeout-ms", "86400001",
	  "out of range (0..86400000)" },
	{ "EVPOOL_NAME", "name", "", "not a name of 1..10 characters" },
	{ "EVPOOL_NAME", "name", "12345678901", "not a name of 1..10 characters" },
	{ "EVPOOL_NAME", "name", "a/b", "not printable, or has a '/'" },
	{ "EVPOOL_NAME", "name", "a\tb", "not printable, or has a '/'" },
	{ "EVPOOL_JOB_TIMEOUT_MS", "job-timeout-ms", "2147483648",
	  "out of range (0..2147483647)" },
	{ "EVPOOL_JOB_TIMEOUT_MS", "job-timeout-ms", "x",
	  "not a non-negative integer" },
	{ "EVPOOL_JOB_DEADLINE_MS", "job-deadline-ms", "2147483648",
	  "out of range (0..2147483647)" },
	{ "EVPOOL_NOTIFY", "notify", "epoll", "not 'auto', 'eventfd' or 'pipe'" },
	{ "EVPOOL_EMIT_WINDOW", "emit-window", "0", "not a positive integer" },
	{ "EVPOOL_EMIT_WINDOW", "emit-window", "65537",
	  "out of range (1..65536)" },
	{ "EVPOOL_MAX_JOBS_PER_WORKER", "max-jobs-per-worker", "4294967296",
	  "out of range (0..4294967295)" },
	{ "EVPOOL_MAX_JOBS_PER_WORKER", "max-jobs-per-worker", "y",
	  "not a non-negative integer" },
};
#define NBADS (sizeof(bads) / sizeof(bads[0]))

#define PER_MODE 2
#define PLAN (NGOODS * 3 + NBADS * 2 + 23 + PER_MODE * PY_NMODES)

static const char *const all_vars[] = {
	"EVPOOL_MODE", "EVPOOL_MAX_WORKERS", "EVPOOL_MIN_WORKERS",
	"EVPOOL_MAX_QUEUED", "EVPOOL_IDLE_TIMEOUT_MS", "EVPOOL_NAME",
	"EVPOOL_JOB_TIMEOUT_MS", "EVPOOL_JOB_DEADLINE_MS", "EVPOOL_NOTIFY",
	"EVPOOL_EMIT_WINDOW",
	"EVPOOL_MAX_JOBS_PER_WORKER",
};
#define NVARS (sizeof(all_vars) / sizeof(all_vars[0]))

static void
clear_env(void)
{
	for (size_t i = 0; i < NVARS; i++)
		unsetenv(all_vars[i]);
}

static struct evpool_config *
fresh(void)
{
	struct evpool_config *c = evpool_config_new();

	if (!c)
		bail("evpool_config_new");
	/* max_workers 4096 so that any min_workers is acceptable */
	if (evpool_config_set_workers(c, 0, 4096) < 0)
		bail("set_workers");
	return c;
}

/* Run evpool_config_from_argv on a copy of @p args; @return its result,
 * the resulting argc in *argcp and the argv in out[]. */
static int
run_argv(struct evpool_config *c, const char *const *args, int *argcp,
	 char **out)
{
	int argc = 0;

	while (args[argc]) {
		out[argc] = (char *)args[argc];
		argc++;
	}
	out[argc] = NULL;
	*argcp = argc;
	return evpool_config_from_argv(c, argcp, out);
}

static void
check_goods(void)
{
	char got[64], opt[80], *av[8];
	int argc, r;

	for (size_t i = 0; i < NGOODS; i++) {
		const struct good *g = &goods[i];
		struct evpool_config *c = fresh();

		clear_env();
		setenv(g->var, g->value, 1);
		r = evpool_config_from_env(c);
		show(c, g->var, got, sizeof(got));
		ok(r == 0 && !strcmp(got, g->want), "env %s=%s sets it (%s)",
		   g->var, g->value, got);
		unsetenv(g->var);
		evpool_config_free(c);

		c = fresh();
		snprintf(opt, sizeof(opt), "--evpool-%s=%s", g->opt, g->value);
		{
			const char *args[] = { "prog", opt, NULL };
			r = run_argv(c, args, &argc, av);
		}
		show(c, g->var, got, sizeof(got));
		ok(r == 0 && !strcmp(got, g->want) && argc == 1 && !av[1],
		   "%s sets it and is consumed", opt);
		evpool_config_free(c);

		c = fresh();
		snprintf(opt, sizeof(opt), "--evpool-%s", g->opt);
		{
			const char *args[] = { "prog", "a", opt, g->value, "b", NULL };
			r = run_argv(c, args, &argc, av);
		}
		show(c, g->var, got, sizeof(got));
		ok(r == 0 && !strcmp(got, g->want) && argc == 3 &&
		   !strcmp(av[1], "a") && !strcmp(av[2], "b") && !av[3],
		   "%s %s sets it, both words consumed, the rest kept in order",
		   opt, g->value);
		evpool_config_free(c);
	}
}

static void
check_bads(void)
{
	char want[200], opt[200], *av[8];
	int argc, r;

	for (size_t i = 0; i < NBADS; i++) {
		const struct badv *b = &bads[i];
		struct evpool_config *c = fresh();

		clear_env();
		setenv("EVPOOL_IDLE_TIMEOUT_MS", "777", 1);
		setenv(b->var, b->value, 1);
		r = evpool_config_from_env(c);
		snprintf(want, sizeof(want), "%s=%s: %s", b->var, b->value, b->why);
		if (!ok(r == -EINVAL && !strcmp(evpool_errmsg(), want) &&
			c->idle_timeout_ms == 10000,
			"env %s=\"%s\": refused, nothing applied: %s", b->var,
			b->value, evpool_errmsg()))
			diag("wanted: %s", want);
		clear_env();
		evpool_config_free(c);

		c = fresh();
		snprintf(opt, sizeof(opt), "--evpool-%s=%s", b->opt, b->value);
		{
			const char *args[] = { "prog", "--evpool-idle-timeout-ms=777",
					       opt, NULL };
			r = run_argv(c, args, &argc, av);
		}
		snprintf(want, sizeof(want), "--evpool-%s=%s: %s", b->opt,
			 b->value, b->why);
		if (!ok(r == -EINVAL && !strcmp(evpool_errmsg(), want) &&
			c->idle_timeout_ms == 10000 && argc == 3,
			"argv %s: refused, nothing applied or consumed", opt))
			diag("got %d: %s; wanted: %s", r, evpool_errmsg(), want);
		evpool_config_free(c);
	}
}

static void
check_rest(void)
{
	struct evpool_config *c;
	char *av[16], buf[4096];
	int argc, r, saved, fds[2];
	ssize_t n;

	/* min > max, in one source and across sources */
	c = fresh();
	clear_env();
	setenv("EVPOOL_MIN_WORKERS", "8", 1);
	setenv("EVPOOL_MAX_WORKERS", "4", 1);
	r = evpool_config_from_env(c);
	ok(r == -EINVAL &&
	   !strcmp(evpool_errmsg(),
		   "EVPOOL_MIN_WORKERS=8: exceeds EVPOOL_MAX_WORKERS=4"),
	   "env min 8 > max 4 refused: %s", evpool_errmsg());
	clear_env();
	setenv("EVPOOL_MIN_WORKERS", "3", 1);
	r = evpool_config_from_env(c);
	ok(r == 0 && c->min_workers == 3, "env min_workers 3 (max 4096)");
	clear_env();
	{
		const char *args[] = { "prog", "--evpool-max-workers=2", NULL };
		r = run_argv(c, args, &argc, av);
	}
	ok(r == -EINVAL &&
	   !strcmp(evpool_errmsg(), "--evpool-max-workers=2: below min_workers (3)") &&
	   c->max_workers == 4096,
	   "then argv max 2 < min 3 refused: %s", evpool_errmsg());
	evpool_config_free(c);

	/* precedence: defaults < env < argv < setter */
	c = evpool_config_new();
	ok(c && c->max_workers == 0 && !strcmp(c->name, "evpool"),
	   "defaults: max_workers 0 (CPUs), name evpool");
	setenv("EVPOOL_MAX_WORKERS", "3", 1);
	setenv("EVPOOL_NAME", "fromenv", 1);
	r = evpool_config_from_env(c);
	ok(r == 0 && c->max_workers == 3 && !strcmp(c->name, "fromenv"),
	   "environment over defaults");
	{
		const char *args[] = { "prog", "--evpool-max-workers", "5", NULL };
		r = run_argv(c, args, &argc, av);
	}
	ok(r == 0 && c->max_workers == 5 && !strcmp(c->name, "fromenv"),
	   "command line over environment; what it does not name stays");
	r = evpool_config_set_workers(c, 0, 7);
	ok(r == 0 && c->max_workers == 7, "explicit setter over command line");
	clear_env();
	evpool_config_free(c);

	/* unknown EVPOOL_ variables are left alone */
	c = fresh();
	setenv("EVPOOL_BENCH", "whatever", 1);
	setenv("EVPOOL_NO_SPIN", "1", 1);
	is_int(0, evpool_config_from_env(c),
	       "other EVPOOL_* variables are ignored");
	unsetenv("EVPOOL_BENCH");
	unsetenv("EVPOOL_NO_SPIN");
	is_int(0, evpool_config_from_env(c), "an empty environment is fine");

	/* argv mechanics */
	{
		const char *args[] = { "prog", "--evpool-max-workers=3", "-v",
				       "--evpool-name", "web", "file", "--",
				       "--evpool-mode=process", NULL };
		r = run_argv(c, args, &argc, av);
	}
	ok(r == 0 && argc == 5 && !strcmp(av[0], "prog") &&
	   !strcmp(av[1], "-v") && !strcmp(av[2], "file") &&
	   !strcmp(av[3], "--") && !strcmp(av[4], "--evpool-mode=process") &&
	   av[5] == NULL,
	   "consumed options leave the rest in order, argv[argc] NULL");
	ok(c->max_workers == 3 && !strcmp(c->name, "web") &&
	   c->mode == EVPOOL_MODE_THREAD,
	   "... applied the options before \"--\", not the one after");
	{
		const char *args[] = { "prog", "x", "--evpool-name", NULL };
		r = run_argv(c, args, &argc, av);
	}
	ok(r == -EINVAL && argc == 3 &&
	   !strcmp(evpool_errmsg(),
		   "--evpool-name: missing value (--evpool-name=PREFIX)"),
	   "a missing value is refused: %s", evpool_errmsg());
	{
		const char *args[] = { "prog", "--evpool-bogus=1", NULL };
		r = run_argv(c, args, &argc, av);
	}
	ok(r == -EINVAL && argc == 2 &&
	   !strcmp(evpool_errmsg(),
		   "--evpool-bogus: unknown option (see --evpool-help)"),
	   "an unknown --evpool- option is refused: %s", evpool_errmsg());
	{
		const char *args[] = { "prog", "--evpoolish", "-evpool-mode=x",
				       NULL };
		r = run_argv(c, args, &argc, av);
	}
	ok(r == 0 && argc == 3, "look-alike arguments are not ours");
	{
		const char *args[] = { "prog", NULL };
		r = run_argv(c, args, &argc, av);
	}
	ok(r == 0 && argc == 1, "no arguments: nothing to do");
	argc = 0;
	is_int(0, evpool_config_from_argv(c, &argc, NULL), "argc 0, argv NULL");
	is_int(-EINVAL, evpool_config_from_argv(c, NULL, av), "NULL argc");
	is_int(-EINVAL, evpool_config_from_argv(NULL, &argc, av), "NULL config");
	is_int(-EINVAL, evpool_config_from_env(NULL), "from_env on NULL");

	/* --evpool-help: printed to stdout, a distinct code */
	fflush(stdout);
	if (pipe(fds) < 0)
		sysbail("pipe");
	saved = dup(STDOUT_FILENO);
	dup2(fds[1], STDOUT_FILENO);
	{
		const char *args[] = { "prog", "--evpool-max-workers=9",
				       "--evpool-help", NULL };
		r = run_argv(c, args, &argc, av);
	}
	fflush(stdout);
	dup2(saved, STDOUT_FILENO);
	close(saved);
	close(fds[1]);
	n = read(fds[0], buf, sizeof(buf) - 1);
	close(fds[0]);
	buf[n > 0 ? n : 0] = '\0';
	is_int(EVPOOL_CONFIG_HELP, r, "--evpool-help returns EVPOOL_CONFIG_HELP");
	ok(argc == 3 && c->max_workers == 3,
	   "... and applies and consumes nothing");
	ok(strcmp(buf, evpool_config_usage()) == 0,
	   "... having printed evpool_config_usage() to stdout");
	{
		int all = 1;
		for (size_t i = 0; i < NVARS; i++)
			if (!strstr(buf, all_vars[i]))
				all = 0;
		for (size_t i = 0; i < NGOODS; i++) {
			char o[64];
			snprintf(o, sizeof(o), "--evpool-%s=", goods[i].opt);
			if (!strstr(buf, o))
				all = 0;
		}
		ok(all && strstr(buf, "--evpool-help"),
		   "the help lists every variable and option");
	}
	evpool_config_free(c);
}

static void
check_mode(const struct py_mode *m)
{
	struct evpool_config *c = evpool_config_new();
	struct evpool *pool;
	struct evpool_stats st;
	struct py_task t = py_task_value(6);
	struct evpool_item item = EVPOOL_ITEM_BYTES(&t, sizeof(t));
	struct evpool_result res;
	int r;

	clear_env();
	setenv("EVPOOL_MODE", m->name, 1);
	setenv("EVPOOL_MAX_WORKERS", "3", 1);
	setenv("EVPOOL_NAME", "envpool", 1);
	r = evpool_config_from_env(c);
	clear_env();
	if (r < 0)
		bail("from_env: %s", evpool_errmsg());
	r = evpool_new(&pool, NULL, c);
	evpool_config_free(c);
	if (r == -EINVAL && m->mode == EVPOOL_MODE_PROCESS) {
		skip(PER_MODE, "process mode refused: %s", evpool_errmsg());
		return;
	}
	if (r < 0)
		bail("evpool_new: %s", evpool_errmsg());
	evpool_get_stats(pool, &st);
	is_int(3, st.max_workers, "%s: a pool made from EVPOOL_MODE=%s "
	       "EVPOOL_MAX_WORKERS=3 has 3 workers at most", m->name, m->name);
	r = evpool_apply(pool, py_task_fn, &item, &res);
	ok(r == 0 && py_int(res.data, res.len) == 36, "%s: ... and runs jobs",
	   m->name);
	evpool_result_release(&res);
	evpool_free(pool);
}

int
main(void)
{
	plan(PLAN);
	check_goods();
	check_bads();
	check_rest();
	for (size_t i = 0; i < PY_NMODES; i++)
		check_mode(&py_modes[i]);
	return 0;
}
