// banger-jailer: starts one VM's QEMU jailed, and supervises it.
//
// privhelper (root) runs it detached, once per VM launch, with everything decided: the uid and
// gid of the VM, the files QEMU may see, the tap to open, the cgroups to join. It never decides
// anything itself and never reads what the guest wrote except to copy console bytes to a file.
//
//   supervisor (this process, root)          child (becomes QEMU)
//   ------------------------------           ---------------------------------------------
//   opens console log, qemu.log              joins the VM's cgroups
//   forks                                    opens the tap in the VM network's namespace,
//                                              then moves to a new, empty network namespace
//                                            new mount, IPC and UTS namespaces; a tmpfs root
//                                              holding only read-only /usr (+ lib links),
//                                              ld.so.cache, the --dev nodes and --ro-bind files
//                                              (+ with --ram-fd, a /proc of its own uid only)
//                                            pivot_root into it, root remounted read-only
//                                            closes every fd but 0-2 and the --keep-fds
//                                            drops the capability bounding set, all groups,
//                                              sets gid and uid, no_new_privs
//   writes the pid file once exec succeeded  execs QEMU (which adds its own seccomp filter)
//   copies QEMU's stdout (the serial console)
//     into the console log, rotating it
//   waits; writes the exit file; exits
//
// Exit status: 0 when QEMU was started and has exited (whatever its status, see the exit file);
// 1 with a one-line reason on stderr when the jail could not be built or QEMU not executed.

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/capability.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>
#include <grp.h>
#include <dirent.h>
#include <sys/socket.h>
#include <sys/un.h>

#define MAX_LIST 32

struct bind {
  const char *src;
  const char *dst;
};

struct listener {
  const char *path;
  int fd;
  mode_t mode;
  long gid;
  int sock;
};

struct opts {
  const char *id;
  long uid;
  long gid;
  const char *root;
  struct bind binds[MAX_LIST];
  int nbinds;
  const char *devs[MAX_LIST];
  int ndevs;
  const char *netns;
  const char *tap;
  int tap_fd;
  int ram_src;
  int ram_fd;
  const char *cgroups[MAX_LIST];
  int ncgroups;
  struct listener listeners[MAX_LIST];
  int nlisteners;
  const char *console;
  long console_gid;
  int no_namespaces;
  long long console_max;
  const char *qemu_log;
  const char *pid_file;
  const char *exit_file;
  int keep_fds;
  char **argv;
};

/*
 * Moves a descriptor above every number QEMU is given (those are below 1024, the planned ones
 * far lower), so placing QEMU's descriptors with dup2 can never close one still needed.
 */
static int high(int fd) {
  if (fd < 0) return fd;
  int h = fcntl(fd, F_DUPFD_CLOEXEC, 1024);
  if (h < 0) return fd;
  close(fd);
  return h;
}

static void die(const char *fmt, ...) {
  va_list ap;
  fprintf(stderr, "banger-jailer: ");
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
  exit(1);
}

/* In the child: report the failure to the supervisor through the sync pipe and stop. */
static int sync_fd = -1;
static void child_fail(const char *what) {
  char buf[512];
  int n = snprintf(buf, sizeof buf, "%s: %s", what, strerror(errno));
  if (sync_fd >= 0 && n > 0) {
    ssize_t w = write(sync_fd, buf, (size_t)n);
    (void)w;
  }
  _exit(127);
}

static long parse_long(const char *s, const char *what, long lo, long hi) {
  char *end;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno || *end || v < lo || v > hi) die("%s: bad number %s", what, s);
  return v;
}

static void parse(int argc, char **argv, struct opts *o) {
  memset(o, 0, sizeof *o);
  o->uid = o->gid = -1;
  o->tap_fd = -1;
  o->ram_src = o->ram_fd = -1;
  o->keep_fds = 2;
  o->console_max = 8 * 1024 * 1024;
  int i = 1;
  for (; i < argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "--") == 0) {
      i++;
      break;
    }
    if (i + 1 >= argc) die("%s needs a value", a);
    const char *v = argv[++i];
    if (strcmp(a, "--id") == 0) o->id = v;
    else if (strcmp(a, "--uid") == 0) o->uid = parse_long(v, a, 1, 0xfffffffeL);
    else if (strcmp(a, "--gid") == 0) o->gid = parse_long(v, a, 1, 0xfffffffeL);
    else if (strcmp(a, "--root") == 0) o->root = v;
    else if (strcmp(a, "--ro-bind") == 0) {
      if (o->nbinds == MAX_LIST) die("too many --ro-bind");
      char *colon = strchr(v, ':');
      if (!colon) die("--ro-bind SRC:DST");
      *colon = 0;
      o->binds[o->nbinds].src = v;
      o->binds[o->nbinds].dst = colon + 1;
      o->nbinds++;
    } else if (strcmp(a, "--dev") == 0) {
      if (o->ndevs == MAX_LIST) die("too many --dev");
      if (strchr(v, '/') || v[0] == '.') die("--dev takes a name under /dev");
      o->devs[o->ndevs++] = v;
    } else if (strcmp(a, "--netns") == 0) o->netns = v;
    else if (strcmp(a, "--tap") == 0) {
      char *colon = strchr(v, ':');
      if (!colon) die("--tap NAME:FD");
      *colon = 0;
      o->tap = v;
      o->tap_fd = (int)parse_long(colon + 1, a, 3, 1023);
    } else if (strcmp(a, "--ram-fd") == 0) {
      // SRC:DST, the guest RAM memfd privhelper passed as SRC, for QEMU as DST (/proc/self/fd/DST)
      char *colon = strchr(v, ':');
      if (!colon) die("--ram-fd SRC:DST");
      *colon = 0;
      o->ram_src = (int)parse_long(v, a, 3, 1023);
      o->ram_fd = (int)parse_long(colon + 1, a, 3, 1023);
    } else if (strcmp(a, "--cgroup") == 0) {
      if (o->ncgroups == MAX_LIST) die("too many --cgroup");
      o->cgroups[o->ncgroups++] = v;
    } else if (strcmp(a, "--listen") == 0) {
      // PATH:FD:MODE:GID, e.g. /run/banger/helper/vms/x/qmp.sock:6:0600:0
      if (o->nlisteners == MAX_LIST) die("too many --listen");
      char *f[4];
      char *rest = (char *)v;
      for (int k = 0; k < 3; k++) {
        char *c = strrchr(rest, ':');
        if (!c) die("--listen PATH:FD:MODE:GID");
        *c = 0;
        f[3 - k] = c + 1;
      }
      f[0] = rest;
      struct listener *l = &o->listeners[o->nlisteners++];
      l->path = f[0];
      l->fd = (int)parse_long(f[1], a, 3, 1023);
      l->mode = (mode_t)strtol(f[2], NULL, 8);
      l->gid = parse_long(f[3], a, 0, 0xfffffffeL);
      l->sock = -1;
    } else if (strcmp(a, "--console") == 0) o->console = v;
    else if (strcmp(a, "--console-gid") == 0) o->console_gid = parse_long(v, a, 0, 0xfffffffeL);
    else if (strcmp(a, "--no-namespaces") == 0) o->no_namespaces = (int)parse_long(v, a, 0, 1);
    else if (strcmp(a, "--console-max") == 0) o->console_max = parse_long(v, a, 4096, LONG_MAX);
    else if (strcmp(a, "--qemu-log") == 0) o->qemu_log = v;
    else if (strcmp(a, "--pid-file") == 0) o->pid_file = v;
    else if (strcmp(a, "--exit-file") == 0) o->exit_file = v;
    else if (strcmp(a, "--keep-fds") == 0) o->keep_fds = (int)parse_long(v, a, 2, 1023);
    else die("unknown option %s", a);
  }
  if (i >= argc) die("no command after --");
  o->argv = &argv[i];
  if (!o->id || o->uid < 0 || o->gid < 0 || !o->root || !o->console || !o->qemu_log || !o->pid_file || !o->exit_file) {
    die("--id, --uid, --gid, --root, --console, --qemu-log, --pid-file and --exit-file are required");
  }
  if (o->argv[0][0] != '/') die("the command must be an absolute path");
  if (o->tap_fd >= 0 && o->tap_fd <= o->keep_fds) die("--tap fd must be above --keep-fds");
  if (o->ram_fd >= 0 && (o->ram_fd <= o->keep_fds || o->ram_fd == o->tap_fd)) die("--ram-fd DST must be above --keep-fds and differ from --tap");
  if (o->ram_src >= 0 && o->ram_src <= o->keep_fds) die("--ram-fd SRC must be above --keep-fds");
  if (o->ram_fd >= 0 && o->no_namespaces) die("--ram-fd needs the jail's mount namespace (its /proc)");
  for (int i = 0; i < o->nlisteners; i++) {
    if (o->listeners[i].fd == o->ram_fd) die("--listen fds must differ from --ram-fd");
    if (o->listeners[i].fd <= o->keep_fds || o->listeners[i].fd == o->tap_fd) die("--listen fds must be above --keep-fds and differ from --tap");
  }
}

/* Opens a file root writes, in a directory only root can write (privhelper checked): never through a link. */
static int open_out(const char *path, int flags, mode_t mode) {
  int fd = open(path, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC | flags, mode);
  if (fd < 0) die("open %s: %s", path, strerror(errno));
  return fd;
}

/* The console log: readable by privhelper's client group (vmd), writable by root alone. */
static int open_console(const char *path, long gid, int flags) {
  int fd = open_out(path, flags, 0640);
  if (fchown(fd, 0, (gid_t)gid) || fchmod(fd, 0640)) die("fchown %s: %s", path, strerror(errno));
  return fd;
}

static void write_file(const char *path, const char *text) {
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) return;
  ssize_t w = write(fd, text, strlen(text));
  (void)w;
  close(fd);
}

static void mkdirs(const char *path, mode_t mode) {
  char buf[PATH_MAX];
  if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf) child_fail("path too long");
  for (char *p = buf + 1; *p; p++) {
    if (*p != '/') continue;
    *p = 0;
    if (mkdir(buf, mode) && errno != EEXIST) child_fail(buf);
    *p = '/';
  }
  if (mkdir(buf, mode) && errno != EEXIST) child_fail(buf);
}

/* An empty file or directory in the jail tree to mount over, like the source. */
static void mountpoint_for(const char *src, const char *dst) {
  struct stat st;
  if (stat(src, &st)) child_fail(src);
  char parent[PATH_MAX];
  snprintf(parent, sizeof parent, "%s", dst);
  char *slash = strrchr(parent, '/');
  if (slash && slash != parent) {
    *slash = 0;
    mkdirs(parent, 0755);
  }
  if (S_ISDIR(st.st_mode)) {
    if (mkdir(dst, 0755) && errno != EEXIST) child_fail(dst);
  } else {
    int fd = open(dst, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) child_fail(dst);
    close(fd);
  }
}

static void bind_ro(const char *src, const char *dst, unsigned long extra) {
  mountpoint_for(src, dst);
  if (mount(src, dst, NULL, MS_BIND | MS_REC, NULL)) child_fail(src);
  if (mount(NULL, dst, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | extra, NULL)) child_fail(dst);
}

/* /lib, /lib64, /bin, /sbin as the host has them: a link into /usr (merged /usr), or a read-only bind. */
static void host_top(const char *name) {
  char src[64], dst[64], target[PATH_MAX];
  snprintf(src, sizeof src, "/%s", name);
  snprintf(dst, sizeof dst, "./%s", name);
  struct stat st;
  if (lstat(src, &st)) return;
  if (S_ISLNK(st.st_mode)) {
    ssize_t n = readlink(src, target, sizeof target - 1);
    if (n < 0) child_fail(src);
    target[n] = 0;
    if (symlink(target, dst)) child_fail(dst);
  } else if (S_ISDIR(st.st_mode)) {
    bind_ro(src, dst, MS_NODEV);
  }
}

static void join_cgroups(const struct opts *o) {
  char line[32];
  int n = snprintf(line, sizeof line, "%d\n", (int)getpid());
  for (int i = 0; i < o->ncgroups; i++) {
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/cgroup.procs", o->cgroups[i]);
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0 || write(fd, line, (size_t)n) != n) child_fail(path);
    close(fd);
  }
}

static int open_tap(const char *name) {
  int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
  if (fd < 0) child_fail("/dev/net/tun");
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
  if (strlen(name) >= IFNAMSIZ) {
    errno = ENAMETOOLONG;
    child_fail(name);
  }
  strncpy(ifr.ifr_name, name, IFNAMSIZ - 1);
  if (ioctl(fd, TUNSETIFF, &ifr)) child_fail("TUNSETIFF");
  return fd;
}

static int kept_extra(const struct opts *o, int fd) {
  if (fd >= 1024) return 0;
  if (fd == o->tap_fd || fd == o->ram_fd) return 1;
  for (int i = 0; i < o->nlisteners; i++) if (fd == o->listeners[i].fd) return 1;
  return 0;
}

/*
 * QEMU 7.2 opens guest RAM only by path, and a memfd cannot be bind-mounted (it lives on no
 * mount of this namespace), so QEMU reaches its memfd as /proc/self/fd/N. This /proc shows
 * nothing but processes of the caller's own uid (each VM has its own) and no system files.
 */
static void mount_own_proc(void) {
  if (mkdir("./proc", 0555)) child_fail("./proc");
  if (mount("proc", "./proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, "hidepid=invisible,subset=pid")) child_fail("mount the jail's /proc");
}

static void close_others(const struct opts *o) {
  int keep = o->keep_fds;
  DIR *d = opendir("/proc/self/fd");
  if (!d) {
    for (int fd = keep + 1; fd < 4096; fd++) if (!kept_extra(o, fd) && fd != sync_fd) close(fd);
    return;
  }
  int dfd = dirfd(d);
  struct dirent *e;
  int fds[4096];
  int n = 0;
  while ((e = readdir(d)) && n < 4096) {
    if (e->d_name[0] == '.') continue;
    int fd = atoi(e->d_name);
    if (fd > keep && !kept_extra(o, fd) && fd != sync_fd && fd != dfd) fds[n++] = fd;
  }
  closedir(d);
  for (int i = 0; i < n; i++) close(fds[i]);
}

static void drop_privileges(const struct opts *o) {
  for (int cap = 0; cap <= CAP_LAST_CAP; cap++) {
    if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) && errno != EINVAL) child_fail("PR_CAPBSET_DROP");
  }
  if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) && errno != EINVAL) child_fail("PR_CAP_AMBIENT");
  if (setgroups(0, NULL)) child_fail("setgroups");
  if (setresgid((gid_t)o->gid, (gid_t)o->gid, (gid_t)o->gid)) child_fail("setresgid");
  if (setresuid((uid_t)o->uid, (uid_t)o->uid, (uid_t)o->uid)) child_fail("setresuid");
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)) child_fail("PR_SET_NO_NEW_PRIVS");
  // Nothing may be left: a uid change from root clears the permitted set unless keepcaps was set.
  struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
  struct __user_cap_data_struct data[2];
  if (syscall(SYS_capget, &hdr, data)) child_fail("capget");
  if (data[0].effective || data[1].effective || data[0].permitted || data[1].permitted) {
    errno = EPERM;
    child_fail("capabilities left after the uid change");
  }
}

static void child(const struct opts *o, int console_w, int qemu_log) {
  join_cgroups(o);
  int tap = -1;
  if (o->tap) {
    if (o->netns) {
      int ns = open(o->netns, O_RDONLY | O_CLOEXEC);
      if (ns < 0 || setns(ns, CLONE_NEWNET)) child_fail(o->netns);
      close(ns);
    }
    tap = high(open_tap(o->tap));
  }
  if (o->no_namespaces) goto drop;
  // QEMU reaches no network but its tap: a new namespace with nothing in it.
  if (unshare(CLONE_NEWNET | CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWUTS)) child_fail("unshare");
  if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL)) child_fail("make mounts private");
  if (mount("banger-jail", o->root, "tmpfs", MS_NOSUID, "size=4m,mode=0755")) child_fail(o->root);
  if (chdir(o->root)) child_fail(o->root);
  if (mkdir("./usr", 0755) || mkdir("./dev", 0755) || mkdir("./etc", 0755)) child_fail("jail tree");
  bind_ro("/usr", "./usr", MS_NODEV);
  host_top("lib");
  host_top("lib64");
  host_top("bin");
  host_top("sbin");
  if (access("/etc/ld.so.cache", R_OK) == 0) bind_ro("/etc/ld.so.cache", "./etc/ld.so.cache", MS_NODEV);
  for (int i = 0; i < o->ndevs; i++) {
    char src[128], dst[128];
    snprintf(src, sizeof src, "/dev/%s", o->devs[i]);
    snprintf(dst, sizeof dst, "./dev/%s", o->devs[i]);
    bind_ro(src, dst, 0);
    // Device nodes keep their own access; read-only applies to the node's metadata, not to I/O.
  }
  for (int i = 0; i < o->nbinds; i++) {
    char dst[PATH_MAX];
    if (o->binds[i].dst[0] != '/' || strstr(o->binds[i].dst, "..")) {
      errno = EINVAL;
      child_fail(o->binds[i].dst);
    }
    snprintf(dst, sizeof dst, ".%s", o->binds[i].dst);
    bind_ro(o->binds[i].src, dst, MS_NODEV);
  }
  if (o->ram_fd >= 0) mount_own_proc();
  if (syscall(SYS_pivot_root, ".", ".")) child_fail("pivot_root");
  if (umount2(".", MNT_DETACH)) child_fail("detach the host root");
  if (chdir("/")) child_fail("chdir /");
  if (mount(NULL, "/", NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID, NULL)) child_fail("remount the jail root read-only");

drop:;
  int null = high(open("/dev/null", O_RDWR | O_CLOEXEC));
  if (null < 0) child_fail("/dev/null (pass --dev null)");
  if (dup2(null, 0) < 0 || dup2(console_w, 1) < 0 || dup2(qemu_log, 2) < 0) child_fail("dup2");
  if (tap >= 0) {
    if (dup2(tap, o->tap_fd) < 0) child_fail("dup2 tap");
  }
  if (o->ram_fd >= 0 && dup2(o->ram_src, o->ram_fd) < 0) child_fail("dup2 ram");
  for (int i = 0; i < o->nlisteners; i++) {
    if (dup2(o->listeners[i].sock, o->listeners[i].fd) < 0) child_fail("dup2 listener");
  }
  for (int fd = 3; fd < 1024; fd++) {
    if (fd > o->keep_fds && !kept_extra(o, fd)) continue;
    int flags = fcntl(fd, F_GETFD);
    if (flags < 0) child_fail("a descriptor QEMU should get is not open");
    fcntl(fd, F_SETFD, flags & ~FD_CLOEXEC);
  }
  close_others(o);
  drop_privileges(o);
  execv(o->argv[0], o->argv);
  child_fail(o->argv[0]);
}

static const char *signame(int sig) {
  switch (sig) {
    case SIGKILL: return "SIGKILL";
    case SIGTERM: return "SIGTERM";
    case SIGINT: return "SIGINT";
    case SIGSEGV: return "SIGSEGV";
    case SIGABRT: return "SIGABRT";
    case SIGSYS: return "SIGSYS";
    case SIGBUS: return "SIGBUS";
    default: return "SIG?";
  }
}

/*
 * A listening Unix socket QEMU serves on (QMP, the guest agent), made here by root in the VM's
 * root-owned run directory and handed to QEMU by descriptor: QEMU never creates a file, and
 * after a helper restart the socket is still there, still QEMU's.
 */
static void listen_on(struct listener *l) {
  struct stat st;
  if (lstat(l->path, &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) die("%s exists and is not a socket", l->path);
    if (unlink(l->path)) die("unlink %s: %s", l->path, strerror(errno));
  }
  int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (s < 0) die("socket: %s", strerror(errno));
  struct sockaddr_un addr;
  memset(&addr, 0, sizeof addr);
  addr.sun_family = AF_UNIX;
  if (strlen(l->path) >= sizeof addr.sun_path) die("%s: socket path too long", l->path);
  strncpy(addr.sun_path, l->path, sizeof addr.sun_path - 1);
  mode_t old = umask(0177);
  int r = bind(s, (struct sockaddr *)&addr, sizeof addr);
  umask(old);
  if (r) die("bind %s: %s", l->path, strerror(errno));
  if (chown(l->path, 0, (gid_t)l->gid) || chmod(l->path, l->mode)) die("chown/chmod %s: %s", l->path, strerror(errno));
  if (listen(s, 4)) die("listen %s: %s", l->path, strerror(errno));
  l->sock = high(s);
}

/* Console bytes to the log, rotated at the size cap (one previous file kept: PATH.1). */
struct console {
  const char *path;
  long long max;
  int fd;
  long long size;
  long gid;
};

static void console_write(struct console *c, const char *buf, size_t n) {
  while (n > 0) {
    if (c->size >= c->max) {
      char old[PATH_MAX];
      snprintf(old, sizeof old, "%s.1", c->path);
      close(c->fd);
      rename(c->path, old);
      c->fd = open_console(c->path, c->gid, O_TRUNC | O_APPEND);
      c->size = 0;
    }
    size_t room = (size_t)(c->max - c->size);
    size_t chunk = n < room ? n : room;
    ssize_t w = write(c->fd, buf, chunk);
    if (w <= 0) return;
    c->size += w;
    buf += w;
    n -= (size_t)w;
  }
}

int main(int argc, char **argv) {
  struct opts o;
  parse(argc, argv, &o);
  if (geteuid() != 0) die("must run as root");
  signal(SIGHUP, SIG_IGN);
  signal(SIGINT, SIG_IGN);
  signal(SIGTERM, SIG_IGN);
  signal(SIGPIPE, SIG_IGN);

  struct console con = {o.console, o.console_max, high(open_console(o.console, o.console_gid, O_APPEND)), 0, o.console_gid};
  struct stat st;
  if (fstat(con.fd, &st) == 0) con.size = st.st_size;
  // QEMU's stderr: root's alone, like the launch record.
  int qemu_log = high(open_out(o.qemu_log, O_TRUNC, 0600));
  for (int i = 0; i < o.nlisteners; i++) listen_on(&o.listeners[i]);
  // Out of the way of the numbers QEMU's descriptors are placed at (the listeners, the tap).
  if (o.ram_src >= 0) {
    if (fcntl(o.ram_src, F_GETFD) < 0) die("--ram-fd SRC %d is not open", o.ram_src);
    o.ram_src = high(o.ram_src);
  }
  int cpipe[2], spipe[2];
  if (pipe2(cpipe, O_CLOEXEC) || pipe2(spipe, O_CLOEXEC)) die("pipe: %s", strerror(errno));
  for (int k = 0; k < 2; k++) {
    cpipe[k] = high(cpipe[k]);
    spipe[k] = high(spipe[k]);
  }

  pid_t pid = fork();
  if (pid < 0) die("fork: %s", strerror(errno));
  if (pid == 0) {
    close(cpipe[0]);
    close(spipe[0]);
    sync_fd = spipe[1];
    signal(SIGHUP, SIG_DFL);
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    signal(SIGPIPE, SIG_DFL);
    child(&o, cpipe[1], qemu_log);
  }
  close(cpipe[1]);
  close(spipe[1]);
  close(qemu_log);
  for (int fd = 3; fd <= o.keep_fds; fd++) close(fd);
  for (int i = 0; i < o.nlisteners; i++) close(o.listeners[i].sock);
  if (o.ram_src >= 0) close(o.ram_src);

  char err[512];
  ssize_t n = read(spipe[0], err, sizeof err - 1);
  close(spipe[0]);
  if (n > 0) {
    err[n] = 0;
    int status;
    waitpid(pid, &status, 0);
    char text[700];
    snprintf(text, sizeof text, "{\"launched\":false,\"error\":\"%s\"}\n", "jail setup failed");
    write_file(o.exit_file, text);
    die("vm %s: %s", o.id, err);
  }
  char pidtext[32];
  snprintf(pidtext, sizeof pidtext, "%d\n", (int)pid);
  write_file(o.pid_file, pidtext);
  // privhelper waits for this line: QEMU has been executed.
  printf("started %d\n", (int)pid);
  fflush(stdout);
  int devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
  if (devnull >= 0) {
    dup2(devnull, 1);
    close(devnull);
  }

  char buf[65536];
  for (;;) {
    struct pollfd p = {cpipe[0], POLLIN, 0};
    int r = poll(&p, 1, 1000);
    if (r > 0) {
      ssize_t got = read(cpipe[0], buf, sizeof buf);
      if (got > 0) {
        console_write(&con, buf, (size_t)got);
        continue;
      }
      if (got == 0) break;  // QEMU closed its stdout: it is exiting
    }
    int status;
    if (waitpid(pid, &status, WNOHANG) == pid) {
      // Drain what is left, then report.
      ssize_t got;
      while ((got = read(cpipe[0], buf, sizeof buf)) > 0) console_write(&con, buf, (size_t)got);
      char text[128];
      if (WIFEXITED(status)) snprintf(text, sizeof text, "{\"launched\":true,\"code\":%d,\"signal\":\"\"}\n", WEXITSTATUS(status));
      else snprintf(text, sizeof text, "{\"launched\":true,\"code\":-1,\"signal\":\"%s\"}\n", signame(WTERMSIG(status)));
      write_file(o.exit_file, text);
      return 0;
    }
  }
  int status;
  waitpid(pid, &status, 0);
  char text[128];
  if (WIFEXITED(status)) snprintf(text, sizeof text, "{\"launched\":true,\"code\":%d,\"signal\":\"\"}\n", WEXITSTATUS(status));
  else snprintf(text, sizeof text, "{\"launched\":true,\"code\":-1,\"signal\":\"%s\"}\n", signame(WTERMSIG(status)));
  write_file(o.exit_file, text);
  return 0;
}
