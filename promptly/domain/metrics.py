"""Names of Promptly's business metrics (Prometheus, next to the SDK's `temporal_*` ones).

Recorded through the Temporal SDK's metric meters: activities with `activity.metric_meter()`,
workflows with `workflow.metric_meter()` (which records nothing while a history is replayed,
so a counter moves once per real event). docs/grafana-dashboard.json charts them.
"""

from __future__ import annotations

# Messages handed to a channel: labels channel, template, outcome
# (sent | queued_in_outbox | already_sent | rejected | retrying | throttled | credentials:
# an attempt the provider refused Promptly's key or sender, retried) and, counted by the
# workflow once per message, abandoned (still failing when its budget ran out).
MESSAGES = "promptly_messages"
# Reminders that fell due: label outcome (on_time | late | failed); late = sent more than
# an hour after the planned time (channel retries), still inside the 24–48h window; failed =
# refused or out of budget (not one a change made moot).
REMINDERS = "promptly_reminders"
# How long after its planned time each reminder went out, in seconds (a histogram).
REMINDER_LATENESS = "promptly_reminder_lateness_seconds"
# Phone follow-up tasks created for the front desk.
CALL_ATTEMPTS = "promptly_call_attempts"
# Recorded call outcomes: label outcome (reached_confirmed, no_answer, …).
CALL_OUTCOMES = "promptly_call_outcomes"
# Visits nobody checked in to.
NO_SHOWS = "promptly_no_shows"
# Complaints moving through SLA states: label sla_state
# (filed | supervisor | breached | breach_extended | closed_in_sla | closed_breached);
# breached counts a complaint's first breach, breach_extended each missed new timeline after.
COMPLAINTS = "promptly_complaints"
# Gauges the worker sets every PENDING_SENDS_EVERY from the `messages` ledger, label channel:
# the sends not gone out yet (retrying), and how long the oldest of them has waited, seconds.
PENDING_SENDS = "promptly_pending_sends"
OLDEST_PENDING_SEND = "promptly_oldest_pending_send_seconds"

HELP = {
    MESSAGES: "Messages handed to a channel, by outcome",
    REMINDERS: "Reminders that fell due, by outcome (on_time, late, failed, skipped)",
    REMINDER_LATENESS: "Seconds a reminder went out after its planned time",
    CALL_ATTEMPTS: "Phone follow-up tasks created for the front desk",
    CALL_OUTCOMES: "Recorded phone follow-up outcomes",
    NO_SHOWS: "Visits nobody checked in to",
    COMPLAINTS: "Complaints entering an SLA state",
    PENDING_SENDS: "Sends not gone out yet (retrying), by channel",
    OLDEST_PENDING_SEND: "Seconds the oldest send not gone out yet has waited, by channel",
}
