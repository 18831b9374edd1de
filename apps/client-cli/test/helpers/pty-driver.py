#!/usr/bin/env python3
"""Runs a command under a pseudo-terminal and plays a script against it.

usage: pty-driver.py '<json script>' cmd args...
script: [{"expect": "Password: "}, {"send": "secret\r"}, ...]
Everything the terminal shows (including whatever it echoes) is written to stdout; the exit status
is the command's. A step that waits longer than 30 s fails with status 124.
"""
import json
import os
import pty
import select
import sys
import time


def main() -> int:
    script = json.loads(sys.argv[1])
    argv = sys.argv[2:]
    pid, fd = pty.fork()
    if pid == 0:
        os.execvp(argv[0], argv)
    seen = b""
    pos = 0

    def pump(timeout: float) -> bool:
        nonlocal seen
        r, _, _ = select.select([fd], [], [], timeout)
        if not r:
            return True
        try:
            data = os.read(fd, 4096)
        except OSError:
            return False
        if not data:
            return False
        seen += data
        return True

    for step in script:
        if "expect" in step:
            want = step["expect"].encode()
            deadline = time.time() + 30
            while want not in seen[pos:]:
                if time.time() > deadline or not pump(0.1) and want not in seen[pos:]:
                    sys.stdout.buffer.write(seen)
                    sys.stdout.buffer.write(b"\n[pty-driver: timed out waiting for %r]\n" % want)
                    os.kill(pid, 9)
                    return 124
            pos = seen.index(want, pos) + len(want)
        if "send" in step:
            time.sleep(0.05)
            os.write(fd, step["send"].encode())
    deadline = time.time() + 60
    while time.time() < deadline and pump(0.2):
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            while pump(0.05):
                pass
            sys.stdout.buffer.write(seen)
            return os.waitstatus_to_exitcode(status)
    _, status = os.waitpid(pid, 0)
    sys.stdout.buffer.write(seen)
    return os.waitstatus_to_exitcode(status)


if __name__ == "__main__":
    sys.exit(main())
