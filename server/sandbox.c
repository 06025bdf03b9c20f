/*
 * sandbox: the pre-auth process's confinement (see sandbox.h).
 *
 * Order in sandbox_enter, and why: the time zone is loaded while files can
 * still be read (the log's time stamps); chroot while we are root; the ids
 * (server/privdrop.c, the one place ids change); limits; not dumpable (no
 * core, no ptrace by the same uid); no_new_privs (so no setuid program
 * could give anything back, and the filter may be loaded unprivileged);
 * the filter last, because everything before it needs calls it forbids.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#ifdef HAVE_SECCOMP
#include <seccomp.h>
#endif

#include "lib/log.h"
#include "lib/reason.h"
#include "lib/strnum.h"
#include "server/privdrop.h"
#include "server/sandbox.h"

/* Descriptors the pre-auth process may open (it opens none; the limit
 * stops anything that would). */
#define SANDBOX_NOFILE 32
/* Address space: the engine, OpenSSL and a 32 KiB SASL line fit many
 * times over. */
#define SANDBOX_AS_BYTES (512UL * 1024 * 1024)

#if defined(__SANITIZE_ADDRESS__)
#define SANDBOX_UNDER_SANITIZER 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SANDBOX_UNDER_SANITIZER 1
#endif
#endif

static struct {
	bool ready;
	uid_t uid;
	gid_t gid;
	char chroot_dir[4096];
	char test_deny[32];
	bool filter;     /* load the seccomp filter */
} plan;

bool sandbox_seccomp_built(void)
{
#ifdef HAVE_SECCOMP
	return true;
#else
	return false;
#endif
}

void sandbox_test_deny(const char *syscall_name)
{
	snprintf(plan.test_deny, sizeof(plan.test_deny), "%s", syscall_name);
}

/* "UID" or "UID:GID" (no account), or an account name. */
static int resolve_account(const char *spec, char *err, size_t errsize)
{
	const char *colon = strchr(spec, ':');
	uint64_t v;
	struct passwd *pw;

	if (spec[0] >= '0' && spec[0] <= '9') {
		char uidpart[32];
		size_t n = colon != NULL ? (size_t)(colon - spec) : strlen(spec);

		if (n >= sizeof(uidpart))
			goto bad_number;
		memcpy(uidpart, spec, n);
		uidpart[n] = '\0';
		if (!strnum_parse_u64(uidpart, 0xfffffffeU, &v) || v == 0)
			goto bad_number;
		plan.uid = (uid_t)v;
		plan.gid = (gid_t)v;
		if (colon != NULL) {
			if (!strnum_parse_u64(colon + 1, 0xfffffffeU, &v) || v == 0)
				goto bad_number;
			plan.gid = (gid_t)v;
		}
		return 0;
	}
	errno = 0;
	pw = getpwnam(spec);
	if (pw == NULL) {
		reason_set(err, errsize,
			   "preauth-user %s: no such account (create it, e.g. with "
			   "\"adduser --system --group --no-create-home %s\", or name another)",
			   spec, spec);
		return -1;
	}
	if (pw->pw_uid == 0 || pw->pw_gid == 0) {
		reason_set(err, errsize, "preauth-user %s: must not be root or in group 0", spec);
		return -1;
	}
	plan.uid = pw->pw_uid;
	plan.gid = pw->pw_gid;
	return 0;
bad_number:
	reason_set(err, errsize, "preauth-user %s: not an account, nor UID or UID:GID above 0",
		   spec);
	return -1;
}

/* The chroot directory: made if missing, then it must be a real,
 * root-owned directory nobody else can write, with nothing in it. */
static int check_chroot_dir(const char *dir, char *err, size_t errsize)
{
	struct stat st;
	DIR *d;
	struct dirent *e;
	int fd;

	if (mkdir(dir, 0555) < 0 && errno != EEXIST) {
		reason_set(err, errsize, "preauth-chroot %s: cannot create: %s", dir, strerror(errno));
		return -1;
	}
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0) {
		reason_set(err, errsize, "preauth-chroot %s: %s", dir, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	if (st.st_uid != geteuid() || (st.st_mode & 022) != 0) {
		close(fd);
		reason_set(err, errsize,
			   "preauth-chroot %s: must be owned by uid %lu and not writable by "
			   "group or others", dir, (unsigned long)geteuid());
		return -1;
	}
	d = fdopendir(fd);
	if (d == NULL) {
		close(fd);
		reason_set(err, errsize, "preauth-chroot %s: %s", dir, strerror(errno));
		return -1;
	}
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
			closedir(d);
			reason_set(err, errsize, "preauth-chroot %s: must be empty", dir);
			return -1;
		}
	}
	closedir(d);
	return 0;
}

int sandbox_prepare(const struct settings *set, char *err, size_t errsize)
{
	const char *user = set->preauth_user != NULL ? set->preauth_user : PREAUTH_USER;
	int n;

	plan.ready = false;
	if (set->preauth_chroot != NULL && set->preauth_chroot[0] != '\0')
		n = snprintf(plan.chroot_dir, sizeof(plan.chroot_dir), "%s", set->preauth_chroot);
	else
		n = snprintf(plan.chroot_dir, sizeof(plan.chroot_dir), "%s/empty", set->state_dir);
	if (n < 0 || (size_t)n >= sizeof(plan.chroot_dir) || plan.chroot_dir[0] != '/') {
		reason_set(err, errsize, "preauth-chroot: an absolute path of reasonable length is required");
		return -1;
	}
	if (geteuid() == 0) {
		if (resolve_account(user, err, errsize) != 0)
			return -1;
		if (check_chroot_dir(plan.chroot_dir, err, errsize) != 0)
			return -1;
	}
	plan.filter = false;
	if (!sandbox_seccomp_built())
		log_notice("the pre-auth process runs without a seccomp filter: built without libseccomp");
	else if (!set->seccomp)
		log_notice("the pre-auth process runs without a seccomp filter: seccomp is off in the configuration");
	else if (prctl(PR_GET_SECCOMP, 0, 0, 0, 0) < 0 && errno == EINVAL)
		log_warning("the pre-auth process runs without a seccomp filter: the kernel has no seccomp");
	else
		plan.filter = true;
	plan.ready = true;
	return 0;
}

static int set_limit(int resource, rlim_t value, const char *name, char *reason,
		     size_t reasonsize)
{
	struct rlimit rl = { value, value };

	if (setrlimit(resource, &rl) < 0) {
		reason_set(reason, reasonsize, "setrlimit(%s): %s", name, strerror(errno));
		return -1;
	}
	return 0;
}

static int limit_resources(char *reason, size_t reasonsize)
{
	if (set_limit(RLIMIT_CORE, 0, "RLIMIT_CORE", reason, reasonsize) != 0 ||
	    set_limit(RLIMIT_NOFILE, SANDBOX_NOFILE, "RLIMIT_NOFILE", reason, reasonsize) != 0)
		return -1;
	/* It creates no processes; as another uid than root this makes
	 * fork fail even without the filter. */
	if (geteuid() != 0 && set_limit(RLIMIT_NPROC, 0, "RLIMIT_NPROC", reason, reasonsize) != 0)
		return -1;
	/* No RLIMIT_FSIZE: the log may be stderr redirected to a file, and a
	 * write past the limit would kill the process.  It opens no file
	 * (the filter refuses open), so it can only write where it was
	 * given a descriptor. */
#ifndef SANDBOX_UNDER_SANITIZER
	/* (A sanitizer's shadow memory needs terabytes of address space.) */
	if (set_limit(RLIMIT_AS, SANDBOX_AS_BYTES, "RLIMIT_AS", reason, reasonsize) != 0)
		return -1;
#endif
	return 0;
}

#ifdef HAVE_SECCOMP
/* What the engine, netio, the TLS library and the log need once the
 * process is confined: I/O on the descriptors it has, the monitor's
 * socket, memory (never executable), clocks, sleeping, randomness,
 * signals returning, exit.
 * open and socket (OpenSSL looking for a file, syslog reconnecting) fail
 * with EACCES instead of killing; anything else kills the process. */
static const char *const allowed[] = {
	"read", "write", "readv", "writev", "recvmsg", "sendmsg", "recvfrom", "sendto",
	"poll", "ppoll", "close", "shutdown", "fcntl", "fstat", "newfstatat", "lseek",
	"brk", "munmap", "mremap", "madvise", "futex",
	"clock_gettime", "clock_nanosleep", "nanosleep", "gettimeofday", "time",
	"getpid", "gettid", "getuid", "geteuid", "getgid", "getegid", "getrandom",
	"rt_sigreturn", "rt_sigprocmask", "sigaltstack", "restart_syscall", "sched_yield",
	"exit", "exit_group",
};
static const char *const refused[] = { "open", "openat", "socket", "connect" };

static int load_filter(char *reason, size_t reasonsize)
{
	uint32_t kill = SCMP_ACT_KILL_PROCESS;
	scmp_filter_ctx ctx;
	int rc = 0;

#ifdef SANDBOX_UNDER_SANITIZER
	/* The sanitizers' runtime makes calls of its own (at a report, at
	 * exit); there an unexpected call fails instead of killing. */
	kill = SCMP_ACT_ERRNO(ENOSYS);
#endif
	ctx = seccomp_init(kill);
	if (ctx == NULL) {
		reason_set(reason, reasonsize, "seccomp_init failed");
		return -1;
	}
	for (size_t i = 0; rc == 0 && i < sizeof(allowed) / sizeof(allowed[0]); i++) {
		int nr = seccomp_syscall_resolve_name(allowed[i]);

		if (nr == __NR_SCMP_ERROR || strcmp(allowed[i], plan.test_deny) == 0)
			continue;   /* not on this architecture, or the test's */
		rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0);
	}
	for (size_t i = 0; rc == 0 && i < sizeof(refused) / sizeof(refused[0]); i++) {
		int nr = seccomp_syscall_resolve_name(refused[i]);

		if (nr != __NR_SCMP_ERROR)
			rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EACCES), nr, 0);
	}
	/* Memory, but never executable: injected code cannot be made to run
	 * through a new mapping or a changed protection. */
	if (rc == 0)
		rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mmap), 1,
				      SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
	if (rc == 0)
		rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mprotect), 1,
				      SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
	/* ioctl only to ask how many bytes wait (STLS's injection check). */
	if (rc == 0 && strcmp(plan.test_deny, "ioctl") != 0)
		rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1,
				      SCMP_A1(SCMP_CMP_EQ, FIONREAD));
	if (rc == 0)
		rc = seccomp_load(ctx);
	seccomp_release(ctx);
	if (rc != 0) {
		reason_set(reason, reasonsize, "seccomp filter: %s", strerror(-rc));
		return -1;
	}
	return 0;
}
#endif

int sandbox_enter(char *reason, size_t reasonsize)
{
	if (!plan.ready) {
		reason_set(reason, reasonsize, "sandbox not prepared");
		return -1;
	}
	tzset();
	if (geteuid() == 0) {
		if (chroot(plan.chroot_dir) < 0 || chdir("/") < 0) {
			reason_set(reason, reasonsize, "chroot %s: %s", plan.chroot_dir,
				   strerror(errno));
			return -1;
		}
		if (privdrop_to(NULL, plan.uid, plan.gid, reason, reasonsize) != 0)
			return -1;
	}
	if (limit_resources(reason, reasonsize) != 0)
		return -1;
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0 ||
	    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
		reason_set(reason, reasonsize, "prctl: %s", strerror(errno));
		return -1;
	}
#ifdef HAVE_SECCOMP
	if (plan.filter)
		return load_filter(reason, reasonsize);
#endif
	return 0;
}
