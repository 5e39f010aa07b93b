"""Run mutmut 3 over the modules that hold hrcnet's promises, one module at a time.

Usage (from the repository root, normally through ``make mutate``)::

    .venv/bin/python scripts/mutate.py                      # every module in [tool.hrcnet.mutate]
    .venv/bin/python scripts/mutate.py node/secretariat/stats.py   # one module
    MUTATE_CHILDREN=2 .venv/bin/python scripts/mutate.py ...       # parallel workers (default 1)

The tests run under the ``mutate`` Hypothesis profile (``HYPOTHESIS_PROFILE=mutate``, registered
in tests/conftest.py): property tests take at most 25 derandomised examples, so one run per
mutant stays cheap and a mutant's verdict is reproducible.

mutmut reads its configuration only from pyproject.toml, so this script loads it, narrows
``only_mutate`` to the module and the test selection to that module's tests (the map in
``[tool.hrcnet.mutate]``), then runs ``mutmut run`` in a child process per module (mutmut keeps
global state). Each module starts from a clean ``mutants/`` directory so its stats (which test
covers which function) come from its own tests. After each module it prints the counts
(killed / survived / no tests / timeout ...) and the names of the surviving mutants; inspect one
with ``.venv/bin/mutmut show <name>`` (the ``mutants/`` of the last module run is kept).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tomllib
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def module_map() -> dict[str, list[str]]:
    """The modules to mutate and, for each, the tests that should kill its mutants."""
    data = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))
    return dict(data["tool"]["hrcnet"]["mutate"])


def link_shared() -> None:
    """Let the tests copied into mutants/ find ../shared (tests/conftest.py looks beside the
    repository, which from mutants/tests is this checkout): a git-ignored symlink ./shared."""
    here, beside = ROOT / "shared", ROOT.parent / "shared"
    if beside.is_dir() and not here.exists():
        here.symlink_to(beside, target_is_directory=True)


def run_one(module: str, tests: list[str], children: int) -> dict[str, int]:
    """Run mutmut over ``module`` with ``tests`` in a child process and return the counts."""
    shutil.rmtree(ROOT / "mutants", ignore_errors=True)
    code = subprocess.call(  # noqa: S603 - our own interpreter running our own child
        [sys.executable, __file__, "--child", module, str(children), *tests], cwd=ROOT
    )
    if code not in (0, None):
        print(f"mutmut failed on {module} (exit {code})", file=sys.stderr)
    return summarise(module)


def summarise(module: str) -> dict[str, int]:
    """Read mutmut's metadata for ``module`` and print counts and survivors."""
    from mutmut.__main__ import status_by_exit_code  # noqa: PLC0415 - needs config set up

    meta = ROOT / "mutants" / (module + ".meta")
    if not meta.exists():
        print(f"{module}: no results")
        return {}
    exit_codes = json.loads(meta.read_text("utf-8"))["exit_code_by_key"]
    statuses = {name: status_by_exit_code[code] for name, code in exit_codes.items()}
    counts = Counter(statuses.values())
    total = sum(counts.values())
    killed = counts.get("killed", 0) + counts.get("timeout", 0)
    score = 100.0 * killed / total if total else 0.0
    tally = ", ".join(f"{status} {count}" for status, count in sorted(counts.items()))
    print(
        f"\n== {module}: {total} mutants, {tally} -> {score:.1f}% killed"
        " (before equivalent mutants are set aside)"
    )
    by_function: dict[str, Counter[str]] = {}
    for name, status in statuses.items():
        function = name.rsplit(".", 1)[1].split("__mutmut_")[0].removeprefix("x_")
        by_function.setdefault(function.replace("xǁ", "").replace("ǁ", "."), Counter())[status] += 1
    for function, tally_of in sorted(by_function.items()):
        print(f"   {function:40} " + ", ".join(f"{k} {v}" for k, v in sorted(tally_of.items())))
    survivors = [(n, s) for n, s in sorted(statuses.items()) if s not in ("killed", "timeout")]
    for name, status in survivors:
        print(f"   {status:10} {name}")
    write_report(module, survivors)
    return dict(counts)


def write_report(module: str, survivors: list[tuple[str, str]]) -> None:
    """Keep the diffs of the mutants that lived in mutants-reports/ (git-ignored), since the
    next module's run starts from a clean mutants/ and ``mutmut show`` needs it."""
    from mutmut.mutation.diff_apply import get_diff_for_mutant  # noqa: PLC0415

    reports = ROOT / "mutants-reports"
    reports.mkdir(exist_ok=True)
    lines = []
    for name, status in survivors:
        try:
            diff = get_diff_for_mutant(name, path=module)
        except Exception as exc:  # noqa: BLE001 - a report line, never a crash
            diff = f"(no diff: {exc})"
        lines.append(f"# {name}: {status}\n{diff}\n")
    target = reports / (module.replace("/", "_") + ".txt")
    target.write_text("\n".join(lines), "utf-8")
    print(f"   diffs of these mutants: {target.relative_to(ROOT)}")


def child(module: str, children: int, tests: list[str]) -> None:
    """Inside the child: narrow mutmut's configuration, then run it."""
    import dataclasses  # noqa: PLC0415

    import mutmut.configuration as configuration  # noqa: PLC0415

    base = configuration._load_config()
    configuration._config = dataclasses.replace(
        base, only_mutate=[module], pytest_add_cli_args_test_selection=list(tests)
    )
    from mutmut.__main__ import cli  # noqa: PLC0415 - imports read the configuration

    cli(["run", "--max-children", str(children)], standalone_mode=True)


def main(argv: list[str]) -> int:
    """Entry point: ``[--child module children tests...]`` or ``[module ...]``."""
    os.chdir(ROOT)
    if argv[:1] == ["--child"]:
        child(argv[1], int(argv[2]), argv[3:])
        return 0
    modules = module_map()
    wanted = argv or list(modules)
    unknown = [m for m in wanted if m not in modules]
    if unknown:
        print(f"not in [tool.hrcnet.mutate] of pyproject.toml: {unknown}", file=sys.stderr)
        return 2
    children = int(os.environ.get("MUTATE_CHILDREN", "1"))
    # Property tests run once per mutant: the light Hypothesis profile (tests/conftest.py:
    # few derandomised examples, no example database) keeps a module to minutes, and the
    # same mutant gets the same verdict on every run. HYPOTHESIS_PROFILE=default overrides.
    os.environ.setdefault("HYPOTHESIS_PROFILE", "mutate")
    link_shared()
    for module in wanted:
        run_one(module, modules[module], children)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
