"""The softphone, the scripted demo callers and the offline demo call."""
