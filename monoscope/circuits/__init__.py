"""Features across layers: the local replacement model of a prompt, attribution graphs over it, and their checks."""
