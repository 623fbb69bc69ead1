/* Copy audit: an LD_PRELOAD library counting the bytes each shared object copies with
 * memcpy/memmove, so the harness can say how many times a process copied a payload and
 * which library did it.
 *
 * Only calls of at least COPY_AUDIT_MIN bytes (default 4096) are counted: payloads move in
 * chunks (gRPC slices, socket reads), so a threshold near the payload size would miss them,
 * while headers and bookkeeping stay below this one. SIGUSR2 appends a snapshot of the
 * counters to $COPY_AUDIT_DIR/copies-<pid>.tsv; the harness diffs two snapshots around a
 * request. Copies made by loops rather than memcpy (a base64 codec, CPython's ASCII decoder)
 * are not seen: the report says so.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef void *(*copy_fn)(void *, const void *, size_t);

#define MAX_OBJECTS 128

struct counter {
    void *base;        /* load address of the calling object: the key */
    char name[200];
    uint64_t calls;
    uint64_t bytes;
};

static struct counter counters[MAX_OBJECTS];
static int used;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static size_t minimum = 4096;
static copy_fn real_memcpy, real_memmove;
static __thread int inside; /* dladdr may copy: do not count ourselves */

static void byte_copy(char *to, const char *from, size_t n) {
    if (to < from) {
        for (size_t i = 0; i < n; i++) to[i] = from[i];
    } else {
        for (size_t i = n; i > 0; i--) to[i - 1] = from[i - 1];
    }
}

static void count(void *caller, size_t n) {
    if (n < minimum || inside) return;
    inside = 1;
    Dl_info info;
    void *base = NULL;
    const char *name = "?";
    if (dladdr(caller, &info) && info.dli_fbase) {
        base = info.dli_fbase;
        name = info.dli_fname ? info.dli_fname : "?";
    }
    pthread_mutex_lock(&lock);
    int i = 0;
    while (i < used && counters[i].base != base) i++;
    if (i == used && used < MAX_OBJECTS) {
        counters[i].base = base;
        size_t len = strlen(name);
        if (len >= sizeof counters[i].name) len = sizeof counters[i].name - 1;
        byte_copy(counters[i].name, name, len);
        counters[i].name[len] = 0;
        used++;
    }
    if (i < used) {
        counters[i].calls++;
        counters[i].bytes += n;
    }
    pthread_mutex_unlock(&lock);
    inside = 0;
}

static copy_fn resolve(const char *symbol) {
    inside = 1;
    copy_fn fn = (copy_fn)dlsym(RTLD_NEXT, symbol);
    inside = 0;
    return fn;
}

void *memcpy(void *to, const void *from, size_t n) {
    if (!real_memcpy) {
        if (inside) { byte_copy(to, from, n); return to; }
        real_memcpy = resolve("memcpy");
    }
    count(__builtin_return_address(0), n);
    return real_memcpy(to, from, n);
}

void *memmove(void *to, const void *from, size_t n) {
    if (!real_memmove) {
        if (inside) { byte_copy(to, from, n); return to; }
        real_memmove = resolve("memmove");
    }
    count(__builtin_return_address(0), n);
    return real_memmove(to, from, n);
}

/* async-signal-safe number formatting for the snapshot */
static size_t put_number(char *out, uint64_t value) {
    char digits[24];
    size_t n = 0;
    do { digits[n++] = (char)('0' + value % 10); value /= 10; } while (value);
    for (size_t i = 0; i < n; i++) out[i] = digits[n - 1 - i];
    return n;
}

static char path[512];

static void snapshot(int signal_number) {
    (void)signal_number;
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd < 0) return;
    char line[300];
    write(fd, "snapshot\n", 9);
    for (int i = 0; i < used; i++) {
        size_t at = 0;
        for (const char *c = counters[i].name; *c && at < 200; c++) line[at++] = *c;
        line[at++] = '\t';
        at += put_number(line + at, counters[i].calls);
        line[at++] = '\t';
        at += put_number(line + at, counters[i].bytes);
        line[at++] = '\n';
        write(fd, line, at);
    }
    close(fd);
}

__attribute__((constructor)) static void start(void) {
    const char *floor = getenv("COPY_AUDIT_MIN");
    if (floor) minimum = (size_t)strtoull(floor, NULL, 10);
    const char *dir = getenv("COPY_AUDIT_DIR");
    if (!dir) dir = "/tmp";
    size_t at = 0;
    for (const char *c = dir; *c && at < 400; c++) path[at++] = *c;
    const char *stem = "/copies-";
    for (const char *c = stem; *c; c++) path[at++] = *c;
    at += put_number(path + at, (uint64_t)getpid());
    const char *ext = ".tsv";
    for (const char *c = ext; *c; c++) path[at++] = *c;
    path[at] = 0;
    struct sigaction action;
    __builtin_memset(&action, 0, sizeof action);
    action.sa_handler = snapshot;
    action.sa_flags = SA_RESTART;
    sigaction(SIGUSR2, &action, NULL);
}
