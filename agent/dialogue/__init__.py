"""Pure conversation policy: turn-taking, history, speech chunking, the prompt,
canned replies, slot extraction and the booking workflow. No trio, ``now`` passed in."""
