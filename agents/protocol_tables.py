"""The architecture tables of ``docs/architecture.md``, generated from the Protocols of
``agents/protocols.py``::

    python -m agents.protocol_tables > tables.md

One table per protocol, ``| member | meaning |``: the member's signature and its docstring.
(A module of its own, not imported by the ``agents`` package, so ``python -m`` runs it cleanly.)
"""

from __future__ import annotations

import inspect
import sys

from agents.protocols import PROTOCOLS, members


def _signature(protocol: type, name: str) -> str:
    member = protocol.__dict__[name]
    if isinstance(member, property):
        return f"{name}: {member.fget.__annotations__.get('return', 'Any')}"
    sig = inspect.signature(member)
    params = []
    for p in list(sig.parameters.values())[1:]:
        text = f"{'**' if p.kind is p.VAR_KEYWORD else ''}{p.name}"
        if p.annotation is not p.empty:
            text += f": {p.annotation}"
        if p.default is not p.empty:
            text += f" = {p.default!r}"
        params.append(text)
    ret = sig.return_annotation
    return f"{name}({', '.join(params)}) -> {ret}".replace('"', "")


def markdown() -> str:
    """The architecture tables (docs/architecture.md): one per protocol, ``| member | meaning |``."""
    out = []
    for protocol in PROTOCOLS:
        doc = " ".join(inspect.getdoc(protocol).split())
        out += [f"**{protocol.__name__}**: {doc}", "",
                "| member | meaning |", "|---|---|"]
        for name in members(protocol):
            meaning = " ".join((inspect.getdoc(protocol.__dict__[name]) or "").split())
            out.append(f"| `{_signature(protocol, name)}` | {meaning.replace('|', '/')} |")
        out.append("")
    return "\n".join(out).replace("``", "`").rstrip() + "\n"


if __name__ == "__main__":
    if sys.argv[1:] not in ([], ["--markdown"]):
        print("usage: python -m agents.protocol_tables [--markdown]", file=sys.stderr)
        sys.exit(2)
    print(markdown(), end="")
