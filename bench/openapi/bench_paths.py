"""PathMatcher micro-benchmark, 50 operations: .venv/bin/python bench/openapi/bench_paths.py"""

from __future__ import annotations

import timeit

from tollway.openapi.paths import PathMatcher

ops: list[tuple[str, str, str]] = []
for i in range(10):
    ops += [
        ("GET", f"/resource{i}", f"list{i}"),
        ("POST", f"/resource{i}", f"create{i}"),
        ("GET", f"/resource{i}/{{id}}", f"get{i}"),
        ("DELETE", f"/resource{i}/{{id}}", f"delete{i}"),
        ("GET", f"/resource{i}/{{id}}/items/{{itemId}}", f"item{i}"),
    ]
assert len(ops) == 50
matcher = PathMatcher(ops)
cases = [
    ("GET", "/resource9/abc123/items/77"),
    ("GET", "/resource5/abc123"),
    ("POST", "/resource0"),
    ("GET", "/nothing/here"),
]
for method, path in cases:
    n = 200_000
    t = timeit.timeit(lambda m=method, p=path: matcher.match(m, p), number=n)
    hit = matcher.match(method, path)
    print(f"{method} {path}: {t / n * 1e6:.2f} us/match -> {hit.value if hit else None}")
