r"""Offline text-to-code and near-duplicate retrieval tasks built from the running Python's standard library.

Two tasks, both deterministic functions of the interpreter's version (recorded by :func:`provenance`):

**Text-to-code groups** (:func:`class_method_groups`) — the stand-in for CPRet's problem → accepted solutions.
Every ``ClassDef`` in the stdlib's ``.py`` files (``sysconfig`` ``stdlib`` path, walked in sorted order, skipping
``test``, ``idlelib``, ``lib2to3``, ``tkinter``, ``turtledemo``, ``ensurepip``, ``pydoc_data``,
``site-packages``) whose docstring has ``>= min_doc_words`` words and that defines ``>= min_methods`` methods
with a body of ``>= 3`` unparsed lines gives one *group*: the query is the class docstring (first
``doc_chars`` characters), the positives are the methods' source text (``ast.unparse`` without the method's
own docstring, decorators and comments; the first ``max_methods`` methods in file order; first ``code_chars``
characters). One description, several code pieces that belong to it: the multi-positive structure of CPRet's
T2C data (a problem with many accepted solutions), although methods of a class are parts of one program rather
than alternative solutions of one problem.

**Near-duplicate docstrings** (:func:`duplicate_docstrings`) — the stand-in for CPRet's Problem-to-Duplicate.
The stdlib ships three pairs of independent implementations of one specification: ``_pyio`` / ``io`` (the C
``_io``), ``_pydecimal`` / ``decimal`` (the C ``_decimal``) and ``posixpath`` / ``ntpath``. A member (function,
class, or a class's method / property) with its *own* ``__doc__`` on both sides, both of ``>= 5`` words,
not equal after whitespace normalisation and neither boilerplate (a text occurring more than once among all
collected members, or naming ``help(type(self))``) is a planted duplicate pair written twice by different
people. Distractors: first paragraphs of function docstrings (``>= 5`` words, deduplicated) from the other
stdlib files, ``n_distractors`` of them in a fixed pseudo-random order (seed 0).

Cost: one ``ast.parse`` of ~600 files (3–10 s on one core), cached as JSON under
``build/cache/embeddings/`` keyed by the Python version and the arguments.
"""

from __future__ import annotations

import ast
import hashlib
import importlib
import inspect
import json
import os
import re
import sys
import sysconfig
import tempfile

import numpy as np

from simrepro.data import derived

SKIP_DIRS = frozenset({"test", "idlelib", "lib2to3", "tkinter", "turtledemo", "ensurepip", "pydoc_data",
                       "site-packages", "__pycache__"})
DUP_MODULES = (("_pyio", "io"), ("_pydecimal", "decimal"), ("posixpath", "ntpath"))
_DUP_FILES = frozenset({"_pyio.py", "io.py", "_pydecimal.py", "decimal.py", "posixpath.py", "ntpath.py",
                        "genericpath.py"})


def provenance() -> dict:
    """The interpreter the tasks were built from (their content depends on it)."""
    return {"python": sys.version.split()[0], "stdlib": sysconfig.get_paths()["stdlib"]}


def stdlib_files() -> list[str]:
    """Sorted paths of the stdlib's ``.py`` files, minus :data:`SKIP_DIRS`."""
    root = sysconfig.get_paths()["stdlib"]
    out: list[str] = []
    for d, dirs, files in os.walk(root):
        dirs[:] = sorted(x for x in dirs if x not in SKIP_DIRS and not x.startswith((".", "config-")))
        out += [os.path.join(d, f) for f in sorted(files) if f.endswith(".py")]
    return out


def _cached(tag: str, args: dict, build):
    key = hashlib.sha256(json.dumps({"tag": tag, **provenance(), **args}, sort_keys=True).encode()).hexdigest()
    path = derived.cache_dir() / f"stdlib_{tag}-{key[:20]}.json"
    if path.exists():
        return json.loads(path.read_text())
    value = build()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    with os.fdopen(fd, "w") as f:
        json.dump(value, f)
    os.replace(tmp, path)
    return value


def _parse_all():
    root = sysconfig.get_paths()["stdlib"]
    for path in stdlib_files():
        try:
            with open(path, encoding="utf-8") as f:
                tree = ast.parse(f.read())
        except (SyntaxError, UnicodeDecodeError, ValueError):
            continue
        yield os.path.relpath(path, root), tree


def _method_text(m: ast.FunctionDef | ast.AsyncFunctionDef) -> str | None:
    body = m.body[1:] if ast.get_docstring(m) is not None else m.body
    if not body:
        return None
    cls = ast.AsyncFunctionDef if isinstance(m, ast.AsyncFunctionDef) else ast.FunctionDef
    node = cls(name=m.name, args=m.args, body=body, decorator_list=[], returns=m.returns, type_comment=None,
               lineno=0)
    text = ast.unparse(node)
    return text if len(text.splitlines()) >= 3 else None


def class_method_groups(*, min_methods: int = 3, min_doc_words: int = 8, max_methods: int = 6,
                        code_chars: int = 400, doc_chars: int = 400) -> list[dict]:
    """``[{"id": "path::Class", "query": str, "codes": [str, ...]}, ...]`` in file order (see module doc)."""
    if min_methods < 1 or max_methods < min_methods:
        raise ValueError(f"need 1 <= min_methods <= max_methods, got {min_methods}, {max_methods}")
    if code_chars < 1 or doc_chars < 1:
        raise ValueError("code_chars and doc_chars must be positive")
    args = dict(min_methods=min_methods, min_doc_words=min_doc_words, max_methods=max_methods,
                code_chars=code_chars, doc_chars=doc_chars)

    def build():
        groups = []
        for rel, tree in _parse_all():
            for node in ast.walk(tree):
                if not isinstance(node, ast.ClassDef):
                    continue
                doc = ast.get_docstring(node)
                if not doc or len(doc.split()) < min_doc_words:
                    continue
                codes = [t for m in node.body if isinstance(m, (ast.FunctionDef, ast.AsyncFunctionDef))
                         if (t := _method_text(m)) is not None]
                if len(codes) >= min_methods:
                    groups.append({"id": f"{rel}::{node.name}", "query": doc[:doc_chars],
                                   "codes": [c[:code_chars] for c in codes[:max_methods]]})
        return groups

    return _cached("groups", args, build)


def _norm(s: str) -> str:
    return re.sub(r"\s+", " ", s).strip()


def _own_docs(mod) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, obj in sorted(vars(mod).items()):
        if name.startswith("__") or not (inspect.isroutine(obj) or inspect.isclass(obj)):
            continue
        if isinstance(obj.__doc__, str):
            out[name] = inspect.cleandoc(obj.__doc__)
        if inspect.isclass(obj):
            for m, mo in sorted(vars(obj).items()):
                if m.startswith("__") and m != "__init__":
                    continue
                if (inspect.isroutine(mo) or isinstance(mo, property)) and isinstance(mo.__doc__, str):
                    out[f"{name}.{m}"] = inspect.cleandoc(mo.__doc__)
    return out


def duplicate_docstrings(*, n_distractors: int = 1000, doc_chars: int = 400) -> dict:
    """``{"pairs": [[a_text, b_text, "modA:modB:member"], ...], "distractors": [str, ...]}`` (see module doc)."""
    if n_distractors < 0:
        raise ValueError(f"n_distractors must be >= 0, got {n_distractors}")

    def build():
        sides = [(_own_docs(importlib.import_module(a)), _own_docs(importlib.import_module(b)), a, b)
                 for a, b in DUP_MODULES]
        counts: dict[str, int] = {}
        for A, B, _, _ in sides:
            for d in (*A.values(), *B.values()):
                counts[_norm(d)] = counts.get(_norm(d), 0) + 1

        def ok(d):
            return len(d.split()) >= 5 and counts[_norm(d)] == 1 and "help(type(self))" not in d

        pairs = []
        for A, B, a, b in sides:
            for k in sorted(set(A) & set(B)):
                if ok(A[k]) and ok(B[k]) and _norm(A[k]) != _norm(B[k]):
                    pairs.append([A[k][:doc_chars], B[k][:doc_chars], f"{a}:{b}:{k}"])
        seen = {_norm(t) for p in pairs for t in p[:2]}
        pool = []
        for rel, tree in _parse_all():
            if os.path.basename(rel) in _DUP_FILES:
                continue
            for node in ast.walk(tree):
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    doc = ast.get_docstring(node)
                    if doc:
                        para = doc.split("\n\n")[0]
                        if len(para.split()) >= 5 and _norm(para) not in seen:
                            seen.add(_norm(para))
                            pool.append(para[:doc_chars])
        order = np.random.default_rng(0).permutation(len(pool))
        return {"pairs": pairs, "distractors": [pool[i] for i in order[:n_distractors]]}

    return _cached("dups", dict(n_distractors=n_distractors, doc_chars=doc_chars), build)
