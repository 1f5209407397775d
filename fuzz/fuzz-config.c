/*
 * fuzz-config.c — libFuzzer harness for the environment and command-line
 * configuration parser (lib/config/env-argv.c).  The input is cut at NUL bytes
 * into strings; byte 0 picks the entry point (even: an environment block
 * for evpool__config_from_environ(), odd: an argv for
 * evpool__config_parse_argv()).  Bit 1 of byte 0 prefixes strings that do
 * not name a variable or an option with "EVPOOL_" / "--evpool-" so the
 * fuzzer reaches the parsers of the values quickly.  Checked beyond the
 * sanitizers, as the header promises:
 *   the return value is 0 or -EINVAL (-ENOMEM allowed; argv: or
 *     EVPOOL_CONFIG_HELP);
 *   all or nothing: on an error the configuration is unchanged (and argc
 *     and argv too);
 *   argv after a success: argc did not grow, argv[argc] is NULL, and what
 *     is left is the original arguments in their original order.
 */
#include "core/evpool-internal.h"
#include "pyapi/pyapi-internal.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define MAXS 48

static void
check(int cond)
{
	if (!cond)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *strs[MAXS + 2], *orig[MAXS + 2];
	struct evpool_config *cfg, before;
	size_t n = 0, i = 1;
	unsigned mode;
	int rc;

	if (size == 0)
		return 0;
	mode = data[0];
	while (i < size && n < MAXS) {
		size_t j = i;
		const char *pre = "";
		size_t plen;

		while (j < size && data[j])
			j++;
		if (mode & 2) {
			if (mode & 1)
				pre = (j - i > 2 && data[i] == '-') ? "" : "--evpool-";
			else
				pre = (j - i > 6 && memcmp(data + i, "EVPOOL", 6) == 0)
					      ? "" : "EVPOOL_";
		}
		plen = strlen(pre);
		strs[n] = malloc(plen + (j - i) + 1);
		if (!strs[n])
			abort();
		memcpy(strs[n], pre, plen);
		memcpy(strs[n] + plen, data + i, j - i);
		strs[n][plen + (j - i)] = '\0';
		n++;
		i = j + 1;
	}
	cfg = evpool_config_new();
	if (!cfg)
		abort();
	memcpy(&before, cfg, sizeof(before));

	if (!(mode & 1)) {
		strs[n] = NULL;
		rc = evpool__config_from_environ(cfg, strs);
		check(rc == 0 || rc == -EINVAL || rc == -ENOMEM);
		if (rc < 0)
			check(memcmp(&before, cfg, sizeof(before)) == 0);
		for (size_t k = 0; k < n; k++)
			free(strs[k]);
	} else {
		char prog[] = "prog";
		char **argv = malloc((n + 2) * sizeof(*argv));
		int argc = (int)n + 1;
		bool help = false;

		if (!argv)
			abort();
		argv[0] = prog;
		for (size_t k = 0; k < n; k++)
			argv[k + 1] = strs[k];
		argv[n + 1] = NULL;
		memcpy(orig, argv, (n + 2) * sizeof(*argv));
		rc = evpool__config_parse_argv(cfg, &argc, argv, &help);
		check(rc == 0 || rc == -EINVAL || rc == -ENOMEM ||
		      rc == EVPOOL_CONFIG_HELP);
		if (rc < 0) {
			check(memcmp(&before, cfg, sizeof(before)) == 0);
			check(argc == (int)n + 1);
			check(memcmp(orig, argv, (n + 2) * sizeof(*argv)) == 0);
		} else {
			size_t o = 0;

			check(argc >= 1 && argc <= (int)n + 1);
			check(argv[argc] == NULL);
			check(argv[0] == prog);
			/* What is left keeps its order (a subsequence). */
			for (int a = 1; a < argc; a++) {
				while (o < n + 1 && orig[o] != argv[a])
					o++;
				check(o < n + 1);
				o++;
			}
		}
		free(argv);
		for (size_t k = 0; k < n; k++)
			free(strs[k]);
	}
	evpool_config_free(cfg);
	return 0;
}
