# Attaches to a persistent tap the way QEMU does (TUNSETIFF, IFF_TAP|IFF_NO_PI) as an unprivileged
# uid, prints "held" (or "denied <errno>"), then keeps the fd open until stdin closes.
# Started as root inside the test namespace: /dev/net/tun is opened first (the fd's namespace is
# where TUNSETIFF looks the tap up, and the node may be root-only), then privileges are dropped.
import fcntl, os, struct, sys
name, uid = sys.argv[1], int(sys.argv[2])
fd = os.open('/dev/net/tun', os.O_RDWR)
os.setgroups([])
os.setresgid(uid, uid, uid)
os.setresuid(uid, uid, uid)
try:
    fcntl.ioctl(fd, 0x400454CA, struct.pack('16sH', name.encode(), 0x0002 | 0x1000))
except OSError as e:
    print(f'denied {e.errno}', flush=True)
    sys.exit(0)
print('held', flush=True)
sys.stdin.read()
