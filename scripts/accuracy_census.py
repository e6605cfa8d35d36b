"""Drive every declared public function of icl with inputs drawn across its declared domain and
compare each answer with an independent reference (tests/accuracy); print the census: inputs per
function, the worst error in units of the declared accuracy, failures, the slowest call.

    python scripts/accuracy_census.py [--per-function 200] [--seed 0] [--failures] [NAME ...]
"""

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests import accuracy  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="dotted names of functions (default: all)")
    parser.add_argument("--per-function", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--failures", action="store_true", help="list each failing input")
    args = parser.parse_args()
    start = time.perf_counter()
    results = accuracy.run(args.names or None, per_function=args.per_function, seed=args.seed)
    table = accuracy.census(results)
    table["all"]["seconds"] = round(time.perf_counter() - start, 1)
    print(json.dumps(table, indent=1))
    if args.failures:
        for r in results:
            if not r.passed:
                print(f"{r.function} {r.kwargs}: {r.error:.3g} {r.detail}")
    sys.exit(1 if table["all"]["failures"] else 0)


if __name__ == "__main__":
    main()
