"""The appointment procedure: models, rules, follow-up calls."""
