"""Semantic validation: references, duplicates, cycles, reachability, tools, providers, triggers, inert keys."""

from __future__ import annotations

from axocoatl.config import AxocoatlConfig, validate_config
from axocoatl.core.suggest import listing
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


def test_schedules_and_proactive_entries_are_live_sections() -> None:
    loaded = load(GOOD + INERT)
    assert loaded.warnings == []
    [watch] = loaded.config.proactive
    assert watch.trigger.type == "on_event" and watch.trigger.names == ["AgentFailed"]
    assert watch.cooldown == "30s"  # the original's fixed cooldown, now the default


def test_proactive_entries_are_checked() -> None:
    issues = errors(
        GOOD
        + """\
proactive:
  - id: p1
    workflow: biuld
    cooldown: 0s
    trigger: {type: on_event, event: [run.failed, AgentFialed, "webhook:nope"]}
    input: "{{ body.x }}"
  - id: p2
    agent: reviewer
    trigger: {type: schedule, cron: "not cron", timezone: Mars/Base}
"""
    )
    assert [i.path for i in issues] == [
        "proactive[p1].workflow",
        "proactive[p1].trigger.event[1]",
        "proactive[p1].trigger.event[2]",
        "proactive[p1].input",
        "proactive[p2].trigger.cron",
        "proactive[p2].trigger.timezone",
    ]
    assert issues[1].hint == "did you mean 'AgentFailed'?"
    assert issues[3].message == "the input template uses '{{ body }}'; a proactive run's template sees only 'event'"
    assert issues[5].hint == "use an IANA name such as Europe/Paris, America/New_York or UTC"  # not Africa/Abidjan...


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
            type: http
            agent_id: b
            url: ftp://example.com
          - name: audit
            type: log
        webhooks:
          - name: "  "
            url: https://example.com/hook
            events: [run.failed, WorkflowFailed, WorkflowFialed, agent.failed]
        """
    )
    assert [(i.path, i.line) for i in issues] == [
        ("hooks[audit].agent_id", 6),
        ("hooks[audit].url", 7),
        ("hooks[audit].name", 8),
        ("webhooks[0].name", 11),
        ("webhooks[0].events[2]", 13),
    ]
    assert issues[2].message == "duplicate hook name 'audit' (first defined on line 4)"
    assert issues[3].message == "the webhook name is blank"
    assert issues[4].message == "unknown event 'WorkflowFialed': nothing ever publishes it"
    assert issues[4].hint == "did you mean 'WorkflowFailed'?"


def test_a_webhook_filter_may_name_a_skill_event() -> None:
    assert not load(
        """\
        agents:
          - id: a
        skills:
          - {id: review, agents: [a], emits: [code.reviewed]}
        webhooks:
          - {name: out, url: "https://example.com/hook", events: [code.reviewed, Custom]}
        """
    ).warnings


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
    assert issues[1].hint == "valid tools: " + listing((*BUILTIN_TOOLS, *MEMORY_TOOLS))
    assert issues[1].hint.startswith("valid tools: 'echo', 'json_keys'")


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


def test_the_retired_recall_timeframe_names_recall_search() -> None:
    config = """\
        agents:
          - id: a
            provider: mock
            tools: [recall_timeframe]
        """
    loaded = load(config)  # an agent's list only warns: memory tools come with the agent anyway
    assert [(w.path, w.message) for w in loaded.warnings] == [
        ("agents[a].tools[0]", "tool 'recall_timeframe' no longer exists; this entry has no effect")
    ]
    hint = (
        "'recall_timeframe' was folded into 'recall_search' (recall_search with 'from'/'to' dates reads the "
        "activity log of those days): name 'recall_search' instead"
    )
    assert loaded.warnings[0].hint == hint
    # An approval gate that matches nothing would let the calls through: that is an error.
    assert [(i.path, i.message, i.hint) for i in errors(config + "approval: {tools: [recall_timeframe]}\n")] == [
        ("approval.tools[0]", "unknown tool 'recall_timeframe'", hint)
    ]


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
        sandbox: {network: true}
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
        ("sandbox", 14),
    ]
    messages = [w.message for w in loaded.warnings]
    assert messages[0] == "options has no effect with provider 'local': only the mock provider reads options"
    assert messages[1] == "htn_methods_file has no effect: workflow 'w' has no coordinator"
    assert all("has no effect" in m for m in messages)
    assert messages[3].startswith("sandbox has no effect")


def test_the_postgres_store_backend_needs_a_dsn() -> None:
    [issue] = errors("store:\n  backend: postgres\n")
    assert (issue.path, issue.message) == ("store.dsn", "store.backend is postgres but store.dsn is not set")
    assert issue.hint is not None and "${AXOCOATL_DSN}" in issue.hint


def test_a_postgres_store_with_a_dsn_is_valid_and_sqlite_settings_warn() -> None:
    assert load("store:\n  backend: postgres\n  dsn: postgresql://u@127.0.0.1/x\n").warnings == []
    loaded = load("store:\n  backend: postgres\n  dsn: postgresql://u@h/x\n  path: x.db\n")
    assert [(w.path, w.line) for w in loaded.warnings] == [("store.path", 4)]
    assert "has no effect with backend postgres" in loaded.warnings[0].message


def test_default_sections_written_out_are_not_inert() -> None:
    loaded = load("store: {synchronous: normal}\nconsolidation: {enabled: false}\nproviders: {local: {n_ctx: 2048}}\n")
    assert loaded.warnings == []


def test_expose_entries_name_agents_or_workflows() -> None:
    issues = errors(GOOD + "openai_api:\n  expose: [planner, workflow/build, plannr, workflow/nope, build]\n")
    assert [(i.path, i.message) for i in issues] == [
        ("openai_api.expose[2]", "'plannr' is neither an agent id nor workflow/ID of a workflow"),
        ("openai_api.expose[3]", "'workflow/nope' is neither an agent id nor workflow/ID of a workflow"),
        ("openai_api.expose[4]", "'build' is neither an agent id nor workflow/ID of a workflow"),
    ]
    assert "did you mean 'planner'?" in (issues[0].hint or "")
    assert "workflow/build" in (issues[2].hint or "")


def test_a2a_default_must_be_exposed_and_remote_agents_must_exist() -> None:
    text = GOOD + (
        "a2a:\n  expose: [planner]\n  default: workflow/build\n"
        "a2a_agents:\n  - {name: helper, url: 'http://127.0.0.1:9/a2a/x'}\n  - {name: helper, url: 'http://h'}\n"
    )
    text = text.replace("id: reviewer\n    provider: mock\n", "id: reviewer\n    provider: a2a\n    model: helpr\n")
    tools_line = "    tools: [a2a__helper, a2a__x]\n"
    text = text.replace("id: planner\n    provider: mock\n", "id: planner\n    provider: mock\n" + tools_line)
    issues = errors(text)
    found = {(i.path, i.message) for i in issues}
    assert ("a2a.default", "a2a.default 'workflow/build' is not an exposed agent id or workflow/ID") in found
    assert ("a2a_agents[helper].name", "duplicate A2A agent name 'helper' (first defined on line 26)") in found
    model = next(i for i in issues if i.path.endswith("model"))
    assert "provider a2a" in model.message and "did you mean 'helper'?" in (model.hint or "")
    tools = [i for i in issues if "tool" in i.message]
    assert [i.message for i in tools] == ["unknown tool 'a2a__x'"]


def test_inbound_triggers_are_checked() -> None:
    issues = errors(
        """\
        agents:
          - id: a
        workflows:
          - {id: wf, agents: [a]}
        triggers:
          - {name: push, workflow: wv, secret: s3cret, input: "{{ bdy.ref }}"}
          - {name: push, agent: a, api_key: k}
        """
    )
    assert [(i.path, i.line) for i in issues] == [
        ("triggers[push].workflow", 6),
        ("triggers[push].input", 6),
        ("triggers[push].name", 7),
    ]
    assert issues[0].hint == "valid workflow ids: 'wf'"
    assert issues[1].message == "the input template uses '{{ bdy }}', which a request does not have"


def test_template_text_that_is_not_a_placeholder_is_reported() -> None:
    issues = errors(
        """\
        agents:
          - id: a
        triggers:
          - {name: push, agent: a, secret: s3cret, input: "Review {{ body.ref"}
          - {name: pull, agent: a, api_key: k, input: "{{ body.ref | upper }} and {{ raw }}"}
        proactive:
          - {id: p, agent: a, trigger: {type: on_event, event: run.failed}, input: "{{ event.type }} }}"}
        """
    )
    assert [(i.path, i.line) for i in issues] == [
        ("triggers[push].input", 4),
        ("triggers[pull].input", 5),
        ("proactive[p].input", 7),
    ]
    assert issues[0].message == (
        "the input template has '{{ body.ref', which is not a placeholder (it would be sent as written)"
    )
    assert "'{{ body.ref | upper }}'" in issues[1].message and "no filters" in (issues[1].hint or "")
    assert "'}}'" in issues[2].message


def test_an_unverified_trigger_is_refused() -> None:
    [issue] = errors("agents: [{id: a}]\ntriggers:\n  - {name: open, agent: a}\n")
    assert issue.path == "triggers[open]"
    assert "needs a 'secret' (signed requests) or an 'api_key'" in issue.message


def test_ask_human_on_a_map_or_an_interrupted_agent_warns_that_it_has_no_effect() -> None:
    loaded = load(
        """\
        agents:
          - id: src
          - id: each
            depends_on: [src]
            map: {over: src}
            tools: [ask_human]
          - id: gate
            interrupt: before
            tools: [echo, ask_human]
          - id: free
            tools: [ask_human]
        """
    )
    assert [w.path for w in loaded.warnings] == ["agents[each].tools[0]", "agents[gate].tools[1]"]
    assert "ask_human has no effect on 'each': it has a map" in loaded.warnings[0].message
    assert "it has an interrupt" in loaded.warnings[1].message
    assert loaded.warnings[1].hint and "remove ask_human" in loaded.warnings[1].hint
