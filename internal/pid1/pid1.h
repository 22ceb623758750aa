// Exit codes of pid1's own failures, as shells use them.
#ifndef CLAUDEBOX_PID1_H
#define CLAUDEBOX_PID1_H

#define CLAUDEBOX_EXIT_USAGE 125      // pid1's own set-up failed
#define CLAUDEBOX_EXIT_CANNOT_RUN 126 // the command exists but cannot be run
#define CLAUDEBOX_EXIT_NOT_FOUND 127  // the command does not exist

void claudebox_pid1(int argc, char **argv);

#endif
