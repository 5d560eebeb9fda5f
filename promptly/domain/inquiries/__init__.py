"""Inquiries: a customer's question, answered within 24–48h or promoted to a complaint."""
