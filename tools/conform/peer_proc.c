/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The program under test as a process: started with `{sock}` replaced by a
 * socket path of the tool's own, started again when it ends, reaped (a
 * death by a signal is a crash), and looked at through /proc (its open
 * descriptors, its resident memory) — what only its parent, or its owner,
 * can see.
 */
#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "conform.h"

static void sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

/* Each argument with every {sock} replaced. */
static char *subst(const char *arg, const char *sock)
{
	size_t n = 1;
	for (const char *s = arg; *s; s++)
		n += strncmp(s, "{sock}", 6) ? 1 : strlen(sock);
	char *out = malloc(n), *o = out;
	if (!out)
		return NULL;
	while (*arg) {
		if (!strncmp(arg, "{sock}", 6)) {
			o = stpcpy(o, sock);
			arg += 6;
		} else {
			*o++ = *arg++;
		}
	}
	*o = 0;
	return out;
}

/* The socket exists (a connection to test it would be the one client some
 * servers serve before they exit). */
static bool socket_exists(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && S_ISSOCK(st.st_mode);
}

int cf_proc_start(struct cf_proc *p, bool wait_for_socket)
{
	int n = 0;
	while (p->argv_tmpl[n])
		n++;
	char **argv = calloc((size_t)n + 1, sizeof(*argv));
	if (!argv)
		return -ENOMEM;
	for (int i = 0; i < n; i++)
		argv[i] = subst(p->argv_tmpl[i], p->sock);
	if (wait_for_socket)
		unlink(p->sock);
	pid_t pid = fork();
	if (pid == 0) {
		if (p->log_fd >= 0) {
			dup2(p->log_fd, 1);
			dup2(p->log_fd, 2);
		}
		int nul = open("/dev/null", O_RDONLY);
		if (nul >= 0)
			dup2(nul, 0);
		signal(SIGPIPE, SIG_DFL);
		execvp(argv[0], argv);
		fprintf(stderr, "uvfio conform: cannot run %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	for (int i = 0; i < n; i++)
		free(argv[i]);
	free(argv);
	if (pid < 0)
		return -errno;
	p->child = pid;
	p->ended = false;
	p->spawns++;
	if (!wait_for_socket)
		return 0;
	/* the server is up once its socket exists (cf_connect() waits for listen()) */
	for (int waited = 0; waited < p->timeout_ms + 2000; waited += 2) {
		if (socket_exists(p->sock))
			return 0;
		if (cf_proc_reap(p))
			return -ECHILD;
		sleep_ms(2);
	}
	return -ETIMEDOUT;
}

bool cf_proc_reap(struct cf_proc *p)
{
	if (!p->child)
		return false;
	int st;
	pid_t r = waitpid(p->child, &st, WNOHANG);
	if (r != p->child)
		return false;
	p->last_status = st;
	p->ended = true;
	p->child = 0;
	return true;
}

bool cf_proc_wait_end(struct cf_proc *p, int ms)
{
	for (int waited = 0; waited <= ms; waited += 2) {
		if (cf_proc_reap(p))
			return true;
		sleep_ms(2);
	}
	return false;
}

void cf_proc_kill(struct cf_proc *p)
{
	if (!p->child)
		return;
	kill(p->child, SIGKILL);
	int st;
	waitpid(p->child, &st, 0);
	p->child = 0;
}

bool cf_status_crash(int status)
{
	/* a kill by the tool is SIGKILL; every other signal is the program's */
	return WIFSIGNALED(status) && WTERMSIG(status) != SIGKILL && WTERMSIG(status) != SIGTERM &&
	       WTERMSIG(status) != SIGINT;
}

const char *cf_status_str(int status, char *buf, size_t len)
{
	if (WIFSIGNALED(status))
		snprintf(buf, len, "killed by SIG%s%s", sigabbrev_np(WTERMSIG(status)),
			 WCOREDUMP(status) ? " (core dumped)" : "");
	else
		snprintf(buf, len, "exit status %d", WEXITSTATUS(status));
	return buf;
}

int cf_count_fds(pid_t pid)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	DIR *d = opendir(path);
	if (!d)
		return -1;
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

int cf_count_fds_settled(pid_t pid)
{
	int last = cf_count_fds(pid);
	for (int i = 0; i < 30 && last >= 0; i++) {
		sleep_ms(10);
		int now = cf_count_fds(pid);
		if (now == last && i >= 2)
			break;
		last = now;
	}
	return last;
}

bool cf_proc_alive(pid_t pid)
{
	char path[64], line[256];
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	FILE *f = fopen(path, "re");
	if (!f)
		return false;
	bool alive = true;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, "State:", 6))
			alive = !strchr(line + 6, 'Z') && !strchr(line + 6, 'X');
	fclose(f);
	return alive;
}

long cf_rss_kib(pid_t pid)
{
	char path[64], line[256];
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	FILE *f = fopen(path, "re");
	if (!f)
		return -1;
	long kib = -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, "VmRSS:", 6))
			kib = strtol(line + 6, NULL, 10);
	fclose(f);
	return kib;
}

pid_t cf_peer_pid(int fd)
{
	struct ucred cr;
	socklen_t l = sizeof(cr);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &l) < 0)
		return 0;
	return cr.pid;
}
