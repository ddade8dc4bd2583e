#!/bin/sh
# Print a greeting for the name given, or for "world".
echo "Hello, ${1:-world}!"
