/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Who may connect (server.h, "Who may connect"): the socket file's mode and
 * group, peers checked by uid, by group and by a callback (child processes
 * that change their credentials with setresuid() connect: the tests run as
 * root), a listening socket handed over as systemd hands it over, and the
 * checks of uvfio_server_listen_fd() and uvfio_server_activation_fds().
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "uvfio/client.h"
#include "uvfio/server.h"
#include "util.h"

#define VENDOR	   0xf1f0
#define DEVICE	   0x7e57
#define OTHER_UID  12345
#define OTHER_UID2 23456
#define OTHER_GID  5000
#define GROUP	   4242

struct srv {
	struct uvfio_server *s;
	pthread_t thread;
	char path[108];
	pthread_mutex_t mu;
	char log[65536]; /* the server's log lines */
	size_t log_len;
	int run_result;
	pid_t last_peer_pid; /* seen by the allow callback */
};

static void log_fn(void *opaque, int level, const char *line)
{
	(void)level;
	struct srv *v = opaque;
	pthread_mutex_lock(&v->mu);
	int n = snprintf(v->log + v->log_len, sizeof(v->log) - v->log_len, "%s\n", line);
	if (n > 0 && v->log_len + (size_t)n < sizeof(v->log))
		v->log_len += (size_t)n;
	pthread_mutex_unlock(&v->mu);
}

static bool logged(struct srv *v, const char *what)
{
	pthread_mutex_lock(&v->mu);
	bool r = strstr(v->log, what) != NULL;
	pthread_mutex_unlock(&v->mu);
	return r;
}

static unsigned count_logged(struct srv *v, const char *what)
{
	unsigned n = 0;
	pthread_mutex_lock(&v->mu);
	for (const char *p = v->log; (p = strstr(p, what)); p++)
		n++;
	pthread_mutex_unlock(&v->mu);
	return n;
}

static bool allow_uid2(void *opaque, const struct uvfio_peer *peer)
{
	struct srv *v = opaque;
	pthread_mutex_lock(&v->mu);
	v->last_peer_pid = peer->pid;
	pthread_mutex_unlock(&v->mu);
	return peer->uid == OTHER_UID2;
}

static void *run(void *arg)
{
	struct srv *v = arg;
	v->run_result = uvfio_server_run(v->s);
	return NULL;
}

/* A device with a PCI identity, not yet listening. */
static struct srv *srv_new(const struct uvfio_server_access *access)
{
	struct srv *v = calloc(1, sizeof(*v));
	assert_non_null(v);
	pthread_mutex_init(&v->mu, NULL);
	struct uvfio_server_config cfg = {
		.log = { .fn = log_fn, .opaque = v, .level = UVFIO_LOG_INFO },
		.opaque = v,
	};
	if (access)
		cfg.access = *access;
	assert_int_equal(uvfio_server_create(&cfg, &v->s), 0);
	struct uvfio_pci_id id = { .vendor = VENDOR, .device = DEVICE, .class_code = 0xff0000 };
	assert_int_equal(uvfio_server_pci_init(v->s, &id), 0);
	snprintf(v->path, sizeof(v->path), "/tmp/uvfio-access-%d-%p.sock", (int)getpid(),
		 (void *)v);
	return v;
}

static void srv_start(struct srv *v)
{
	assert_int_equal(pthread_create(&v->thread, NULL, run, v), 0);
}

static void srv_free(struct srv *v)
{
	uvfio_server_stop(v->s);
	pthread_join(v->thread, NULL);
	uvfio_server_destroy(v->s);
	pthread_mutex_destroy(&v->mu);
	free(v);
}

/* Served: a client negotiates and reads the vendor id. 0 or an errno. */
static int try_served(const char *path)
{
	struct uvfio_client_config cc = { .log = { .level = UVFIO_LOG_ERR }, .timeout_ms = 3000 };
	struct uvfio_client *c;
	int r = uvfio_client_connect(path, &cc, &c);
	if (r < 0)
		return -r;
	uint16_t vendor = 0;
	r = uvfio_client_region_read(c, VFIO_PCI_CONFIG_REGION_INDEX, 0, &vendor, 2);
	uvfio_client_close(c);
	return r < 0 ? -r : vendor == VENDOR ? 0 : EIO;
}

/* Refused: the connection is accepted by the kernel, then closed without
 * a reply to the VERSION sent on it. 0 when refused, else why not. */
static int try_refused(const char *path)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return errno; /* not even the kernel let it in */
	static const char version[] = "{\"capabilities\":{}}";
	struct {
		struct uvfio_hdr h;
		struct uvfio_version v;
	} __attribute__((packed)) m = {
		.h = { .msg_id = 1, .cmd = UVFIO_CMD_VERSION,
		       .msg_size = (uint32_t)(sizeof(m) + sizeof(version)) },
		.v = { .major = 0, .minor = 1 },
	};
	/* a refused peer may be gone already: the writes may fail */
	if (write(fd, &m, sizeof(m)) == (ssize_t)sizeof(m))
		(void)!write(fd, version, sizeof(version));
	struct pollfd p = { .fd = fd, .events = POLLIN };
	if (poll(&p, 1, 5000) != 1)
		return ETIMEDOUT;
	char b[64];
	ssize_t n = read(fd, b, sizeof(b));
	close(fd);
	return n == 0 || (n < 0 && errno == ECONNRESET) ? 0 : EPROTO;
}

/* Run fn(path) in a child with these credentials (groups: its supplementary
 * groups). Returns its result, 0..255; the child's pid in *pid. */
static int as_user(uid_t uid, gid_t gid, const gid_t *groups, size_t ngroups,
		   int (*fn)(const char *), const char *path, pid_t *pid)
{
	pid_t p = fork();
	assert_true(p >= 0);
	if (p == 0) {
		if (setgroups(ngroups, groups) < 0 || setresgid(gid, gid, gid) < 0 ||
		    setresuid(uid, uid, uid) < 0)
			_exit(200);
		_exit(fn(path) & 0xff);
	}
	if (pid)
		*pid = p;
	int st;
	assert_int_equal(waitpid(p, &st, 0), p);
	assert_true(WIFEXITED(st));
	return WEXITSTATUS(st);
}

/* ---- The socket file ------------------------------------------------------------ */

static mode_t file_mode(const char *path, gid_t *gid)
{
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	if (gid)
		*gid = st.st_gid;
	return st.st_mode & 07777;
}

/* Owner-only by default, whatever the umask (it was 0777 & ~umask); the
 * mode and group asked for, exactly. */
static void test_socket_mode(void **state)
{
	(void)state;
	mode_t old = umask(0);
	struct srv *v = srv_new(NULL);
	assert_int_equal(uvfio_server_listen(v->s, v->path), 0);
	assert_int_equal(file_mode(v->path, NULL), 0600);
	srv_start(v);
	/* the owner (root) is served; another user cannot even connect */
	assert_int_equal(try_served(v->path), 0);
	assert_int_equal(as_user(OTHER_UID, OTHER_GID, NULL, 0, try_served, v->path, NULL), EACCES);
	srv_free(v);

	umask(0077); /* the umask does not take bits from the mode asked for */
	struct uvfio_server_access a = {
		.socket_mode = 0660, .set_socket_gid = true, .socket_gid = GROUP };
	v = srv_new(&a);
	assert_int_equal(uvfio_server_listen(v->s, v->path), 0);
	gid_t g;
	assert_int_equal(file_mode(v->path, &g), 0660);
	assert_int_equal(g, GROUP);
	srv_start(v);
	/* a member of the socket's group can connect, another user cannot */
	gid_t grp = GROUP;
	assert_int_equal(as_user(OTHER_UID, OTHER_GID, &grp, 1, try_served, v->path, NULL), 0);
	assert_int_equal(as_user(OTHER_UID, OTHER_GID, NULL, 0, try_served, v->path, NULL), EACCES);
	srv_free(v);

	/* a path too long for the temporary name beside it: bound directly,
	 * the same mode */
	umask(0);
	v = srv_new(NULL);
	char *dir = malloc(200);
	snprintf(dir, 200, "/tmp/uvfio-access-long-%d", (int)getpid());
	assert_int_equal(mkdir(dir, 0700), 0);
	int n = snprintf(v->path, sizeof(v->path), "%s/", dir);
	memset(v->path + n, 's', sizeof(v->path) - 1 - (size_t)n - 4);
	v->path[sizeof(v->path) - 5] = 0;
	assert_int_equal(uvfio_server_listen(v->s, v->path), 0);
	assert_int_equal(file_mode(v->path, NULL), 0600);
	srv_start(v);
	assert_int_equal(try_served(v->path), 0);
	srv_free(v);
	assert_int_equal(rmdir(dir), 0);
	free(dir);
	umask(old);
}

/* A group the process may not give: -EPERM, and no file left behind
 * (neither the path nor its temporary name). */
static int listen_with_foreign_group(const char *path)
{
	struct uvfio_server_access a = { .set_socket_gid = true, .socket_gid = GROUP };
	struct uvfio_server_config cfg = { .log = { .level = -1 }, .access = a };
	struct uvfio_server *s;
	if (uvfio_server_create(&cfg, &s) < 0)
		return 1;
	int r = uvfio_server_listen(s, path);
	uvfio_server_destroy(s);
	char tmp[160];
	snprintf(tmp, sizeof(tmp), "%s.%d.tmp", path, (int)getpid());
	if (r != -EPERM)
		return 2;
	return access(path, F_OK) == 0 || access(tmp, F_OK) == 0 ? 3 : 0;
}

static void test_socket_group_not_ours(void **state)
{
	(void)state;
	char path[108];
	snprintf(path, sizeof(path), "/tmp/uvfio-access-grp-%d.sock", (int)getpid());
	unlink(path);
	assert_int_equal(
		as_user(OTHER_UID, OTHER_GID, NULL, 0, listen_with_foreign_group, path, NULL), 0);
}

static void test_bad_config(void **state)
{
	(void)state;
	struct uvfio_server *s = NULL;
	uid_t u = 1;
	const struct uvfio_server_access bad[] = {
		{ .socket_mode = 01000 },
		{ .socket_mode = 04600 },
		{ .nuids = 1 },
		{ .ngids = 2 },
		{ .uids = &u, .nuids = UVFIO_ACCESS_MAX_IDS + 1 },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct uvfio_server_config cfg = { .log = { .level = UVFIO_LOG_ERR },
						   .access = bad[i] };
		assert_int_equal(uvfio_server_create(&cfg, &s), -EINVAL);
		assert_null(s);
	}
	/* the lists are copied: the caller's may go away */
	uid_t *uids = malloc(2 * sizeof(*uids));
	uids[0] = OTHER_UID;
	uids[1] = 0;
	struct uvfio_server_access a = { .uids = uids, .nuids = 2, .socket_mode = 0666 };
	struct srv *v = srv_new(&a);
	memset(uids, 0xff, 2 * sizeof(*uids));
	free(uids);
	assert_int_equal(uvfio_server_listen(v->s, v->path), 0);
	srv_start(v);
	assert_int_equal(try_served(v->path), 0);
	assert_int_equal(as_user(OTHER_UID, OTHER_GID, NULL, 0, try_served, v->path, NULL), 0);
	assert_int_equal(as_user(OTHER_UID2, OTHER_GID, NULL, 0, try_refused, v->path, NULL), 0);
	srv_free(v);
}

/* ---- The peer ------------------------------------------------------------------- */

/* A uid not in the list is refused before a byte is read (logged with its
 * pid, uid and gid); one in the list is served; the server goes on. */
static void test_uid_rule(void **state)
{
	(void)state;
	uid_t uids[] = { 0, OTHER_UID2 };
	struct uvfio_server_access a = { .uids = uids, .nuids = 2, .socket_mode = 0666 };
	struct srv *v = srv_new(&a);
	assert_int_equal(uvfio_server_listen(v->s, v->path), 0);
	srv_start(v);
	pid_t pid;
	assert_int_equal(as_user(OTHER_UID, OTHER_GID, NULL, 0, try_refused, v->path, &pid), 0);
	char line[160];
	snprintf(line, sizeof(line), "refused a connection from pid %d, uid %d, gid %d: ", (int)pid,
		 OTHER_UID, OTHER_GID);
	assert_true(logged(v, line));
	assert_false(logged(v, "client connected"));
	assert_false(logged(v, "negotiated"));
	/* the refused peer could not make the device serve it through the
	 * library either */
	assert_int_not_equal(as_user(OTHER_UID, OTHER_GID, NULL, 0, try_served, v->path, NULL), 0);
	assert_false(logged(v, "negotiated"));
	/* allowed: served, by the same listening socket */
	assert_int_equal(as_user(OTHER_UID2, OTHER_GID, NULL, 0, try_served, v->path, NULL), 0);
	assert_int_equal(try_served(v->path), 0);
	assert_int_equal(count_logged(v, "negotiated"), 2);
	srv_free(v);
}

/* A group in the list, as the peer's primary group or a supplementary one:
 * served; neither: refused. */
static void test_gid_rule(void **state)
{
	(void)state;
	gid_t gids[] = { GROUP };
	struct uvfio_server_access a = { .gids = gids, .ngids = 1, .socket_mode = 0666 };
	struct srv *v = srv_new(&a);
	assert_int_equal(uvfio_server_listen(v->s, v->path), 0);
	srv_start(v);
	gid_t sup[] = { 17, GROUP, 18 };
	assert_int_equal(as_user(OTHER_UID, GROUP, NULL, 0, try_served, v->path, NULL), 0);
	assert_int_equal(as_user(OTHER_UID, OTHER_GID, sup, 3, try_served, v->path, NULL), 0);
	pid_t pid;
	assert_int_equal(as_user(OTHER_UID, OTHER_GID, sup, 1, try_refused, v->path, &pid), 0);
	char line[160];
	snprintf(line, sizeof(line), "refused a connection from pid %d, uid %d, gid %d: ", (int)pid,
		 OTHER_UID, OTHER_GID);
	assert_true(logged(v, line));
	/* root is no exception: not in the list, refused */
	assert_int_equal(try_refused(v->path), 0);
	srv_free(v);
}

/* The callback decides for peers the lists do not allow. */
static void test_allow_callback(void **state)
{
	(void)state;
	uid_t uids[] = { 0 };
	struct uvfio_server_access a = {
		.uids = uids, .nuids = 1, .allow = allow_uid2, .socket_mode = 0666 };
	struct srv *v = srv_new(&a);
	assert_int_equal(uvfio_server_listen(v->s, v->path), 0);
	srv_start(v);
	pid_t pid;
	assert_int_equal(as_user(OTHER_UID2, OTHER_GID, NULL, 0, try_served, v->path, &pid), 0);
	pthread_mutex_lock(&v->mu);
	assert_int_equal(v->last_peer_pid, pid);
	pthread_mutex_unlock(&v->mu);
	assert_int_equal(as_user(OTHER_UID, OTHER_GID, NULL, 0, try_refused, v->path, &pid), 0);
	assert_int_equal(try_served(v->path), 0); /* by the list, the callback not asked */
	srv_free(v);
}

static bool allow_none(void *opaque, const struct uvfio_peer *peer)
{
	(void)opaque;
	(void)peer;
	return false;
}

/* A peer reconnecting in a loop cannot fill the log: 100 refusals in a row
 * are logged, then every 1000th; an accepted peer starts the count again. */
static void test_refusals_logged_bounded(void **state)
{
	(void)state;
	struct uvfio_server_access a = { .allow = allow_none };
	struct srv *v = srv_new(&a);
	assert_int_equal(uvfio_server_listen(v->s, v->path), 0);
	srv_start(v);
	for (int i = 0; i < 1500; i++)
		assert_int_equal(try_refused(v->path), 0);
	assert_int_equal(count_logged(v, "refused a connection from"), 101);
	assert_int_equal(count_logged(v, "from now on every 1000th refusal"), 1);
	srv_free(v);
}

/* ---- Handed over ---------------------------------------------------------------- */

static int listening_socket(const char *path)
{
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(fd, 4), 0);
	return fd;
}

/* As systemd starts a socket-activated service: the listening socket as
 * descriptor 3 of a new process, LISTEN_FDS=1 and LISTEN_PID its pid. The
 * child serves it with the peer rules; the parent is its client. */
static void test_socket_activation(void **state)
{
	(void)state;
	char path[108];
	snprintf(path, sizeof(path), "/tmp/uvfio-access-act-%d.sock", (int)getpid());
	unlink(path);
	int lfd = listening_socket(path);
	assert_int_equal(chmod(path, 0666), 0);
	pid_t p = fork();
	assert_true(p >= 0);
	if (p == 0) {
		if (dup2(lfd, 3) < 0)
			_exit(10);
		if (lfd != 3)
			close(lfd);
		char pid[24];
		snprintf(pid, sizeof(pid), "%d", (int)getpid());
		setenv("LISTEN_FDS", "1", 1);
		setenv("LISTEN_PID", pid, 1);
		setenv("LISTEN_FDNAMES", "uvfio", 1);
		if (uvfio_server_activation_fds(true) != 1 || getenv("LISTEN_FDS") ||
		    getenv("LISTEN_PID") || getenv("LISTEN_FDNAMES"))
			_exit(11);
		if (!(fcntl(3, F_GETFD) & FD_CLOEXEC))
			_exit(12);
		uid_t uids[] = { 0 };
		struct uvfio_server_access a = { .uids = uids, .nuids = 1 };
		struct uvfio_server_config cfg = { .log = { .level = UVFIO_LOG_ERR }, .access = a };
		struct uvfio_server *s;
		struct uvfio_pci_id id = { .vendor = VENDOR, .device = DEVICE };
		if (uvfio_server_create(&cfg, &s) < 0 || uvfio_server_pci_init(s, &id) < 0 ||
		    uvfio_server_listen_fd(s, 3) < 0)
			_exit(13);
		/* serve until the second client (root) has come and gone */
		int served = 0;
		while (served < 1) {
			struct pollfd pf = { .fd = uvfio_server_poll_fd(s), .events = POLLIN };
			if (poll(&pf, 1, 10000) != 1)
				_exit(14);
			bool was = uvfio_server_connected(s);
			if (uvfio_server_dispatch(s) < 0)
				_exit(15);
			served += was && !uvfio_server_connected(s);
		}
		uvfio_server_destroy(s);
		/* the socket's file is its creator's: not removed */
		_exit(access(path, F_OK) == 0 ? 0 : 16);
	}
	close(lfd);
	assert_int_equal(as_user(OTHER_UID, OTHER_GID, NULL, 0, try_refused, path, NULL), 0);
	assert_int_equal(try_served(path), 0);
	int st;
	assert_int_equal(waitpid(p, &st, 0), p);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
	unlink(path);
}

/* sd_listen_fds()'s rules: another process's variables are not ours, bad
 * ones are errors, a counted descriptor must be open. */
static void test_activation_env(void **state)
{
	(void)state;
	char me[24];
	snprintf(me, sizeof(me), "%d", (int)getpid());
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	assert_int_equal(uvfio_server_activation_fds(false), 0);
	setenv("LISTEN_FDS", "1", 1);
	assert_int_equal(uvfio_server_activation_fds(false), 0); /* no LISTEN_PID */
	setenv("LISTEN_PID", "1", 1);
	assert_int_equal(uvfio_server_activation_fds(false), 0); /* init's, not ours */
	static const char *const bad_pid[] = { "", "x", "-5", "0", "12x", "99999999999" };
	for (size_t i = 0; i < sizeof(bad_pid) / sizeof(bad_pid[0]); i++) {
		setenv("LISTEN_PID", bad_pid[i], 1);
		assert_int_equal(uvfio_server_activation_fds(false), -EINVAL);
	}
	setenv("LISTEN_PID", me, 1);
	static const char *const bad_n[] = { "", "one", "-1", "1 ", "4294967296" };
	for (size_t i = 0; i < sizeof(bad_n) / sizeof(bad_n[0]); i++) {
		setenv("LISTEN_FDS", bad_n[i], 1);
		assert_int_equal(uvfio_server_activation_fds(false), -EINVAL);
	}
	setenv("LISTEN_FDS", "0", 1);
	assert_int_equal(uvfio_server_activation_fds(false), 0);
	/* a descriptor counted but not open */
	setenv("LISTEN_FDS", "1000", 1);
	assert_int_equal(uvfio_server_activation_fds(false), -EBADF);
	assert_non_null(getenv("LISTEN_FDS"));
	assert_int_equal(uvfio_server_activation_fds(true), -EBADF);
	assert_null(getenv("LISTEN_FDS"));
	assert_null(getenv("LISTEN_PID"));
}

/* What uvfio_server_listen_fd() refuses (and closes). */
static void test_listen_fd_checks(void **state)
{
	(void)state;
	int before = tu_count_fds();
	struct uvfio_server_config cfg = { .log = { .level = UVFIO_LOG_ERR } };
	struct uvfio_server *s;
	assert_int_equal(uvfio_server_create(&cfg, &s), 0);
	int own = tu_count_fds(); /* with the server's own (epoll, eventfds) */
	int p[2];
	assert_int_equal(pipe(p), 0);
	close(p[1]);
	assert_int_equal(uvfio_server_listen_fd(s, p[0]), -ENOTSOCK);
	assert_int_equal(uvfio_server_listen_fd(s, socket(AF_INET, SOCK_STREAM, 0)), -EAFNOSUPPORT);
	assert_int_equal(uvfio_server_listen_fd(s, socket(AF_UNIX, SOCK_DGRAM, 0)), -EPROTOTYPE);
	assert_int_equal(uvfio_server_listen_fd(s, socket(AF_UNIX, SOCK_STREAM, 0)), -EINVAL);
	assert_int_equal(uvfio_server_listen_fd(s, -1), -EINVAL);
	assert_int_equal(uvfio_server_listen_fd(s, 1000), -EBADF);
	assert_int_equal(tu_count_fds(), own); /* each refused one closed */
	/* a good one; then a second is refused */
	char path[108];
	snprintf(path, sizeof(path), "/tmp/uvfio-access-lfd-%d.sock", (int)getpid());
	unlink(path);
	assert_int_equal(uvfio_server_listen_fd(s, listening_socket(path)), 0);
	char path2[120];
	snprintf(path2, sizeof(path2), "%s.2", path);
	unlink(path2);
	assert_int_equal(uvfio_server_listen_fd(s, listening_socket(path2)), -EINVAL);
	unlink(path2);
	assert_int_equal(uvfio_server_listen(s, "/tmp/uvfio-access-never.sock"), -EINVAL);
	uvfio_server_destroy(s);
	assert_int_equal(tu_count_fds(), before);
	assert_int_equal(access(path, F_OK), 0); /* not ours to remove */
	unlink(path);
}

int main(void)
{
	if (geteuid() != 0) {
		fprintf(stderr, "test_server_access changes credentials: run as root\n");
		return 77; /* skipped */
	}
	signal(SIGPIPE, SIG_IGN);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_socket_mode),    cmocka_unit_test(test_bad_config),
		cmocka_unit_test(test_socket_group_not_ours),
		cmocka_unit_test(test_uid_rule),       cmocka_unit_test(test_gid_rule),
		cmocka_unit_test(test_allow_callback),
		cmocka_unit_test(test_refusals_logged_bounded), cmocka_unit_test(test_socket_activation),
		cmocka_unit_test(test_activation_env), cmocka_unit_test(test_listen_fd_checks),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
