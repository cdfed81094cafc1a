"""The native engine's ReAct prompt: what it tells a small model about each parameter."""
from localagent.react import TEMPLATE as REACT_FORMAT, describe_tools, system_prompt as react_system_prompt
from localagent.tools import Tool, Toolbox

STOP = Tool("StopInstance", "Stop an instance.", {
    "type": "object",
    "properties": {"instance_id": {"type": "string", "description": "the id"},
                   "force": {"type": "boolean", "default": False, "description": "hard stop"},
                   "reason": {"type": "string", "enum": ["idle", "cost"]}},
    "required": ["instance_id"]})


def test_parameters_say_required_optional_and_default():
    text = describe_tools(Toolbox([STOP]))
    assert '"instance_id": "string, required, the id"' in text
    assert '"force": "boolean, optional, default false, hard stop"' in text
    assert '"reason": "string, one of idle/cost, optional"' in text


def test_prompt_has_the_rules_and_an_example_with_required_values_only():
    prompt = react_system_prompt("Be brief.", Toolbox([STOP]))
    assert prompt.startswith("Be brief.\n\n# Tools\nStopInstance: Stop an instance.")
    assert "Leave out optional parameters the user did not ask for." in prompt
    assert 'Action: StopInstance\nAction Input: {"instance_id": "<instance_id>"}\n' in prompt
    assert REACT_FORMAT.format(names="StopInstance") in prompt


def test_no_tools_no_format():
    assert react_system_prompt("Be brief.", Toolbox([])) == "Be brief."


def test_the_date_is_in_the_prompt_only_where_a_tool_takes_a_date():
    from datetime import date

    from localagent.prompts import dated
    from localagent.tools import Tool, Toolbox

    def box(**props):
        return Toolbox([Tool("t", "", {"type": "object", "properties": props})])

    today = date(2026, 11, 30)
    assert dated("Be brief.", today, box(check_in={"type": "string", "description": "入住日期"})) == \
        "Be brief.\nToday is 2026-11-30 (Monday)."
    assert dated("Be brief.", today, box(day={"type": "string", "format": "date"})).endswith("(Monday).")
    assert dated("Be brief.", today, box(timezone={"type": "string"}, time={"type": "string"})) == "Be brief."
