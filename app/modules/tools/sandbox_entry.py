"""First code to run inside the sandbox (as `python3 -I -S -c <this file's text>`).

argv: [limits JSON, report fd, tool source]. It sets hard resource limits that the tool
cannot raise again, runs the tool, and reports the resources used on the report fd.
Runs under the sandbox's Python, so it uses the standard library only.
"""

import atexit
import contextlib
import json
import os
import resource
import sys

limits, report_fd, tool_source = json.loads(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
for name, (soft, hard) in limits.items():
    resource.setrlimit(getattr(resource, name), (soft, hard))
os.set_inheritable(report_fd, False)  # the tool's own children get no copy
memory_error = False


def report() -> None:
    own, children = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    cpu_s = own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime
    usage = {
        "cpu_ms": round(cpu_s * 1000),
        "max_rss_kb": max(own.ru_maxrss, children.ru_maxrss),
        "memory_error": memory_error,
    }
    with contextlib.suppress(OSError):  # the tool closed it: the host records no figures
        os.write(report_fd, json.dumps(usage).encode())


atexit.register(report)
sys.argv = ["<tool>"]
try:
    exec(compile(tool_source, "<tool>", "exec"), {"__name__": "__main__"})  # noqa: S102
except MemoryError:
    memory_error = True
    sys.stderr.write("MemoryError: the tool reached its memory limit\n")
    sys.exit(1)
