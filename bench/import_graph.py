"""Figures of the import graph of ``agent`` and ``dsp``: modules, edges, cycles, deepest chain.

The folder tree is meant to be the architecture; these figures show whether it still is
(``lint-imports`` enforces the rules, this prints the shape). Run from a checkout:

    .venv/bin/python bench/import_graph.py [ROOT]

ROOT (default: this checkout) may be another checkout, e.g. a ``git worktree`` of an old
commit, to compare before and after.
"""

from __future__ import annotations

import ast
import pathlib
import sys

import grimp

HERE = pathlib.Path(__file__).resolve().parent.parent


def strongly_connected(edges: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm, iterative (deep graphs must not hit the recursion limit)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []
    for root in edges:
        if root in index:
            continue
        work = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                components.append(component)
    return components


def deepest_chain(edges: dict[str, set[str]], components: list[list[str]]) -> int:
    """Longest import chain, a cycle counting as one step.

    Tarjan emits components in reverse topological order, so each one's imports come first.
    """
    component_of = {m: i for i, members in enumerate(components) for m in members}
    depth: list[int] = []
    for i, members in enumerate(components):
        below = [depth[component_of[w]] for m in members for w in edges[m] if component_of[w] != i]
        depth.append(1 + max(below, default=0))
    return max(depth, default=0)


def imports_inside_functions(root: pathlib.Path) -> int:
    count = 0
    for path in [*root.glob("agent/**/*.py"), *root.glob("dsp/**/*.py")]:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                count += sum(isinstance(x, ast.Import | ast.ImportFrom) for x in ast.walk(node))
    return count


def main() -> None:
    root = pathlib.Path(sys.argv[1]).resolve() if len(sys.argv) > 1 else HERE
    sys.path.insert(0, str(root))
    graph = grimp.build_graph("agent", "dsp", include_external_packages=False)
    edges = {m: set(graph.find_modules_directly_imported_by(m)) for m in graph.modules}
    components = strongly_connected(edges)
    cycles = [sorted(c) for c in components if len(c) > 1]
    print(f"root                      {root}")
    print(f"modules                   {len(edges)}")
    print(f"import edges              {sum(len(v) for v in edges.values())}")
    print(f"import cycles             {len(cycles)}")
    for members in cycles:
        print(f"  cycle                   {' <-> '.join(members)}")
    print(f"deepest chain (modules)   {deepest_chain(edges, components)}")
    print(f"imports inside functions  {imports_inside_functions(root)}")


if __name__ == "__main__":
    main()
