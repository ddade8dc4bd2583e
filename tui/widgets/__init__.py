"""Widgets of the build screen."""
