# libFuzzer harnesses (issue 7): `make fuzz` builds them with clang.
