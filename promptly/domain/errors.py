"""ApplicationError types: what went wrong, as a constant both sides can match on."""

INVALID_BOOKING = "InvalidBooking"
INVALID_RECIPIENT = "InvalidRecipient"
DELIVERY_REJECTED = "DeliveryRejected"
DELIVERY_UNAVAILABLE = "DeliveryUnavailable"
UNKNOWN_TEMPLATE = "UnknownTemplate"
TRANSITION_REFUSED = "TransitionRefused"
# An inquiry promoted under an id that another customer's complaint already has.
COMPLAINT_ID_TAKEN = "ComplaintIdTaken"
