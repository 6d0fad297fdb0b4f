"""Test wrapper: `count.py <counter file> <program argv...>` appends the program's argv (JSON) to the
counter file, then becomes the program (exec): one line per invocation."""
import json
import os
import sys

with open(sys.argv[1], "a") as f:
    f.write(json.dumps(sys.argv[2:]) + "\n")
os.execvp(sys.argv[2], sys.argv[2:])
