"""Write bench/data/stdlib_docs.jsonl: the retrieval corpus, from CPython's own docstrings and
language reference topics.

Run once (`python -m bench.make_retrieval_corpus`) and committed, so every machine
evaluates the same text. The docstrings are CPython's (PSF licence). Each record is one
documented object: {"source": "json.dumps", "text": "..."}.
"""

from __future__ import annotations

import importlib
import inspect
import json
import sys
from pathlib import Path

MODULES = """
json os os.path shutil pathlib re collections itertools functools datetime time math
statistics random string textwrap subprocess threading socket http.client urllib.parse
urllib.request csv sqlite3 hashlib hmac secrets base64 zlib gzip zipfile tarfile tempfile
glob fnmatch logging argparse heapq bisect copy pickle struct uuid decimal fractions difflib
enum dataclasses typing inspect contextlib operator io smtplib calendar locale
unicodedata shlex platform signal traceback warnings weakref array queue sched ipaddress
mimetypes html configparser tomllib pprint timeit doctest unittest asyncio
xml.etree.ElementTree email.message concurrent.futures multiprocessing selectors ssl
""".split()
OUTPUT = Path(__file__).parent / "data" / "stdlib_docs.jsonl"
MIN_CHARS = 120


def documented(module_name: str) -> list[tuple[str, str]]:
    module = importlib.import_module(module_name)
    found = [(module_name, inspect.getdoc(module) or "")]
    for name, value in sorted(vars(module).items()):
        if name.startswith("_") or getattr(value, "__module__", None) is None:
            continue
        if not (inspect.isfunction(value) or inspect.isclass(value) or inspect.isbuiltin(value)):
            continue
        qualified = f"{module_name}.{name}"
        found.append((qualified, inspect.getdoc(value) or ""))
        if inspect.isclass(value):
            for member, method in sorted(vars(value).items()):
                if not member.startswith("_") and callable(method):
                    found.append((f"{qualified}.{member}", inspect.getdoc(method) or ""))
    return found


def language_topics() -> list[tuple[str, str]]:
    """The language reference pages `help()` shows (pydoc_data ships with CPython)."""
    from pydoc_data.topics import topics

    return [(f"topic:{name}", text) for name, text in sorted(topics.items())]


def main() -> None:
    seen: set[str] = set()
    records = []
    for source, text in language_topics():
        if text not in seen:
            seen.add(text)
            records.append({"source": source, "text": text})
    for module_name in MODULES:
        for source, text in documented(module_name):
            if len(text) >= MIN_CHARS and text not in seen:
                seen.add(text)
                records.append({"source": source, "text": text})
    OUTPUT.write_text("".join(json.dumps(r) + "\n" for r in records))
    print(f"{len(records)} documents from Python {sys.version.split()[0]} -> {OUTPUT}")


if __name__ == "__main__":
    main()
