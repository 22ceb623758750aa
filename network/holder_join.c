// The namespace holder's C half (holder_join.go says why C): the
// constructor that runs before the Go runtime, `claudebox _ns-hold`, and
// `claudebox _userns-exec`.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <unistd.h>

#include "registry.h"

static void claudebox_userns_exec(char **argv) {
	const char *resolv = getenv(CLAUDEBOX_ENV_RESOLV_CONF);
	if (resolv != NULL && *resolv != '\0') {
		if (unshare(CLONE_NEWNS) < 0 ||
		    mount("", "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
		    mount(resolv, "/etc/resolv.conf", NULL, MS_BIND, NULL) < 0) {
			fprintf(stderr, "claudebox: resolv.conf for the uplink: %s\n", strerror(errno));
			_exit(CLAUDEBOX_EXIT_FAILURE);
		}
	}
	unsetenv(CLAUDEBOX_ENV_RESOLV_CONF);
	execv(argv[0], argv);
	fprintf(stderr, "claudebox: exec %s: %s\n", argv[0], strerror(errno));
	_exit(CLAUDEBOX_EXIT_FAILURE);
}

// claudebox_listen makes a socket of type in the sandbox's network
// namespace, bound to addr:port (port 0: any), listening when a stream.
static int claudebox_listen(int type, const char *addr, int port) {
	int fd = socket(AF_INET, type | SOCK_CLOEXEC, 0);
	int one = 1;
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	if (fd < 0 || inet_pton(AF_INET, addr, &sa.sin_addr) != 1 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
	    bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 ||
	    (type == SOCK_STREAM && listen(fd, 4096) < 0)) {
		fprintf(stderr, "claudebox: the relay's socket on %s:%d: %s\n", addr, port, strerror(errno));
		_exit(CLAUDEBOX_EXIT_FAILURE);
	}
	return fd;
}

// claudebox_relay_sockets makes the relay's sockets in the sandbox's
// network namespace, where only this holder can, and passes them to the
// launcher with "ok" on stdout, a unix socket (SCM_RIGHTS): the TCP
// listener that outbound connections are redirected to, and the DNS stub's
// UDP and TCP sockets on 127.0.0.53:53. The launcher serves them from the
// host's network namespace.
static void claudebox_relay_sockets(void) {
	int fds[3] = {
	    claudebox_listen(SOCK_STREAM, "127.0.0.1", 0),
	    claudebox_listen(SOCK_DGRAM, "127.0.0.53", 53),
	    claudebox_listen(SOCK_STREAM, "127.0.0.53", 53),
	};
	char buf[CMSG_SPACE(sizeof fds)];
	memset(buf, 0, sizeof buf);
	struct iovec iov = {.iov_base = "ok\n", .iov_len = 3};
	struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = buf, .msg_controllen = sizeof buf};
	struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof fds);
	memcpy(CMSG_DATA(c), fds, sizeof fds);
	if (sendmsg(1, &msg, 0) != 3) {
		perror("claudebox: passing the relay's sockets");
		_exit(CLAUDEBOX_EXIT_FAILURE);
	}
	for (int i = 0; i < 3; i++)
		close(fds[i]);
}

// `claudebox _ns-hold`, started by the launcher in the sandbox's new user
// and network namespaces, holds them until its stdin closes, so that the
// network can be set up while the container joining them is created. It
// first brings lo up, as runc's init does in a network namespace of its
// own (not in one it joins), and says "ok" on stdout.
static void claudebox_ns_hold(void) {
	struct ifreq ifr = {0};
	strcpy(ifr.ifr_name, "lo");
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s < 0 || ioctl(s, SIOCGIFFLAGS, &ifr) < 0) {
		perror("claudebox: the sandbox's loopback");
		_exit(CLAUDEBOX_EXIT_FAILURE);
	}
	ifr.ifr_flags |= IFF_UP;
	if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0) {
		perror("claudebox: bringing the sandbox's loopback up");
		_exit(CLAUDEBOX_EXIT_FAILURE);
	}
	close(s);
	if (getenv(CLAUDEBOX_ENV_RELAY) != NULL)
		claudebox_relay_sockets();
	else if (write(1, "ok\n", 3) != 3)
		_exit(CLAUDEBOX_EXIT_FAILURE);
	close(1);
	char b;
	ssize_t n;
	while ((n = read(0, &b, 1)) != 0)
		if (n < 0 && errno != EINTR)
			break;
	_exit(0);
}

// glibc passes constructors the program's arguments.
__attribute__((constructor)) static void claudebox_join_userns(int argc, char **argv, char **envp) {
	(void)envp;
	if (argc == 2 && strcmp(argv[1], CLAUDEBOX_VERB_NS_HOLD) == 0)
		claudebox_ns_hold();
	const char *path = getenv(CLAUDEBOX_ENV_USERNS);
	if (path == NULL || *path == '\0')
		return;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || setns(fd, CLONE_NEWUSER) < 0) {
		perror("claudebox: joining the sandbox's user namespace");
		_exit(CLAUDEBOX_EXIT_FAILURE);
	}
	close(fd);
	unsetenv(CLAUDEBOX_ENV_USERNS);
	if (argc > 2 && strcmp(argv[1], CLAUDEBOX_VERB_USERNS_EXEC) == 0)
		claudebox_userns_exec(argv + 2);
}
