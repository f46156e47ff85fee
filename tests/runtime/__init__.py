"""Runtime tests. The handler's modules are deployed beside its index.py and import each other
top-level, so the tests put its folder and the shared modules on sys.path, as the Lambda runtime does."""

from tests.support import add_handler_paths

add_handler_paths("speaker_search")
