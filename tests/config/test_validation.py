"""Semantic validation: references, duplicates, cycles, reachability, tools, providers, triggers, inert keys."""

from __future__ import annotations

import pytest

from axocoatl.config import AxocoatlConfig, validate_config
from axocoatl.core.errors import ConfigError
from axocoatl.core.tool_names import BUILTIN_TOOLS, MEMORY_TOOLS

from .support import FILE, at, errors, load

GOOD = """\
agents:
  - id: planner
    provider: mock
  - id: coder
    provider: mock
    depends_on: [planner]
  - id: tester
    provider: mock
    depends_on: [planner]
  - id: reviewer
    provider: mock
    depends_on: [coder, tester]
workflows:
  - id: build
    agents: [planner, coder, tester, reviewer]
skills:
  - id: triage
    agents: [planner]
    emits: [Triaged]
"""
INERT = """\
schedules:
  - id: nightly
    workflow: build
    cron: "0 2 * * *"
  - id: hourly
    workflow: build
    every: 1h
proactive:
  - id: watch
    agent: reviewer
    trigger: {type: on_event, event: AgentFailed}
"""


def test_valid_config_has_no_issues() -> None:
    loaded = load(GOOD)
    assert loaded.warnings == []
    assert [a.id for a in loaded.config.agents] == ["planner", "coder", "tester", "reviewer"]


def test_sections_of_features_this_version_lacks_are_checked_and_warned_about() -> None:
    loaded = load(GOOD + INERT)
    assert [(w.path, w.line, w.severity) for w in loaded.warnings] == [("proactive", 27, "warning")]
    [proactive] = loaded.warnings
    assert proactive.message == "proactive has no effect in this version: proactive agents are not triggered"
    assert proactive.hint == "remove the section; it is checked but not used yet"


def test_schedule_checks_targets_time_zones_and_inert_keys() -> None:
    found = errors(
        GOOD
        + """\
schedules:
  - {id: a, agent: ghost, every: 1h}
  - {id: b, workflow: build, cron: "0 7 * * 1-5", timezone: Europe/Pariss}
"""
    )
    assert "'ghost' is not an agent" in at(found, "schedules[a].agent").message
    zone = at(found, "schedules[b].timezone")
    assert zone.message == "unknown time zone 'Europe/Pariss'"
    assert zone.hint == "did you mean 'Europe/Paris'?"
    loaded = load(
        GOOD
        + """\
schedules:
  - {id: c, workflow: build, every: 1h, timezone: Europe/Paris}
  - {id: d, workflow: build, every: 1m, jitter: 2m}
"""
    )
    assert "no effect with 'every'" in at(loaded.warnings, "schedules[c].timezone").message
    assert "not shorter than the interval" in at(loaded.warnings, "schedules[d].jitter").message


def test_validate_config_works_without_a_source() -> None:
    config = AxocoatlConfig.model_validate({"agents": [{"id": "a", "depends_on": ["ghost"]}]})
    [issue] = validate_config(config)
    assert issue.path == "agents[a].depends_on[0]"
    assert issue.line is None and issue.file is None


def test_duplicate_ids_and_names_in_every_section() -> None:
    issues = errors(
        """\
        agents:
          - id: a
          - id: a
        workflows:
          - {id: w, agents: [a]}
          - {id: w, agents: [a]}
        skills:
          - {id: s}
          - {id: s}
        schedules:
          - {id: t, workflow: w, every: 1h}
          - {id: t, workflow: w, every: 2h}
        mcp_servers:
          - {name: fs, command: npx}
          - {name: fs, command: npx}
        """
    )
    assert [(i.line, i.message) for i in issues] == [
        (3, "duplicate agent id 'a' (first defined on line 2)"),
        (6, "duplicate workflow id 'w' (first defined on line 5)"),
        (9, "duplicate skill id 's' (first defined on line 8)"),
        (12, "duplicate schedule id 't' (first defined on line 11)"),
        (15, "duplicate MCP server name 'fs' (first defined on line 14)"),
    ]
    assert issues[0].path == "agents[a].id"
    assert issues[4].path == "mcp_servers[fs].name"
    assert all(i.file == FILE for i in issues)


def test_unknown_dependency_suggests_the_closest_agent() -> None:
    issues = errors(
        """\
        agents:
          - id: writer
          - id: editor
            depends_on: [writer, wrtier]
          - id: critic
            depends_on: [zzz]
        """
    )
    typo = at(issues, "agents[editor].depends_on[1]")
    assert typo.message == "depends_on entry 'wrtier' is not an agent"
    assert typo.hint == "did you mean 'writer'?"
    assert typo.line == 4
    far = at(issues, "agents[critic].depends_on[0]")
    assert far.hint == "valid agent ids: 'writer', 'editor', 'critic'"
    assert far.line == 6


def test_self_dependency_is_an_error() -> None:
    [own] = errors(
        """\
        agents:
          - id: a
          - id: b
            depends_on:
              - a
              - b
        """
    )
    assert own.path == "agents[b].depends_on[1]"
    assert own.message == "agent 'b' depends on itself"
    assert own.line == 6


def test_duplicate_dependency_is_a_warning() -> None:
    # The lattice drops duplicates, so the agent still fires; the entry is just noise.
    [twice] = load("agents:\n  - id: a\n  - id: b\n    depends_on: [a, a]\n").warnings
    assert (twice.path, twice.line, twice.severity) == ("agents[b].depends_on[1]", 4, "warning")
    assert twice.message == "'a' is listed twice in depends_on"


def test_cycle_is_reported_with_its_path_from_the_first_defined_agent() -> None:
    issues = errors(
        """\
        agents:
          - id: a
            depends_on: [c]
          - id: b
            depends_on: [a]
          - id: c
            depends_on: [b]
          - id: x
            depends_on: [y]
          - id: y
            depends_on: [x]
        """
    )
    assert [(i.path, i.line, i.message) for i in issues] == [
        ("agents[a].depends_on[0]", 3, "dependency cycle: a -> c -> b -> a (each depends on the next)"),
        ("agents[x].depends_on[0]", 9, "dependency cycle: x -> y -> x (each depends on the next)"),
    ]
    assert issues[0].hint is not None and "remove one" in issues[0].hint


def test_workflow_agents_and_entry_point_must_exist() -> None:
    issues = errors(
        """\
        agents:
          - id: researcher
          - id: summarizer
            depends_on: [researcher]
        workflows:
          - id: one
            agents: [researcher, sumarizer]
          - id: two
            agents: [researcher]
            entry_point: ghost
          - id: three
            agents: [researcher]
            entry_point: summarizer
        """
    )
    unknown = at(issues, "workflows[one].agents[1]")
    assert (unknown.line, unknown.message, unknown.hint) == (
        7,
        "workflow agent 'sumarizer' is not an agent",
        "did you mean 'summarizer'?",
    )
    ghost = at(issues, "workflows[two].entry_point")
    assert ghost.line == 10
    assert ghost.message == "entry_point 'ghost' is not an agent"
    outside = at(issues, "workflows[three].entry_point")
    assert outside.line == 13
    assert outside.message == "entry_point 'summarizer' is not one of the agents of workflow 'three'"
    assert outside.hint == "add 'summarizer' to workflows[three].agents, or pick one of: researcher"


def test_workflow_without_agents() -> None:
    issues = errors(
        """\
        workflows:
          - id: empty
          - id: blank
            agents: []
        """
    )
    assert at(issues, "workflows[empty].agents").line == 2
    blank = at(issues, "workflows[blank].agents")
    assert blank.line == 4
    assert blank.message == "workflow 'blank' has no agents"


def test_workflow_without_an_entry_agent() -> None:
    issues = errors(
        """\
        agents:
          - id: a
            depends_on: [b]
          - id: b
            depends_on: [a]
        workflows:
          - id: loop
            agents: [a, b]
        """
    )
    issue = at(issues, "workflows[loop]")
    assert issue.line == 7
    assert issue.message == "workflow 'loop' has no entry agent: every agent in it depends on another agent"
    assert issue.hint is not None and "entry_point" in issue.hint


def test_dependency_outside_the_workflow_could_never_fire() -> None:
    issues = errors(
        """\
        agents:
          - id: fetch
          - id: parse
            depends_on: [fetch]
          - id: report
            depends_on: [parse, fetch]
        workflows:
          - id: partial
            agents:
              - fetch
              - report
        """
    )
    [issue] = issues
    assert issue.path == "workflows[partial].agents[1]"
    assert issue.line == 11
    assert issue.message == (
        "agent 'report' depends on 'parse', which is not in workflow 'partial', "
        "so that dependency never completes there"
    )
    assert issue.hint == "add 'parse' to workflows[partial].agents, or remove it from agents[report].depends_on"


def test_agent_unreachable_from_the_entry_point() -> None:
    issues = errors(
        """\
        agents:
          - id: start
          - id: next
            depends_on: [start]
          - id: stray
          - id: after_stray
            depends_on: [stray]
        workflows:
          - id: flow
            agents: [start, next, stray, after_stray]
            entry_point: start
        """
    )
    stray = at(issues, "workflows[flow].agents[2]")
    assert stray.line == 10
    assert stray.message == "agent 'stray' can never run in workflow 'flow': it is not reachable from 'start'"
    assert stray.hint is not None and "only the entry_point 'start' receives the input" in stray.hint
    after = at(issues, "workflows[flow].agents[3]")
    assert after.hint == "it waits for 'stray', which can never run; fix that agent first"
    assert len(issues) == 2


def test_quorum_threshold_lets_a_join_fire_without_every_dependency() -> None:
    text = """\
    agents:
      - id: a
      - id: b
      - id: c
      - id: judge
        depends_on: [a, b, c]
        activation_threshold: 1.0
    workflows:
      - id: vote
        agents: [a, b, judge]
    """
    # judge depends on c outside the workflow: an error even though 2 of 3 would reach the quorum.
    issues = errors(text)
    assert [i.path for i in issues] == ["workflows[vote].agents[2]"]
    load(text.replace("depends_on: [a, b, c]", "depends_on: [a, b]"))


def test_activation_threshold_that_can_never_be_reached() -> None:
    issues = errors(
        """\
        agents:
          - id: a
          - id: b
          - id: join
            depends_on: [a, b]
            activation_threshold: 1.5
        """
    )
    [issue] = issues
    assert issue.path == "agents[join].activation_threshold"
    assert issue.line == 6
    assert issue.message == (
        "activation_threshold 1.5 can never be reached: each of its 2 dependencies deposits 0.5, so at most 1"
    )
    assert issue.hint is not None and "use at most 1" in issue.hint


def test_activation_threshold_without_dependencies_is_a_warning() -> None:
    loaded = load(
        """\
        agents:
          - id: a
            activation_threshold: 0.5
        """
    )
    [warning] = loaded.warnings
    assert warning.severity == "warning"
    assert warning.path == "agents[a].activation_threshold"
    assert warning.line == 3


def test_activation_threshold_of_a_reacting_agent_counts_the_event_sources() -> None:
    # A dependency and one emitter of Alarm (the skill fired, and its holder) may deposit 1.5 in all.
    load(
        """\
        agents:
          - id: a
          - id: siren
          - id: listener
            depends_on: [a]
            activation_threshold: 1.5
        skills:
          - id: raise
            emits: [Alarm]
            agents: [siren]
          - id: alarm
            reacts_to: [Alarm]
            agents: [listener]
        """
    )
    [issue] = errors(
        """\
        agents:
          - id: a
          - id: listener
            depends_on: [a]
            activation_threshold: 2.0
        skills:
          - id: alarm
            reacts_to: [Alarm]
            agents: [listener]
        """
    )
    assert issue.path == "agents[listener].activation_threshold"
    assert "can never be reached" in issue.message and "Alarm" in issue.message


ROLES = """\
agents:
  - id: boss
    role: coordinator
  - id: hand
    role: worker
workflows:
  - id: team
    agents: [boss, hand]
    entry_point: boss
"""


def test_roles_have_no_effect_and_the_workflow_is_checked_as_it_runs() -> None:
    # Coordinators and workers are not implemented: 'hand' is an ordinary agent without
    # depends_on, and only the entry_point receives the input, so it never runs.
    with pytest.raises(ConfigError) as caught:
        load(ROLES)
    [issue] = caught.value.issues
    assert (issue.path, issue.line) == ("workflows[team].agents[1]", 8)
    assert issue.message == "agent 'hand' can never run in workflow 'team': it is not reachable from 'boss'"
    loaded = load(ROLES.replace("    entry_point: boss\n", ""))
    assert [(w.path, w.line) for w in loaded.warnings] == [("agents[boss].role", 3), ("agents[hand].role", 5)]
    assert loaded.warnings[1].message == (
        "role 'worker' has no effect in this version: coordinators and workers are not implemented, "
        "so 'hand' runs like any agent (when its depends_on complete)"
    )
    assert loaded.warnings[1].hint == "remove role (autonomous is the default)"


def test_unknown_provider_with_suggestion() -> None:
    issues = errors(
        """\
        agents:
          - id: a
            provider: opnai
          - id: b
            provider: banana
        providers:
          openai:
            fallback: [openrouter, mistrall, openai]
        """
    )
    assert at(issues, "agents[a].provider").hint == "did you mean 'openai'?"
    banana = at(issues, "agents[b].provider")
    assert banana.message == "unknown provider 'banana'"
    assert banana.hint is not None and banana.hint.startswith("valid providers: 'local', 'mock'")
    assert at(issues, "providers.openai.fallback[1]").hint == "did you mean 'mistral'?"
    assert at(issues, "providers.openai.fallback[2]").message == "provider 'openai' lists itself as a fallback"


def test_every_known_provider_is_accepted_and_keys_are_not_required() -> None:
    names = ["local", "mock", "ollama", "openai", "openrouter", "mistral", "anthropic", "gemini"]
    text = "agents:\n" + "".join(f"  - {{id: {n}, provider: {n}}}\n" for n in names)
    assert load(text).warnings == []


def test_mock_options_are_validated_under_the_agent_path() -> None:
    issues = errors(
        """\
        agents:
          - id: fake
            provider: mock
            options:
              latency_ms: -5
              latency: 5
              fail_with: explode
          - id: other
            provider: local
            options: {anything: 1}
        """
    )
    assert [(i.path, i.line) for i in issues] == [
        ("agents[fake].options.latency_ms", 5),
        ("agents[fake].options.latency", 6),
        ("agents[fake].options.fail_with", 7),
    ]
    assert issues[0].message == "must be at least 0 (got -5)"
    assert issues[1].hint == "did you mean 'latency_ms'?"
    assert issues[2].message == "'explode' is not a valid fail_with"


def test_schedules_proactive_and_skills_reference_existing_things() -> None:
    issues = errors(
        """\
        agents:
          - id: writer
        workflows:
          - id: daily
            agents: [writer]
        schedules:
          - id: s1
            workflow: dayly
            every: 0m
          - id: s2
            workflow: daily
            cron: "not a cron"
        proactive:
          - id: p1
            agent: wirter
            trigger: {type: schedule, every: 0s}
        skills:
          - id: k
            agents: [writer, ghost]
        """
    )
    assert [(i.path, i.line) for i in issues] == [
        ("schedules[s1].workflow", 8),
        ("schedules[s1].every", 9),
        ("schedules[s2].cron", 12),
        ("proactive[p1].agent", 15),
        ("proactive[p1].trigger.every", 16),
        ("skills[k].agents[1]", 19),
    ]
    assert issues[0].hint == "did you mean 'daily'?"
    assert issues[1].message == "interval '0m' is zero"
    assert issues[2].message == "'not a cron' is not a valid cron expression"
    assert issues[3].message == "proactive agent 'wirter' is not an agent"
    assert issues[5].message == "skill agent 'ghost' is not an agent"


def test_hooks_and_webhooks_basics() -> None:
    issues = errors(
        """\
        agents:
          - id: a
        hooks:
          - name: audit
            type: " "
            agent_id: b
            url: ftp://example.com
          - name: audit
            type: log
        webhooks:
          - name: "  "
            url: https://example.com/hook
        """
    )
    assert [(i.path, i.line) for i in issues] == [
        ("hooks[audit].type", 5),
        ("hooks[audit].agent_id", 6),
        ("hooks[audit].url", 7),
        ("hooks[audit].name", 8),
        ("webhooks[0].name", 11),
    ]
    assert issues[3].message == "duplicate hook name 'audit' (first defined on line 4)"
    assert issues[4].message == "the webhook name is blank"


def test_every_problem_is_reported_at_once_sorted_by_line() -> None:
    issues = errors(
        """\
        agents:
          - id: a
            provider: nope
            depends_on: [missing]
        workflows:
          - id: w
            agents: [ghost]
        schedules:
          - {id: s, workflow: nowhere, every: 1h}
        """
    )
    assert [i.line for i in issues] == [3, 4, 7, 9]


def test_skill_holders_wait_for_their_event_inside_a_workflow() -> None:
    # An agent holding a reacts_to skill is not an entry: with nothing else to start the run, it has none.
    [issue] = errors(
        """\
        agents:
          - id: researcher
          - id: summarizer
            depends_on: [researcher]
        workflows:
          - id: flow
            agents: [researcher, summarizer]
        skills:
          - id: on-request
            reacts_to: [ResearchRequested]
            agents: [researcher]
        """
    )
    assert issue.path == "workflows[flow]"
    assert "waits for a skill event" in issue.message
    assert "entry_point" in (issue.hint or "")


def test_a_skill_chain_inside_a_workflow_is_reachable() -> None:
    load(
        """\
        agents:
          - id: intake
          - id: researcher
          - id: writer
        workflows:
          - id: flow
            agents: [intake, researcher, writer]
        skills:
          - id: ask
            emits: [topic_ready]
            agents: [intake]
          - id: research
            reacts_to: [topic_ready]
            emits: [notes_ready]
            agents: [researcher]
          - id: write
            reacts_to: [notes_ready]
            agents: [writer]
        """
    )


def test_an_entry_point_holding_a_reacting_skill_takes_the_input() -> None:
    load(
        """\
        agents:
          - id: a
        workflows:
          - id: w
            agents: [a]
            entry_point: a
        skills:
          - id: r
            reacts_to: [Go]
            agents: [a]
        """
    )


def test_skill_events_do_not_reach_agents_inside_a_workflow() -> None:
    found = errors(
        """\
        agents:
          - id: start
          - id: responder
        workflows:
          - id: flow
            agents: [start, responder]
            entry_point: start
        skills:
          - id: alarm
            reacts_to: [Alarm]
            agents: [responder]
        """
    )
    [issue] = [i for i in found if "responder" in i.message]
    assert "can never run" in issue.message
    assert "'Alarm'" in (issue.hint or "") and "emits" in (issue.hint or "")


def test_dependency_outside_the_workflow_is_reported_for_would_be_entry_agents() -> None:
    [issue] = errors(
        """\
        agents:
          - id: a
          - id: b
            depends_on: [a]
        workflows:
          - id: only_b
            agents: [b]
        """
    )
    assert (issue.path, issue.line) == ("workflows[only_b].agents[0]", 7)
    assert issue.hint == "add 'a' to workflows[only_b].agents, or remove it from agents[b].depends_on"


def test_entry_point_may_have_dependencies_outside_the_workflow() -> None:
    load(
        """\
        agents:
          - id: a
          - id: b
            depends_on: [a]
        workflows:
          - id: from_b
            agents: [b]
            entry_point: b
        """
    )


def test_schema_errors_do_not_hide_semantic_errors() -> None:
    # A typo'd key and a bad budget must not hide a dependency cycle or an unknown dependency.
    found = errors(
        """\
        agents:
          - id: researcher
            depnds_on: [x]
          - id: writer
            depends_on: [reseacher]
          - id: a
            depends_on: [b]
          - id: b
            depends_on: [a]
            token_budget: {per_call: 9000, per_execution: 100}
        """
    )
    messages = [issue.message for issue in found]
    assert any("unknown key 'depnds_on'" in m for m in messages), messages
    assert any("'reseacher' is not an agent" in m for m in messages), messages
    assert any("dependency cycle" in m for m in messages), messages
    assert any("per_call (9000)" in m for m in messages), messages


def test_semantic_checks_skip_an_entity_whose_graph_field_was_invalid() -> None:
    # writer's depends_on is malformed: it must not also be reported as unreachable.
    found = errors(
        """\
        agents:
          - id: researcher
          - id: writer
            depends_on: researcher
        workflows:
          - id: wf
            agents: [researcher, writer]
        """
    )
    assert len(found) == 1, found
    assert found[0].path.startswith("agents[writer].depends_on")


def test_a_missing_required_value_reports_only_the_schema_error() -> None:
    found = errors(
        """\
        agents:
          - provider: mock
          - id: b
            depends_on: [nobody]
        """
    )
    assert [issue.path for issue in found] == ["agents[0].id"], found


def test_unknown_tools_are_errors_with_a_suggestion() -> None:
    issues = errors(
        """\
        agents:
          - id: a
            provider: mock
            tools: [ecoh, text_split, fetch_url]
        """
    )
    assert [(i.path, i.line, i.message) for i in issues] == [
        ("agents[a].tools[0]", 4, "unknown tool 'ecoh'"),
        ("agents[a].tools[2]", 4, "unknown tool 'fetch_url'"),
    ]
    assert issues[0].hint == "did you mean 'echo'?"
    assert issues[1].hint == ("valid tools: " + ", ".join(f"'{name}'" for name in (*BUILTIN_TOOLS, *MEMORY_TOOLS)))


def test_memory_tools_listed_where_the_agent_does_not_get_them_are_warned_about() -> None:
    loaded = load(
        """\
        agents:
          - id: tiny
            provider: mock
            tools: [recall_search, echo, echo]
            memory: {tools: false}
          - id: blank
            provider: mock
            tools: [recall_search, core_memory_set]
            memory: {core: {blocks: []}}
        """
    )
    assert [(w.path, w.message) for w in loaded.warnings] == [
        (
            "agents[tiny].tools[0]",
            "tool 'recall_search' has no effect: memory tools are off for 'tiny' (memory.tools: false)",
        ),
        ("agents[tiny].tools[2]", "tool 'echo' is listed twice"),
        ("agents[blank].tools[1]", "tool 'core_memory_set' has no effect: 'blank' has no core-memory blocks"),
    ]
    assert loaded.warnings[0].hint == "remove it, or set agents[tiny].memory.tools: true"


def test_keys_without_effect_are_warned_about() -> None:
    loaded = load(
        """\
        agents:
          - id: a
            provider: local
            options: {temperature: 0.1}
        workflows:
          - id: w
            agents: [a]
            htn_methods_file: methods.yaml
        store:
          dsn: postgres://localhost/x
        mcp_servers:
          - name: fs
            command: npx
        sandbox: {network: none}
        hooks:
          - name: audit
            type: log
        webhooks:
          - name: out
            url: https://example.com/hook
        web_search: {provider: tavily}
        """
    )
    assert [(w.path, w.line) for w in loaded.warnings] == [
        ("agents[a].options", 4),
        ("workflows[w].htn_methods_file", 8),
        ("store.dsn", 10),
        ("mcp_servers", 11),
        ("sandbox", 14),
        ("hooks", 15),
        ("webhooks", 18),
    ]
    messages = [w.message for w in loaded.warnings]
    assert messages[0] == "options has no effect with provider 'local': only the mock provider reads options"
    assert messages[1] == "htn_methods_file has no effect in this version: HTN planning is not implemented"
    assert all("has no effect" in m for m in messages)
    assert messages[3] == (
        "mcp_servers has no effect in this version: MCP servers are not connected, so their tools are not offered "
        "to agents"
    )


def test_the_postgres_store_backend_is_an_error() -> None:
    [issue] = errors("store:\n  backend: postgres\n")
    assert (issue.path, issue.line) == ("store.backend", 2)
    assert issue.message == "store backend 'postgres' is not available in this version"
    assert issue.hint == "use backend: sqlite (the default)"


def test_default_sections_written_out_are_not_inert() -> None:
    loaded = load("store: {synchronous: normal}\nconsolidation: {enabled: false}\nproviders: {local: {n_ctx: 2048}}\n")
    assert loaded.warnings == []
