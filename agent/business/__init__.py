"""The company side: company profiles and their context API, the booking client and
store, and the outbox."""
