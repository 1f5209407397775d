/*
 * env-argv.c — a pool configuration from the environment (EVPOOL_*) and
 * the command line (--evpool-*): evpool_config_from_env(),
 * evpool_config_from_argv(), evpool_config_usage().
 *
 * DESIGN: one table lists every setting once: its variable, its option, its
 * kind and range, and its help line; the environment reader, the argv
 * reader and the --evpool-help text are all driven by it, so they cannot
 * drift apart.  Both readers work in two steps: parse every value into a
 * `pending` record (a bad value stops there, naming the variable and the
 * value: "EVPOOL_MAX_WORKERS=abc: not a positive integer"), then apply the
 * record to a COPY of the configuration through the public setters (which
 * check the combinations, min_workers <= max_workers), and only then
 * overwrite the caller's.  So a call either applies everything it read or
 * nothing, never half.
 *
 * Precedence (defaults < environment < command line < explicit setters)
 * is not a rule coded here: each source overwrites only the settings it
 * names, so calling them in that order gives it.
 *
 * The parsers are pure functions of their input — evpool__config_from_environ()
 * takes an environ-style array and evpool__config_parse_argv() prints
 * nothing — which is what a fuzzer needs.  Integers are strict decimal:
 * digits only, no sign, no spaces, no trailing text, no overflow.
 */
#include "pyapi/pyapi-internal.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

enum kind {
	K_COUNT,	/* an integer in [min, max] */
	K_MODE,
	K_NOTIFY,
	K_NAME,
};

enum id {
	S_MODE,
	S_MAX_WORKERS,
	S_MIN_WORKERS,
	S_MAX_QUEUED,
	S_IDLE_TIMEOUT_MS,
	S_NAME,
	S_JOB_TIMEOUT_MS,
	S_JOB_DEADLINE_MS,
	S_NOTIFY,
	S_EMIT_WINDOW,
	S_MAX_JOBS_PER_WORKER,
	S_COUNT
};

struct setting {
	enum id id;
	const char *env;	/* EVPOOL_... */
	const char *opt;	/* after "--evpool-" */
	enum kind kind;
	unsigned long long min, max;
	const char *arg;	/* the value's shape, for the help */
	const char *help;
};

#define U32 4294967295ull

static const struct setting settings[] = {
	{ S_MODE, "EVPOOL_MODE", "mode", K_MODE, 0, 0, "thread|process",
	  "where jobs run (default thread)" },
	{ S_MAX_WORKERS, "EVPOOL_MAX_WORKERS", "max-workers", K_COUNT, 1, 4096,
	  "N", "most workers of the default queue, 1..4096 (default: CPUs)" },
	{ S_MIN_WORKERS, "EVPOOL_MIN_WORKERS", "min-workers", K_COUNT, 0, 4096,
	  "N", "workers started at once and kept, 0..4096 (default 0)" },
	{ S_MAX_QUEUED, "EVPOOL_MAX_QUEUED", "max-queued", K_COUNT, 0,
	  (unsigned long long)SIZE_MAX, "N",
	  "most queued jobs per queue, 0 = unbounded (default)" },
	{ S_IDLE_TIMEOUT_MS, "EVPOOL_IDLE_TIMEOUT_MS", "idle-timeout-ms", K_COUNT,
	  0, 86400000, "MS", "idle workers above min exit after MS (default 10000)" },
	{ S_NAME, "EVPOOL_NAME", "name", K_NAME, 0, 0, "PREFIX",
	  "worker thread name prefix, 1..10 characters, no '/' (default evpool)" },
	{ S_JOB_TIMEOUT_MS, "EVPOOL_JOB_TIMEOUT_MS", "job-timeout-ms", K_COUNT, 0,
	  2147483647, "MS", "default job timeout from its start, 0 = none (default)" },
	{ S_JOB_DEADLINE_MS, "EVPOOL_JOB_DEADLINE_MS", "job-deadline-ms", K_COUNT, 0,
	  2147483647, "MS",
	  "default job deadline from its submit, queue time included, 0 = none (default)" },
	{ S_NOTIFY, "EVPOOL_NOTIFY", "notify", K_NOTIFY, 0, 0,
	  "auto|eventfd|pipe", "how workers wake the loop (default auto)" },
	{ S_EMIT_WINDOW, "EVPOOL_EMIT_WINDOW", "emit-window", K_COUNT, 1, 65536,
	  "N", "partial results of a job waiting for the loop, 1..65536 (default 64)" },
	{ S_MAX_JOBS_PER_WORKER, "EVPOOL_MAX_JOBS_PER_WORKER",
	  "max-jobs-per-worker", K_COUNT, 0, U32, "N",
	  "process mode: replace a worker after N jobs, 0 = never (default)" },
};
#define NSETTINGS (sizeof(settings) / sizeof(settings[0]))

/* What one source said. */
struct pending {
	bool set[S_COUNT];
	unsigned long long num[S_COUNT];
	int choice[S_COUNT];		/* K_MODE, K_NOTIFY */
	char name[EVPOOL__NAME_MAX + 1];
	char shown[S_COUNT][48];	/* "EVPOOL_X" or "--evpool-x", for messages */
	char value[S_COUNT][24];	/* the value as given (cut), for messages */
};

/* Strict decimal.  @return 0, or -1 (not digits / empty), -2 (overflow). */
static int
parse_decimal(const char *s, unsigned long long *out)
{
	unsigned long long v = 0;

	if (!*s)
		return -1;
	for (; *s; s++) {
		unsigned d;

		if (*s < '0' || *s > '9')
			return -1;
		d = (unsigned)(*s - '0');
		if (v > (~0ull - d) / 10)
			return -2;
		v = v * 10 + d;
	}
	*out = v;
	return 0;
}

static int
bad(const char *shown, const char *value, const char *why)
{
	return evpool__err(-EINVAL, "%s=%.64s%s: %s", shown, value,
			   strlen(value) > 64 ? "..." : "", why);
}

/* Parse @p value for @p s into @p p.  @p shown names the source. */
static int
parse_one(const struct setting *s, const char *shown, const char *value,
	  struct pending *p)
{
	unsigned long long v = 0;
	char why[80];
	int r;

	switch (s->kind) {
	case K_COUNT:
		r = parse_decimal(value, &v);
		if (r == 0 && v == 0 && s->min > 0)
			r = -1; /* 0 is not positive: say so, not "range" */
		if (r == -1)
			return bad(shown, value, s->min > 0
				   ? "not a positive integer"
				   : "not a non-negative integer");
		if (r == -2 || v < s->min || v > s->max) {
			snprintf(why, sizeof(why), "out of range (%llu..%llu)",
				 s->min, s->max);
			return bad(shown, value, why);
		}
		p->num[s->id] = v;
		break;
	case K_MODE:
		if (strcasecmp(value, "thread") == 0)
			p->choice[s->id] = EVPOOL_MODE_THREAD;
		else if (strcasecmp(value, "process") == 0)
			p->choice[s->id] = EVPOOL_MODE_PROCESS;
		else
			return bad(shown, value, "not 'thread' or 'process'");
		break;
	case K_NOTIFY:
		if (strcasecmp(value, "auto") == 0)
			p->choice[s->id] = EVPOOL_NOTIFY_AUTO;
		else if (strcasecmp(value, "eventfd") == 0)
			p->choice[s->id] = EVPOOL_NOTIFY_EVENTFD;
		else if (strcasecmp(value, "pipe") == 0)
			p->choice[s->id] = EVPOOL_NOTIFY_PIPE;
		else
			return bad(shown, value, "not 'auto', 'eventfd' or 'pipe'");
		break;
	case K_NAME: {
		size_t len = strlen(value);

		if (len == 0 || len > EVPOOL__NAME_MAX)
			return bad(shown, value,
				   "not a name of 1..10 characters");
		for (size_t i = 0; i < len; i++)
			if (!isprint((unsigned char)value[i]) || value[i] == '/')
				return bad(shown, value,
					   "not printable, or has a '/'");
		memcpy(p->name, value, len + 1);
		break;
	}
	}
	p->set[s->id] = true;
	snprintf(p->shown[s->id], sizeof(p->shown[s->id]), "%s", shown);
	snprintf(p->value[s->id], sizeof(p->value[s->id]), "%s", value);
	return 0;
}

/* Apply @p p to @p cfg, all or nothing. */
static int
apply(struct evpool_config *cfg, const struct pending *p)
{
	struct evpool_config tmp = *cfg;
	int r = 0;

	if (p->set[S_MAX_WORKERS] || p->set[S_MIN_WORKERS]) {
		unsigned min = p->set[S_MIN_WORKERS]
			       ? (unsigned)p->num[S_MIN_WORKERS] : tmp.min_workers;
		unsigned max = p->set[S_MAX_WORKERS]
			       ? (unsigned)p->num[S_MAX_WORKERS] : tmp.max_workers;

		if (evpool_config_set_workers(&tmp, min, max) < 0) {
			unsigned rmax = max ? max : evpool__online_cpus();

			if (p->set[S_MIN_WORKERS] && p->set[S_MAX_WORKERS])
				return evpool__err(-EINVAL,
						   "%s=%s: exceeds %s=%s",
						   p->shown[S_MIN_WORKERS],
						   p->value[S_MIN_WORKERS],
						   p->shown[S_MAX_WORKERS],
						   p->value[S_MAX_WORKERS]);
			if (p->set[S_MIN_WORKERS])
				return evpool__err(-EINVAL,
						   "%s=%s: exceeds max_workers (%u%s)",
						   p->shown[S_MIN_WORKERS],
						   p->value[S_MIN_WORKERS], rmax,
						   max ? "" : ", the online CPUs");
			return evpool__err(-EINVAL,
					   "%s=%s: below min_workers (%u)",
					   p->shown[S_MAX_WORKERS],
					   p->value[S_MAX_WORKERS], min);
		}
	}
	if (p->set[S_MODE])
		r = evpool_config_set_mode(&tmp, (enum evpool_mode)p->choice[S_MODE]);
	if (r == 0 && p->set[S_MAX_QUEUED])
		r = evpool_config_set_max_queued(&tmp, (size_t)p->num[S_MAX_QUEUED]);
	if (r == 0 && p->set[S_IDLE_TIMEOUT_MS])
		r = evpool_config_set_idle_timeout(&tmp,
						   (unsigned)p->num[S_IDLE_TIMEOUT_MS]);
	if (r == 0 && p->set[S_NAME])
		r = evpool_config_set_name(&tmp, p->name);
	if (r == 0 && p->set[S_JOB_TIMEOUT_MS])
		r = evpool_config_set_job_timeout(&tmp,
						  (unsigned)p->num[S_JOB_TIMEOUT_MS]);
	if (r == 0 && p->set[S_JOB_DEADLINE_MS])
		r = evpool_config_set_job_deadline(&tmp,
						   (unsigned)p->num[S_JOB_DEADLINE_MS]);
	if (r == 0 && p->set[S_NOTIFY])
		r = evpool_config_set_notify(&tmp,
					     (enum evpool_notify)p->choice[S_NOTIFY]);
	if (r == 0 && p->set[S_EMIT_WINDOW])
		r = evpool_config_set_emit_window(&tmp,
						  (unsigned)p->num[S_EMIT_WINDOW]);
	if (r < 0)
		return r; /* the table's ranges are the setters': not reached */
	if (p->set[S_MAX_JOBS_PER_WORKER])
		tmp.max_jobs_per_worker = (unsigned)p->num[S_MAX_JOBS_PER_WORKER];
	*cfg = tmp;
	return 0;
}

/* ---- environment -------------------------------------------------------- */

int
evpool__config_from_environ(struct evpool_config *cfg, char *const *envp)
{
	struct pending p;

	if (!cfg)
		return evpool__err(-EINVAL, "evpool_config_from_env: NULL config");
	memset(&p, 0, sizeof(p));
	for (; envp && *envp; envp++) {
		const char *e = *envp, *eq = strchr(e, '=');

		if (!eq || strncmp(e, "EVPOOL_", 7) != 0)
			continue;
		for (size_t i = 0; i < NSETTINGS; i++) {
			const struct setting *s = &settings[i];
			size_t len = strlen(s->env);
			int r;

			if ((size_t)(eq - e) != len || strncmp(e, s->env, len))
				continue;
			r = parse_one(s, s->env, eq + 1, &p);
			if (r < 0)
				return r;
			break;
		}
	}
	return apply(cfg, &p);
}

int
evpool_config_from_env(struct evpool_config *cfg)
{
	return evpool__config_from_environ(cfg, environ);
}

/* ---- command line ------------------------------------------------------- */

#define OPT_PREFIX "--evpool-"
#define OPT_PREFIX_LEN (sizeof(OPT_PREFIX) - 1)

int
evpool__config_parse_argv(struct evpool_config *cfg, int *argc, char **argv,
			  bool *help)
{
	struct pending p;
	bool *used;
	int n, j, r = 0;

	*help = false;
	if (!cfg || !argc || *argc < 0 || (*argc > 0 && !argv))
		return evpool__err(-EINVAL, "evpool_config_from_argv: NULL %s",
				   !cfg ? "config" : !argc ? "argc" : "argv");
	n = *argc;
	if (n < 2)
		return 0;
	used = calloc((size_t)n, sizeof(*used));
	if (!used)
		return evpool__err(-ENOMEM, "evpool_config_from_argv: out of memory");
	memset(&p, 0, sizeof(p));
	for (int i = 1; i < n && r == 0; i++) {
		const char *a = argv[i], *opt, *eq, *value;
		const struct setting *s = NULL;
		char shown[48];
		size_t len;

		if (!a || strcmp(a, "--") == 0)
			break;
		if (strncmp(a, OPT_PREFIX, OPT_PREFIX_LEN) != 0)
			continue;
		opt = a + OPT_PREFIX_LEN;
		eq = strchr(opt, '=');
		len = eq ? (size_t)(eq - opt) : strlen(opt);
		if (len == 4 && strncmp(opt, "help", 4) == 0) {
			*help = true;
			used[i] = true;
			continue;
		}
		for (size_t k = 0; k < NSETTINGS; k++)
			if (strlen(settings[k].opt) == len &&
			    strncmp(opt, settings[k].opt, len) == 0)
				s = &settings[k];
		if (!s) {
			r = evpool__err(-EINVAL,
					"%.*s: unknown option (see --evpool-help)",
					(int)(eq ? (size_t)(eq - a) : strlen(a) > 64 ? 64 : strlen(a)),
					a);
			break;
		}
		snprintf(shown, sizeof(shown), "%s%s", OPT_PREFIX, s->opt);
		used[i] = true;
		if (eq) {
			value = eq + 1;
		} else if (i + 1 < n && argv[i + 1]) {
			value = argv[++i];
			used[i] = true;
		} else {
			r = evpool__err(-EINVAL, "%s: missing value (%s=%s)",
					shown, shown, s->arg);
			break;
		}
		r = parse_one(s, shown, value, &p);
	}
	if (*help) {
		free(used);
		return 0; /* help wins; nothing applied, nothing consumed */
	}
	if (r == 0)
		r = apply(cfg, &p);
	if (r == 0) {
		for (int i = j = 1; i < n; i++)
			if (!used[i])
				argv[j++] = argv[i];
		argv[j] = NULL;
		*argc = j;
	}
	free(used);
	return r;
}

static char usage_text[2048];
static pthread_once_t usage_once = PTHREAD_ONCE_INIT;

static void
usage_build(void)
{
	size_t off = 0;
	int w;

	w = snprintf(usage_text, sizeof(usage_text),
		     "libevpool settings (the command line wins over the environment):\n");
	off = w > 0 ? (size_t)w : 0;
	for (size_t i = 0; i < NSETTINGS && off < sizeof(usage_text); i++) {
		const struct setting *s = &settings[i];
		char opt[64];

		snprintf(opt, sizeof(opt), "%s%s=%s", OPT_PREFIX, s->opt, s->arg);
		w = snprintf(usage_text + off, sizeof(usage_text) - off,
			     "  %-42s %s\n  %-42s   %s\n", opt, s->env, "",
			     s->help);
		if (w > 0)
			off += (size_t)w;
	}
	if (off < sizeof(usage_text))
		snprintf(usage_text + off, sizeof(usage_text) - off,
			 "  %-42s %s\n", OPT_PREFIX "help",
			 "print this list and exit");
}

const char *
evpool_config_usage(void)
{
	pthread_once(&usage_once, usage_build);
	return usage_text;
}

int
evpool_config_from_argv(struct evpool_config *cfg, int *argc, char **argv)
{
	bool help;
	int r = evpool__config_parse_argv(cfg, argc, argv, &help);

	if (r == 0 && help) {
		fputs(evpool_config_usage(), stdout);
		fflush(stdout);
		return EVPOOL_CONFIG_HELP;
	}
	return r;
}
