"""ApplicationError types: what went wrong, as a constant both sides can match on."""

INVALID_BOOKING = "InvalidBooking"
INVALID_RECIPIENT = "InvalidRecipient"
DELIVERY_REJECTED = "DeliveryRejected"
DELIVERY_UNAVAILABLE = "DeliveryUnavailable"
UNKNOWN_TEMPLATE = "UnknownTemplate"
TRANSITION_REFUSED = "TransitionRefused"
# Bad input only the case can judge (a root cause off its list): details[0] names the field,
# so the API answers 422 with it, like any other bad input.
INVALID_FIELD = "InvalidField"
# An inquiry promoted under an id that another customer's complaint already has.
COMPLAINT_ID_TAKEN = "ComplaintIdTaken"
