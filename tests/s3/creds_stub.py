#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""A loopback stand-in for the EC2 instance metadata service (IMDSv2) and the ECS container
credentials endpoint, for tests/unit/aws/test_aws_creds.c.

Usage: creds_stub.py PORTFILE [EXPIRES_IN_SECONDS]
Binds 127.0.0.1 on a free port and writes the port to PORTFILE once it is listening.

- PUT /latest/api/token needs X-aws-ec2-metadata-token-ttl-seconds and answers TOKEN.
- GET /latest/meta-data/iam/security-credentials/ (and /<role>) need the token header,
  else 401. Each credentials document has a fresh AccessKeyId (IMDSAK1, IMDSAK2, ...) and
  expires EXPIRES_IN_SECONDS from now (default 3600).
- GET /ecs/creds needs "Authorization: ecs-secret-token", else 403.
- GET /count answers how many credentials documents were served.
"""
import datetime
import http.server
import json
import os
import sys

TOKEN = "imds-session-token"
ROLE = "lf-role"
served = 0


def creds_doc(prefix):
    global served
    served += 1
    exp = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=EXPIRES)
    return json.dumps({
        "Code": "Success",
        "Type": "AWS-HMAC",
        "AccessKeyId": "%s%d" % (prefix, served),
        "SecretAccessKey": prefix + "-secret-value",
        "Token": prefix + "-session-token",
        "Expiration": exp.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }).encode()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def reply(self, code, body=b""):
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_PUT(self):
        if self.path == "/latest/api/token" and self.headers.get(
                "X-aws-ec2-metadata-token-ttl-seconds"):
            self.reply(200, TOKEN.encode())
        else:
            self.reply(400)

    def do_GET(self):
        if self.path == "/count":
            self.reply(200, str(served).encode())
        elif self.path.startswith("/latest/meta-data/iam/security-credentials/"):
            if self.headers.get("X-aws-ec2-metadata-token") != TOKEN:
                self.reply(401)
            elif self.path.endswith("/"):
                self.reply(200, (ROLE + "\n").encode())
            elif self.path.endswith("/" + ROLE):
                self.reply(200, creds_doc("IMDSAK"))
            else:
                self.reply(404)
        elif self.path == "/ecs/creds":
            if self.headers.get("Authorization") != "ecs-secret-token":
                self.reply(403)
            else:
                self.reply(200, creds_doc("ECSAK"))
        else:
            self.reply(404)


if __name__ == "__main__":
    EXPIRES = int(sys.argv[2]) if len(sys.argv) > 2 else 3600
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    tmp = sys.argv[1] + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(server.server_address[1]))
    os.rename(tmp, sys.argv[1])
    server.serve_forever()
