"""Build the API reference of chime_speaker_search with pdoc; any warning fails the build.

Run by ``make docs`` (and so by ``make test``): ``python docs/build_api_reference.py build/docs``.
The package is imported first, so warnings raised while its dependencies load (jsii, aws-cdk-lib)
are not counted; every warning pdoc raises while documenting it is (e.g. a docstring it cannot
parse, a reference it cannot resolve).
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import pdoc
import pdoc.render

import chime_speaker_search


def main(output: Path) -> int:
    pdoc.render.configure(docformat="restructuredtext", show_source=False, search=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        pdoc.pdoc(chime_speaker_search.__name__, output_directory=output)
    for warning in caught:
        print(f"docs: {warning.category.__name__}: {warning.message}", file=sys.stderr)
    if not (output / "chime_speaker_search.html").exists():
        print("docs: chime_speaker_search.html was not written", file=sys.stderr)
        return 1
    return 1 if caught else 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
