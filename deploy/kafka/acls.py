"""The local broker's ACLs for the SCRAM user that may not use some topics (docs/local-broker.md).

Run by `deploy/kafka/broker.sh up` once the broker answers, with only the Python standard library
(the broker's jar set has no ACL tool, and no Python package may be assumed before `make install`):
one CreateAcls request, version 1 (Kafka 4's baseline, not "flexible", so plain big-endian fields),
over the PLAINTEXT listener, whose principal User:ANONYMOUS is a super user of that broker.

    python3 deploy/kafka/acls.py HOST:PORT USER DENIED_PREFIX READONLY_PREFIX

gives USER (e.g. pms-denied, prefixes "pms-denied." and "pms-readonly."):
  topics DENIED_PREFIX*    DENY ALL    (not even Describe: the topic is "not authorized")
  topics READONLY_PREFIX*  ALLOW DESCRIBE and READ, DENY WRITE (readable, never writable)
  groups DENIED_PREFIX*    DENY ALL
Every other resource has no ACL, and the broker runs with allow.everyone.if.no.acl.found=true,
so all else stays open to everyone. (A resource that has an ACL is closed to every principal
that no ACL names, super users aside: hence the ALLOWs next to the DENY WRITE.)
Exit 0 when the broker created every ACL (creating an existing ACL again is not an error),
1 with the broker's reason.

Flow: broker.sh up -> **acls.py** -> the broker's metadata log (ACLs survive restarts).
"""

from __future__ import annotations

import socket
import struct
import sys

CREATE_ACLS, VERSION = 30, 1
TOPIC, GROUP = 2, 3  # resource types
PREFIXED = 4  # pattern type
ALL, READ, WRITE, DESCRIBE = 2, 3, 4, 8  # operations
DENY, ALLOW = 2, 3  # permission types
TIMEOUT_S = 15


def _string(text: str) -> bytes:
    raw = text.encode()
    return struct.pack(">h", len(raw)) + raw


def bindings(user: str, denied: str, readonly: str) -> list[tuple[int, str, int, int]]:
    """(resource type, name prefix, operation, permission) of every ACL of `user`."""
    return [
        (TOPIC, denied, ALL, DENY),
        (TOPIC, readonly, DESCRIBE, ALLOW),
        (TOPIC, readonly, READ, ALLOW),
        (TOPIC, readonly, WRITE, DENY),
        (GROUP, denied, ALL, DENY),
    ]


def request(user: str, denied: str, readonly: str) -> bytes:
    acls = bindings(user, denied, readonly)
    body = struct.pack(">i", len(acls))
    for resource, name, operation, permission in acls:
        body += struct.pack(">b", resource) + _string(name) + struct.pack(">b", PREFIXED)
        body += _string(f"User:{user}") + _string("*") + struct.pack(">bb", operation, permission)
    header = struct.pack(">hhi", CREATE_ACLS, VERSION, 1) + _string("pms-broker-acls")
    return struct.pack(">i", len(header) + len(body)) + header + body


def _read(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise ConnectionError("the broker closed the connection")
        data += chunk
    return data


def create(host: str, port: int, user: str, denied: str, readonly: str) -> list[str]:
    """Send the request; the broker's errors, one string per refused ACL (empty: all made)."""
    with socket.create_connection((host, port), timeout=TIMEOUT_S) as sock:
        sock.sendall(request(user, denied, readonly))
        (size,) = struct.unpack(">i", _read(sock, 4))
        reply = _read(sock, size)
    _correlation, _throttle, count = struct.unpack_from(">iii", reply)
    at, errors = 12, []
    for _ in range(count):
        code, length = struct.unpack_from(">hh", reply, at)
        at += 4
        message = reply[at : at + length].decode() if length >= 0 else ""
        at += max(length, 0)
        if code:
            errors.append(f"error {code}: {message or 'no message'}")
    return errors


def main(argv: list[str]) -> int:
    if len(argv) != 5:
        sys.stderr.write(__doc__ or "")
        return 2
    host, _, port = argv[1].rpartition(":")
    try:
        errors = create(host, int(port), *argv[2:5])
    except (OSError, struct.error) as exc:
        errors = [f"{type(exc).__name__}: {exc}"]
    if errors:
        sys.stderr.write(f"acls.py: CreateAcls on {argv[1]} failed: {'; '.join(errors)}\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
