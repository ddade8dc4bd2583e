"""Screens of the app: the build screen, the diff screen and the help screen."""
