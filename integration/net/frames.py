# Raw Ethernet frames for the guest-fence tests (root, inside a test namespace only).
#   send IFACE SPEC...    SPEC is SRC_MAC,KIND,MARKER[,SRC_IP]; KIND: ip (UDP broadcast carrying MARKER
#                         from SRC_IP), arp (gratuitous ARP reply claiming SRC_IP, MARKER as padding),
#                         ipv6 (UDP to ff02::1 carrying MARKER), other (ethertype 0x88b5 with MARKER)
#   sniff IFACE SECONDS MARKER...              prints "ready", then one line per MARKER seen on IFACE
import socket, struct, sys, time

def mac(s): return bytes(int(x, 16) for x in s.split(':'))
def ip4(s): return socket.inet_aton(s)

def csum(b):
    if len(b) % 2: b += b'\0'
    s = sum(struct.unpack('!%dH' % (len(b) // 2), b))
    while s >> 16: s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff

def frame(src_mac, kind, marker, src_ip):
    bcast = b'\xff' * 6
    m = marker.encode()
    if kind == 'ip':
        udp = struct.pack('!HHHH', 40000, 9, 8 + len(m), 0) + m
        hdr = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + len(udp), 1, 0, 64, 17, 0, ip4(src_ip), ip4('255.255.255.255'))
        hdr = hdr[:10] + struct.pack('!H', csum(hdr)) + hdr[12:]
        return bcast + mac(src_mac) + b'\x08\x00' + hdr + udp
    if kind == 'arp':
        arp = struct.pack('!HHBBH6s4s6s4s', 1, 0x0800, 6, 4, 2, mac(src_mac), ip4(src_ip), bcast, ip4(src_ip))
        return bcast + mac(src_mac) + b'\x08\x06' + arp + m
    if kind == 'ipv6':
        udp = struct.pack('!HHHH', 40000, 9, 8 + len(m), 0) + m
        hdr = struct.pack('!IHBB16s16s', 6 << 28, len(udp), 17, 1, socket.inet_pton(socket.AF_INET6, 'fe80::bb'), socket.inet_pton(socket.AF_INET6, 'ff02::1'))
        return b'\x33\x33\x00\x00\x00\x01' + mac(src_mac) + b'\x86\xdd' + hdr + udp
    return bcast + mac(src_mac) + b'\x88\xb5' + m.ljust(46, b'\0')

if sys.argv[1] == 'send':
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    s.bind((sys.argv[2], 0))
    frames = []
    for spec in sys.argv[3:]:
        src_mac, kind, marker, *ip = spec.split(',')
        frames.append(frame(src_mac, kind, marker, ip[0] if ip else '0.0.0.0'))
    for _ in range(3):
        for f in frames:
            s.send(f)
        time.sleep(0.05)
elif sys.argv[1] == 'sniff':
    iface, secs, markers = sys.argv[2], float(sys.argv[3]), [m.encode() for m in sys.argv[4:]]
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))
    s.bind((iface, 0))
    s.settimeout(0.2)
    print('ready', flush=True)
    seen, end = set(), time.time() + secs
    while time.time() < end:
        try:
            data = s.recv(65535)
        except socket.timeout:
            continue
        for m in markers:
            if m in data and m not in seen:
                seen.add(m)
                print(m.decode(), flush=True)
