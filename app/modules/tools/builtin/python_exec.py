"""Built-in tool `python.exec`: run a code string, return what it printed and its value.

Like a notebook cell: the value of a final expression is returned as its repr. An
exception in the code is part of the result (`error`), not a failure of the tool.
"""

import ast
import contextlib
import io
import json
import sys
import traceback

params = json.load(sys.stdin)
tree = ast.parse(params["code"], "<code>")
last = tree.body.pop() if tree.body and isinstance(tree.body[-1], ast.Expr) else None
namespace = {"__name__": "__main__"}
stdout, stderr, value, error = io.StringIO(), io.StringIO(), None, None
sys.stdin = io.StringIO(params.get("stdin", ""))
with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
    try:
        exec(compile(tree, "<code>", "exec"), namespace)
        if last is not None:
            result = eval(compile(ast.Expression(last.value), "<code>", "eval"), namespace)
            value = None if result is None else repr(result)
    except MemoryError:
        raise  # the sandbox reports it as the memory limit
    except BaseException:  # the code's own error is its result; the tool worked
        error = traceback.format_exc()
json.dump(
    {"stdout": stdout.getvalue(), "stderr": stderr.getvalue(), "value": value, "error": error},
    sys.__stdout__ or sys.stdout,  # None only in a process started without stdout
)
