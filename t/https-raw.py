#!/usr/bin/env python3
"""t/https-raw.py — send raw requests over TLS and judge the answers.

Used by t/https-frame.sh (TAP test of examples/https-server).  Usage:
    https-raw.py PORT VECTORS_FILE
VECTORS_FILE has one vector a line: NAME<TAB>WANT<TAB>BYTES, where BYTES
is the request with Python string escapes (\\r\\n, \\x00...) and
WANT is a space-separated list of the status codes expected, in order, one
per response (so "200 505" means exactly two responses).  Each vector runs on
its own connection: the bytes are sent, then everything is read until the
server closes, with suppress_ragged_eofs=False so a close without TLS
close_notify is seen.  A line per vector is printed:
    PASS NAME
    FAIL NAME: what was wrong
A vector passes when the statuses are exactly WANT, every response is framed
(Content-Length, or chunked, and the bytes add up), the last one says
"Connection: close", the server ended with close_notify, and ALPN chose
http/1.1.  Optional per-vector limits: a NAME ending in "@S" (e.g.
"bare-cr@3") must be answered and closed within S seconds.  With RAW_READY
set, that file is created once each connection's TLS handshake is done.
"""
import os
import re
import socket
import ssl
import sys
import time


def fetch(port, data, timeout=30.0):
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.set_alpn_protocols(["h2", "http/1.1"])
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    tls = ctx.wrap_socket(sock, suppress_ragged_eofs=False)
    if os.environ.get("RAW_READY"):  # the handshake is done: say so
        open(os.environ["RAW_READY"], "w").close()
    t0 = time.monotonic()
    out = bytearray()
    how = "close_notify"
    try:
        tls.sendall(data)
        while True:
            b = tls.recv(65536)
            if not b:
                break
            out += b
    except ssl.SSLEOFError:
        how = "EOF without close_notify"
    except socket.timeout:
        how = "timeout (no close)"
    except (ConnectionResetError, BrokenPipeError) as e:
        how = "reset (%s)" % e.__class__.__name__
    alpn = tls.selected_alpn_protocol()
    tls.close()
    return bytes(out), how, alpn, time.monotonic() - t0


def responses(buf):
    """Split @buf into (status, headers) tuples; raise ValueError when a
    response is not framed."""
    out = []
    while buf:
        end = buf.find(b"\r\n\r\n")
        if end < 0:
            raise ValueError("truncated head: %r" % buf[:80])
        head = buf[:end].decode("latin1").split("\r\n")
        m = re.match(r"HTTP/1\.[01] (\d{3}) ", head[0] + " ")
        if not m:
            raise ValueError("bad status line %r" % head[0])
        hdrs = {}
        for line in head[1:]:
            k, _, v = line.partition(":")
            hdrs.setdefault(k.strip().lower(), []).append(v.strip())
        buf = buf[end + 4:]
        status = int(m.group(1))
        if status in (100,):
            continue
        if "content-length" in hdrs:
            n = int(hdrs["content-length"][0])
            if len(buf) < n:
                raise ValueError("body shorter than Content-Length")
            buf = buf[n:]
        elif "chunked" in ",".join(hdrs.get("transfer-encoding", [])):
            while True:
                le = buf.find(b"\r\n")
                size = int(buf[:le].split(b";")[0], 16)
                buf = buf[le + 2 + size + 2:]
                if size == 0:
                    break
        elif status not in (204, 304):
            raise ValueError("%d response without Content-Length" % status)
        out.append((status, hdrs))
    return out


def judge(port, name, want, data):
    limit = None
    if "@" in name:
        limit = float(name.rsplit("@", 1)[1])
    out, how, alpn, secs = fetch(port, data)
    try:
        got = responses(out)
    except ValueError as e:
        return "%s (got %r)" % (e, out[:120])
    codes = [s for s, _ in got]
    if codes != want:
        return "statuses %s, want %s (%r)" % (codes, want, out[:160])
    last = got[-1][1] if got else {}
    if got and "close" not in ",".join(last.get("connection", [])).lower():
        return "last response lacks Connection: close"
    if how != "close_notify":
        return "connection ended by %s" % how
    if alpn != "http/1.1":
        return "ALPN chose %r" % alpn
    if limit is not None and secs > limit:
        return "took %.2f s (limit %.1f s)" % (secs, limit)
    return None


def main():
    port = int(sys.argv[1])
    with open(sys.argv[2], encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if not line or line.startswith("#"):
                continue
            name, want, lit = line.split("\t", 2)
            data = lit.encode("latin1").decode("unicode_escape").encode(
                "latin1")
            err = judge(port, name, [int(w) for w in want.split()], data)
            print("PASS %s" % name if err is None else
                  "FAIL %s: %s" % (name, err), flush=True)


if __name__ == "__main__":
    main()
