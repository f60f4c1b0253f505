"""Find direct cloud-SDK use in one Python module's syntax tree.

:class:`SDKVisitor` walks the tree once, keeping a table per scope of what each name stands
for -- an imported module (``gcs`` -> ``google.cloud.storage``), an object an SDK call gave
back (``client`` -> ``boto3.client()``), or nothing it knows (a local variable called
``storage``). Every call is resolved through those tables to a dotted *origin* such as
``boto3.client().download_file``; origins that belong to an SDK in :mod:`unifs.scan.rules`
become findings. Names in strings and comments never reach the tree, so they never match.

Function bodies are visited when their enclosing scope is complete, as Python runs them:
a client assigned at module level after a ``def`` is still seen inside it. Attributes set
on ``self`` in one method are seen in the class's other methods.
"""

from __future__ import annotations

import ast
import io
import re
import tokenize
import warnings
from dataclasses import dataclass, field

from unifs.scan.rules import (
    DATA_METHODS,
    SDK,
    SERVICE_FACTORIES,
    STORAGE_SERVICES,
    hint_for,
    sdk_for,
    sdk_named,
)

__all__ = ["Finding", "SDKVisitor", "ignored_lines"]

_IGNORE = re.compile(r"#\s*unifs:\s*ignore\b")

#: fsspec.filesystem("s3") and friends: a protocol string builds that SDK's filesystem
_PROTOCOL_SDK = {
    "s3": "s3fs",
    "s3a": "s3fs",
    "gs": "gcsfs",
    "gcs": "gcsfs",
    "az": "adlfs",
    "abfs": "adlfs",
    "abfss": "adlfs",
    "adl": "adlfs",
    "oci": "ocifs",
}


@dataclass(frozen=True, order=True)
class Finding:
    """One direct use of a cloud SDK: where it is, what it is, and what replaces it.

    ``line`` and ``col`` are 1-based, as editors and SARIF count them.
    """

    path: str
    line: int
    col: int
    sdk: str
    symbol: str
    hint: str
    kind: str = "call"  # "import" or "call"

    def as_dict(self) -> dict[str, object]:
        """The finding as plain JSON-ready data."""
        return {
            "path": self.path,
            "line": self.line,
            "col": self.col,
            "sdk": self.sdk,
            "symbol": self.symbol,
            "hint": self.hint,
            "kind": self.kind,
        }


def ignored_lines(source: str) -> set[int]:
    """Line numbers carrying a ``# unifs: ignore`` comment (a real comment, not a string)."""
    lines: set[int] = set()
    try:
        for tok in tokenize.generate_tokens(io.StringIO(source).readline):
            if tok.type == tokenize.COMMENT and _IGNORE.search(tok.string):
                lines.add(tok.start[0])
    except (tokenize.TokenError, SyntaxError):  # the parser reports those
        pass
    return lines


@dataclass
class _Scope:
    names: dict[str, str | None] = field(default_factory=dict)
    is_class: bool = False
    #: ``self.X`` -> origin, for a class scope
    attributes: dict[str, str | None] = field(default_factory=dict)
    deferred: list[tuple[ast.AST, _Scope | None]] = field(default_factory=list)


class SDKVisitor(ast.NodeVisitor):
    """Collect :class:`Finding` objects for one parsed module (``visitor.findings``)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.findings: list[Finding] = []
        self._scopes: list[_Scope] = [_Scope()]
        self._classes: list[_Scope | None] = [None]  # the class whose method we are in
        self._consumed: set[int] = set()

    # -- entry point ------------------------------------------------------------------------

    def scan(self, tree: ast.Module) -> list[Finding]:
        """Visit ``tree`` and return its findings, in source order."""
        self._visit_body(tree.body)
        used = {f.sdk for f in self.findings}
        kept = []
        for f in self.findings:
            needs = sdk_named(f.sdk).only_with
            if not needs or used & set(needs):
                kept.append(f)
        self.findings = sorted(set(kept))
        return self.findings

    # -- scopes -----------------------------------------------------------------------------

    def _visit_body(self, body: list[ast.stmt]) -> None:
        for stmt in body:
            self.visit(stmt)
        scope = self._scopes[-1]
        while scope.deferred:
            node, owner = scope.deferred.pop(0)
            self._visit_function(node, owner)

    def _lookup(self, name: str) -> str | None:
        innermost = len(self._scopes) - 1
        for depth in range(innermost, -1, -1):
            scope = self._scopes[depth]
            if scope.is_class and depth != innermost:
                continue  # class bodies do not enclose their methods
            if name in scope.names:
                return scope.names[name]
        return None

    def _bind(self, name: str, origin: str | None) -> None:
        self._scopes[-1].names[name] = origin

    def _visit_function(self, node: ast.AST, owner: _Scope | None) -> None:
        assert isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
        self._scopes.append(_Scope())
        self._classes.append(owner)
        try:
            args = node.args
            for arg in [*args.posonlyargs, *args.args, *args.kwonlyargs]:
                self._bind(arg.arg, None)
            for extra in (args.vararg, args.kwarg):
                if extra is not None:
                    self._bind(extra.arg, None)
            if isinstance(node, ast.Lambda):
                self.visit(node.body)
                return
            self._visit_body(node.body)
        finally:
            self._scopes.pop()
            self._classes.pop()

    # -- resolving names to origins -----------------------------------------------------------

    def _origin(self, node: ast.AST) -> str | None:
        """What ``node`` stands for as a dotted origin, or None when it is nothing we track."""
        if isinstance(node, ast.Name):
            return self._lookup(node.id)
        if isinstance(node, ast.Attribute):
            value = node.value
            owner = self._classes[-1]
            if isinstance(value, ast.Name) and value.id == "self" and owner is not None:
                if node.attr in owner.attributes:
                    return owner.attributes[node.attr]
                return None
            base = self._origin(value)
            return f"{base}.{node.attr}" if base else None
        if isinstance(node, ast.Call):
            base = self._origin(node.func)
            if not base or _other_service(base, node) or _data_method(base):
                return None  # not storage: an STS or DynamoDB client, a response's .get()
            return f"{base}()"
        if isinstance(node, ast.Await):
            return self._origin(node.value)
        if isinstance(node, ast.Subscript):
            base = self._origin(node.value)
            return f"{base}[]" if base else None
        return None

    def _assign(self, target: ast.AST, origin: str | None, value: ast.AST | None) -> None:
        if isinstance(target, ast.Name):
            self._bind(target.id, origin)
        elif isinstance(target, ast.Tuple | ast.List):
            values = value.elts if isinstance(value, ast.Tuple | ast.List) else None
            if values is not None and len(values) == len(target.elts):
                for sub, val in zip(target.elts, values, strict=True):
                    self._assign(sub, self._origin(val), val)
            else:
                for sub in target.elts:
                    self._assign(sub, None, None)
        elif isinstance(target, ast.Starred):
            self._assign(target.value, None, None)
        elif (
            isinstance(target, ast.Attribute)
            and isinstance(target.value, ast.Name)
            and target.value.id == "self"
            and self._classes[-1] is not None
        ):
            owner = self._classes[-1]
            assert owner is not None
            owner.attributes[target.attr] = origin
        else:
            self.visit(target)

    # -- reporting ----------------------------------------------------------------------------

    def _report(self, node: ast.AST, origin: str, sdk: SDK, *, kind: str) -> None:
        hint = "replace with unifs; see the call sites below" if kind == "import" else None
        self.findings.append(
            Finding(
                path=self.path,
                line=getattr(node, "lineno", 0),
                col=getattr(node, "col_offset", 0) + 1,
                sdk=sdk.name,
                symbol=f"import {origin}" if kind == "import" else origin,
                hint=hint or hint_for(origin, sdk),
                kind=kind,
            )
        )

    # -- statements ---------------------------------------------------------------------------

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            sdk = sdk_for(alias.name)
            if sdk is not None:
                self._report(node, alias.name, sdk, kind="import")
            if alias.asname:
                self._bind(alias.asname, alias.name)
            else:
                root = alias.name.split(".", 1)[0]
                self._bind(root, root)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        for alias in node.names:
            bound = alias.asname or alias.name
            if node.level or not node.module or alias.name == "*":
                if alias.name != "*":
                    self._bind(bound, None)
                continue
            origin = f"{node.module}.{alias.name}"
            sdk = sdk_for(origin)
            if sdk is not None:
                self._report(node, origin, sdk, kind="import")
            self._bind(bound, origin)

    def visit_Assign(self, node: ast.Assign) -> None:
        self.visit(node.value)
        origin = self._origin(node.value)
        for target in node.targets:
            self._assign(target, origin, node.value)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        if node.value is not None:
            self.visit(node.value)
        origin = self._origin(node.value) if node.value is not None else None
        self._assign(node.target, origin, node.value)

    def visit_AugAssign(self, node: ast.AugAssign) -> None:
        self.visit(node.value)
        self._assign(node.target, None, None)

    def visit_NamedExpr(self, node: ast.NamedExpr) -> None:
        self.visit(node.value)
        self._bind(node.target.id, self._origin(node.value))

    def _visit_for(self, node: ast.For | ast.AsyncFor) -> None:
        self.visit(node.iter)
        base = self._origin(node.iter)
        self._assign(node.target, f"{base}[]" if base else None, None)
        for stmt in [*node.body, *node.orelse]:
            self.visit(stmt)

    visit_For = _visit_for
    visit_AsyncFor = _visit_for

    def _visit_with(self, node: ast.With | ast.AsyncWith) -> None:
        for item in node.items:
            self.visit(item.context_expr)
            if item.optional_vars is not None:
                self._assign(item.optional_vars, self._origin(item.context_expr), None)
        for stmt in node.body:
            self.visit(stmt)

    visit_With = _visit_with
    visit_AsyncWith = _visit_with

    def _visit_def(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        for expr in [*node.decorator_list, *node.args.defaults]:
            self.visit(expr)
        for default in node.args.kw_defaults:
            if default is not None:
                self.visit(default)
        self._bind(node.name, None)
        owner = self._scopes[-1] if self._scopes[-1].is_class else None
        self._scopes[-1].deferred.append((node, owner))

    visit_FunctionDef = _visit_def
    visit_AsyncFunctionDef = _visit_def

    def visit_Lambda(self, node: ast.Lambda) -> None:
        self._scopes[-1].deferred.append((node, None))

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        for expr in [*node.decorator_list, *node.bases, *(k.value for k in node.keywords)]:
            self.visit(expr)
        scope = _Scope(is_class=True)
        self._scopes.append(scope)
        try:
            self._visit_body(node.body)
        finally:
            self._scopes.pop()
        self._bind(node.name, None)

    def visit_ExceptHandler(self, node: ast.ExceptHandler) -> None:
        if node.type is not None:
            self.visit(node.type)
        if node.name:
            self._bind(node.name, None)
        for stmt in node.body:
            self.visit(stmt)

    # -- calls --------------------------------------------------------------------------------

    def visit_Call(self, node: ast.Call) -> None:
        if id(node) not in self._consumed:
            origin = self._origin(node.func)
            if origin and (_other_service(origin, node) or _data_method(origin)):
                origin = None
            sdk = sdk_for(origin) if origin else None
            if origin and sdk is None and origin == "fsspec.filesystem":
                sdk = _protocol_sdk(node)
            if origin and sdk is not None:
                self._report(node, origin, sdk, kind="call")
                # the receiver of a reported method call is part of the same finding
                receiver: ast.AST = node.func
                while isinstance(receiver, ast.Attribute | ast.Subscript):
                    receiver = receiver.value
                    if isinstance(receiver, ast.Call):
                        self._consumed.add(id(receiver))
                        receiver = receiver.func
        self.generic_visit(node)


def _other_service(origin: str, node: ast.Call) -> bool:
    """``boto3.client("sts")`` and kin: an AWS client for a service other than S3."""
    if origin.rsplit(".", 1)[-1] not in SERVICE_FACTORIES:
        return False
    sdk = sdk_for(origin)
    if sdk is None or sdk.name not in ("boto3", "botocore", "aiobotocore"):
        return False
    name = node.args[0] if node.args else None
    for keyword in node.keywords:
        if keyword.arg == "service_name":
            name = keyword.value
    if isinstance(name, ast.Constant) and isinstance(name.value, str):
        return name.value not in STORAGE_SERVICES
    return False  # a service named at run time may be S3: report it


def _data_method(origin: str) -> bool:
    """``response.get(...)`` on what an SDK call returned: plain data, not an SDK call."""
    head, _, method = origin.rpartition(".")
    return method in DATA_METHODS and head.endswith(("()", "[]"))


def _protocol_sdk(node: ast.Call) -> SDK | None:
    first = node.args[0] if node.args else None
    if isinstance(first, ast.Constant) and isinstance(first.value, str):
        name = _PROTOCOL_SDK.get(first.value)
        return sdk_named(name) if name else None
    return None


def scan_source(source: str, path: str = "<string>") -> list[Finding]:
    """Findings in one module's source text; raises SyntaxError if it does not parse."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SyntaxWarning)  # invalid escapes in old code
        tree = ast.parse(source, filename=path)
    findings = SDKVisitor(path).scan(tree)
    quiet = ignored_lines(source)
    return [f for f in findings if f.line not in quiet]
