"""A server started as root that gives up its privileges before its first socket:
python3 privdrop.py MODE FILE ADDR PORT.

MODE setuid: setgroups, setgid and setuid to nobody (65534), as servers with a -u USER option.
MODE capset: stays uid 0 but clears every capability with capset(2) (libc's, through ctypes).
Then it listens on ADDR:PORT, says "listening as uid N" (and "caps cleared" for capset), and
sends FILE (read before the drop: nobody may not read it) to one client. Socket errors after
the drop are printed and exit 1.
"""
import ctypes
import os
import socket
import sys

mode, path, addr, port = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
data = open(path, "rb").read()
if mode == "setuid":
    os.setgroups([])
    os.setgid(65534)
    os.setuid(65534)
else:
    class Header(ctypes.Structure):
        _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]

    class Data(ctypes.Structure):
        _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                    ("inheritable", ctypes.c_uint32)]

    hdr = Header(0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3: two data structs
    none = (Data * 2)()
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.capset(ctypes.byref(hdr), ctypes.byref(none)) != 0:
        print("capset:", os.strerror(ctypes.get_errno()), flush=True)
        sys.exit(1)
    with open("/proc/self/status") as f:
        eff = [l.split()[1] for l in f if l.startswith("CapEff:")][0]
    if int(eff, 16) == 0:
        print("caps cleared", flush=True)
try:
    s = socket.create_server((addr, port))
except OSError as e:
    print("socket after the drop:", e, flush=True)
    sys.exit(1)
print("listening as uid %d" % os.geteuid(), flush=True)
c, _ = s.accept()
c.sendall(data)
c.close()
