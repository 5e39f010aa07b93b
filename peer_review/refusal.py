"""The node's face of a workflow refusal: the table engine's own exception, and a ``DomainError``.

``peer_review.statemachine`` is pure (it imports nothing of ``node/``) and raises
:class:`~peer_review.statemachine.TransitionRefused`. The node's tables (``peer_review.workflow``,
``peer_review.mentoring.workflow``) are built with ``refusal=WorkflowRefusal``, so what they raise
is both: tests and callers may catch the engine's type, and the API, the pages and the inbox turn
it into problem+json / a readable message / a refusal like any other ``DomainError`` — no call
site has to remember to translate it.
"""

from __future__ import annotations

from node.errors import DomainError
from peer_review.statemachine import TransitionRefused


class WorkflowRefusal(TransitionRefused, DomainError):
    """A move a node's table does not allow (status 409 unless the check says otherwise)."""
