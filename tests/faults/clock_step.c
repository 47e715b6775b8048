#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>
/*
 * Steps the wall clock of the process it is preloaded into: CLOCK_REALTIME (and its coarse
 * variant), gettimeofday and time() return the real time plus the offset in milliseconds written
 * at the start of the file $CLOCK_STEP_FILE (decimal, may be negative, padded with spaces to
 * CLOCK_STEP_WIDTH bytes, rewritten in place so the mapping never reads past the end).
 * CLOCK_MONOTONIC and the other clocks are left alone, as a real step (NTP, date -s) leaves them.
 */
#define CLOCK_STEP_WIDTH 32
static const volatile char *offset_text;
static int tried;

static long long offset_ms(void) {
  if (!tried) {
    tried = 1;
    const char *path = getenv("CLOCK_STEP_FILE");
    if (!path) return 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return 0;
    void *p = mmap(NULL, CLOCK_STEP_WIDTH, PROT_READ, MAP_SHARED, fd, 0);
    close(fd);
    if (p != MAP_FAILED) offset_text = p;
  }
  if (!offset_text) return 0;
  char copy[CLOCK_STEP_WIDTH + 1];
  for (int i = 0; i < CLOCK_STEP_WIDTH; i++) copy[i] = offset_text[i];
  copy[CLOCK_STEP_WIDTH] = 0;
  return strtoll(copy, NULL, 10);
}

static void shift(struct timespec *ts) {
  long long ms = offset_ms();
  if (!ms) return;
  long long ns = (long long)ts->tv_nsec + (ms % 1000) * 1000000LL;
  ts->tv_sec += ms / 1000 + ns / 1000000000LL;
  ns %= 1000000000LL;
  if (ns < 0) { ns += 1000000000LL; ts->tv_sec -= 1; }
  ts->tv_nsec = ns;
}

int clock_gettime(clockid_t id, struct timespec *ts) {
  static int (*real)(clockid_t, struct timespec *);
  if (!real) real = dlsym(RTLD_NEXT, "clock_gettime");
  int r = real(id, ts);
  if (r == 0 && (id == CLOCK_REALTIME || id == CLOCK_REALTIME_COARSE)) shift(ts);
  return r;
}

int gettimeofday(struct timeval *restrict tv, void *restrict tz) {
  struct timespec ts;
  int r = clock_gettime(CLOCK_REALTIME, &ts);
  if (r == 0 && tv) { tv->tv_sec = ts.tv_sec; tv->tv_usec = ts.tv_nsec / 1000; }
  if (tz) memset(tz, 0, sizeof(struct timezone));
  return r;
}

time_t time(time_t *out) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  if (out) *out = ts.tv_sec;
  return ts.tv_sec;
}
