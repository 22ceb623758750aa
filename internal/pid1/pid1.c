// The sandbox's pid 1, in C: it runs from a constructor, before the Go
// runtime starts, whenever the binary is started as `claudebox pid1 ...`.
// See pid1.go for what it does and why; this file is how.
//
// It is single-threaded: signals are blocked and read from a signalfd,
// next to the launcher's lifeline pipe, in one poll loop.

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/types.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pid1.h"

// Older kernel headers (before 5.9) lack close_range; the call then fails
// harmlessly on an older kernel, and every fd pid1 opens is close-on-exec
// anyway.
#ifndef __NR_close_range
#define __NR_close_range 436
#endif
#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

// Landlock scoping (ABI 6, Linux 6.12), declared here: older kernel
// headers lack it.
#ifndef __NR_landlock_create_ruleset
#define __NR_landlock_create_ruleset 444
#endif
#ifndef __NR_landlock_add_rule
#define __NR_landlock_add_rule 445
#endif
#ifndef __NR_landlock_restrict_self
#define __NR_landlock_restrict_self 446
#endif
struct cb_landlock_ruleset_attr {
	__u64 handled_access_fs;
	__u64 handled_access_net;
	__u64 scoped;
};
#define CB_LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET (1ULL << 0)
#define CB_LANDLOCK_SCOPE_SIGNAL (1ULL << 1)
// LANDLOCK_ACCESS_FS_RESOLVE_UNIX (ABI 9, Linux 7.1): connect(2) and
// sendmsg(2) to a pathname unix socket bound outside the domain.
#define CB_LANDLOCK_ACCESS_FS_RESOLVE_UNIX (1ULL << 16)
#define CB_LANDLOCK_RULE_PATH_BENEATH 1
struct cb_landlock_path_beneath_attr {
	__u64 allowed_access;
	__s32 parent_fd;
} __attribute__((packed));
// The sockets shown on purpose (launch's maxShownSockets, 64) and
// claudebox's own: the ssh-agent's and git's credential socket.
#define MAX_UNIX_ALLOW 66

extern char **environ;

// Signals passed on to the command's process group. Terminal-generated
// signals (^C) reach that group directly.
static const int forwarded[] = {SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2};

struct options {
	long uid, gid;
	const char *seccomp; // the compiled filter to load, or NULL
	int tty_filter;      // stack the terminal ioctl filter
	int scope;           // scope abstract unix sockets and signals (Landlock)
	int resolve_unix;    // deny host pathname sockets but unix_allow (Landlock ABI 9)
	const char *unix_allow[MAX_UNIX_ALLOW];
	int n_unix_allow;
	int drop_groups;     // drop the supplementary groups
	int parent_fd;       // the launcher's lifeline, or -1
	char **argv;         // the command
};

static void fail(int code, const char *fmt, ...) {
	va_list ap;
	va_start(ap, fmt);
	fputs("claudebox pid1: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	_exit(code);
}

static void usage(void) { fail(CLAUDEBOX_EXIT_FAILURE, "usage: pid1 --uid=UID --gid=GID -- CMD [ARGS...]"); }

// number parses a whole decimal number, or fails.
static long number(const char *arg, const char *s) {
	char *end;
	errno = 0;
	long n = strtol(s, &end, 10);
	if (*s < '0' || *s > '9' || *end != '\0' || errno != 0 || n > INT_MAX)
		fail(CLAUDEBOX_EXIT_FAILURE, "bad argument %s", arg);
	return n;
}

static struct options parse(int argc, char **argv) {
	struct options o = {.uid = -1, .gid = -1, .parent_fd = -1};
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "--") == 0) {
			o.argv = argv + i + 1;
			if (o.uid < 0 || o.gid < 0 || o.argv[0] == NULL)
				usage();
			return o;
		} else if (strncmp(a, "--uid=", 6) == 0) {
			o.uid = number(a, a + 6);
		} else if (strncmp(a, "--gid=", 6) == 0) {
			o.gid = number(a, a + 6);
		} else if (strcmp(a, "--tty-filter") == 0) {
			o.tty_filter = 1;
		} else if (strcmp(a, "--scope") == 0) {
			o.scope = 1;
		} else if (strcmp(a, "--resolve-unix") == 0) {
			o.resolve_unix = 1;
		} else if (strncmp(a, "--unix-allow=", 13) == 0) {
			if (o.n_unix_allow == MAX_UNIX_ALLOW)
				fail(CLAUDEBOX_EXIT_FAILURE, "more than %d --unix-allow", MAX_UNIX_ALLOW);
			o.unix_allow[o.n_unix_allow++] = a + 13;
		} else if (strcmp(a, "--drop-groups") == 0) {
			o.drop_groups = 1;
		} else if (strncmp(a, "--seccomp=", 10) == 0) {
			o.seccomp = a + 10;
		} else if (strncmp(a, "--parent-fd=", 12) == 0) {
			o.parent_fd = (int)number(a, a + 12);
		} else {
			fail(CLAUDEBOX_EXIT_FAILURE, "unknown argument \"%s\"", a);
		}
	}
	usage();
	return o;
}

// executable: what a PATH search accepts (as Go's exec.LookPath).
static int executable(const char *path) {
	struct stat st;
	return stat(path, &st) == 0 && !S_ISDIR(st.st_mode) && faccessat(AT_FDCWD, path, X_OK, AT_EACCESS) == 0;
}

// lookpath finds name as a shell would, in the absolute directories of
// PATH only (a relative entry would run whatever the current directory
// holds). NULL when it is not there.
static const char *lookpath(const char *name, char *buf, size_t size) {
	if (strchr(name, '/') != NULL)
		return executable(name) ? name : NULL;
	const char *p = getenv("PATH");
	while (p != NULL && *p != '\0') {
		const char *end = strchrnul(p, ':');
		int n = snprintf(buf, size, "%.*s/%s", (int)(end - p), p, name);
		if (*p == '/' && n > 0 && (size_t)n < size && executable(buf))
			return buf;
		p = *end == ':' ? end + 1 : NULL;
	}
	return NULL;
}

static int load_filter(struct sock_filter *prog, size_t len) {
	if (len == 0 || len > 0xffff) {
		errno = EINVAL;
		return -1;
	}
	struct sock_fprog fprog = {.len = (unsigned short)len, .filter = prog};
	return (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &fprog);
}

// load_filter_file installs a program compiled by libseccomp, as
// claudebox caches it: raw struct sock_filter records, native byte order.
// no_new_privs is set by the runtime already.
static void load_filter_file(const char *path) {
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0)
		fail(CLAUDEBOX_EXIT_FAILURE, "loading the seccomp filter: %s: %s", path, strerror(errno));
	if (st.st_size <= 0 || st.st_size % sizeof(struct sock_filter) != 0 || st.st_size > 0xffff * (off_t)sizeof(struct sock_filter))
		fail(CLAUDEBOX_EXIT_FAILURE, "loading the seccomp filter: %s is not a seccomp program", path);
	struct sock_filter *prog = malloc((size_t)st.st_size);
	if (prog == NULL)
		fail(CLAUDEBOX_EXIT_FAILURE, "loading the seccomp filter: out of memory");
	for (off_t got = 0; got < st.st_size;) {
		ssize_t n = read(fd, (char *)prog + got, (size_t)(st.st_size - got));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			fail(CLAUDEBOX_EXIT_FAILURE, "loading the seccomp filter: reading %s: %s", path, n < 0 ? strerror(errno) : "short file");
		got += n;
	}
	close(fd);
	if (load_filter(prog, (size_t)st.st_size / sizeof(struct sock_filter)) < 0)
		fail(CLAUDEBOX_EXIT_FAILURE, "loading the seccomp filter: %s", strerror(errno));
	free(prog);
}

// The sandbox's main seccomp filter denies by default and allows ioctl as
// a whole: libseccomp cannot carve single requests out of an allowed
// syscall. So pid1 stacks a second filter, which the command inherits,
// refusing the two terminal requests that act on a terminal beyond the
// caller's own use: TIOCSTI (push input, as if typed) and TIOCLINUX
// (console control). Filters stack; the strictest result wins. The request
// is compared on its low 32 bits, which is what the kernel uses: garbage in
// the upper half cannot slip past.

// The ioctl syscall numbers a process on this machine can call with, by
// audit architecture (x86-64 also takes i386 and x32 calls).
static const struct {
	unsigned arch, nr;
} ioctls[] = {
    {AUDIT_ARCH_X86_64, 16},
    {AUDIT_ARCH_X86_64, 0x40000000 | 16},  // x32
    {AUDIT_ARCH_X86_64, 0x40000000 | 514}, // x32 compat ioctl
    {AUDIT_ARCH_I386, 54},
    {AUDIT_ARCH_AARCH64, 29},
    {AUDIT_ARCH_ARM, 54},
};

#define NIOCTLS (sizeof(ioctls) / sizeof(ioctls[0]))
#define OFF_NR 0
#define OFF_ARCH 4
#define OFF_ARG1 (16 + 8 * 1) // the low half on little-endian machines

// For each (arch, nr) a block of four: ld arch; jeq ARCH ? next : skip;
// ld nr; jeq NR ? CHECK : next block. Then ALLOW, and CHECK: ld arg1;
// jeq TIOCSTI ? DENY; jeq TIOCLINUX ? DENY; ALLOW; DENY.
static void load_tty_filter(void) {
	struct sock_filter prog[4 * NIOCTLS + 6];
	const unsigned check = 4 * NIOCTLS + 1;
	size_t n = 0;
	for (unsigned i = 0; i < NIOCTLS; i++) {
		unsigned at = 4 * i;
		prog[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, OFF_ARCH);
		prog[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ioctls[i].arch, 0, 2);
		prog[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, OFF_NR);
		prog[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ioctls[i].nr, check - (at + 3) - 1, 0);
	}
	prog[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
	prog[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, OFF_ARG1);
	prog[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, TIOCSTI, 2, 0);
	prog[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, TIOCLINUX, 1, 0);
	prog[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
	prog[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM);
	if (load_filter(prog, n) < 0)
		fail(CLAUDEBOX_EXIT_FAILURE, "loading the terminal filter: %s", strerror(errno));
}

// scope confines pid1, and so everything it starts, to a Landlock domain
// of its own with no network rules and only scopes: abstract unix sockets
// made outside the domain (the host's X11, session buses, tool daemons,
// which the full tier's shared network namespace would otherwise reach)
// cannot be connected to, and processes outside it cannot be signalled.
// With resolve_unix (ABI 9) the domain also handles
// LANDLOCK_ACCESS_FS_RESOLVE_UNIX: no pathname socket bound outside it
// can be connected to, wherever it lives, but beneath the unix_allow
// paths (the Nix daemon's socket, --socket). Sockets the command makes
// itself still work.
static void scope(const struct options *o) {
	struct cb_landlock_ruleset_attr attr = {
	    .scoped = CB_LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET | CB_LANDLOCK_SCOPE_SIGNAL,
	};
	if (o->resolve_unix)
		attr.handled_access_fs = CB_LANDLOCK_ACCESS_FS_RESOLVE_UNIX;
	int fd = (int)syscall(__NR_landlock_create_ruleset, &attr, sizeof attr, 0);
	if (fd < 0)
		fail(CLAUDEBOX_EXIT_FAILURE, "scoping sockets and signals (Landlock ABI %d): %s", o->resolve_unix ? 9 : 6, strerror(errno));
	for (int i = 0; i < o->n_unix_allow; i++) {
		struct cb_landlock_path_beneath_attr rule = {.allowed_access = CB_LANDLOCK_ACCESS_FS_RESOLVE_UNIX};
		rule.parent_fd = open(o->unix_allow[i], O_PATH | O_CLOEXEC);
		if (rule.parent_fd < 0)
			fail(CLAUDEBOX_EXIT_FAILURE, "the socket shown on purpose %s: %s", o->unix_allow[i], strerror(errno));
		if (syscall(__NR_landlock_add_rule, fd, CB_LANDLOCK_RULE_PATH_BENEATH, &rule, 0) < 0)
			fail(CLAUDEBOX_EXIT_FAILURE, "allowing the socket %s (Landlock): %s", o->unix_allow[i], strerror(errno));
		close(rule.parent_fd);
	}
	if (syscall(__NR_landlock_restrict_self, fd, 0) < 0)
		fail(CLAUDEBOX_EXIT_FAILURE, "scoping sockets and signals: landlock_restrict_self: %s", strerror(errno));
	close(fd);
}

static int write_file(pid_t pid, const char *name, const char *data) {
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/%s", (int)pid, name);
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t n = write(fd, data, strlen(data));
	int saved = errno;
	close(fd);
	errno = saved;
	return n == (ssize_t)strlen(data) ? 0 : -1;
}

// cannot_run reports a command that could not be started, as a shell
// would: 127 when it is not there, 126 otherwise.
static void cannot_run(const char *name, int err) {
	fprintf(stderr, "claudebox: cannot run %s: %s\n", name, strerror(err));
	_exit(err == ENOENT ? CLAUDEBOX_EXIT_NOT_FOUND : CLAUDEBOX_EXIT_CANNOT_RUN);
}

// start runs the command, leading a process group of its own: forwarded
// signals go to the whole group, as a terminal's ^C does to a foreground
// job, so `sh -c 'cmd; ...'` stops with its children. On a terminal the
// group is in the foreground, so ^C and SIGWINCH reach it and not pid1.
// When the command's ids differ from pid1's (root of the sandbox's user
// namespace), it starts in a nested user namespace mapping them onto
// pid1's: the command runs as the user inside, and its exec as a non-zero
// uid drops that namespace's capabilities. It returns once the command
// has been executed.
static pid_t start(const struct options *o, const char *path, const sigset_t *mask) {
	int nested = o->uid != (long)getuid() || o->gid != (long)getgid();
	int go[2], report[2]; // parent -> child: ids mapped; child -> parent: exec's errno
	if (pipe2(go, O_CLOEXEC) < 0 || pipe2(report, O_CLOEXEC) < 0)
		cannot_run(o->argv[0], errno);
	int tty = isatty(0);
	pid_t pid = (pid_t)syscall(SYS_clone, SIGCHLD | (nested ? CLONE_NEWUSER : 0), NULL, NULL, NULL, 0);
	if (pid < 0)
		cannot_run(o->argv[0], errno);
	if (pid == 0) {
		close(go[1]);
		close(report[0]);
		char c;
		int err = 0;
		if (nested && read(go[0], &c, 1) != 1)
			err = EPERM;
		if (err == 0 && setpgid(0, 0) < 0)
			err = errno;
		if (err == 0 && tty) {
			// Still a background group: TIOCSPGRP would stop it with
			// SIGTTOU, which is blocked until the exec.
			sigset_t ttou;
			sigemptyset(&ttou);
			sigaddset(&ttou, SIGTTOU);
			sigprocmask(SIG_BLOCK, &ttou, NULL);
			pid_t self = getpid();
			if (ioctl(0, TIOCSPGRP, &self) < 0)
				err = errno;
		}
		if (err == 0) {
			sigprocmask(SIG_SETMASK, mask, NULL);
			syscall(__NR_close_range, 3, ~0U, CLOSE_RANGE_CLOEXEC);
			execve(path, o->argv, environ);
			err = errno;
		}
		(void)!write(report[1], &err, sizeof err);
		_exit(CLAUDEBOX_EXIT_CANNOT_RUN);
	}
	close(go[0]);
	close(report[1]);
	if (nested) {
		char map[64];
		int err = 0;
		snprintf(map, sizeof map, "%ld 0 1\n", o->uid);
		if (write_file(pid, "uid_map", map) < 0 || write_file(pid, "setgroups", "deny") < 0)
			err = errno;
		snprintf(map, sizeof map, "%ld 0 1\n", o->gid);
		if (err == 0 && write_file(pid, "gid_map", map) < 0)
			err = errno;
		if (err != 0) {
			kill(pid, SIGKILL);
			waitpid(pid, NULL, 0);
			fprintf(stderr, "claudebox pid1: mapping the command's ids: %s\n", strerror(err));
			_exit(CLAUDEBOX_EXIT_FAILURE);
		}
		(void)!write(go[1], "g", 1);
	}
	close(go[1]);
	int err;
	ssize_t n;
	while ((n = read(report[0], &err, sizeof err)) < 0 && errno == EINTR)
		;
	close(report[0]);
	if (n == sizeof err) {
		waitpid(pid, NULL, 0);
		cannot_run(o->argv[0], err);
	}
	return pid;
}

// reap collects every exited child; when the command is among them pid1
// exits with its status (128+N when it died of signal N), which ends every
// process left in the sandbox.
static void reap(pid_t cmd) {
	int status;
	pid_t pid;
	while ((pid = waitpid(-1, &status, WNOHANG)) > 0 || (pid < 0 && errno == EINTR)) {
		if (pid == cmd)
			_exit(WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status));
	}
}

void claudebox_pid1(int argc, char **argv) {
	struct options o = parse(argc, argv);
	char buf[PATH_MAX];
	const char *path = lookpath(o.argv[0], buf, sizeof buf);
	if (path == NULL) {
		fprintf(stderr, "claudebox: %s: command not found in the sandbox\n", o.argv[0]);
		_exit(CLAUDEBOX_EXIT_NOT_FOUND);
	}

	// Die with the launcher (or runc): a sandbox never runs on
	// unattended. The parent-death signal alone races with a launcher
	// killed before this line; the launcher's pipe does not: its end of
	// file comes whenever the launcher goes, before or after.
	if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0)
		fail(CLAUDEBOX_EXIT_FAILURE, "prctl(PR_SET_PDEATHSIG): %s", strerror(errno));
	if (o.parent_fd >= 0 && fcntl(o.parent_fd, F_SETFD, FD_CLOEXEC) < 0)
		fail(CLAUDEBOX_EXIT_FAILURE, "the launcher's pipe (fd %d): %s", o.parent_fd, strerror(errno));

	// Fail closed: a scope or filter that was asked for and cannot be set
	// up stops the launch.
	//
	// The user's supplementary groups come along into a rootless sandbox
	// (runc cannot drop them: setgroups is denied where the user wrote the
	// gid map), shown as nogroup but still granting access (adm reads host
	// logs, the lxd group is root). With a gid map written by newgidmap,
	// setgroups is allowed here, and pid1 holds CAP_SETGID for it.
	if (o.drop_groups && setgroups(0, NULL) < 0)
		fail(CLAUDEBOX_EXIT_FAILURE, "dropping the supplementary groups: %s", strerror(errno));
	if (o.resolve_unix && !o.scope)
		fail(CLAUDEBOX_EXIT_FAILURE, "--resolve-unix needs --scope");
	if (o.scope)
		scope(&o);
	if (o.seccomp != NULL)
		load_filter_file(o.seccomp);
	if (o.tty_filter)
		load_tty_filter();

	sigset_t set, old;
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	for (size_t i = 0; i < sizeof forwarded / sizeof forwarded[0]; i++)
		sigaddset(&set, forwarded[i]);
	sigprocmask(SIG_BLOCK, &set, &old);
	int sfd = signalfd(-1, &set, SFD_CLOEXEC);
	if (sfd < 0)
		fail(CLAUDEBOX_EXIT_FAILURE, "signalfd: %s", strerror(errno));

	pid_t cmd = start(&o, path, &old);
	reap(cmd); // it may be gone already

	struct pollfd fds[2] = {{.fd = sfd, .events = POLLIN}, {.fd = o.parent_fd, .events = POLLIN}};
	nfds_t nfds = o.parent_fd >= 0 ? 2 : 1;
	for (;;) {
		if (poll(fds, nfds, -1) < 0) {
			if (errno == EINTR)
				continue;
			fail(CLAUDEBOX_EXIT_FAILURE, "poll: %s", strerror(errno));
		}
		if (nfds == 2 && fds[1].revents != 0) {
			char b[64];
			ssize_t n = read(o.parent_fd, b, sizeof b);
			if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN))
				_exit(128 + SIGKILL); // the launcher is gone
		}
		if (fds[0].revents & POLLIN) {
			struct signalfd_siginfo si;
			if (read(sfd, &si, sizeof si) != sizeof si)
				continue;
			if (si.ssi_signo == SIGCHLD)
				reap(cmd);
			else
				kill(-cmd, (int)si.ssi_signo);
		}
	}
}

// Started as `claudebox pid1 ...`, the binary is pid1 and nothing else:
// the Go runtime never starts (it would cost 3-5 ms of every launch).
// glibc passes constructors the program's arguments.
__attribute__((constructor)) static void claudebox_pid1_constructor(int argc, char **argv, char **envp) {
	(void)envp;
	if (argc > 1 && strcmp(argv[1], CLAUDEBOX_VERB_PID1) == 0)
		claudebox_pid1(argc - 2, argv + 2);
}
