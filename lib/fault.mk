# Test-only fault injection (issue 7), compiled in by --enable-fault-injection.
