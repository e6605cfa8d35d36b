"""Drive every public callable of icl with the bad inputs of tests/bad_inputs.py and print the
counts: public callables, those with bad-input cases, cases, and how each case ended (refused with
ValueError or TypeError naming an argument, answered, another error, or a hang).

    python scripts/bad_input_census.py [--failures]
"""

import json
import sys
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests import bad_inputs  # noqa: E402


def main() -> None:
    warnings.simplefilter("ignore")
    start = time.perf_counter()
    cases = bad_inputs.run_all()
    counts = bad_inputs.census(cases)
    counts["seconds"] = round(time.perf_counter() - start, 1)
    print(json.dumps(counts, indent=1))
    if "--failures" in sys.argv:
        for case in cases:
            if case.outcome != "refused":
                print(f"{case.name} {case.parameter}={case.kind}: {case.outcome} {case.detail}")


if __name__ == "__main__":
    main()
