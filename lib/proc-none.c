/*
 * proc-none.c — placeholder for builds without process mode: evpool_new()
 * refuses EVPOOL_MODE_PROCESS with -EINVAL and a message.  Replaced by
 * lib/proc.c.
 */
#include "evpool-internal.h"

const struct evpool__mode_ops *const evpool__process_ops = NULL;
