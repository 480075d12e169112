"""The suite's own order: long modules first, so that neither worker waits alone for one at the end."""

import pytest

from tests.conftest import long_modules_first, module_seconds


def test_long_modules_go_first_longest_first_the_rest_keep_their_order():
    order = long_modules_first(["a", "b", "c", "d", "e"], {"c": 400.0, "e": 100.0})
    assert order == ["c", "e", "a", "b", "d"]


def test_this_session_runs_its_marked_modules_first(request: pytest.FixtureRequest):
    # module by module, in the order they run: a long module's items all come before a shorter one's
    seconds = list(module_seconds(request.session.items).values())
    assert seconds == sorted(seconds, reverse=True)
