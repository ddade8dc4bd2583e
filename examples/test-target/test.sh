#!/bin/sh
# Test the greet program given as the first argument; exit 1 on a failure.
greet=$1
failures=0

check() {
    expected=$1
    shift
    actual=$("$greet" "$@")
    if [ "$actual" = "$expected" ]; then
        echo "ok: greet${*:+ $*} -> $actual"
    else
        echo "FAILED: greet${*:+ $*}: expected '$expected', got '$actual'"
        failures=$((failures + 1))
    fi
}

check "Hello, world!"
check "Hello, stagescope!" stagescope
[ "$failures" -eq 0 ]
