/*
 * t/remote-util.c — the redis-server and evpool-worker processes of the
 * remote-mode tests (see remote-util.h).
 */
#include "remote-util.h"
#include "tap.h"

#include <evpool.h>

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

char rt_dir[256], rt_sock[300], rt_url[400];
pid_t rt_redis_pid;
static char logf[320];
static pid_t workers[32];
static unsigned nworkers;

/*
 * Start a child (redis-server, a worker).  Its output goes to
 * rt_dir/children.log, not to our stdout: a child left running after a
 * bail() (which skips atexit) would otherwise hold the harness's pipe open
 * and hang `make check`.  On Linux it also dies with us.
 */
static pid_t
spawn(char *const argv[])
{
	pid_t pid = fork();

	if (pid < 0)
		sysbail("fork");
	if (pid == 0) {
		char path[360];
		int fd;

#ifdef __linux__
		prctl(PR_SET_PDEATHSIG, SIGKILL);
#endif
		snprintf(path, sizeof(path), "%s/children.log", rt_dir);
		fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
		if (fd >= 0) {
			dup2(fd, STDOUT_FILENO);
			dup2(fd, STDERR_FILENO);
		}
		execvp(argv[0], argv);
		_exit(127);
	}
	return pid;
}

static bool
sock_ready(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	bool ok;

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", rt_sock);
	ok = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
	close(fd);
	return ok;
}

void
rt_redis_start(void)
{
	char *argv[] = { "redis-server", "--port", "0", "--unixsocket", rt_sock,
			 "--dir", rt_dir, "--appendonly", "yes",
			 "--appendfsync", "always", "--save", "",
			 "--user", "alice", "on", ">alicepw", "~*", "&*", "+@all",
			 "--loglevel", "warning", "--logfile", logf, NULL };

	rt_redis_pid = spawn(argv);
	for (int i = 0; i < 500 && !sock_ready(); i++)
		tap_sleep_ms(10);
	if (!sock_ready())
		bail("redis-server did not start");
}

void
rt_redis_kill(void)
{
	kill(rt_redis_pid, SIGKILL);
	waitpid(rt_redis_pid, NULL, 0);
	unlink(rt_sock);
}

pid_t
rt_worker_start(const char *extra1, const char *extra2)
{
	const char *builddir = getenv("top_builddir");
	char bin[400], jobs[400];
	char *argv[16];
	int n = 0;
	pid_t pid;

	if (!builddir)
		builddir = ".";
	snprintf(bin, sizeof(bin), "%s/tools/evpool-worker", builddir);
	snprintf(jobs, sizeof(jobs), "%s/t/.libs/remote-jobs.so", builddir);
	argv[n++] = bin;
	argv[n++] = "--redis";
	argv[n++] = rt_url;
	argv[n++] = "--queue";
	argv[n++] = "t";
	argv[n++] = "--concurrency";
	argv[n++] = "2";
	argv[n++] = "--jobs";
	argv[n++] = jobs;
	argv[n++] = "--visibility-ms";
	argv[n++] = "400";
	if (extra1)
		argv[n++] = (char *)extra1;
	if (extra2)
		argv[n++] = (char *)extra2;
	argv[n] = NULL;
	pid = spawn(argv);
	if (nworkers < sizeof(workers) / sizeof(workers[0]))
		workers[nworkers++] = pid;
	return pid;
}

void
rt_worker_kill(pid_t pid)
{
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

void
rt_workers_wait(int n)
{
	char line[600];

	snprintf(line, sizeof(line),
		 "test $(redis-cli -s %s CLIENT LIST 2>/dev/null | grep -c cmd=xreadgroup) -ge %d",
		 rt_sock, n);
	for (int i = 0; i < 1000; i++) {
		if (system(line) == 0)
			return;
		tap_sleep_ms(20);
	}
	bail("%d workers never read from the stream", n);
}

long
rt_redis_calls(const char *cmd)
{
	char line[600], out[256], want[64];
	long calls = -1;
	FILE *p;

	snprintf(line, sizeof(line),
		 "redis-cli -s %s INFO commandstats 2>/dev/null", rt_sock);
	snprintf(want, sizeof(want), "cmdstat_%s:calls=", cmd);
	p = popen(line, "r");
	while (p && fgets(out, sizeof(out), p))
		if (strncmp(out, want, strlen(want)) == 0)
			calls = strtol(out + strlen(want), NULL, 10);
	if (p)
		pclose(p);
	return calls;
}

/* Our children not reaped yet (a reaped pid may be another's by now). */
static void
kill_all(void)
{
	for (unsigned i = 0; i < nworkers; i++)
		if (waitpid(workers[i], NULL, WNOHANG) == 0)
			kill(workers[i], SIGKILL);
	if (rt_redis_pid > 0)
		kill(rt_redis_pid, SIGKILL);
}

void
rt_setup(void)
{
	if (!evpool_remote_available())
		skip_all("this build has no remote mode (no hiredis)");
	if (system("command -v redis-server >/dev/null 2>&1") != 0)
		skip_all("redis-server is not installed");
	signal(SIGPIPE, SIG_IGN);
	snprintf(rt_dir, sizeof(rt_dir), "/tmp/evpool-remote-XXXXXX");
	if (!mkdtemp(rt_dir))
		sysbail("mkdtemp");
	snprintf(rt_sock, sizeof(rt_sock), "%s/redis.sock", rt_dir);
	snprintf(logf, sizeof(logf), "%s/redis.log", rt_dir);
	snprintf(rt_url, sizeof(rt_url), "unix://%s", rt_sock);
	rt_redis_start();
	atexit(kill_all);
}

void
rt_teardown(void)
{
	char cmd[300];

	for (unsigned i = 0; i < nworkers; i++)
		if (waitpid(workers[i], NULL, WNOHANG) == 0) {
			kill(workers[i], SIGKILL);
			waitpid(workers[i], NULL, 0);
		}
	nworkers = 0;
	if (rt_redis_pid > 0)
		rt_redis_kill();
	rt_redis_pid = 0;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", rt_dir);
	if (system(cmd) != 0)
		diag("could not remove %s", rt_dir);
}
