/*
 * sysfault - count the system calls of a process tree, and kill it or fail
 * one call at a chosen point.
 *
 * Popper's fault-injection sweeps need to stop the server at *every* system
 * call of the mailbox update that follows the client's QUIT, and of the
 * recovery session that follows the crash, and to make every write, fsync
 * and ftruncate fail in turn.  strace can inject faults, but its counters
 * are per syscall and per process, and the sweeps want one number ("the
 * N-th interesting call after QUIT, whichever process makes it").  This
 * tool gives exactly that: one global counter over every traced process
 * and thread, started by a marker string seen in data the tracee read,
 * with "kill everything at N" and "fail call N with errno E".
 *
 * Usage: sysfault [-s LIST] [-A STRING] [-k N] [-e N:ERR ...] [-r REPORT]
 *                 [-l LOG] [-t SECS] -- CMD [ARGS...]
 * See tests/tools/README for the options, exit statuses and file formats.
 *
 * Only libc is used, so it builds anywhere the test suite builds.  Linux
 * only; register access is written for x86_64 and aarch64.
 */
#define _GNU_SOURCE
#include <elf.h>
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <sys/user.h>
#include <sys/wait.h>

#if defined(__x86_64__)
# define SF_AUDIT_ARCH 0xC000003EU	/* AUDIT_ARCH_X86_64 */
#elif defined(__aarch64__)
# define SF_AUDIT_ARCH 0xC00000B7U	/* AUDIT_ARCH_AARCH64 */
# ifndef NT_ARM_SYSTEM_CALL
#  define NT_ARM_SYSTEM_CALL 0x404
# endif
#else
# define SF_UNSUPPORTED_ARCH 1
# define SF_AUDIT_ARCH 0U
#endif

/*
 * Our own copy of the kernel's struct ptrace_syscall_info: older C
 * libraries lack it, newer ones name it differently, and the kernel ABI
 * (linux >= 5.3) is what matters.
 */
#define SF_GET_SYSCALL_INFO 0x420e
#define SF_OP_ENTRY 1
#define SF_OP_EXIT 2
struct sf_syscall_info {
	uint8_t op;
	uint8_t pad[3];
	uint32_t arch;
	uint64_t instruction_pointer;
	uint64_t stack_pointer;
	union {
		struct {
			uint64_t nr;
			uint64_t args[6];
		} entry;
		struct {
			int64_t rval;
			uint8_t is_error;
		} exit;
	} u;
};

#define EXIT_USAGE 2
#define EXIT_SETUP 3
#define EXIT_TIMEOUT 124

#define MAX_TIDS 1024		/* fixed table: the tool must not grow without bound */
#define MAX_INJECT 8
#define MAX_NR 2048		/* above every syscall number of the supported arches */
#define PEEK_MAX 4096		/* most bytes of a read examined for the -A marker */
#define MARKER_MAX 256
#define IOV_BATCH 64

/* ---- syscall names ------------------------------------------------- */

struct scname {
	long nr;
	const char *name;
};

#define SC(n) { SYS_##n, #n }
static const struct scname sctab[] = {
#ifdef SYS_read
	SC(read),
#endif
#ifdef SYS_write
	SC(write),
#endif
#ifdef SYS_open
	SC(open),
#endif
#ifdef SYS_openat
	SC(openat),
#endif
#ifdef SYS_openat2
	SC(openat2),
#endif
#ifdef SYS_creat
	SC(creat),
#endif
#ifdef SYS_close
	SC(close),
#endif
#ifdef SYS_close_range
	SC(close_range),
#endif
#ifdef SYS_stat
	SC(stat),
#endif
#ifdef SYS_fstat
	SC(fstat),
#endif
#ifdef SYS_lstat
	SC(lstat),
#endif
#ifdef SYS_newfstatat
	SC(newfstatat),
#endif
#ifdef SYS_fstatat64
	SC(fstatat64),
#endif
#ifdef SYS_statx
	SC(statx),
#endif
#ifdef SYS_statfs
	SC(statfs),
#endif
#ifdef SYS_fstatfs
	SC(fstatfs),
#endif
#ifdef SYS_lseek
	SC(lseek),
#endif
#ifdef SYS_pread64
	SC(pread64),
#endif
#ifdef SYS_pwrite64
	SC(pwrite64),
#endif
#ifdef SYS_readv
	SC(readv),
#endif
#ifdef SYS_writev
	SC(writev),
#endif
#ifdef SYS_preadv
	SC(preadv),
#endif
#ifdef SYS_pwritev
	SC(pwritev),
#endif
#ifdef SYS_preadv2
	SC(preadv2),
#endif
#ifdef SYS_pwritev2
	SC(pwritev2),
#endif
#ifdef SYS_sendfile
	SC(sendfile),
#endif
#ifdef SYS_copy_file_range
	SC(copy_file_range),
#endif
#ifdef SYS_splice
	SC(splice),
#endif
#ifdef SYS_fsync
	SC(fsync),
#endif
#ifdef SYS_fdatasync
	SC(fdatasync),
#endif
#ifdef SYS_sync
	SC(sync),
#endif
#ifdef SYS_syncfs
	SC(syncfs),
#endif
#ifdef SYS_sync_file_range
	SC(sync_file_range),
#endif
#ifdef SYS_truncate
	SC(truncate),
#endif
#ifdef SYS_ftruncate
	SC(ftruncate),
#endif
#ifdef SYS_fallocate
	SC(fallocate),
#endif
#ifdef SYS_flock
	SC(flock),
#endif
#ifdef SYS_fcntl
	SC(fcntl),
#endif
#ifdef SYS_ioctl
	SC(ioctl),
#endif
#ifdef SYS_rename
	SC(rename),
#endif
#ifdef SYS_renameat
	SC(renameat),
#endif
#ifdef SYS_renameat2
	SC(renameat2),
#endif
#ifdef SYS_link
	SC(link),
#endif
#ifdef SYS_linkat
	SC(linkat),
#endif
#ifdef SYS_symlink
	SC(symlink),
#endif
#ifdef SYS_symlinkat
	SC(symlinkat),
#endif
#ifdef SYS_unlink
	SC(unlink),
#endif
#ifdef SYS_unlinkat
	SC(unlinkat),
#endif
#ifdef SYS_mkdir
	SC(mkdir),
#endif
#ifdef SYS_mkdirat
	SC(mkdirat),
#endif
#ifdef SYS_rmdir
	SC(rmdir),
#endif
#ifdef SYS_readlink
	SC(readlink),
#endif
#ifdef SYS_readlinkat
	SC(readlinkat),
#endif
#ifdef SYS_access
	SC(access),
#endif
#ifdef SYS_faccessat
	SC(faccessat),
#endif
#ifdef SYS_faccessat2
	SC(faccessat2),
#endif
#ifdef SYS_chmod
	SC(chmod),
#endif
#ifdef SYS_fchmod
	SC(fchmod),
#endif
#ifdef SYS_fchmodat
	SC(fchmodat),
#endif
#ifdef SYS_chown
	SC(chown),
#endif
#ifdef SYS_fchown
	SC(fchown),
#endif
#ifdef SYS_fchownat
	SC(fchownat),
#endif
#ifdef SYS_lchown
	SC(lchown),
#endif
#ifdef SYS_utimensat
	SC(utimensat),
#endif
#ifdef SYS_umask
	SC(umask),
#endif
#ifdef SYS_getdents64
	SC(getdents64),
#endif
#ifdef SYS_getcwd
	SC(getcwd),
#endif
#ifdef SYS_chdir
	SC(chdir),
#endif
#ifdef SYS_fchdir
	SC(fchdir),
#endif
#ifdef SYS_mknod
	SC(mknod),
#endif
#ifdef SYS_mknodat
	SC(mknodat),
#endif
#ifdef SYS_dup
	SC(dup),
#endif
#ifdef SYS_dup2
	SC(dup2),
#endif
#ifdef SYS_dup3
	SC(dup3),
#endif
#ifdef SYS_pipe
	SC(pipe),
#endif
#ifdef SYS_pipe2
	SC(pipe2),
#endif
#ifdef SYS_poll
	SC(poll),
#endif
#ifdef SYS_ppoll
	SC(ppoll),
#endif
#ifdef SYS_select
	SC(select),
#endif
#ifdef SYS_pselect6
	SC(pselect6),
#endif
#ifdef SYS_epoll_create1
	SC(epoll_create1),
#endif
#ifdef SYS_epoll_ctl
	SC(epoll_ctl),
#endif
#ifdef SYS_epoll_wait
	SC(epoll_wait),
#endif
#ifdef SYS_epoll_pwait
	SC(epoll_pwait),
#endif
#ifdef SYS_eventfd2
	SC(eventfd2),
#endif
#ifdef SYS_socket
	SC(socket),
#endif
#ifdef SYS_socketpair
	SC(socketpair),
#endif
#ifdef SYS_connect
	SC(connect),
#endif
#ifdef SYS_accept
	SC(accept),
#endif
#ifdef SYS_accept4
	SC(accept4),
#endif
#ifdef SYS_bind
	SC(bind),
#endif
#ifdef SYS_listen
	SC(listen),
#endif
#ifdef SYS_shutdown
	SC(shutdown),
#endif
#ifdef SYS_sendto
	SC(sendto),
#endif
#ifdef SYS_recvfrom
	SC(recvfrom),
#endif
#ifdef SYS_sendmsg
	SC(sendmsg),
#endif
#ifdef SYS_recvmsg
	SC(recvmsg),
#endif
#ifdef SYS_sendmmsg
	SC(sendmmsg),
#endif
#ifdef SYS_recvmmsg
	SC(recvmmsg),
#endif
#ifdef SYS_getsockname
	SC(getsockname),
#endif
#ifdef SYS_getpeername
	SC(getpeername),
#endif
#ifdef SYS_setsockopt
	SC(setsockopt),
#endif
#ifdef SYS_getsockopt
	SC(getsockopt),
#endif
#ifdef SYS_mmap
	SC(mmap),
#endif
#ifdef SYS_munmap
	SC(munmap),
#endif
#ifdef SYS_mprotect
	SC(mprotect),
#endif
#ifdef SYS_mremap
	SC(mremap),
#endif
#ifdef SYS_msync
	SC(msync),
#endif
#ifdef SYS_madvise
	SC(madvise),
#endif
#ifdef SYS_brk
	SC(brk),
#endif
#ifdef SYS_clone
	SC(clone),
#endif
#ifdef SYS_clone3
	SC(clone3),
#endif
#ifdef SYS_fork
	SC(fork),
#endif
#ifdef SYS_vfork
	SC(vfork),
#endif
#ifdef SYS_execve
	SC(execve),
#endif
#ifdef SYS_execveat
	SC(execveat),
#endif
#ifdef SYS_exit
	SC(exit),
#endif
#ifdef SYS_exit_group
	SC(exit_group),
#endif
#ifdef SYS_wait4
	SC(wait4),
#endif
#ifdef SYS_waitid
	SC(waitid),
#endif
#ifdef SYS_kill
	SC(kill),
#endif
#ifdef SYS_tkill
	SC(tkill),
#endif
#ifdef SYS_tgkill
	SC(tgkill),
#endif
#ifdef SYS_rt_sigaction
	SC(rt_sigaction),
#endif
#ifdef SYS_rt_sigprocmask
	SC(rt_sigprocmask),
#endif
#ifdef SYS_rt_sigreturn
	SC(rt_sigreturn),
#endif
#ifdef SYS_rt_sigsuspend
	SC(rt_sigsuspend),
#endif
#ifdef SYS_rt_sigtimedwait
	SC(rt_sigtimedwait),
#endif
#ifdef SYS_sigaltstack
	SC(sigaltstack),
#endif
#ifdef SYS_pause
	SC(pause),
#endif
#ifdef SYS_alarm
	SC(alarm),
#endif
#ifdef SYS_nanosleep
	SC(nanosleep),
#endif
#ifdef SYS_clock_nanosleep
	SC(clock_nanosleep),
#endif
#ifdef SYS_clock_gettime
	SC(clock_gettime),
#endif
#ifdef SYS_gettimeofday
	SC(gettimeofday),
#endif
#ifdef SYS_time
	SC(time),
#endif
#ifdef SYS_times
	SC(times),
#endif
#ifdef SYS_getpid
	SC(getpid),
#endif
#ifdef SYS_getppid
	SC(getppid),
#endif
#ifdef SYS_gettid
	SC(gettid),
#endif
#ifdef SYS_getuid
	SC(getuid),
#endif
#ifdef SYS_geteuid
	SC(geteuid),
#endif
#ifdef SYS_getgid
	SC(getgid),
#endif
#ifdef SYS_getegid
	SC(getegid),
#endif
#ifdef SYS_getgroups
	SC(getgroups),
#endif
#ifdef SYS_setgroups
	SC(setgroups),
#endif
#ifdef SYS_setuid
	SC(setuid),
#endif
#ifdef SYS_setgid
	SC(setgid),
#endif
#ifdef SYS_setreuid
	SC(setreuid),
#endif
#ifdef SYS_setregid
	SC(setregid),
#endif
#ifdef SYS_setresuid
	SC(setresuid),
#endif
#ifdef SYS_setresgid
	SC(setresgid),
#endif
#ifdef SYS_getresuid
	SC(getresuid),
#endif
#ifdef SYS_getresgid
	SC(getresgid),
#endif
#ifdef SYS_setsid
	SC(setsid),
#endif
#ifdef SYS_getsid
	SC(getsid),
#endif
#ifdef SYS_setpgid
	SC(setpgid),
#endif
#ifdef SYS_getpgid
	SC(getpgid),
#endif
#ifdef SYS_getrlimit
	SC(getrlimit),
#endif
#ifdef SYS_setrlimit
	SC(setrlimit),
#endif
#ifdef SYS_prlimit64
	SC(prlimit64),
#endif
#ifdef SYS_getrusage
	SC(getrusage),
#endif
#ifdef SYS_uname
	SC(uname),
#endif
#ifdef SYS_sysinfo
	SC(sysinfo),
#endif
#ifdef SYS_prctl
	SC(prctl),
#endif
#ifdef SYS_arch_prctl
	SC(arch_prctl),
#endif
#ifdef SYS_futex
	SC(futex),
#endif
#ifdef SYS_set_tid_address
	SC(set_tid_address),
#endif
#ifdef SYS_set_robust_list
	SC(set_robust_list),
#endif
#ifdef SYS_rseq
	SC(rseq),
#endif
#ifdef SYS_getrandom
	SC(getrandom),
#endif
#ifdef SYS_sched_yield
	SC(sched_yield),
#endif
#ifdef SYS_sched_getaffinity
	SC(sched_getaffinity),
#endif
};
#undef SC

static const char *sc_name(long nr, char *buf, size_t cap)
{
	size_t i;

	for (i = 0; i < sizeof sctab / sizeof sctab[0]; i++)
		if (sctab[i].nr == nr)
			return sctab[i].name;
	snprintf(buf, cap, "sys_%ld", nr);
	return buf;
}

static int parse_ulong(const char *s, unsigned long *out)
{
	char *end;
	unsigned long v;

	/* strtoul would quietly accept "-1" as a huge number */
	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end)
		return -1;
	*out = v;
	return 0;
}

/* Accepts the table's names and, for calls missing from it, "sys_NNN". */
static long sc_lookup(const char *name)
{
	size_t i;
	unsigned long v;

	for (i = 0; i < sizeof sctab / sizeof sctab[0]; i++)
		if (strcmp(sctab[i].name, name) == 0)
			return sctab[i].nr;
	if (strncmp(name, "sys_", 4) == 0 && parse_ulong(name + 4, &v) == 0 && v < MAX_NR)
		return (long)v;
	return -1;
}

static const struct {
	const char *name;
	int err;
} errtab[] = {
	{ "EIO", EIO }, { "ENOSPC", ENOSPC }, { "EDQUOT", EDQUOT },
	{ "EINTR", EINTR }, { "EAGAIN", EAGAIN }, { "ENOMEM", ENOMEM },
	{ "EPERM", EPERM }, { "EACCES", EACCES }, { "EROFS", EROFS },
	{ "EFBIG", EFBIG },
};

static int err_lookup(const char *name)
{
	size_t i;
	unsigned long v;

	for (i = 0; i < sizeof errtab / sizeof errtab[0]; i++)
		if (strcmp(errtab[i].name, name) == 0)
			return errtab[i].err;
	/* the kernel's error range is 1..4095; anything else is not an errno */
	if (parse_ulong(name, &v) == 0 && v >= 1 && v <= 4095)
		return (int)v;
	return -1;
}

/* ---- state ----------------------------------------------------------- */

struct tracee {
	volatile pid_t tid;	/* 0: free; read by the SIGALRM handler */
	int fresh;		/* auto-attached, its initial SIGSTOP not seen yet */
	int in_syscall;
	long nr;		/* syscall at the last entry */
	unsigned long long args[3];
	unsigned long count_no;	/* counter value of the call in progress, 0: none */
	int inject_err;		/* errno to deliver at the exit, 0: none */
};

static struct tracee tab[MAX_TIDS];

static unsigned char wanted[MAX_NR / 8];
static int have_list;
static char marker[MARKER_MAX];
static size_t marker_len;
static int have_marker;
static unsigned long kill_at;
static struct {
	unsigned long n;
	int err;
} injections[MAX_INJECT];
static int n_injections;
static FILE *log_file;

static int counting;		/* the marker was seen (or none was asked for) */
static int exec_seen;		/* CMD itself runs: our own pre-exec calls are not its */
static int use_sysinfo = 1;
static unsigned long counted;
static unsigned long injected;
static int killed;
static int killing;		/* everything is being killed: resume nothing */
static int fatal;		/* internal failure: exit EXIT_SETUP */
static volatile sig_atomic_t timed_out;

static void kill_all(void)
{
	int i;

	for (i = 0; i < MAX_TIDS; i++) {
		pid_t t = tab[i].tid;

		if (t > 0)
			kill(t, SIGKILL);
	}
}

/*
 * Killing from the handler itself (not just setting a flag) means a
 * timeout cannot be lost in the window before waitpid blocks: the deaths
 * it causes wake waitpid up.
 */
static void on_alarm(int sig)
{
	(void)sig;
	timed_out = 1;
	kill_all();
}

static struct tracee *find(pid_t tid)
{
	int i;

	for (i = 0; i < MAX_TIDS; i++)
		if (tab[i].tid == tid)
			return &tab[i];
	return NULL;
}

static struct tracee *add(pid_t tid)
{
	int i;

	for (i = 0; i < MAX_TIDS; i++) {
		if (tab[i].tid == 0) {
			memset(&tab[i], 0, sizeof tab[i]);
			tab[i].nr = -1;
			tab[i].tid = tid;
			return &tab[i];
		}
	}
	return NULL;
}

/* A full table means we would lose track of a process: stop the run. */
static void overflow(pid_t tid)
{
	if (!killing)
		fprintf(stderr, "sysfault: more than %d traced threads; giving up\n", MAX_TIDS);
	fatal = 1;
	killing = 1;
	kill(tid, SIGKILL);
	kill_all();
}

static void log_line(unsigned long n, pid_t tid, long nr, const char *ret)
{
	char buf[32];

	if (log_file)
		fprintf(log_file, "%lu %d %s %s\n", n, (int)tid, sc_name(nr, buf, sizeof buf), ret);
}

/* The call in progress will never report its exit (the thread died). */
static void drop(struct tracee *t)
{
	if (t->count_no)
		log_line(t->count_no, t->tid, t->nr, "?");
	t->count_no = 0;
	t->tid = 0;
}

/* ---- register access ------------------------------------------------ */

struct stop {
	int entering;
	int native;
	long nr;
	unsigned long long args[3];
	long long ret;
};

static int read_regs_stop(struct tracee *t, struct stop *s)
{
#if defined(__x86_64__)
	struct user_regs_struct r;

	if (ptrace(PTRACE_GETREGS, t->tid, 0, &r) < 0)
		return -1;
	s->nr = (long)r.orig_rax;
	s->args[0] = r.rdi;
	s->args[1] = r.rsi;
	s->args[2] = r.rdx;
	s->ret = (long long)r.rax;
	return 0;
#elif defined(__aarch64__)
	struct user_regs_struct r;
	struct iovec io = { &r, sizeof r };

	if (ptrace(PTRACE_GETREGSET, t->tid, (void *)(uintptr_t)NT_PRSTATUS, &io) < 0)
		return -1;
	s->nr = (long)r.regs[8];
	s->args[0] = r.regs[0];
	s->args[1] = r.regs[1];
	s->args[2] = r.regs[2];
	s->ret = (long long)r.regs[0];
	return 0;
#else
	(void)t;
	(void)s;
	return -1;
#endif
}

/*
 * Entry or exit?  The kernel says so through PTRACE_GET_SYSCALL_INFO;
 * before 5.3 we rely on our own alternation, which the exec and new-thread
 * handling keeps in step.
 */
static int read_stop(struct tracee *t, struct stop *s)
{
	memset(s, 0, sizeof *s);
	s->native = 1;
	if (use_sysinfo) {
		struct sf_syscall_info in;
		long r;

		memset(&in, 0, sizeof in);
		r = ptrace(SF_GET_SYSCALL_INFO, t->tid, (void *)sizeof in, &in);
		if (r > 0 && in.op == SF_OP_ENTRY) {
			s->entering = 1;
			s->native = in.arch == SF_AUDIT_ARCH;
			s->nr = (long)in.u.entry.nr;
			s->args[0] = in.u.entry.args[0];
			s->args[1] = in.u.entry.args[1];
			s->args[2] = in.u.entry.args[2];
			return 0;
		}
		if (r > 0 && in.op == SF_OP_EXIT) {
			s->entering = 0;
			s->native = in.arch == SF_AUDIT_ARCH;
			s->nr = t->nr;
			s->ret = in.u.exit.rval;
			return 0;
		}
		if (r < 0 && errno == ESRCH)
			return -1;
		if (r < 0)
			use_sysinfo = 0;
	}
	s->entering = !t->in_syscall;
	if (read_regs_stop(t, s) < 0)
		return -1;
	if (!s->entering)
		s->nr = t->nr;
	return 0;
}

/* Turn the call at this entry stop into "no syscall": the kernel skips it. */
static int skip_syscall(pid_t tid)
{
#if defined(__x86_64__)
	struct user_regs_struct r;

	if (ptrace(PTRACE_GETREGS, tid, 0, &r) < 0)
		return -1;
	r.orig_rax = (unsigned long long)-1LL;
	return ptrace(PTRACE_SETREGS, tid, 0, &r) < 0 ? -1 : 0;
#elif defined(__aarch64__)
	int nr = -1;
	struct iovec io = { &nr, sizeof nr };

	return ptrace(PTRACE_SETREGSET, tid, (void *)(uintptr_t)NT_ARM_SYSTEM_CALL, &io) < 0 ? -1 : 0;
#else
	(void)tid;
	return -1;
#endif
}

static int set_return(pid_t tid, long long val)
{
#if defined(__x86_64__)
	struct user_regs_struct r;

	if (ptrace(PTRACE_GETREGS, tid, 0, &r) < 0)
		return -1;
	r.rax = (unsigned long long)val;
	return ptrace(PTRACE_SETREGS, tid, 0, &r) < 0 ? -1 : 0;
#elif defined(__aarch64__)
	struct user_regs_struct r;
	struct iovec io = { &r, sizeof r };

	if (ptrace(PTRACE_GETREGSET, tid, (void *)(uintptr_t)NT_PRSTATUS, &io) < 0)
		return -1;
	r.regs[0] = (unsigned long long)val;
	return ptrace(PTRACE_SETREGSET, tid, (void *)(uintptr_t)NT_PRSTATUS, &io) < 0 ? -1 : 0;
#else
	(void)tid;
	(void)val;
	return -1;
#endif
}

/* ---- tracee memory, for the -A marker ------------------------------- */

static size_t peek_mem(pid_t tid, unsigned long long addr, void *buf, size_t len)
{
	struct iovec local = { buf, len };
	struct iovec remote = { (void *)(uintptr_t)addr, len };
	ssize_t n;
	size_t done = 0;

	n = process_vm_readv(tid, &local, 1, &remote, 1, 0);
	if (n > 0)
		return (size_t)n;
	/* e.g. a kernel without CONFIG_CROSS_MEMORY_ATTACH */
	while (done < len) {
		long w;
		size_t k = len - done < sizeof w ? len - done : sizeof w;

		errno = 0;
		w = ptrace(PTRACE_PEEKDATA, tid, (void *)(uintptr_t)(addr + done), 0);
		if (w == -1 && errno)
			break;
		memcpy((char *)buf + done, &w, k);
		done += k;
	}
	return done;
}

static size_t gather_iov(pid_t tid, unsigned long long iov_addr, unsigned long long cnt,
			 char *out, size_t want)
{
	struct iovec v[IOV_BATCH];
	size_t got = 0;
	unsigned long long i = 0;

	while (i < cnt && got < want) {
		size_t batch = cnt - i < IOV_BATCH ? (size_t)(cnt - i) : IOV_BATCH;
		size_t have = peek_mem(tid, iov_addr + i * sizeof v[0], v, batch * sizeof v[0]);
		size_t j;

		batch = have / sizeof v[0];
		if (batch == 0)
			break;
		for (j = 0; j < batch && got < want; j++) {
			size_t k = v[j].iov_len < want - got ? v[j].iov_len : want - got;
			size_t n;

			if (k == 0)
				continue;
			n = peek_mem(tid, (uintptr_t)v[j].iov_base, out + got, k);
			got += n;
			if (n < k)
				return got;
		}
		i += batch;
	}
	return got;
}

static int is_read_call(long nr)
{
#ifdef SYS_read
	if (nr == SYS_read)
		return 1;
#endif
#ifdef SYS_recvfrom
	if (nr == SYS_recvfrom)
		return 1;
#endif
#ifdef SYS_readv
	if (nr == SYS_readv)
		return 2;
#endif
#ifdef SYS_recvmsg
	if (nr == SYS_recvmsg)
		return 3;
#endif
	return 0;
}

static int read_has_marker(struct tracee *t, long long ret)
{
	char data[PEEK_MAX];
	size_t want = ret < PEEK_MAX ? (size_t)ret : PEEK_MAX;
	size_t got = 0;
	struct msghdr mh;

	switch (is_read_call(t->nr)) {
	case 1:
		got = peek_mem(t->tid, t->args[1], data, want);
		break;
	case 2:
		got = gather_iov(t->tid, t->args[1], t->args[2], data, want);
		break;
	case 3:
		if (peek_mem(t->tid, t->args[1], &mh, sizeof mh) == sizeof mh)
			got = gather_iov(t->tid, (uintptr_t)mh.msg_iov, mh.msg_iovlen, data, want);
		break;
	default:
		return 0;
	}
	return memmem(data, got, marker, marker_len) != NULL;
}

/* ---- the stops ------------------------------------------------------ */

static void on_entry(struct tracee *t, const struct stop *s)
{
	unsigned long n;
	int i;

	t->nr = s->nr;
	memcpy(t->args, s->args, sizeof t->args);
	t->count_no = 0;
	t->inject_err = 0;
	if (!exec_seen || !counting || !s->native)
		return;
	if (have_list && (s->nr < 0 || s->nr >= MAX_NR || !(wanted[s->nr / 8] & (1U << (s->nr % 8)))))
		return;
	n = ++counted;
	if (kill_at && n == kill_at) {
		/*
		 * A tracee in syscall-entry-stop with SIGKILL pending never runs
		 * the call; cancelling it first makes that independent of the
		 * kernel's order of checks.
		 */
		(void)skip_syscall(t->tid);
		log_line(n, t->tid, t->nr, "killed");
		killed = 1;
		killing = 1;
		kill(t->tid, SIGKILL);
		kill_all();
		return;
	}
	t->count_no = n;
	for (i = 0; i < n_injections; i++) {
		if (injections[i].n == n) {
			if (skip_syscall(t->tid) == 0)
				t->inject_err = injections[i].err;
			else
				fprintf(stderr, "sysfault: cannot cancel call %lu in %d: %s\n",
					n, (int)t->tid, strerror(errno));
			break;
		}
	}
}

static void on_exit_stop(struct tracee *t, const struct stop *s)
{
	char buf[32];

	if (t->inject_err) {
		if (set_return(t->tid, -(long long)t->inject_err) == 0) {
			injected++;
			log_line(t->count_no, t->tid, t->nr, "injected");
		} else {
			fprintf(stderr, "sysfault: cannot set the result of call %lu in %d: %s\n",
				t->count_no, (int)t->tid, strerror(errno));
			log_line(t->count_no, t->tid, t->nr, "?");
		}
	} else if (t->count_no) {
		snprintf(buf, sizeof buf, "%lld", s->ret);
		log_line(t->count_no, t->tid, t->nr, buf);
	}
	t->count_no = 0;
	t->inject_err = 0;
	/* the call carrying the marker is itself never counted: it is checked at its exit */
	if (!counting && s->native && s->ret > 0 && is_read_call(t->nr) && read_has_marker(t, s->ret))
		counting = 1;
}

static void on_syscall_stop(struct tracee *t)
{
	struct stop s;

	if (read_stop(t, &s) < 0)
		return;		/* it died under us; waitpid will say so */
	t->in_syscall = s.entering;
	if (s.entering)
		on_entry(t, &s);
	else
		on_exit_stop(t, &s);
}

static void on_event(struct tracee *t, int event)
{
	unsigned long msg = 0;
	struct tracee *c;

	switch (event) {
	case PTRACE_EVENT_FORK:
	case PTRACE_EVENT_VFORK:
	case PTRACE_EVENT_CLONE:
		if (ptrace(PTRACE_GETEVENTMSG, t->tid, 0, &msg) < 0 || msg == 0)
			return;
		/* the child's own first stop may have been reported already */
		if (find((pid_t)msg))
			return;
		c = add((pid_t)msg);
		if (!c)
			overflow((pid_t)msg);
		else
			c->fresh = 1;
		return;
	case PTRACE_EVENT_EXEC:
		exec_seen = 1;
		if (ptrace(PTRACE_GETEVENTMSG, t->tid, 0, &msg) < 0 || (pid_t)msg == t->tid)
			return;
		/*
		 * A non-leader thread exec'd and now wears the leader's tid: the
		 * leader's own call in progress is gone, and the execve in
		 * progress moves over.
		 */
		if (t->count_no)
			log_line(t->count_no, t->tid, t->nr, "?");
		c = find((pid_t)msg);
		if (c) {
			t->nr = c->nr;
			memcpy(t->args, c->args, sizeof t->args);
			t->count_no = c->count_no;
			t->inject_err = c->inject_err;
			c->count_no = 0;
			c->tid = 0;
		} else {
			t->count_no = 0;
			t->inject_err = 0;
		}
		t->in_syscall = 1;
		return;
	default:
		return;
	}
}

static int is_group_stop(pid_t tid, int sig)
{
	siginfo_t si;

	if (sig != SIGSTOP && sig != SIGTSTP && sig != SIGTTIN && sig != SIGTTOU)
		return 0;
	return ptrace(PTRACE_GETSIGINFO, tid, 0, &si) < 0 && errno == EINVAL;
}

static void resume(pid_t tid, int sig)
{
	if (ptrace(PTRACE_SYSCALL, tid, 0, (void *)(uintptr_t)sig) < 0 && errno != ESRCH)
		fprintf(stderr, "sysfault: cannot resume %d: %s\n", (int)tid, strerror(errno));
}

/* ---- options -------------------------------------------------------- */

static void usage(const char *why)
{
	if (why)
		fprintf(stderr, "sysfault: %s\n", why);
	fprintf(stderr,
		"usage: sysfault [-s LIST] [-A STRING] [-k N] [-e N:ERR ...] [-r REPORT]\n"
		"                [-l LOG] [-t SECS] -- CMD [ARGS...]\n");
	exit(EXIT_USAGE);
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* The marker is usually "QUIT\r\n", which is awkward to pass literally. */
static void parse_marker(const char *s)
{
	size_t n = 0;

	while (*s) {
		int c = (unsigned char)*s++;

		if (c == '\\') {
			int e = (unsigned char)*s++;
			int h, l;

			switch (e) {
			case 'r': c = '\r'; break;
			case 'n': c = '\n'; break;
			case 't': c = '\t'; break;
			case '\\': c = '\\'; break;
			case 'x':
				h = *s ? hexval((unsigned char)s[0]) : -1;
				l = h >= 0 && s[1] ? hexval((unsigned char)s[1]) : -1;
				if (h < 0 || l < 0)
					usage("-A: \\x needs two hex digits");
				c = h * 16 + l;
				s += 2;
				break;
			default:
				usage("-A: unknown escape (use \\r \\n \\t \\\\ \\xHH)");
			}
		}
		if (n >= sizeof marker)
			usage("-A: string too long");
		marker[n++] = (char)c;
	}
	if (n == 0)
		usage("-A: empty string");
	marker_len = n;
	have_marker = 1;
}

static void parse_list(const char *arg)
{
	char buf[4096];
	char *save = NULL, *tok;

	if (strlen(arg) >= sizeof buf)
		usage("-s: list too long");
	strcpy(buf, arg);
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		long nr = sc_lookup(tok);

		if (nr < 0 || nr >= MAX_NR) {
			fprintf(stderr, "sysfault: -s: unknown system call '%s'\n", tok);
			usage(NULL);
		}
		wanted[nr / 8] |= (unsigned char)(1U << (nr % 8));
		have_list = 1;
	}
	if (!have_list)
		usage("-s: empty list");
}

static void parse_injection(const char *arg)
{
	char num[32];
	const char *colon = strchr(arg, ':');
	unsigned long n;
	int err, i;

	if (n_injections >= MAX_INJECT)
		usage("-e: at most 8 injections");
	if (!colon || (size_t)(colon - arg) >= sizeof num)
		usage("-e: expected N:ERRNAME");
	memcpy(num, arg, (size_t)(colon - arg));
	num[colon - arg] = 0;
	if (parse_ulong(num, &n) < 0 || n == 0)
		usage("-e: N must be a positive number");
	err = err_lookup(colon + 1);
	if (err < 0) {
		fprintf(stderr, "sysfault: -e: unknown errno '%s'\n", colon + 1);
		usage(NULL);
	}
	for (i = 0; i < n_injections; i++)
		if (injections[i].n == n)
			usage("-e: two injections at the same call");
	injections[n_injections].n = n;
	injections[n_injections].err = err;
	n_injections++;
}

/* ---- main ----------------------------------------------------------- */

/* What the command line asked for beyond the globals the parsers fill. */
struct run_opts {
	const char *report_path;
	const char *log_path;
	unsigned long timeout;
};

/* Returns the index of CMD in argv; a bad command line exits here. */
static int parse_args(int argc, char **argv, struct run_opts *o)
{
	unsigned long v;
	int opt, i;

	o->report_path = NULL;
	o->log_path = NULL;
	o->timeout = 60;
	while ((opt = getopt(argc, argv, "+s:A:k:e:r:l:t:h")) != -1) {
		switch (opt) {
		case 's':
			parse_list(optarg);
			break;
		case 'A':
			parse_marker(optarg);
			break;
		case 'k':
			if (parse_ulong(optarg, &kill_at) < 0 || kill_at == 0)
				usage("-k: N must be a positive number");
			break;
		case 'e':
			parse_injection(optarg);
			break;
		case 'r':
			o->report_path = optarg;
			break;
		case 'l':
			o->log_path = optarg;
			break;
		case 't':
			if (parse_ulong(optarg, &v) < 0 || v > 86400)
				usage("-t: SECS must be 0..86400");
			o->timeout = v;
			break;
		case 'h':
			usage(NULL);
			break;
		default:
			usage(NULL);
		}
	}
	if (optind >= argc)
		usage("no command given");
	for (i = 0; i < n_injections; i++)
		if (kill_at && injections[i].n == kill_at)
			usage("-k and -e name the same call");
	return optind;
}

/* Returns 0, or the exit status when LOG or REPORT cannot be created. */
static int open_outputs(const struct run_opts *o, FILE **report)
{
	/* close-on-exec: CMD must see exactly the descriptors it was given */
	if (o->log_path) {
		log_file = fopen(o->log_path, "we");
		if (!log_file) {
			fprintf(stderr, "sysfault: %s: %s\n", o->log_path, strerror(errno));
			return EXIT_USAGE;
		}
		setvbuf(log_file, NULL, _IOLBF, 0);
	}
	if (o->report_path) {
		*report = fopen(o->report_path, "we");
		if (!*report) {
			fprintf(stderr, "sysfault: %s: %s\n", o->report_path, strerror(errno));
			return EXIT_USAGE;
		}
	}
	return 0;
}

/*
 * Forks CMD stopped under ptrace with our options set, not yet resumed.
 * Returns its pid, or -1 (already reported) when tracing cannot start.
 */
static pid_t start_command(char **cmd)
{
	pid_t root;
	int st;

	root = fork();
	if (root < 0) {
		fprintf(stderr, "sysfault: fork: %s\n", strerror(errno));
		return -1;
	}
	if (root == 0) {
		if (ptrace(PTRACE_TRACEME, 0, 0, 0) < 0) {
			fprintf(stderr, "sysfault: ptrace(TRACEME): %s\n", strerror(errno));
			_exit(EXIT_SETUP);
		}
		/* wait here until the parent has set the options */
		raise(SIGSTOP);
		execvp(cmd[0], cmd);
		fprintf(stderr, "sysfault: %s: %s\n", cmd[0], strerror(errno));
		_exit(errno == ENOENT ? 127 : 126);
	}

	if (waitpid(root, &st, __WALL) != root || !WIFSTOPPED(st)) {
		fprintf(stderr, "sysfault: cannot trace the command\n");
		return -1;
	}
	if (ptrace(PTRACE_SETOPTIONS, root, 0,
		   (void *)(uintptr_t)(PTRACE_O_TRACESYSGOOD | PTRACE_O_TRACEFORK |
				       PTRACE_O_TRACEVFORK | PTRACE_O_TRACECLONE |
				       PTRACE_O_TRACEEXEC | PTRACE_O_EXITKILL)) < 0) {
		fprintf(stderr, "sysfault: ptrace(SETOPTIONS): %s\n", strerror(errno));
		kill(root, SIGKILL);
		waitpid(root, &st, __WALL);
		return -1;
	}
	return root;
}

static void arm_timeout(unsigned long timeout)
{
	struct sigaction sa;
	sigset_t unblock;

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_alarm;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = 0;	/* no SA_RESTART: waitpid must return on expiry */
	sigaction(SIGALRM, &sa, NULL);
	sigemptyset(&unblock);
	sigaddset(&unblock, SIGALRM);
	sigprocmask(SIG_UNBLOCK, &unblock, NULL);
	if (timeout)
		alarm((unsigned)timeout);
}

/* One ptrace stop of a tracee we know: handle it and let the tracee go on. */
static void on_stop(struct tracee *t, pid_t pid, int st)
{
	int sig = WSTOPSIG(st);
	int event = (st >> 16) & 0xff;

	if (sig == (SIGTRAP | 0x80)) {
		t->fresh = 0;
		on_syscall_stop(t);
		if (!killing)
			resume(pid, 0);
	} else if (event) {
		t->fresh = 0;
		on_event(t, event);
		if (!killing)
			resume(pid, 0);
	} else if (t->fresh && sig == SIGSTOP) {
		/* the kernel's attach stop, not a signal anyone sent */
		t->fresh = 0;
		resume(pid, 0);
	} else if (is_group_stop(pid, sig)) {
		/*
		 * Without PTRACE_SEIZE a group-stop cannot be held (LISTEN);
		 * resuming it means job control stops are not honoured.
		 */
		t->fresh = 0;
		resume(pid, 0);
	} else {
		t->fresh = 0;
		resume(pid, sig);
	}
}

/*
 * Runs until no traced process is left.  Returns 1 when ROOT ended, with
 * its wait status in *root_status.
 */
static int trace_all(pid_t root, int *root_status)
{
	int st, root_done = 0;

	for (;;) {
		struct tracee *t;
		pid_t pid;

		if (timed_out && !killing) {
			killing = 1;
			kill_all();
		}
		pid = waitpid(-1, &st, __WALL);
		if (pid < 0) {
			if (errno == EINTR)
				continue;
			if (errno != ECHILD) {
				fprintf(stderr, "sysfault: waitpid: %s\n", strerror(errno));
				fatal = 1;
			}
			break;
		}
		t = find(pid);
		if (WIFEXITED(st) || WIFSIGNALED(st)) {
			if (t)
				drop(t);
			if (pid == root) {
				*root_status = st;
				root_done = 1;
			}
			continue;
		}
		if (!WIFSTOPPED(st))
			continue;
		if (!t) {
			/* a new child whose first stop beat its parent's fork event */
			t = add(pid);
			if (!t) {
				overflow(pid);
				continue;
			}
			t->fresh = 1;
		}
		if (killing) {
			/* SIGKILL wakes a ptrace-stopped tracee; no resume needed */
			kill(pid, SIGKILL);
			continue;
		}
		on_stop(t, pid, st);
	}
	return root_done;
}

static int exit_status(int root_done, int root_status)
{
	if (timed_out)
		return EXIT_TIMEOUT;
	if (fatal || !root_done)
		return EXIT_SETUP;
	if (WIFEXITED(root_status))
		return WEXITSTATUS(root_status);
	if (WIFSIGNALED(root_status))
		return 128 + WTERMSIG(root_status);
	return EXIT_SETUP;
}

static void write_report(FILE *report, const char *report_path, int status)
{
	fprintf(report, "counted=%lu killed=%d injected=%lu status=%d\n",
		counted, killed, injected, status);
	if (fclose(report) != 0)
		fprintf(stderr, "sysfault: %s: %s\n", report_path, strerror(errno));
}

int main(int argc, char **argv)
{
	struct run_opts o;
	FILE *report = NULL;
	pid_t root;
	int cmd, i, rc, root_status = 0, root_done, status;

	cmd = parse_args(argc, argv, &o);

#ifdef SF_UNSUPPORTED_ARCH
	fprintf(stderr, "sysfault: this architecture is not supported (x86_64 and aarch64 only)\n");
	return EXIT_SETUP;
#endif

	rc = open_outputs(&o, &report);
	if (rc)
		return rc;
	counting = !have_marker;
	fflush(NULL);

	root = start_command(argv + cmd);
	if (root < 0)
		return EXIT_SETUP;
	add(root);
	arm_timeout(o.timeout);
	resume(root, 0);

	root_done = trace_all(root, &root_status);
	alarm(0);

	for (i = 0; i < MAX_TIDS; i++)
		if (tab[i].tid)
			drop(&tab[i]);

	status = exit_status(root_done, root_status);
	if (log_file)
		fclose(log_file);
	if (report)
		write_report(report, o.report_path, status);
	return status;
}
