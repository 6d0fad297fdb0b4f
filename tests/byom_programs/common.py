"""What the test programs share: --counter (a file each invocation appends a line to), --sleep, --fail-lam."""
import time


def start(parser):
    """Parse the arguments, record the invocation, sleep as asked; returns the arguments."""
    parser.add_argument("--counter")
    parser.add_argument("--sleep", type=float, default=0.0)
    parser.add_argument("--fail-lam", type=float, default=None)
    a = parser.parse_args()
    with open(a.counter, "a") as f:
        f.write(f"start {a.out}\n")
    time.sleep(a.sleep)
    return a
