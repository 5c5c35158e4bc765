"""Pre/post-processing ops: a plain numpy reference per op, and the fast versions held to it by tests."""
