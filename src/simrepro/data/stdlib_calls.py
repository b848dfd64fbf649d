r"""An offline stand-in for MIR's Methodology Adjacency Graph (MAG): the cross-module call graph of the running
Python's standard library, with docstrings as the text of "problems" and "methods".

MIR (Garikaparthi et al., ACL 2025, arXiv 2506.00249) links a research problem to the papers whose *methods*
inspired it (citations with a methodological intent); these are often from another sub-field, so text
similarity finds same-topic papers instead. Here:

- a **document** ("paper whose method can be borrowed") is a public top-level function or class of a stdlib
  module with a docstring of ``>= min_doc_words`` words; its text is the docstring's first ``doc_chars``
  characters (whitespace normalised); its **topic** is its top-level package (``email.utils`` → ``email``,
  ``shutil`` → ``shutil``);
- a **problem** is a function or method (any nesting) with such a docstring; its text is that docstring;
- an **inspiration edge** (problem → document) is a call in the problem's body that resolves, through the
  file's ``import X [as Y]`` / ``from X import f [as g]`` statements (absolute imports only; ``os.path`` read
  as ``posixpath``), to a document of **another topic**. A call into the problem's own topic is kept apart as a
  *same-topic* edge (MIR's non-methodological / background citation: related, but no borrowed method).

Problems with no cross-topic edge are dropped. Everything is a deterministic function of the interpreter
(:func:`simrepro.data.stdlib_code.provenance`); the build (one ``ast.parse`` of ~600 files, 5–15 s on one core)
is cached as JSON like :mod:`simrepro.data.stdlib_code`.
"""

from __future__ import annotations

import ast
import re

import numpy as np

from simrepro.data import stdlib_code

ALIASES = {"os.path": "posixpath"}


def module_name(rel: str) -> str:
    """``'email/utils.py'`` → ``'email.utils'``; ``'json/__init__.py'`` → ``'json'``."""
    mod = rel[:-3] if rel.endswith(".py") else rel
    mod = mod.replace("/", ".")
    return mod[: -len(".__init__")] if mod.endswith(".__init__") else mod


def topic(mod: str) -> str:
    """The top-level package of a dotted module name."""
    return mod.split(".", 1)[0]


def _clean(doc: str, chars: int) -> str:
    return re.sub(r"\s+", " ", doc).strip()[:chars]


def import_map(tree: ast.AST) -> dict[str, str]:
    """Local name → dotted target of every absolute import in the file (any scope)."""
    out: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.asname:
                    out[a.asname] = a.name
                else:
                    out[a.name.split(".")[0]] = a.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            for a in node.names:
                if a.name != "*":
                    out[a.asname or a.name] = f"{node.module}.{a.name}"
    return out


def _dotted(node: ast.AST) -> str | None:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    return ".".join([node.id, *reversed(parts)])


def resolve_call(func: ast.AST, imports: dict[str, str]) -> str | None:
    """Dotted ``module.name`` a call's function refers to through the imports, or None (local names, methods)."""
    d = _dotted(func)
    if d is None:
        return None
    head, _, rest = d.partition(".")
    if head not in imports:
        return None
    full = imports[head] + ("." + rest if rest else "")
    for a, b in ALIASES.items():
        if full.startswith(a + "."):
            full = b + full[len(a):]
    return full


def build_graph(*, min_doc_words: int = 6, doc_chars: int = 300) -> dict:
    """``{"docs": [{id, topic, text}], "problems": [{id, topic, text, self_doc}], "edges": [[p, d]],
    "same_edges": [[p, d]]}`` (see module docstring); ``self_doc`` is the problem's own document index or -1."""
    if min_doc_words < 1 or doc_chars < 1:
        raise ValueError(f"min_doc_words and doc_chars must be positive, got {min_doc_words}, {doc_chars}")
    args = dict(min_doc_words=min_doc_words, doc_chars=doc_chars)

    def ok(doc):
        return doc is not None and len(doc.split()) >= min_doc_words

    def build():
        trees = [(module_name(rel), tree) for rel, tree in stdlib_code._parse_all()]
        docs, doc_index = [], {}
        for mod, tree in trees:
            for node in tree.body:
                if (isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
                        and not node.name.startswith("_") and ok(doc := ast.get_docstring(node))):
                    key = f"{mod}.{node.name}"
                    if key not in doc_index:
                        doc_index[key] = len(docs)
                        docs.append({"id": key, "topic": topic(mod), "text": _clean(doc, doc_chars)})
        problems, edges, same = [], [], []
        for mod, tree in trees:
            imports = import_map(tree)
            top_level = {id(n) for n in tree.body}
            for node in ast.walk(tree):
                if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) or not ok(
                        doc := ast.get_docstring(node)):
                    continue
                cross, inside = set(), set()
                for sub in ast.walk(node):
                    if isinstance(sub, ast.Call) and (t := resolve_call(sub.func, imports)) in doc_index:
                        d = doc_index[t]
                        (inside if docs[d]["topic"] == topic(mod) else cross).add(d)
                if not cross:
                    continue
                p = len(problems)
                own = doc_index.get(f"{mod}.{node.name}", -1) if id(node) in top_level else -1
                problems.append({"id": f"{mod}:{node.lineno}:{node.name}", "topic": topic(mod),
                                 "text": _clean(doc, doc_chars), "self_doc": own})
                edges += [[p, d] for d in sorted(cross)]
                same += [[p, d] for d in sorted(inside)]
        return {"docs": docs, "problems": problems, "edges": edges, "same_edges": same}

    return stdlib_code._cached("calls", args, build)


def topic_split(problem_topics: list[str], test_frac: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train, test) problem indices: whole topics drawn for test (seeded) until ``>= test_frac`` of the problems
    are in it, so no test problem shares a topic with a training problem (MIR splits by time instead)."""
    if not 0 < test_frac < 1:
        raise ValueError(f"test_frac must be in (0, 1), got {test_frac}")
    topics = np.array(problem_topics)
    if len(topics) == 0:
        raise ValueError("no problems to split")
    names, counts = np.unique(topics, return_counts=True)
    order = np.random.default_rng(seed).permutation(len(names))
    test_topics, n = [], 0
    for i in order:
        if n >= test_frac * len(topics):
            break
        test_topics.append(names[i])
        n += counts[i]
    is_test = np.isin(topics, test_topics)
    return np.flatnonzero(~is_test), np.flatnonzero(is_test)
