# tests/cpu
