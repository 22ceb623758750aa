// pid1's entry point; its exit statuses are claudebox's (registry.h).
#ifndef CLAUDEBOX_PID1_H
#define CLAUDEBOX_PID1_H

#include "registry.h"

void claudebox_pid1(int argc, char **argv);

#endif
