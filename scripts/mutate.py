"""Run mutmut 3 over the modules that hold hrcnet's promises, one module at a time.

Usage (from the repository root, normally through ``make mutate``)::

    .venv/bin/python scripts/mutate.py                      # every module in [tool.hrcnet.mutate]
    .venv/bin/python scripts/mutate.py node/secretariat/stats.py   # one module
    MUTATE_CHILDREN=2 .venv/bin/python scripts/mutate.py ...       # parallel workers (default 1)

    .venv/bin/python scripts/mutate.py --resume peer_review/reminders.py   # continue a run
    .venv/bin/python scripts/mutate.py federation/canonical.py --mutants NAME ...  # re-test these

A module's mutants/ is moved to mutants-reports/saved/<module>/ when another module's run
needs the directory; ``--resume`` brings it back and runs only the mutants without a verdict
(an interrupted run continues), and ``--mutants`` (implies ``--resume``) also re-tests the named
mutants, e.g. the survivors after new tests were written: mutmut lets a verdict stand unless
the mutant is named.

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
MARKER = ".hrcnet-module"  # in mutants/: which module's mutants these are


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


def saved_dir(module: str) -> Path:
    """Where a module's mutants/ is kept once another module's run needs the directory."""
    return ROOT / "mutants-reports" / "saved" / module.replace("/", "_")


def stash_current() -> None:
    """Move mutants/ aside under the module it belongs to, so ``--resume`` can continue it."""
    marker = ROOT / "mutants" / MARKER
    if not marker.is_file():
        shutil.rmtree(ROOT / "mutants", ignore_errors=True)
        return
    target = saved_dir(marker.read_text("utf-8").strip())
    shutil.rmtree(target, ignore_errors=True)
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(ROOT / "mutants", target)


def run_one(
    module: str, tests: list[str], children: int, *, resume: bool, names: list[str]
) -> dict[str, int]:
    """Run mutmut over ``module`` with ``tests`` in a child process and return the counts.

    Without ``resume`` the module starts from a clean mutants/. With it, the module's earlier
    mutants/ (interrupted, or kept from an earlier run) is restored and only the mutants without
    a verdict run, plus ``names`` (mutants to test again, e.g. the survivors once new tests are
    written: mutmut re-tests a mutant only when it is named).
    """
    current = ROOT / "mutants" / MARKER
    same = current.is_file() and current.read_text("utf-8").strip() == module
    if not (resume and same):
        stash_current()
        if resume and saved_dir(module).is_dir():
            shutil.move(saved_dir(module), ROOT / "mutants")
    if not resume:
        shutil.rmtree(ROOT / "mutants", ignore_errors=True)
    code = subprocess.call(  # noqa: S603 - our own interpreter running our own child
        [sys.executable, __file__, "--child", module, str(children), *tests, "--", *names],
        cwd=ROOT,
    )
    if code not in (0, None):
        print(f"mutmut failed on {module} (exit {code})", file=sys.stderr)
    if (ROOT / "mutants").is_dir():
        (ROOT / "mutants" / MARKER).write_text(module, "utf-8")
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
    # "not checked": no verdict yet (a stopped run, or a run of named mutants in a fresh
    # mutants/): counted above, neither listed nor diffed (hundreds of diffs take minutes).
    survivors = [
        (n, s) for n, s in sorted(statuses.items()) if s not in ("killed", "timeout", "not checked")
    ]
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


def child(module: str, children: int, tests: list[str], names: list[str]) -> None:
    """Inside the child: narrow mutmut's configuration, then run it."""
    import dataclasses  # noqa: PLC0415

    import mutmut.configuration as configuration  # noqa: PLC0415

    base = configuration._load_config()
    configuration._config = dataclasses.replace(
        base, only_mutate=[module], pytest_add_cli_args_test_selection=list(tests)
    )
    from mutmut.__main__ import cli  # noqa: PLC0415 - imports read the configuration

    cli(["run", "--max-children", str(children), *names], standalone_mode=True)


def main(argv: list[str]) -> int:
    """Entry point: ``[--child module children tests...]`` or ``[module ...]``."""
    os.chdir(ROOT)
    if argv[:1] == ["--child"]:
        rest = argv[3:]
        split = rest.index("--")
        child(argv[1], int(argv[2]), rest[:split], rest[split + 1 :])
        return 0
    resume = "--resume" in argv
    names: list[str] = []
    if "--mutants" in argv:
        names = argv[argv.index("--mutants") + 1 :]
        argv = argv[: argv.index("--mutants")]
        resume = True
    argv = [arg for arg in argv if arg != "--resume"]
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
    if names and len(wanted) != 1:
        print("--mutants needs exactly one module", file=sys.stderr)
        return 2
    for module in wanted:
        run_one(module, modules[module], children, resume=resume, names=names)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
