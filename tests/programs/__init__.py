"""Programs in the styles people run with a micrograd-style Value, each run
on both engines by changing only where `Value` comes from, and checked
against an independent pure-Python Value (reference.py)."""
