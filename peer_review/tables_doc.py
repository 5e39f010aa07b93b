"""Render the declared workflow tables as Markdown (``python -m peer_review.tables_doc``).

``docs/peer_review.md`` embeds the output between markers; a test keeps it identical to the code.
"""

from __future__ import annotations

from peer_review.statemachine import SAME, Workflow
from peer_review.workflow import ASSIGNMENT, PRECONDITIONS, REVIEW

BEGIN, END = "<!-- tables:begin -->", "<!-- tables:end -->"


def table(workflow: Workflow) -> str:
    """One Markdown table: action, from, to, who, preconditions, effects (the handler's name the
    row binds, then what it does in words)."""
    lines = [
        f"#### {workflow.name.capitalize()}",
        "",
        "| action | from | to | who | preconditions | effects |",
        "|---|---|---|---|---|---|",
    ]
    for t in workflow.transitions:
        target = "(same)" if t.target == SAME else f"`{t.target}`"
        effects = " — ".join(part for part in (t.effect and f"`{t.effect}`", t.effects) if part)
        lines.append(
            f"| `{t.action}` | {', '.join(f'`{s}`' for s in sorted(t.sources))} | {target} "
            f"| {', '.join(sorted(t.roles))} | {', '.join(t.preconditions) or '–'} "
            f"| {effects or '–'} |"
        )
    return "\n".join(lines)


def render() -> str:
    """Both tables and the precondition glossary, between the markers."""
    glossary = ["#### Preconditions", ""]
    for name, check in PRECONDITIONS.items():
        reason = check({}) or ""
        glossary.append(f"- `{name}`: {reason.split(':')[0]}")
    body = "\n\n".join([table(REVIEW), table(ASSIGNMENT), "\n".join(glossary)])
    return f"{BEGIN}\n{body}\n{END}"


if __name__ == "__main__":
    print(render())
