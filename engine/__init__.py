"""Containerfile planning and Buildah execution for stagescope.

Nothing in this package imports Textual: the headless command line, the tests
and the terminal app all drive the engine the same way.
"""
