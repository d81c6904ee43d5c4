/* A broken disk for one file family: fsync and fdatasync fail with EIO on files whose path
 * contains $FAILSYNC_PATH, once the file $FAILSYNC_TRIGGER exists (so a process can run
 * normally first). Loaded with LD_PRELOAD by tests/tests/fsync_failure.rs; every other call
 * goes to the C library. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int should_fail(int fd) {
    const char *pattern = getenv("FAILSYNC_PATH");
    const char *trigger = getenv("FAILSYNC_TRIGGER");
    if (pattern == NULL || (trigger != NULL && access(trigger, F_OK) != 0)) {
        return 0;
    }
    char link[64], path[PATH_MAX];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, path, sizeof path - 1);
    if (n < 0) {
        return 0;
    }
    path[n] = '\0';
    return strstr(path, pattern) != NULL;
}

/* The call `name` would make, or EIO where the disk is broken. */
static int sync_or_fail(int fd, const char *name) {
    if (should_fail(fd)) {
        errno = EIO;
        return -1;
    }
    int (*real)(int) = (int (*)(int))dlsym(RTLD_NEXT, name);
    return real(fd);
}

int fsync(int fd) {
    return sync_or_fail(fd, "fsync");
}

int fdatasync(int fd) {
    return sync_or_fail(fd, "fdatasync");
}
