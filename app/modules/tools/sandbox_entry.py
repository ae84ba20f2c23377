"""First code to run inside the sandbox (as `python3 -I -S -c <this file's text>`).

argv: [limits JSON, source fd, a label `ps` shows]. It reads the tool's source from the memory file the host
passed and closes it, sets hard resource limits that the tool cannot raise again, and runs
the tool. The tool then holds stdin, stdout and stderr, nothing else. A MemoryError ends
it with status 86, which the host reads as the memory limit (its CPU and memory figures
come from the kernel, not from here). Runs under the sandbox's Python: standard library only.
"""

import json
import os
import resource
import sys

MEMORY_ERROR_EXIT = 86  # the host's sandbox.MEMORY_ERROR_EXIT

limits, source_fd = json.loads(sys.argv[1]), int(sys.argv[2])
with os.fdopen(source_fd, "rb") as source_file:
    tool_source = source_file.read().decode()
for name, (soft, hard) in limits.items():
    resource.setrlimit(getattr(resource, name), (soft, hard))
sys.argv = ["<tool>"]
del limits, source_fd, source_file
try:
    exec(compile(tool_source, "<tool>", "exec"), {"__name__": "__main__"})  # noqa: S102
except MemoryError:
    sys.stderr.write("MemoryError: the tool reached its memory limit\n")
    sys.stderr.flush()
    os._exit(MEMORY_ERROR_EXIT)
