"""What the HTTP API and the CLI share: starting cases, the task inbox, histories,
reports, inbound replies, the store they read."""
