/*
 * tdfixture: what the unit tests of temp-drop mode share (see
 * tdfixture.h): the case directories and their settings, the open and
 * commit helpers, the message builders, and the children stopped at a step
 * by the crash hook.  Compiled into each test_tempdrop* program; it
 * reports no TAP result of its own.
 */
#include "config.h"

#include "tests/unit/server/maildrop/tdfixture.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/safeopen.h"
#include "server/maildrop/mbox.h"
#include "server/maildrop/tempdrop.h"

/* ---- the case ------------------------------------------------------------------ */

static char root[512];
char casedir[600], spool[700], lockp[700], state[700], tdir[700], tpath[800], mpath[800];
const char *tname = ".alice.pop";
static unsigned casenum;
bool keep_temp;

/* A fresh directory for one case; the temporary drop lives in the state
 * directory, as by default. */
void new_case(void)
{
	snprintf(casedir, sizeof(casedir), "%s/c%u", root, ++casenum);
	snprintf(spool, sizeof(spool), "%s/spool", casedir);
	snprintf(lockp, sizeof(lockp), "%s/spool.lock", casedir);
	snprintf(state, sizeof(state), "%s/state", casedir);
	snprintf(tdir, sizeof(tdir), "%s", state);
	snprintf(tpath, sizeof(tpath), "%s/%s", tdir, tname);
	snprintf(mpath, sizeof(mpath), "%s/%s", state, TEMPDROP_MARKER);
	if (mkdir(casedir, 0700) < 0 || mkdir(state, 0700) < 0)
		die("mkdir");
	keep_temp = false;
}

void set_temp_dir(const char *dir)
{
	snprintf(tdir, sizeof(tdir), "%s", dir);
	snprintf(tpath, sizeof(tpath), "%s/%s", tdir, tname);
}

void write_file(const char *path, const struct buf *b, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);

	if (fd < 0 || safe_write_all(fd, b->p != NULL ? b->p : "", b->len) < 0)
		die(path);
	close(fd);
	chmod(path, mode);
}

void append_file(const char *path, const struct buf *b)
{
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT, 0600);

	if (fd < 0 || safe_write_all(fd, b->p, b->len) < 0)
		die(path);
	close(fd);
}

/* Reads path into b; returns false (b empty) if it does not exist. */

bool exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

long long fsize(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0 ? (long long)st.st_size : -1;
}

void settings(struct maildrop_settings *s, bool temp_mode)
{
	memset(s, 0, sizeof(*s));
	s->path = spool;
	s->lock_path = lockp;
	s->state_dir = state;
	s->lock_wait = 1;
	s->trust_x_uidl = true;
	s->require_owner = true;
	s->owner_uid = getuid();
	s->temp_drop_mode = temp_mode;
	s->temp_dir = tdir;
	s->temp_name = tname;
	s->keep_temp_drop = keep_temp;
}

char last_reason[512];
struct maildrop_stats last_stats;

enum maildrop_status try_open(bool temp_mode, struct maildrop **md)
{
	struct maildrop_settings s;

	settings(&s, temp_mode);
	last_reason[0] = '\0';
	*md = NULL;
	return maildrop_open(&s, md, last_reason, sizeof(last_reason));
}

struct maildrop *open_ok(bool temp_mode)
{
	struct maildrop *md = NULL;
	enum maildrop_status st = try_open(temp_mode, &md);

	if (st != MAILDROP_OK) {
		printf("# open (%s mode) failed (%d): %s\n", temp_mode ? "temp-drop" : "server",
		       (int)st, last_reason);
		return NULL;
	}
	return md;
}

enum maildrop_status commit(struct maildrop *md)
{
	char reason[512] = "";
	enum maildrop_status st;

	memset(&last_stats, 0, sizeof(last_stats));
	st = maildrop_commit(md, &last_stats, reason, sizeof(reason));
	if (st != MAILDROP_OK)
		printf("# commit: %s\n", reason);
	return st;
}

/* Files in the state directory besides the UID state ("uids" and its
 * record "uids.started") and a kept empty temporary drop: markers,
 * journals, things set aside. */
int state_junk(void)
{
	DIR *d = opendir(state);
	struct dirent *e;
	int n = 0;

	if (d == NULL)
		return -1;
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0 ||
		    strcmp(e->d_name, "uids") == 0 || strcmp(e->d_name, "uids.started") == 0)
			continue;
		if (strcmp(e->d_name, tname) == 0 && keep_temp && fsize(tpath) == 0)
			continue;
		printf("# state directory holds %s\n", e->d_name);
		n++;
	}
	closedir(d);
	return n;
}

/* Files in the state directory whose name starts with prefix. */
int count_prefixed(const char *prefix)
{
	DIR *d = opendir(state);
	struct dirent *e;
	int n = 0;

	if (d == NULL)
		return -1;
	while ((e = readdir(d)) != NULL)
		if (strncmp(e->d_name, prefix, strlen(prefix)) == 0)
			n++;
	closedir(d);
	return n;
}

/* ---- messages --------------------------------------------------------------------- */

/* One message with framing: From_ line, header with X-Test-Id, a body of
 * about size bytes, the empty line. */
void add_msg(struct buf *b, const char *id, size_t size)
{
	char line[200];
	size_t start = b->len, n = 0;

	snprintf(line, sizeof(line),
		 "From sender@example.org Sat Jan  3 01:05:%02u 1996\nSubject: message %s\n"
		 "X-Test-Id: %s\n\n", (unsigned)(strlen(id) % 60), id, id);
	buf_adds(b, line);
	while (b->len - start < size) {
		snprintf(line, sizeof(line), "line %zu of message %s, some text to fill it up.\n",
			 ++n, id);
		buf_adds(b, line);
	}
	buf_adds(b, "\n");
}

void msgs(struct buf *b, const char *ids, size_t size)
{
	char id[32];
	const char *p = ids;

	while (*p != '\0') {
		size_t n = strcspn(p, " ");

		snprintf(id, sizeof(id), "%.*s", (int)n, p);
		if (n > 0)
			add_msg(b, id, size);
		p += n;
		while (*p == ' ')
			p++;
	}
}

/* The UIDs of md's first messages are want[] (those with keep[] set). */
bool uids_match(struct maildrop *md, char **want, const bool *keep)
{
	unsigned i, j = 0;

	for (i = 0; want[i] != NULL; i++) {
		if (keep != NULL && !keep[i])
			continue;
		if (j >= maildrop_count(md) || strcmp(maildrop_msg_uid(md, j), want[i]) != 0)
			return false;
		j++;
	}
	return true;
}

/* ---- children stopped at a step ----------------------------------------------------- */

static const char *stop_name;   /* stop at this named step ... */
static int stop_count;          /* ... or at the n-th step of either hook */
static int step_count;

static void crash_hook(const char *step)
{
	step_count++;
	if (getenv("TEST_TEMPDROP_TRACE") != NULL)
		printf("# step %d: %s\n", step_count, step), fflush(stdout);
	if ((stop_name != NULL && strcmp(step, stop_name) == 0) ||
	    (stop_count > 0 && step_count == stop_count))
		_exit(42);
}

void arm(const char *name, int count)
{
	stop_name = name;
	stop_count = count;
	step_count = 0;
	tempdrop_hook = crash_hook;
	mbox_update_hook = crash_hook;
}

pid_t td_fork(void)
{
	pid_t pid = fork();

	if (pid < 0)
		die("fork");
	return pid;
}

int td_wait(pid_t pid)
{
	int status;

	waitpid(pid, &status, 0);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

void limit_fsize(rlim_t limit)
{
	struct rlimit rl = { limit, limit };

	signal(SIGXFSZ, SIG_IGN);
	if (setrlimit(RLIMIT_FSIZE, &rl) < 0)
		_exit(5);
}

/* Runs a scenario in a child stopped at (name | count).  Returns 42 if it
 * stopped, 0 if it ran to the end, 3 open failed, 4 commit failed. */
int child_run(const struct scenario *sc, const char *name, int count)
{
	pid_t pid = td_fork();

	if (pid == 0) {
		struct maildrop *md = NULL;
		unsigned i;

		if (sc->limit > 0)
			limit_fsize(sc->limit);
		if (!sc->writeback) {
			arm(name, count);
			/* A login that completes and then dies: a session
			 * killed during TRANSACTION. */
			_exit(try_open(true, &md) == MAILDROP_OK ? 0 : 3);
		}
		if (try_open(true, &md) != MAILDROP_OK)
			_exit(3);
		if (sc->during != NULL && sc->during->len > 0)
			append_file(spool, sc->during);
		for (i = 0; sc->del != NULL && i < maildrop_count(md); i++)
			if (sc->del[i])
				maildrop_msg_delete(md, i);
		arm(name, count);
		_exit(commit(md) == MAILDROP_OK ? 0 : 4);
	}
	return td_wait(pid);
}

/* ---- a small file system ------------------------------------------------------------ */

/* Returns 0 if mounted a tmpfs of size_k KiB at dir, else -1. */
static int small_fs(const char *dir, unsigned size_k)
{
	char opts[64];

	if (geteuid() != 0)
		return -1;
	snprintf(opts, sizeof(opts), "size=%uk,mode=0700", size_k);
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return -1;
	return mount("tmpfs", dir, "tmpfs", 0, opts);
}

const char *small_fs_case(char *mnt, size_t size, const char *name, unsigned size_k)
{
	new_case();
	snprintf(mnt, size, "%s/%s", casedir, name);
	if (small_fs(mnt, size_k) < 0)
		return geteuid() == 0 ? "cannot mount a tmpfs here" : "needs root to mount a tmpfs";
	return NULL;
}

void small_fs_umount(const char *mnt)
{
	if (umount2(mnt, MNT_DETACH) < 0)
		printf("# umount %s: %s\n", mnt, strerror(errno));
}

/* ---- the program ------------------------------------------------------------------- */

static void cleanup(void)
{
	char cmd[700];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	if (system(cmd) != 0)
		printf("# could not remove %s\n", root);
}

void td_run(const char *name, ...)
{
	const char *tmp = getenv("TMPDIR");
	void (*test)(void);
	va_list ap;

	signal(SIGPIPE, SIG_IGN);
	umask(077);
	snprintf(root, sizeof(root), "%s/%s.XXXXXX", tmp && *tmp ? tmp : "/tmp", name);
	if (mkdtemp(root) == NULL)
		die("mkdtemp");
	va_start(ap, name);
	while ((test = va_arg(ap, void (*)(void))) != TD_END)
		test();
	va_end(ap);
	cleanup();
}
