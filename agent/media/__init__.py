"""The byte-and-frame side of a call: the AudioSocket stream, paced playout, the
per-call supervisor, the server and call recording."""
