package main

// Joining a user namespace (setns) is only allowed to a single-threaded
// process, which a Go program never is once its runtime has started. So the
// CNI helper (see sandbox/network.go) joins the sandbox's user namespace
// here, in a constructor that runs before the Go runtime, when
// _CLAUDEBOX_USERNS names the namespace. It then holds every capability in
// that namespace, which owns the sandbox's network namespace, while staying
// in the host's network and mount namespaces.

/*
#define _GNU_SOURCE
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

__attribute__((constructor)) static void claudebox_join_userns(void) {
	const char *path = getenv("_CLAUDEBOX_USERNS");
	if (path == NULL || *path == '\0')
		return;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || setns(fd, CLONE_NEWUSER) < 0) {
		perror("claudebox: joining the sandbox's user namespace");
		_exit(125);
	}
	close(fd);
	unsetenv("_CLAUDEBOX_USERNS");
}
*/
import "C"
