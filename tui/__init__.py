"""The Textual front end of stagescope."""
