"""Generate ``schema.json``, the parameter rules, from the installed official SDK.

stripe-python is generated from Stripe's OpenAPI spec: every endpoint's service method
names its parameter ``TypedDict`` (``ProductCreateParams``…), and those TypedDicts give
every parameter's name, nesting, type, enum values and whether it is required. This
module reads them (needs the ``sdk`` extra) and writes the rules for the endpoints the
emulator serves, so unknown, removed or mistyped parameters are refused the way Stripe
refuses them. Run ``python -m stripe_emulator.schema_gen`` after upgrading the SDK; a
test fails while the file is stale.

Rule format (JSON): ``{"t": "str"|"int"|"bool"|"num"|"map"|"any"}``,
``{"t": "enum", "values": [...]}``, ``{"t": "list", "items": rule}``,
``{"t": "obj", "def": "ClassName"}``, ``{"t": "union", "of": [rules]}``; the SDK's
``Literal[...]|str`` is read as the enum of the pinned API version; the empty
string is accepted where the SDK allows ``Literal['']`` (``"empty": true``).
"""

from __future__ import annotations

import ast
import importlib
import json
import re
import sys
import types
import typing
from decimal import Decimal
from pathlib import Path
from typing import Any

SCHEMA_FILE = Path(__file__).with_name("schema.json")
_PLACEHOLDER = re.compile(r"\{[a-z_]+\}")


def route_key(method: str, path: str) -> str:
    """``POST /v1/products/{}``: placeholders unnamed, so SDK and emulator paths match."""
    return f"{method.upper()} {_PLACEHOLDER.sub('{}', path)}"


def _sdk_routes() -> dict[str, tuple[str, str]]:
    """route key -> (params module, params class) from every ``*_service.py`` of the SDK."""
    import stripe

    root = Path(stripe.__file__).parent
    found: dict[str, tuple[str, str]] = {}
    for path in sorted(root.rglob("_*_service.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        imports = {
            alias.asname or alias.name: node.module
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and node.module
            for alias in node.names
        }
        for fn in ast.walk(tree):
            if not isinstance(fn, ast.FunctionDef):
                continue
            params = next((a for a in fn.args.args if a.arg == "params"), None)
            if params is None or params.annotation is None:
                continue
            names = re.findall(r"[A-Za-z]+Params\b", ast.unparse(params.annotation))
            call = next(
                (
                    n
                    for n in ast.walk(fn)
                    if isinstance(n, ast.Call)
                    and isinstance(n.func, ast.Attribute)
                    and n.func.attr == "_request"
                ),
                None,
            )
            if not names or call is None or len(call.args) < 2:
                continue
            method, target = call.args[0], call.args[1]
            if isinstance(target, ast.Call) and isinstance(target.func, ast.Attribute):
                target = target.func.value  # "/v1/x/{id}".format(...)
            if not (isinstance(method, ast.Constant) and isinstance(target, ast.Constant)):
                continue
            module = imports.get(names[0])
            if module:
                found[route_key(str(method.value), str(target.value))] = (module, names[0])
    return found


def _resolve(annotation: Any, namespace: dict[str, Any]) -> Any:
    """One field's type with forward references evaluated and ``(Not)Required`` removed."""
    if isinstance(annotation, str):
        annotation = typing.ForwardRef(annotation)
    tp = typing._eval_type(annotation, namespace, namespace)  # type: ignore[attr-defined]
    while typing.get_origin(tp) in (typing.NotRequired, typing.Required):
        tp = typing.get_args(tp)[0]
    return tp


def def_name(cls: Any) -> str:
    """``checkout.SessionCreateParams``: the SDK reuses class names across namespaces."""
    parts = cls.__module__.split(".")[2:-1]  # stripe.params.<namespace…>._module
    return ".".join([*parts, cls.__name__])


class _Builder:
    def __init__(self) -> None:
        self.defs: dict[str, dict[str, Any]] = {}

    def rule(self, tp: Any) -> dict[str, Any]:
        origin = typing.get_origin(tp)
        args = typing.get_args(tp)
        if origin in (typing.Union, types.UnionType):
            empty = any(
                typing.get_origin(a) is typing.Literal and a.__args__ == ("",) for a in args
            )
            rest = [
                self.rule(a)
                for a in args
                if not (typing.get_origin(a) is typing.Literal and a.__args__ == ("",))
                and a is not type(None)
            ]
            if any(r["t"] == "enum" for r in rest):
                # "Literal['a', 'b']|str": the SDK stays open to values added later, but
                # the API of the pinned version accepts only the listed ones
                rest = [r for r in rest if r["t"] != "str"]
            out = rest[0] if len(rest) == 1 else {"t": "union", "of": rest}
            return {**out, "empty": True} if empty else out
        if origin is typing.Literal:
            return {
                "t": "enum",
                "values": [str(a).lower() if a is True or a is False else a for a in args],
            }
        if origin in (list, typing.List):  # noqa: UP006 - the SDK's own spelling
            return {"t": "list", "items": self.rule(args[0])}
        if origin in (dict, typing.Dict):  # noqa: UP006
            return {"t": "map"}
        if tp is str:
            return {"t": "str"}
        if tp is bool:
            return {"t": "bool"}
        if tp is int:
            return {"t": "int"}
        if tp in (float, Decimal):
            return {"t": "num"}
        if isinstance(tp, type) and hasattr(tp, "__required_keys__"):
            self.define(tp)
            return {"t": "obj", "def": def_name(tp)}
        return {"t": "any"}

    def define(self, cls: Any) -> None:
        name = def_name(cls)
        if name in self.defs:
            return
        from stripe._request_options import RequestOptions

        self.defs[name] = {}  # placeholder: recursion stops here
        namespace = vars(sys.modules[cls.__module__])
        own = [k for k in cls.__annotations__ if k not in RequestOptions.__annotations__]
        self.defs[name] = {
            "fields": {
                k: self.rule(_resolve(cls.__annotations__[k], namespace)) for k in sorted(own)
            },
            "required": sorted(k for k in own if k in cls.__required_keys__),
        }


def generate(routes: list[tuple[str, str]]) -> dict[str, Any]:
    """Rules for ``routes`` ((method, path) pairs as the emulator registers them)."""
    import stripe

    sdk = _sdk_routes()
    builder = _Builder()
    endpoints: dict[str, str] = {}
    for method, path in routes:
        key = route_key(method, path)
        if key not in sdk:
            raise LookupError(f"the SDK has no method for {key}")
        module, name = sdk[key]
        cls = getattr(importlib.import_module(module), name)
        builder.define(cls)
        endpoints[key] = def_name(cls)
    return {
        "generated_from": f"stripe-python {stripe.VERSION}",
        "api_version": stripe.api_version,
        "endpoints": dict(sorted(endpoints.items())),
        "defs": dict(sorted(builder.defs.items())),
    }


def emulator_routes() -> list[tuple[str, str]]:
    from . import resources
    from .router import router

    assert resources  # registers the routes
    return sorted({(r.method, r.pattern) for r in router.routes})


def render(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=1, sort_keys=False) + "\n"


def main() -> None:
    SCHEMA_FILE.write_text(render(generate(emulator_routes())), encoding="utf-8")
    print(f"wrote {SCHEMA_FILE}")


if __name__ == "__main__":
    main()
