/*
 * A disk that fails on demand, for the disk fault tests: a FUSE file system serving one file,
 * `disk`, backed by an image file. A loop device over `disk` is then a block device whose reads
 * and writes fail with EIO once this process gets SIGUSR1 (SIGUSR2 heals it), as a failing
 * drive's do: the file system on it meets real I/O errors, from the block layer up.
 *
 * The kernel has no device-mapper (no `error` or `flakey` target) on the machines this runs on;
 * a loop device over a FUSE file is the block device whose errors a test can switch.
 *
 * Build: gcc -O2 -o failing_disk failing_disk.c $(pkg-config --cflags --libs fuse3)
 * Run:   failing_disk IMAGE MOUNTPOINT   (stays in the foreground; SIGTERM unmounts and exits)
 */
#define FUSE_USE_VERSION 31
#include <errno.h>
#include <fcntl.h>
#include <fuse.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int image = -1;
static volatile sig_atomic_t failing = 0;

static void on_signal(int sig) { failing = sig == SIGUSR1; }

static int is_disk(const char *path) { return strcmp(path, "/disk") == 0; }

static int do_getattr(const char *path, struct stat *st, struct fuse_file_info *fi) {
  (void)fi;
  if (strcmp(path, "/") == 0) {
    memset(st, 0, sizeof *st);
    st->st_mode = S_IFDIR | 0700;
    st->st_nlink = 2;
    return 0;
  }
  if (!is_disk(path)) return -ENOENT;
  return fstat(image, st) < 0 ? -errno : 0;
}

static int do_readdir(const char *path, void *buf, fuse_fill_dir_t fill, off_t off,
                      struct fuse_file_info *fi, enum fuse_readdir_flags flags) {
  (void)off, (void)fi, (void)flags;
  if (strcmp(path, "/") != 0) return -ENOENT;
  fill(buf, ".", NULL, 0, 0);
  fill(buf, "..", NULL, 0, 0);
  fill(buf, "disk", NULL, 0, 0);
  return 0;
}

static int do_open(const char *path, struct fuse_file_info *fi) {
  if (!is_disk(path)) return -ENOENT;
  fi->direct_io = 1; /* every read and write reaches this process: none served from a cache */
  return 0;
}

static int do_read(const char *path, char *buf, size_t size, off_t off, struct fuse_file_info *fi) {
  (void)path, (void)fi;
  if (failing) return -EIO;
  ssize_t n = pread(image, buf, size, off);
  return n < 0 ? -errno : (int)n;
}

static int do_write(const char *path, const char *buf, size_t size, off_t off,
                    struct fuse_file_info *fi) {
  (void)path, (void)fi;
  if (failing) return -EIO;
  ssize_t n = pwrite(image, buf, size, off);
  return n < 0 ? -errno : (int)n;
}

static int do_fsync(const char *path, int datasync, struct fuse_file_info *fi) {
  (void)path, (void)datasync, (void)fi;
  if (failing) return -EIO;
  return fdatasync(image) < 0 ? -errno : 0;
}

static int do_flush(const char *path, struct fuse_file_info *fi) {
  (void)path, (void)fi;
  return 0;
}

static const struct fuse_operations ops = {
    .getattr = do_getattr,
    .readdir = do_readdir,
    .open = do_open,
    .read = do_read,
    .write = do_write,
    .fsync = do_fsync,
    .flush = do_flush,
};

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: %s IMAGE MOUNTPOINT\n", argv[0]);
    return 2;
  }
  image = open(argv[1], O_RDWR);
  if (image < 0) {
    perror(argv[1]);
    return 1;
  }
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigaction(SIGUSR1, &sa, NULL);
  sigaction(SIGUSR2, &sa, NULL);
  char *args[] = {argv[0], "-f", "-s", argv[2], NULL};
  return fuse_main(4, args, &ops, NULL);
}
