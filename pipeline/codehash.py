"""The code part of a cache key, derived from source instead of a hand-bumped version string.

`code_hash("pipeline.stages.refine")` hashes the module and every project module it imports, transitively
(imports anywhere in a file count, including those inside functions). Only the compute packages are followed:
`workers`, `schemas` and the stage modules; the runtime (`pipeline.cache`, `pipeline.dag`, the CLI) does not
change results and is not followed. Each file enters as its syntax tree with docstrings removed, so comments,
formatting and documentation edits keep keys, and any change to code does not. A change anywhere in a stage's
closure changes that stage's key, and through the input keys, every stage downstream.
"""
from __future__ import annotations

import ast
import hashlib
from functools import lru_cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FOLLOWED = ("workers", "schemas", "pipeline.stages")


def _followed(module: str) -> bool:
    return any(module == p or module.startswith(p + ".") for p in FOLLOWED)


def _file_of(module: str, root: Path) -> Path | None:
    base = root.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _strip_docstrings(tree: ast.AST) -> ast.AST:
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant) \
                    and isinstance(body[0].value.value, str):
                node.body = body[1:] or [ast.Pass()]
    return tree


def _imports(tree: ast.AST, module: str, is_package: bool) -> set[str]:
    """Absolute names of the modules a file imports (for `from a import b`, both `a` and `a.b`)."""
    out = set()
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                anchor = ".".join(parts[:len(parts) - node.level + 1])
                base = f"{anchor}.{base}" if base else anchor
            out.add(base)
            out.update(f"{base}.{a.name}" for a in node.names)
    return out


def _closure(module: str, root: Path) -> dict[str, str]:
    """module name -> canonical source (docstring-free AST dump) for the module and what it imports."""
    seen: dict[str, str] = {}
    todo = [module]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        path = _file_of(name, root)
        if path is None:
            continue
        st = path.stat()
        seen[name], deps = _parsed(str(path), name, st.st_size, st.st_mtime_ns, st.st_ino)
        for dep in deps:
            parents = [".".join(dep.split(".")[:i]) for i in range(1, dep.count(".") + 2)]
            todo.extend(p for p in parents if _followed(p) and p not in seen)
    return seen


@lru_cache(maxsize=4096)
def _parsed(path: str, module: str, size: int, mtime_ns: int, inode: int) -> tuple[str, frozenset]:
    """One file's canonical source and imports, parsed once per process per version of the file (the stat
    stamp is part of the cache key, so an edited file is parsed again): stages share most of their closure."""
    tree = _strip_docstrings(ast.parse(Path(path).read_text(), filename=path))
    return ast.dump(tree, include_attributes=False), frozenset(_imports(tree, module, path.endswith("__init__.py")))


@lru_cache(maxsize=None)
def code_hash(module: str, root: str | None = None) -> str:
    """sha256 over the canonical sources of `module` and its project imports (see the module docstring)."""
    h = hashlib.sha256()
    for name, src in sorted(_closure(module, Path(root) if root else ROOT).items()):
        h.update(name.encode() + b"\0" + hashlib.sha256(src.encode()).digest())
    return h.hexdigest()
