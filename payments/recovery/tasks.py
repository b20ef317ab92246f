"""Celery tasks of recovery: thin, each calls one service.

``ops_action_run_task`` runs an ops action on several payments (submitted in the admin,
which answers at once and shows the action's progress page). Its name is pinned
(``name=``) so a message in a queue survives code moves. It may run twice (acks_late, a
worker lost mid-task): each payment is acted on once, by its stored result.
"""

from __future__ import annotations

import uuid

from celery import shared_task

from payments.recovery import actions
from payments.stripe.budget import stripe_calls_for

# Well inside the soft time limit (CELERY_TASK_SOFT_TIME_LIMIT, 240 s by default) with
# one payment's worst time to spare (the order lock's wait and Stripe's retries): the
# rest of a large action continues in a new task.
RUN_BUDGET_SECONDS = 90.0


@shared_task(name="payments.recovery.tasks.ops_action_run_task", acks_late=True)
def ops_action_run_task(action_id: str) -> str:
    with stripe_calls_for("ops"):  # an ops person waits on its page: the budget serves it first
        outcome = actions.recovery_run(action_id=uuid.UUID(action_id),
                                       budget_seconds=RUN_BUDGET_SECONDS)
    if outcome.unfinished:
        ops_action_run_task.delay(action_id)
    return outcome.message


@shared_task(name="payments.recovery.tasks.ops_actions_resume_task", acks_late=True)
def ops_actions_resume_task() -> int:
    """Beat, every minute: run the submitted actions no worker has (never queued while
    the broker was down, or their worker died)."""
    with stripe_calls_for("ops"):
        return actions.recovery_stalled_resume(budget_seconds=RUN_BUDGET_SECONDS)
