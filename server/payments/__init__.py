"""Online payments for residents (WeChat Pay / Alipay style): orders in integer fen, a provider adapter
(:mod:`.provider`) with a simulated provider for the demo and the tests (:mod:`.sim`), signed asynchronous
notifications, queries and refunds, and the service that turns a paid order into a charge or an open barrier and
refunds what was not used (:mod:`.service`)."""
