"""The suite's own order: long modules first, so that neither worker waits alone for one at the end."""

import pytest

from tests.conftest import long_modules_first


def test_long_modules_go_first_longest_first_the_rest_keep_their_order():
    order = long_modules_first(["a", "b", "c", "d", "e"], {"c": 400.0, "e": 100.0})
    assert order == ["c", "e", "a", "b", "d"]


def test_this_session_runs_its_marked_modules_first(request: pytest.FixtureRequest):
    seconds = []
    for item in request.session.items:
        marker = item.get_closest_marker("slow")
        seconds.append(float(marker.kwargs.get("seconds", 30)) if marker else 0.0)
    # module by module: a long module's items all come before any shorter module's
    modules = {}
    for item, value in zip(request.session.items, seconds, strict=True):
        module = item.nodeid.split("::")[0]
        modules[module] = max(modules.get(module, 0.0), value)
    order = list(dict.fromkeys(item.nodeid.split("::")[0] for item in request.session.items))
    assert [modules[m] for m in order] == sorted((modules[m] for m in order), reverse=True)
