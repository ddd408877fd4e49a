#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""A loopback HTTP proxy in front of moto that injects faults, for the S3 client's retry
tests (tests/unit/s3/test_s3_faults.c, tests/e2e/cases/s3.sh).

Usage: fault_proxy.py PORTFILE UPSTREAM_PORT
Binds 127.0.0.1 on a free port and writes it to PORTFILE once it is listening. Requests are
forwarded to 127.0.0.1:UPSTREAM_PORT unless a fault rule matches.

Control (never forwarded):
  POST /__faults__   body: JSON list of rules {"match": "GET /bkt/key", "fault": KIND,
                     "times": N}; replaces the rules. A rule matches when `match` is a
                     substring of "METHOD /path?query"; each match uses up one of its times.
  GET  /__faults__   JSON: {"hits": [[fault, "METHOD /path?query"], ...], "requests": N}
Fault kinds:
  drop        read the request, close the connection without an answer
  reset       as drop, with a TCP reset (SO_LINGER 0)
  500         500 InternalError (S3 XML)
  503         503 SlowDown (S3 XML)
  403         403 AccessDenied (permanent: must not be retried)
  error200    200 with an InternalError document (as CompleteMultipartUpload may answer)
  truncate    forward, then send the headers and half the body, and close
  stall       forward, send the headers and half the body, then hang for 30 s
  stall_head  hang for 30 s before any answer
  trickle     forward, then send the body 4 KiB every 0.15 s: slow, but never quiet for as
              long as the stall timeout the tests use (1 s)
HTTP framing (for the direct receive path and libcurl alike):
  continue    a "100 Continue" interim answer, then the real one
  close_after forward, answer without "Connection: close", then close the connection (the
              client's next request on it finds it closed)
  500chunked  500 InternalError, the document in chunked coding (an extension, a trailer)
  403chunked  the same with 403 AccessDenied
  http10      an HTTP/1.0 503 without Content-Length, ended by closing the connection
  garbage     a line that is not HTTP, then close
  bighead     a 200 whose head is larger than 64 KiB, then close before the body
  badchunk    a 500 in chunked coding whose chunk size is not hexadecimal, then close
  twolengths  a 200 with two Content-Length fields that disagree, then close
  badstatus   "HTTP/1.1 2xx OK", then close
  403early    403 AccessDenied before reading the request's body, which is never read; close
              the connection 1 s later
  200early    the same with a 200: wrong, as the object was not received
  continue_early  a "100 Continue" before reading the request's body (unasked: no Expect
              header), then read it and forward
  nochunked   a store without aws-chunked bodies: a request whose Content-Encoding says
              aws-chunked is answered 400 InvalidRequest; others are forwarded
  late408     forward, then 0.1 s later a "408 Request Timeout" on the kept connection, as a
              server that times an idle connection out does (no request asked for it)
GET /__faults__ also reports "ports": how many client connections (by port) sent requests
since the last POST, to check that connections are reused.
"""
import http.client
import http.server
import json
import os
import socket
import struct
import sys
import threading
import time

lock = threading.Lock()
rules = []
hits = []
requests_seen = 0
ports = set()

XML = ('<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>%s</Code><Message>%s</Message>'
       '<RequestId>fault-proxy</RequestId></Error>')


def take_fault(line):
    global requests_seen
    with lock:
        requests_seen += 1
        for r in rules:
            if r["times"] > 0 and r["match"] in line:
                r["times"] -= 1
                hits.append([r["fault"], line])
                return r["fault"]
    return None


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def read_body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n > 0 else b""

    def reply(self, code, body, ctype="application/xml"):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":  # a HEAD answer has headers only
            self.wfile.write(body)

    def control(self):
        global rules
        if self.command == "POST":
            new = json.loads(self.read_body() or b"[]")
            with lock:
                rules = [dict(r) for r in new]
                hits.clear()
                ports.clear()
            self.reply(200, b"ok", "text/plain")
        else:
            with lock:
                doc = {"hits": list(hits), "requests": requests_seen, "ports": len(ports)}
            self.reply(200, json.dumps(doc).encode(), "application/json")

    def hang_up(self, reset):
        if reset:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                       struct.pack("ii", 1, 0))
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def answer_early(self, fault):
        """Answers before reading the request's body and reads none of it, so the client
        cannot send it all; closes 1 s later (the client moved on by then)."""
        if fault == "403early":
            doc = (XML % ("AccessDenied", "Access Denied")).encode()
            self.wfile.write(b"HTTP/1.1 403 Forbidden\r\nContent-Type: application/xml\r\n"
                             b"Connection: close\r\nContent-Length: %d\r\n\r\n" % len(doc) + doc)
        else:
            self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
        self.wfile.flush()
        time.sleep(1)
        self.hang_up(False)

    def forward(self, body):
        conn = http.client.HTTPConnection("127.0.0.1", UPSTREAM, timeout=60)
        headers = {k: v for k, v in self.headers.items()}
        conn.request(self.command, self.path, body=body, headers=headers)
        resp = conn.getresponse()
        data = resp.read() if self.command != "HEAD" else b""
        conn.close()
        return resp, data

    def handle_any(self):
        if self.path.startswith("/__faults__"):
            return self.control()
        line = "%s %s" % (self.command, self.path)
        with lock:
            ports.add(self.client_address[1])
        fault = take_fault(line)
        if fault in ("403early", "200early"):
            return self.answer_early(fault)
        if fault == "continue_early":
            self.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            self.wfile.flush()
            fault = None  # then read the body and forward as usual
        body = self.read_body()
        if fault in ("500chunked", "403chunked"):
            code, name, msg = ((500, "InternalError", "injected") if fault == "500chunked"
                               else (403, "AccessDenied", "Access Denied"))
            doc = (XML % (name, msg)).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/xml")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            out = b""
            for i in range(0, len(doc), 7):
                piece = doc[i:i + 7]
                out += b"%x%s\r\n%s\r\n" % (len(piece), b";n=1" if i == 0 else b"", piece)
            self.wfile.write(out + b"0\r\nx-end: 1\r\n\r\n")
            return
        if fault == "http10":
            doc = (XML % ("SlowDown", "Please reduce your request rate.")).encode()
            self.wfile.write(b"HTTP/1.0 503 Service Unavailable\r\n"
                             b"Content-Type: application/xml\r\n\r\n" + doc)
            self.wfile.flush()
            return self.hang_up(False)
        if fault == "garbage":
            self.wfile.write(b"SSH-2.0-OpenSSH_9.2\r\n\r\n")
            self.wfile.flush()
            return self.hang_up(False)
        if fault == "bighead":
            self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Length: 12\r\nX-Pad: " + b"a" * 70000 + b"\r\n\r\n")
            self.wfile.flush()
            return self.hang_up(False)
        if fault == "badchunk":
            self.wfile.write(b"HTTP/1.1 500 Internal Server Error\r\n"
                             b"Transfer-Encoding: chunked\r\n\r\nzz\r\n")
            self.wfile.flush()
            return self.hang_up(False)
        if fault in ("twolengths", "badstatus"):
            self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 3\r\n\r\nhel"
                             if fault == "twolengths" else
                             b"HTTP/1.1 2xx OK\r\nContent-Length: 2\r\n\r\nok")
            self.wfile.flush()
            return self.hang_up(False)
        if fault == "continue":
            self.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        if fault in ("drop", "reset"):
            return self.hang_up(fault == "reset")
        if fault == "stall_head":
            time.sleep(30)
            return self.hang_up(False)
        if fault == "500":
            return self.reply(500, (XML % ("InternalError", "injected")).encode())
        if fault == "503":
            return self.reply(503, (XML % ("SlowDown", "Please reduce your request rate."))
                              .encode())
        if fault == "403":
            return self.reply(403, (XML % ("AccessDenied", "Access Denied")).encode())
        if fault == "error200":
            return self.reply(200, (XML % ("InternalError", "injected in a 200")).encode())
        if fault == "nochunked" and "aws-chunked" in self.headers.get("Content-Encoding", ""):
            return self.reply(400, (XML % ("InvalidRequest", "aws-chunked bodies are not "
                                           "supported")).encode())
        resp, data = self.forward(body)
        self.send_response(resp.status)
        for k, v in resp.getheaders():
            if k.lower() not in ("transfer-encoding", "connection", "server", "date"):
                self.send_header(k, v)
        if "content-length" not in {k.lower() for k, _ in resp.getheaders()}:
            self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if fault in ("truncate", "stall") and len(data) > 1:
            self.wfile.write(data[:len(data) // 2])
            self.wfile.flush()
            if fault == "stall":
                time.sleep(30)
            return self.hang_up(False)
        if fault == "trickle":
            for i in range(0, len(data), 4096):
                self.wfile.write(data[i:i + 4096])
                self.wfile.flush()
                time.sleep(0.15)
            return
        self.wfile.write(data)
        if fault == "close_after":
            self.wfile.flush()
            self.hang_up(False)
        if fault == "late408":
            self.wfile.flush()
            time.sleep(0.1)
            self.wfile.write(b"HTTP/1.1 408 Request Timeout\r\nContent-Length: 0\r\n"
                             b"Connection: close\r\n\r\n")
            self.wfile.flush()
            self.hang_up(False)

    do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = handle_any


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True


if __name__ == "__main__":
    UPSTREAM = int(sys.argv[2])
    server = Server(("127.0.0.1", 0), Handler)
    tmp = sys.argv[1] + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(server.server_address[1]))
    os.rename(tmp, sys.argv[1])
    server.serve_forever()
