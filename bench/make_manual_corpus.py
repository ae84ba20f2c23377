"""Write bench/data/manpages_docs.jsonl: the second retrieval corpus, from Unix manual pages.

A different kind of text from the docstrings set: command-line manuals, long (most pages
are several chunks), written as reference, and asked about in a user's words
(bench/data/manpages_queries.jsonl). Run once on a Debian machine
(`python -m bench.make_manual_corpus`) and committed, so every machine evaluates the
same text. Each page is cut at a paragraph boundary after MAX_CHARS; the pages keep
their authors' licences (GNU FDL/GPL, BSD, MIT), listed per package in Debian's
/usr/share/doc/*/copyright.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

PAGES = """
ls cp mv rm find grep sed awk tar gzip xz bzip2 zip unzip ps top kill pkill pgrep df du free
mount umount lsblk chmod chown chgrp ln touch stat file head tail sort uniq cut tr wc diff
patch cmp comm join paste split csplit tee xargs date sleep timeout nohup nice renice ssh scp
ssh-keygen curl wget rsync git ip ss netstat systemctl journalctl useradd usermod passwd su id
groups whoami who w last uptime uname hostname env printenv less watch lsof strace make ldd
nm objdump strings hexdump od base64 md5sum sha256sum openssl gpg tmux jq psql pg_dump
sqlite3 dd shred truncate mktemp realpath basename dirname readlink seq shuf factor numfmt
expand fold fmt nl pr column rev tac iconv locale timedatectl hostnamectl dmesg lscpu nproc
vmstat chattr flock install sync fuser killall pstree bc expr printf yes logger logrotate
ionice taskset chrt prlimit unshare nsenter chroot apt-get dpkg apt-cache
ssh_config(5) fstab(5) hosts(5) resolv.conf(5) passwd(5) group(5) shadow(5) sysctl.conf(5)
limits.conf(5) systemd.service(5) systemd.timer(5) systemd.exec(5) journald.conf(5)
tmpfiles.d(5) os-release(5) gitignore(5) environ(7) signal(7) regex(7) glob(7) hier(7)
sysctl(8) ip-route(8) ip-address(8) git-log git-commit git-rebase git-reset git-stash
git-branch git-clone git-bisect git-cherry-pick git-config git-diff git-push git-remote
git-tag git-blame git-clean git-revert git-merge git-worktree git-reflog
""".split()
OUTPUT = Path(__file__).parent / "data" / "manpages_docs.jsonl"
MAX_CHARS = 30_000


def render(page: str) -> str:
    name, _, section = page.partition("(")
    args = ["man", "-P", "cat"] + ([section.rstrip(")")] if section else []) + [name]
    environment = {**os.environ, "MANWIDTH": "100", "LANG": "C.UTF-8"}
    raw = subprocess.run(args, capture_output=True, text=True, check=True, env=environment)
    plain = subprocess.run(["col", "-bx"], input=raw.stdout, capture_output=True, text=True)
    text = re.sub(r"\n{3,}", "\n\n", plain.stdout).strip()
    if len(text) > MAX_CHARS:
        text = text[: text.rfind("\n\n", 0, MAX_CHARS)]
    return text


def source(page: str) -> str:
    """`ls(1)`: the page's name and the section `man` found it in."""
    if "(" in page:
        return page
    path = subprocess.run(["man", "-w", page], capture_output=True, text=True, check=True)
    return f"{page}({Path(path.stdout.strip()).parent.name.removeprefix('man')})"


def main() -> None:
    records = [{"source": source(page), "text": render(page)} for page in PAGES]
    OUTPUT.write_text("".join(json.dumps(r) + "\n" for r in records))
    print(f"{len(records)} pages, {sum(len(r['text']) for r in records)} characters -> {OUTPUT}")


if __name__ == "__main__":
    main()
