"""The complaint procedure: models, SLA clock, escalation, rules."""
