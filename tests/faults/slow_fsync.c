#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
/* fsync/fdatasync of a file whose path contains $SLOW_FSYNC_MATCH sleep $SLOW_FSYNC_MS first. */
static int slow(int fd) {
  const char *m = getenv("SLOW_FSYNC_MATCH");
  const char *ms = getenv("SLOW_FSYNC_MS");
  if (!m || !ms) return 0;
  char link[64], target[4096];
  snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  ssize_t n = readlink(link, target, sizeof target - 1);
  if (n < 0) return 0;
  target[n] = 0;
  if (strstr(target, m)) { usleep(atoi(ms) * 1000); return 1; }
  return 0;
}
int fsync(int fd) { slow(fd); int (*real)(int) = dlsym(RTLD_NEXT, "fsync"); return real(fd); }
int fdatasync(int fd) { slow(fd); int (*real)(int) = dlsym(RTLD_NEXT, "fdatasync"); return real(fd); }
