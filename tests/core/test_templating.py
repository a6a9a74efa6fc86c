"""Input templates of automations: paths into JSON, missing paths, nothing else interpreted."""

from __future__ import annotations

from axocoatl.core.templating import names, render


def test_paths_reach_into_dicts_and_lists_and_render_json_for_structures() -> None:
    values = {"body": {"ref": "main", "commits": [{"id": "c1"}], "n": 3}, "headers": {"x-event": "push"}}
    assert render("{{ body.ref }}/{{body.commits.0.id}} {{ headers.x-event }}", values) == "main/c1 push"
    assert render("{{ body.commits }}", values) == '[{"id": "c1"}]'
    assert render("{{ body.n }}", values) == "3"


def test_a_path_that_leads_nowhere_is_empty_and_other_text_stays() -> None:
    values = {"body": {"ref": "main"}}
    assert render("[{{ body.nope.deeper }}][{{ body.ref.0 }}][{{ other }}]", values) == "[][][]"
    assert render("{ body } {{ not a path }} ${HOME}", values) == "{ body } {{ not a path }} ${HOME}"
    assert names("{{ body.a }} {{ raw }} {{headers.x}}") == ["body", "raw", "headers"]
