"""localagent.tools (loading, schemas, validation) and localagent.constrain (grammar parameters)."""
import json
from pathlib import Path

import pytest

from localagent.constrain import KINDS, MAX_STRING, Constraint, arguments_schema, json_schema_format, llguidance_grammar
from localagent.errors import ToolLoadError
from localagent.tools import Tool, ToolArgumentError, Toolbox, coerce, from_openai_json, load_source


ROOT = Path(__file__).resolve().parent.parent
TOOLS_DIR = ROOT / "tools"
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "tools"


@pytest.fixture(scope="module")
def project():
    return Toolbox.load([str(TOOLS_DIR)])


# --- the project's own tools ----------------------------------------------------------------

def test_project_tools_names(project):
    assert sorted(project.names()) == sorted(
        ["RenewInstance", "DescribeInstance", "StopInstance", "RebootInstance", "Calculator"])


def test_project_tools_side_effects(project):
    flags = {name: project.get(name).side_effect for name in project.names()}
    assert flags == {"RenewInstance": True, "StopInstance": True, "RebootInstance": True,
                     "DescribeInstance": False, "Calculator": False}


def test_project_tools_schemas(project):
    renew = project.get("RenewInstance").parameters
    assert renew["type"] == "object"
    assert set(renew["properties"]) == {"instance_id", "period"}
    assert renew["properties"]["instance_id"]["type"] == "string"
    assert renew["properties"]["period"]["type"] == "string"
    assert sorted(renew["required"]) == ["instance_id", "period"]
    assert project.get("DescribeInstance").parameters["required"] == ["instance_id"]
    stop = project.get("StopInstance").parameters
    assert stop["properties"]["force"]["type"] == "boolean"
    assert stop["properties"]["force"]["default"] is False
    assert stop["required"] == ["instance_id"]
    assert stop["additionalProperties"] is False
    assert "title" not in stop and all("title" not in p for p in stop["properties"].values())
    assert stop["properties"]["force"]["description"].startswith("stop immediately")
    calc = project.get("Calculator").parameters
    assert calc["properties"] == {"expression": {"type": "string", "description": calc["properties"]["expression"]["description"]}}
    assert calc["required"] == ["expression"]
    for name in project.names():
        assert project.get(name).description, name


def test_strict_grounding_only_where_a_tool_asks_for_it(project, tmp_path):
    # every value is checked (grounding.py); grounded_params / x-grounded: true only make a
    # check strict where it would be lenient (booleans)
    assert all(not project.get(n).grounded_params for n in project.names())
    path = tmp_path / "t.json"
    path.write_text(json.dumps([{"name": "Wipe", "parameters": {"type": "object", "properties": {
        "confirm": {"type": "boolean", "x-grounded": True}, "disk": {"type": "string"}}}}]))
    assert from_openai_json(path)[0].grounded_params == {"confirm"}


def test_project_tools_openai_schema(project):
    schema = project.get("RenewInstance").openai_schema()
    assert schema["type"] == "function"
    assert schema["function"]["name"] == "RenewInstance"
    assert schema["function"]["parameters"] is project.get("RenewInstance").parameters
    assert len(project.schemas()) == 5


def test_project_tools_call(project):
    renew = project.get("RenewInstance")
    out = renew.call(renew.validate('{"instance_id": "i-abc", "period": 22}'))
    assert "i-abc" in out and "22" in out
    calc = project.get("Calculator")
    assert calc.call(calc.validate({"expression": "(1200 * 22) / 12"})) == "(1200 * 22) / 12 = 2200"
    stop = project.get("StopInstance")
    result = json.loads(stop.call(stop.validate({"instance_id": "i-1", "force": "true"})))
    assert result["forced"] is True
    describe = project.get("DescribeInstance")
    assert json.loads(describe.call({"instance_id": "i-9"}))["instance_id"] == "i-9"


def test_toolbox_get_is_case_insensitive(project):
    assert project.get("renewinstance").name == "RenewInstance"
    assert project.get(" calculator ").name == "Calculator"
    assert project.get("Nope") is None
    assert project.only(["Calculator", "Nope"]).names() == ["Calculator"]


# --- a modelscope-agent style class ---------------------------------------------------------

def test_modelscope_class_schema():
    [tool] = load_source(str(FIXTURES / "weather_ms.py"))
    assert tool.name == "WeatherQuery"
    assert tool.description == "查询城市天气 (weather of a city)"
    assert tool.parameters == {
        "type": "object",
        "properties": {
            "city": {"type": "string", "description": "城市名"},
            "days": {"type": "integer", "description": "number of days"},
            "unit": {"type": "string", "description": "C or F", "enum": ["C", "F"]},
            "detailed": {"type": "boolean", "description": "more detail"},
        },
        "required": ["city"],
    }
    assert tool.side_effect is False


def test_modelscope_class_call_gets_a_json_string():
    [tool] = load_source(str(FIXTURES / "weather_ms.py"))
    args = tool.validate({"city": "杭州", "days": "3", "unit": "c"})
    assert args == {"city": "杭州", "days": 3, "unit": "C"}
    assert json.loads(tool.call(args)) == {"city": "杭州", "days": 3, "sunny": True}


# --- a typed function with a docstring ------------------------------------------------------

def _typed():
    return {t.name: t for t in load_source(str(FIXTURES / "typed_funcs.py"))}


def test_typed_function_found_and_helpers_ignored():
    assert sorted(_typed()) == ["SearchOrders", "TranslateText"]


def test_typed_function_schema():
    tool = _typed()["SearchOrders"]
    schema = tool.parameters
    assert tool.description == "Search a customer's orders."
    assert schema["type"] == "object" and schema["additionalProperties"] is False
    assert schema["required"] == ["customer_id"]  # defaults are not required
    props = schema["properties"]
    assert props["customer_id"] == {"type": "string", "description": "the customer's account id"}
    assert props["status"]["enum"] == ["open", "closed"]  # Literal -> enum
    assert props["status"]["default"] == "open"
    assert props["status"]["description"] == "which orders to list"
    assert props["limit"] == {"type": "integer", "default": 10, "description": "at most this many"}
    assert props["include_items"]["type"] == "boolean"
    assert "description" not in props["include_items"]


def test_sphinx_docstring_and_tool_name():
    tool = _typed()["TranslateText"]
    assert tool.description == "Translate text."
    assert tool.parameters["properties"]["text"]["description"] == "the text to translate"
    assert tool.parameters["properties"]["target"]["description"] == "target language code"
    assert sorted(tool.parameters["required"]) == ["target", "text"]
    assert tool.call({"text": "hi", "target": "zh"}) == "[zh] hi"


def test_typed_function_call_with_coerced_arguments():
    tool = _typed()["SearchOrders"]
    args = tool.validate({"customer_id": 12345, "status": "CLOSED", "limit": "5", "include_items": "false",
                          "min_total": "9.5"})
    assert args == {"customer_id": "12345", "status": "closed", "limit": 5, "include_items": False,
                    "min_total": 9.5}
    assert json.loads(tool.call(args)) == [{"customer_id": "12345", "status": "closed", "limit": 5,
                                            "include_items": False, "min_total": 9.5}]
    assert tool.validate({"customer_id": "c1", "min_total": None}) == {"customer_id": "c1", "min_total": None}


# --- an OpenAI tools .json file, a folder, a module name -----------------------------------

def test_openai_json_is_schema_only():
    tools = load_source(str(FIXTURES / "openai_tools.json"))
    assert [t.name for t in tools] == ["get_current_weather", "ping"]
    weather, ping = tools
    assert weather.description == "Get the current weather in a given location"
    assert weather.parameters["required"] == ["location"]
    assert weather.run is None
    assert ping.parameters == {"type": "object", "properties": {}}
    with pytest.raises(RuntimeError):
        weather.call({"location": "Paris"})
    assert weather.validate({"location": "Paris", "unit": "Celsius"}) == {"location": "Paris", "unit": "celsius"}


def test_openai_json_list_and_single(tmp_path):
    one = {"type": "function", "function": {"name": "a", "parameters": {"type": "object", "properties": {}}}}
    (tmp_path / "list.json").write_text(json.dumps([one, {"name": "b"}]))
    (tmp_path / "single.json").write_text(json.dumps(one))
    assert [t.name for t in load_source(str(tmp_path / "list.json"))] == ["a", "b"]
    assert [t.name for t in load_source(str(tmp_path / "single.json"))] == ["a"]


def test_folder_loads_every_tool_file():
    names = sorted(t.name for t in load_source(str(FIXTURES)))
    assert names == ["SearchOrders", "TranslateText", "WeatherQuery"]  # the .json is not globbed


def test_module_name(tmp_path, monkeypatch):
    (tmp_path / "la_test_tools_mod.py").write_text(
        'def Echo(text: str) -> str:\n    """Echo the text back."""\n    return text\n')
    monkeypatch.syspath_prepend(str(tmp_path))
    [tool] = load_source("la_test_tools_mod")
    assert tool.name == "Echo" and tool.call({"text": "x"}) == "x"


def test_module_all_limits_the_tools(tmp_path, monkeypatch):
    (tmp_path / "la_test_tools_all.py").write_text(
        '__all__ = ["B"]\n'
        'def A(x: int) -> int:\n    """A."""\n    return x\n'
        'def B(x: int) -> int:\n    """B."""\n    return x\n')
    monkeypatch.syspath_prepend(str(tmp_path))
    assert [t.name for t in load_source("la_test_tools_all")] == ["B"]


def test_toolbox_later_source_overrides(tmp_path):
    (tmp_path / "calc.py").write_text('def Calculator(expression: str) -> str:\n    """Mine."""\n    return "0"\n')
    box = Toolbox.load([str(TOOLS_DIR), str(tmp_path / "calc.py")])
    assert len(box) == 5 and box.get("Calculator").description == "Mine."


# --- load errors: ToolLoadError, one line ---------------------------------------------------

def load_error(source) -> str:
    with pytest.raises(ToolLoadError) as info:
        load_source(str(source))
    message = str(info.value)
    assert "\n" not in message, repr(message)
    assert str(source) in message
    return message


def test_missing_file(tmp_path):
    assert "not found" in load_error(tmp_path / "nope.py")


def test_missing_json_file(tmp_path):
    assert "not found" in load_error(tmp_path / "nope.json")


def test_missing_folder(tmp_path):
    assert "not found" in load_error(tmp_path / "no_such_dir")


def test_unknown_module():
    assert "cannot import" in load_error("la_no_such_module_xyz")


def test_syntax_error(tmp_path):
    path = tmp_path / "bad_syntax.py"
    path.write_text("def Broken(x: str) -> str:\n    '''Doc.'''\n    return (x\n")
    message = load_error(path)
    assert "SyntaxError" in message


def test_syntax_error_in_folder_names_the_file(tmp_path):
    (tmp_path / "good.py").write_text('def Ok(x: str) -> str:\n    """Ok."""\n    return x\n')
    (tmp_path / "worse.py").write_text("class :\n")
    message = load_error(tmp_path)
    assert "worse.py" in message


def test_file_that_raises_at_import(tmp_path):
    path = tmp_path / "raises.py"
    path.write_text('raise RuntimeError("no credentials configured\\nsee the docs\\nfor details")\n')
    message = load_error(path)
    assert "RuntimeError" in message and "no credentials configured" in message


def test_module_that_raises_at_import(tmp_path, monkeypatch):
    (tmp_path / "la_test_tools_boom.py").write_text('raise ValueError("boom at import")\n')
    monkeypatch.syspath_prepend(str(tmp_path))
    message = load_error("la_test_tools_boom")
    assert "ValueError" in message and "boom at import" in message


def test_file_importing_missing_package(tmp_path):
    path = tmp_path / "needs_pkg.py"
    path.write_text("import la_definitely_missing_pkg\n")
    assert "la_definitely_missing_pkg" in load_error(path)


def test_bad_json_tools_file(tmp_path):
    path = tmp_path / "t.json"
    path.write_text('{"tools": [ {"function": ')
    assert "JSON" in load_error(path)


def test_json_tool_without_name(tmp_path):
    path = tmp_path / "t.json"
    path.write_text('[{"type": "function", "function": {"description": "x"}}]')
    assert "no name" in load_error(path)


def test_json_tools_file_of_wrong_shape(tmp_path):
    path = tmp_path / "t.json"
    path.write_text('[1, 2]')
    load_error(path)


# --- Tool.validate and coerce --------------------------------------------------------------

SCHEMA = {
    "type": "object",
    "properties": {
        "count": {"type": "integer"},
        "label": {"type": "string"},
        "flag": {"type": "boolean"},
        "ratio": {"type": "number"},
        "mode": {"type": "string", "enum": ["Fast", "Slow"]},
        "tags": {"type": "array", "items": {"type": "string"}},
        "opts": {"type": "object", "properties": {"n": {"type": "integer"}}},
        "maybe": {"type": ["integer", "null"]},
    },
    "required": ["count", "label"],
    "additionalProperties": False,
}
TOOL = Tool("T", "test", SCHEMA)


@pytest.mark.parametrize("given,expected", [
    ({"count": "22", "label": "x"}, {"count": 22, "label": "x"}),
    ({"count": " 22 ", "label": "x"}, {"count": 22, "label": "x"}),
    ({"count": 22.0, "label": "x"}, {"count": 22, "label": "x"}),
    ({"count": "12345678901234567890", "label": "x"}, {"count": 12345678901234567890, "label": "x"}),
    ({"count": 1, "label": 22}, {"count": 1, "label": "22"}),
    ({"count": 1, "label": 2.5}, {"count": 1, "label": "2.5"}),
    ({"count": 1, "label": "x", "flag": "true"}, {"count": 1, "label": "x", "flag": True}),
    ({"count": 1, "label": "x", "flag": "False"}, {"count": 1, "label": "x", "flag": False}),
    ({"count": 1, "label": "x", "ratio": "0.5"}, {"count": 1, "label": "x", "ratio": 0.5}),
    ({"count": 1, "label": "x", "ratio": 3}, {"count": 1, "label": "x", "ratio": 3}),
    ({"count": 1, "label": "x", "ratio": 24.000000000000004}, {"count": 1, "label": "x", "ratio": 24.0}),  # a float's noise
    ({"count": 1, "label": "x", "ratio": "0.30000000000000004"}, {"count": 1, "label": "x", "ratio": 0.3}),
    ({"count": 1, "label": "x", "mode": "fast"}, {"count": 1, "label": "x", "mode": "Fast"}),
    ({"count": 1, "label": "x", "mode": " SLOW "}, {"count": 1, "label": "x", "mode": "Slow"}),
    ({"count": 1, "label": "x", "tags": [1, "b"]}, {"count": 1, "label": "x", "tags": ["1", "b"]}),
    ({"count": 1, "label": "x", "tags": '["a", 2]'}, {"count": 1, "label": "x", "tags": ["a", "2"]}),
    ({"count": 1, "label": "x", "opts": {"n": "4"}}, {"count": 1, "label": "x", "opts": {"n": 4}}),
    ({"count": 1, "label": "x", "opts": "{n: '4'}"}, {"count": 1, "label": "x", "opts": {"n": 4}}),
    ({"count": 1, "label": "x", "maybe": "7"}, {"count": 1, "label": "x", "maybe": 7}),
    ({"count": 1, "label": "x", "maybe": None}, {"count": 1, "label": "x", "maybe": None}),
])
def test_validate_coerces(given, expected):
    out = TOOL.validate(given)
    assert out == expected
    assert all(type(out[k]) is type(v) for k, v in expected.items())


def test_validate_accepts_json5_text():
    assert TOOL.validate("{count: '3', label: 'x',}") == {"count": 3, "label": "x"}


@pytest.mark.parametrize("given,fragment", [
    ({"label": "x"}, "missing required argument(s): count"),
    ({"count": 1, "label": ""}, "missing required argument(s): label"),
    ({}, "missing required argument(s): count, label"),
    ({"label": "x", "cnt": 1}, "missing required argument(s): count; unknown argument(s): cnt"),
    ({"count": "many", "label": "x"}, "count: expected integer, got 'many'"),
    ({"count": "2.5", "label": "x"}, "count: expected integer"),
    ({"count": True, "label": "x"}, "count: expected integer, got True"),
    ({"count": 1, "label": ["x"]}, "label: expected string"),
    ({"count": 1, "label": "x", "flag": "yes"}, "flag: expected boolean, got 'yes'"),
    ({"count": 1, "label": "x", "ratio": "half"}, "ratio: expected number"),
    ({"count": 1, "label": "x", "ratio": False}, "ratio: expected number"),
    ({"count": 1, "label": "x", "mode": "medium"}, "mode: 'medium' is not one of ['Fast', 'Slow']"),
    ({"count": 1, "label": "x", "tags": "a, b"}, "tags: expected array"),
    ({"count": 1, "label": "x", "tags": [{"a": 1}]}, "tags[0]: expected string"),
    ({"count": 1, "label": "x", "opts": {"n": "x"}}, "opts.n: expected integer"),
    ([1, 2], "arguments must be a JSON object, got list"),
    ("not json at all", "arguments are not valid JSON"),
])
def test_validate_rejects(given, fragment):
    with pytest.raises(ToolArgumentError) as info:
        TOOL.validate(given)
    assert fragment in str(info.value)


def test_undeclared_keys_are_dropped():
    # e.g. force=false given to a tool without `force`: the call goes ahead without it
    assert TOOL.validate({"count": 1, "label": "x", "colour": "red"}) == {"count": 1, "label": "x"}
    tool = Tool("T", "", {"type": "object", "properties": {"a": {"type": "integer"}}})
    assert tool.validate({"a": "1", "b": "2"}) == {"a": 1}


@pytest.mark.parametrize("schema", [
    {"type": "object", "properties": {"a": {"type": "integer"}}, "additionalProperties": True},
    {"type": "object", "properties": {"a": {"type": "integer"}}, "additionalProperties": {"type": "string"}},
    {"type": "object"},
])
def test_undeclared_keys_kept_when_the_schema_allows_them(schema):
    assert Tool("T", "", schema).validate({"a": "1", "b": "2"}) == {"a": 1 if "properties" in schema else "1", "b": "2"}


def test_enum_of_integers():
    assert coerce("2", {"type": "integer", "enum": [1, 2]}, "x") == 2


def test_a_list_of_options_names_each_once():
    options = {"type": "array", "items": {"type": "string", "enum": ["Breakfast", "Parking"]}}
    assert coerce(["Breakfast", "breakfast", "Parking", "Breakfast"], options, "x") == ["Breakfast", "Parking"]
    assert coerce([1, 1, 2], {"type": "array", "items": {"type": "integer"}}, "x") == [1, 1, 2]  # not options


# --- constrain ------------------------------------------------------------------------------

def test_arguments_schema(project):
    original = project.get("RenewInstance").parameters
    before = json.dumps(original, sort_keys=True)
    schema = arguments_schema(original)
    assert json.dumps(original, sort_keys=True) == before  # not modified in place
    assert schema["additionalProperties"] is False
    assert schema["type"] == "object"
    for name in ("instance_id", "period"):
        assert schema["properties"][name]["minLength"] == 1


def test_arguments_schema_only_required_strings_get_min_length():
    schema = arguments_schema({"properties": {
        "a": {"type": "string"}, "b": {"type": "string"}, "c": {"type": "string", "enum": ["x", "y"]},
        "d": {"type": "integer"}}, "required": ["a", "c", "d"]})
    props = schema["properties"]
    assert props["a"]["minLength"] == 1
    assert "minLength" not in props["b"]
    assert "minLength" not in props["c"]
    assert "minLength" not in props["d"]
    assert props["a"]["maxLength"] == props["b"]["maxLength"] == MAX_STRING  # caps a runaway invented id
    assert "maxLength" not in props["c"] and "maxLength" not in props["d"]
    assert schema["type"] == "object" and schema["additionalProperties"] is False


def test_arguments_schema_caps_a_list_of_options_at_their_number():
    """Unbounded, the bundled 1.5B wrote "Breakfast" into a hotel's amenities until max_tokens."""
    schema = arguments_schema({"type": "object", "properties": {
        "amenities": {"type": "array", "items": {"type": "string", "enum": ["Breakfast", "Parking", "Wi-Fi"]}},
        "rooms": {"type": "array", "items": {"type": "string", "enum": ["a", "b"]}, "maxItems": 1},
        "prices": {"type": "array", "items": {"type": "number"}}}})
    props = schema["properties"]
    assert (props["amenities"]["maxItems"], props["rooms"]["maxItems"]) == (3, 1)
    assert "maxItems" not in props["prices"]


def test_arguments_schema_keeps_existing_min_length():
    schema = arguments_schema({"type": "object", "properties": {"a": {"type": "string", "minLength": 3}},
                               "required": ["a"]})
    assert schema["properties"]["a"]["minLength"] == 3


def test_llama_cpp_params_use_an_llguidance_grammar():
    schema = {"type": "object", "properties": {"id": {"type": "string", "description": "实例"}},
              "required": ["id"], "additionalProperties": False}
    params = Constraint("llama.cpp").params(schema)
    assert set(params) == {"extra_body"}
    grammar = params["extra_body"]["grammar"]
    assert grammar == llguidance_grammar(schema)
    assert grammar.startswith("%llguidance {}\nstart: %json ")
    assert json.loads(grammar.split("%json ", 1)[1]) == schema
    assert "实例" in grammar  # not \u-escaped
    assert "response_format" not in params and "continue_final_message" not in params["extra_body"]


def test_vllm_params_use_response_format_and_continue():
    schema = {"type": "object", "properties": {}}
    params = Constraint("vllm").params(schema)
    assert params["response_format"] == json_schema_format(schema)
    assert params["response_format"] == {"type": "json_schema",
                                         "json_schema": {"name": "arguments", "schema": schema}}
    assert params["extra_body"] == {"continue_final_message": True, "add_generation_prompt": False}


def test_params_without_schema():
    assert Constraint("llama.cpp").params(None) == {}
    assert Constraint("vllm").params(None) == {
        "extra_body": {"continue_final_message": True, "add_generation_prompt": False}}
    assert KINDS == ("llama.cpp", "vllm")


# --- against a real llama.cpp server --------------------------------------------------------

@pytest.mark.slow
def test_llama_cpp_grammar_yields_schema_valid_arguments(project, bundled_llm):
    import jsonschema
    import openai

    tool = project.get("RenewInstance")
    schema = arguments_schema(tool.parameters)
    prefill = "Action: RenewInstance\nAction Input: "
    client = openai.OpenAI(base_url=bundled_llm, api_key="EMPTY", timeout=600, max_retries=0)
    reply = client.chat.completions.create(
        model="any", temperature=0, max_tokens=120,
        messages=[{"role": "system", "content": "Use tools. Write `Action: <tool>` then `Action Input: <JSON>`."},
                  {"role": "user", "content": "请帮我续费ECS实例 i-abc123，续费22个月"},
                  {"role": "assistant", "content": prefill}],
        **Constraint("llama.cpp").params(schema))
    text = reply.choices[0].message.content or ""
    # llama.cpp may return the prefill together with the continuation
    arguments_text = text[len(prefill):] if text.startswith(prefill) else text
    arguments = json.loads(arguments_text)
    jsonschema.validate(arguments, schema)
    assert set(arguments) == {"instance_id", "period"}
    assert tool.validate(arguments) == arguments


def test_a_tool_file_without_tools_is_a_one_line_error(tmp_path):
    empty = tmp_path / "helpers.py"
    empty.write_text("X = 1\n\ndef _private():\n    return 1\n")
    with pytest.raises(ToolLoadError, match="no tools found") as info:
        load_source(str(empty))
    assert "\n" not in str(info.value)


def test_grammar_schema_drops_our_x_annotations():
    schema = {"type": "object", "properties": {"city": {"type": "string", "x-grounded": True}}, "required": ["city"]}
    assert arguments_schema(schema)["properties"]["city"] == {"type": "string", "maxLength": MAX_STRING, "minLength": 1}
    assert schema["properties"]["city"]["x-grounded"] is True  # the tool's own schema is untouched
