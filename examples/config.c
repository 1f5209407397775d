/*
 * config.c — a pool configured from the environment and the command line,
 * as ThreadRipper reads its settings:
 *
 *     EVPOOL_MAX_WORKERS=8 ./server --evpool-max-workers=4 --port 80
 *     ./server --evpool-help
 *
 * Precedence: defaults < environment < command line < explicit setter,
 * obtained by calling them in that order.  Options this library consumes
 * are removed from argv, so the program's own parser sees only its own
 * (here: --port, and a file name).  A bad value is refused with a message
 * naming it, never ignored.
 *
 * Run without arguments (as `make check` does), it shows the same on a
 * made-up environment and command line.
 *
 *   cc config.c $(pkg-config --cflags --libs libevpool libevent)
 */
#include <evpool.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int n, failed;

static void
check(int cond, const char *what)
{
	printf("%s %d - %s\n", cond ? "ok" : "not ok", ++n, what);
	failed += !cond;
}

/* What a program does with its own argv: read the config, then its own. */
static int
configure_pool(int *argc, char **argv, struct evpool **poolp)
{
	struct evpool_config *cfg = evpool_config_new();
	int r;

	if (!cfg)
		return -ENOMEM;
	r = evpool_config_from_env(cfg);			/* < environment */
	if (r == 0)
		r = evpool_config_from_argv(cfg, argc, argv);	/* < argv */
	if (r == EVPOOL_CONFIG_HELP) {
		evpool_config_free(cfg);
		return r; /* the list is printed: exit(0) in a real program */
	}
	if (r < 0) {
		fprintf(stderr, "config: %s\n", evpool_errmsg());
		evpool_config_free(cfg);
		return r;
	}
	evpool_config_set_emit_window(cfg, 16);		/* < explicit setter */
	r = evpool_new(poolp, NULL, cfg);
	evpool_config_free(cfg);
	return r;
}

int
main(int argc, char **argv)
{
	struct evpool *pool;
	struct evpool_stats st;
	int r;

	if (argc > 1) {
		/* A real command line: configure from it and report. */
		r = configure_pool(&argc, argv, &pool);
		if (r == EVPOOL_CONFIG_HELP)
			return 0;
		if (r < 0)
			return 2;
		evpool_get_stats(pool, &st);
		printf("max_workers %u; arguments left:", st.max_workers);
		for (int i = 1; i < argc; i++)
			printf(" %s", argv[i]);
		printf("\n");
		evpool_free(pool);
		return 0;
	}

	printf("1..5\n");
	/* the environment says 8, the command line 4: the command line wins */
	setenv("EVPOOL_MAX_WORKERS", "8", 1);
	{
		char *args[] = { "server", "--evpool-max-workers=4", "--port",
				 "80", "--evpool-name", "web", "site.conf", NULL };
		int ac = 7;

		r = configure_pool(&ac, args, &pool);
		check(r == 0, "configured from EVPOOL_MAX_WORKERS=8 and --evpool-max-workers=4");
		evpool_get_stats(pool, &st);
		printf("# max_workers %u\n", st.max_workers);
		check(st.max_workers == 4, "the command line wins over the environment");
		check(ac == 4 && !strcmp(args[1], "--port") && !strcmp(args[2], "80") &&
		      !strcmp(args[3], "site.conf") && !args[4],
		      "our options are gone from argv: --port 80 site.conf remain");
		evpool_free(pool);
	}

	/* a bad value is refused, naming it */
	setenv("EVPOOL_MAX_WORKERS", "abc", 1);
	{
		struct evpool_config *cfg = evpool_config_new();

		r = evpool_config_from_env(cfg);
		printf("# %s\n", evpool_errmsg());
		check(r == -EINVAL && !strcmp(evpool_errmsg(),
					      "EVPOOL_MAX_WORKERS=abc: not a positive integer"),
		      "EVPOOL_MAX_WORKERS=abc is refused with a message naming it");
		evpool_config_free(cfg);
	}
	unsetenv("EVPOOL_MAX_WORKERS");

	/* --evpool-help lists every setting (here as TAP comments) */
	{
		const char *usage = evpool_config_usage(), *p = usage;

		while (*p) {
			const char *nl = strchr(p, '\n');
			int len = nl ? (int)(nl - p) : (int)strlen(p);
			printf("# %.*s\n", len, p);
			p += len + (nl != NULL);
		}
		check(strstr(usage, "--evpool-max-workers=N") &&
		      strstr(usage, "EVPOOL_MODE"),
		      "--evpool-help lists the options and variables");
	}
	return failed ? 1 : 0;
}
