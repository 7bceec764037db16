/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * server_access.c — who may connect to a device: the socket file's mode and
 * group, the peer's credentials checked before its first byte is read, a
 * listening socket handed over (systemd's socket activation). The model is
 * in server.h ("Who may connect") and docs/ROBUSTNESS.md.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "internal.h"

/* Refusals logged one by one before they are only counted (a peer that
 * reconnects in a loop must not fill the log). */
#define REFUSED_LOGGED 100u

static void *dup_ids(const void *ids, size_t n, size_t size)
{
	if (!n)
		return NULL;
	void *c = malloc(n * size);
	if (c)
		memcpy(c, ids, n * size);
	return c;
}

int vu_srv_access_init(struct uvfio_server *s)
{
	struct uvfio_server_access *a = &s->cfg.access;
	const uid_t *uids = a->uids;
	const gid_t *gids = a->gids;
	/* from here on the pointers are ours to free */
	a->uids = NULL;
	a->gids = NULL;
	if (a->socket_mode > 0777 || a->nuids > UVFIO_ACCESS_MAX_IDS ||
	    a->ngids > UVFIO_ACCESS_MAX_IDS || (a->nuids && !uids) || (a->ngids && !gids)) {
		a->nuids = a->ngids = 0;
		return -EINVAL;
	}
	a->uids = dup_ids(uids, a->nuids, sizeof(*uids));
	a->gids = dup_ids(gids, a->ngids, sizeof(*gids));
	if ((a->nuids && !a->uids) || (a->ngids && !a->gids))
		return -ENOMEM;
	return 0;
}

void vu_srv_access_free(struct uvfio_server *s)
{
	free((void *)s->cfg.access.uids);
	free((void *)s->cfg.access.gids);
	s->cfg.access.uids = NULL;
	s->cfg.access.gids = NULL;
}

/* ---- The socket file ------------------------------------------------------------ */

/* The group and mode of the file just bound at file (the temporary name
 * of path), before anyone else can open it (it is still owner-only). */
static int set_file_access(struct uvfio_server *s, const char *file, const char *path)
{
	const struct uvfio_server_access *a = &s->cfg.access;
	if (a->set_socket_gid && chown(file, (uid_t)-1, a->socket_gid) < 0) {
		int r = -errno;
		vu_err(&s->log, "cannot give the socket %s group %u: %s", path,
		       (unsigned)a->socket_gid, uvfio_strerror(r));
		return r;
	}
	uint32_t mode = a->socket_mode ? a->socket_mode : 0600;
	if (chmod(file, mode) < 0) {
		int r = -errno;
		vu_err(&s->log, "cannot give the socket %s mode %04o: %s", path, (unsigned)mode,
		       uvfio_strerror(r));
		return r;
	}
	return 0;
}

/*
 * Bound and listening under a temporary name beside the path, given its
 * group and mode, then linked to the path (which fails, like bind(), when
 * the path exists): the path appears only when a client can connect, and
 * only with its final permissions. A path too long for a temporary name
 * beside it is bound directly (then it exists, owner-only, for the moment
 * between bind() and listen()).
 */
int vu_srv_listen_socket(struct uvfio_server *s, const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX }, tmp = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	/* bind() gives the file the socket's mode less the umask: owner-only
	 * from its first instant, whatever the umask (Linux's af_unix) */
	if (fchmod(fd, 0600) < 0) {
		int r = -errno;
		close(fd);
		return r;
	}
	int n = snprintf(tmp.sun_path, sizeof(tmp.sun_path), "%s.%d.tmp", path, (int)getpid());
	bool direct = n < 0 || (size_t)n >= sizeof(tmp.sun_path);
	const struct sockaddr_un *at = direct ? &sa : &tmp;
	if (!direct)
		unlink(tmp.sun_path);
	int r = 0;
	if (bind(fd, (const struct sockaddr *)at, sizeof(*at)) < 0) {
		r = -errno;
		close(fd);
		return r;
	}
	r = set_file_access(s, at->sun_path, path);
	if (r == 0 && listen(fd, 8) < 0)
		r = -errno;
	if (r == 0 && !direct && link(tmp.sun_path, path) < 0)
		r = errno == EEXIST ? -EADDRINUSE : -errno;
	if (!direct || r < 0)
		unlink(at->sun_path);
	if (r < 0) {
		close(fd);
		return r;
	}
	return fd;
}

int vu_srv_adopt_listener(int fd)
{
	if (fcntl(fd, F_GETFD) < 0)
		return -EBADF;
	int v = 0;
	socklen_t len = sizeof(v);
	if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &v, &len) < 0)
		return -errno; /* ENOTSOCK */
	if (v != AF_UNIX)
		return -EAFNOSUPPORT;
	len = sizeof(v);
	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &v, &len) < 0)
		return -errno;
	if (v != SOCK_STREAM)
		return -EPROTOTYPE;
	len = sizeof(v);
	if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &v, &len) < 0)
		return -errno;
	if (!v)
		return -EINVAL;
	if (fcntl(fd, F_SETFD, FD_CLOEXEC) < 0)
		return -errno;
	return vu_set_nonblock(fd, true);
}

/* ---- The peer ------------------------------------------------------------------- */

static bool has_id(const uint32_t *ids, size_t n, uint32_t id)
{
	for (size_t i = 0; i < n; i++)
		if (ids[i] == id)
			return true;
	return false;
}

/* The peer's supplementary groups into *groups (small, or a malloc'ed
 * array the caller frees); none when the kernel cannot say. */
static size_t peer_groups(int fd, gid_t *small, size_t nsmall, gid_t **groups)
{
	*groups = small;
	socklen_t len = (socklen_t)(nsmall * sizeof(gid_t));
	if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, small, &len) == 0)
		return len / sizeof(gid_t);
	gid_t *big = errno == ERANGE ? malloc(len) : NULL;
	if (big && getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, big, &len) == 0) {
		*groups = big;
		return len / sizeof(gid_t);
	}
	free(big);
	return 0;
}

bool vu_srv_peer_allowed(struct uvfio_server *s, int fd)
{
	const struct uvfio_server_access *a = &s->cfg.access;
	if (!a->nuids && !a->ngids && !a->allow)
		return true; /* the socket file's permissions are the rule */
	_Static_assert(sizeof(uid_t) == sizeof(uint32_t) && sizeof(gid_t) == sizeof(uint32_t),
		       "ids are 32-bit");
	struct ucred uc;
	socklen_t len = sizeof(uc);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &uc, &len) < 0) {
		vu_warn(&s->log, "refused a connection: cannot learn who connected: %s",
			uvfio_strerror(-errno));
		return false;
	}
	gid_t small[64], *groups = small;
	size_t ngroups = peer_groups(fd, small, 64, &groups);
	bool ok = has_id(a->uids, a->nuids, uc.uid) || has_id(a->gids, a->ngids, uc.gid);
	for (size_t i = 0; !ok && i < ngroups; i++)
		ok = has_id(a->gids, a->ngids, groups[i]);
	if (!ok && a->allow) {
		struct uvfio_peer p = { .pid = uc.pid, .uid = uc.uid, .gid = uc.gid,
					.groups = groups, .ngroups = ngroups };
		ok = a->allow(s->opaque, &p);
	}
	if (groups != small)
		free(groups);
	if (ok) {
		s->refused = 0;
		return true;
	}
	s->refused++;
	if (s->refused <= REFUSED_LOGGED || s->refused % 1000 == 0)
		vu_warn(&s->log,
			"refused a connection from pid %d, uid %u, gid %u: not allowed by the "
			"server's access rules%s",
			(int)uc.pid, (unsigned)uc.uid, (unsigned)uc.gid,
			s->refused == REFUSED_LOGGED
				? " (from now on every 1000th refusal in a row "
				  "is logged)"
				: "");
	return false;
}

/* ---- Socket activation ---------------------------------------------------------- */

/* A whole decimal number up to max, or -1. */
static long long decimal(const char *v, long long max)
{
	if (!v || *v < '0' || *v > '9')
		return -1;
	char *end;
	errno = 0;
	unsigned long long n = strtoull(v, &end, 10);
	if (errno || *end || n > (unsigned long long)max)
		return -1;
	return (long long)n;
}

int uvfio_server_activation_fds(bool unset_env)
{
	const char *pid_s = getenv("LISTEN_PID"), *n_s = getenv("LISTEN_FDS");
	int r = 0;
	if (pid_s && n_s) {
		long long pid = decimal(pid_s, INT_MAX), n = decimal(n_s, INT_MAX - 3);
		if (pid <= 0 || n < 0)
			r = -EINVAL;
		else if (pid == (long long)getpid()) /* else meant for another process */
			r = (int)n;
	}
	for (int i = 0; i < r; i++) {
		int fd = UVFIO_LISTEN_FDS_START + i;
		int fl = fcntl(fd, F_GETFD);
		if (fl < 0 || fcntl(fd, F_SETFD, fl | FD_CLOEXEC) < 0) {
			r = -EBADF;
			break;
		}
	}
	if (unset_env) {
		unsetenv("LISTEN_PID");
		unsetenv("LISTEN_FDS");
		unsetenv("LISTEN_FDNAMES");
	}
	return r;
}
