"""verigrad: a verified gradient test harness."""
