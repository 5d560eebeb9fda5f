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
# An update decided on an older state of the case (its `expected_version`): the API's 412.
PRECONDITION_FAILED = "PreconditionFailed"
# Who acts may not run this update (a fee decided by the client, a delay relayed by a
# back-office key not acting as the provider): the API's 403, as for any role refusal.
ACTOR_REFUSED = "ActorRefused"
