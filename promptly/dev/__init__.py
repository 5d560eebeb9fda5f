"""The embedded dev stack (`make run`), the demo and the local Twilio fake."""
