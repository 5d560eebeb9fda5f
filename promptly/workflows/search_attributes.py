"""The search attributes the workflows publish, named once (DESIGN.md §2, the Temporal UI).

Ops engineers filter on them in the UI (`ClientId = "C-17"`); the API's lists read them.
`promptly dev`/`make run` registers them on the dev server (promptly/dev/stack.py).
"""

from __future__ import annotations

from temporalio.common import SearchAttributeKey

CLIENT_ID = SearchAttributeKey.for_keyword("ClientId")

APPOINTMENT_STATUS = SearchAttributeKey.for_keyword("AppointmentStatus")
PROVIDER_ID = SearchAttributeKey.for_keyword("ProviderId")
APPOINTMENT_START = SearchAttributeKey.for_datetime("AppointmentStart")

COMPLAINT_STATUS = SearchAttributeKey.for_keyword("ComplaintStatus")
DEPARTMENT = SearchAttributeKey.for_keyword("Department")
SLA_DEADLINE = SearchAttributeKey.for_datetime("SlaDeadline")
SLA_BREACHED = SearchAttributeKey.for_bool("SlaBreached")
ESCALATION_LEVEL = SearchAttributeKey.for_int("EscalationLevel")

INQUIRY_STATUS = SearchAttributeKey.for_keyword("InquiryStatus")

# Every case kind: what staff must act on now (`needs_attention`: "confirmation not sent", …).
NEEDS_ATTENTION = SearchAttributeKey.for_keyword_list("NeedsAttention")
