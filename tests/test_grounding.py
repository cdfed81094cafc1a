"""Provenance of argument values (localagent/grounding.py): given in other spellings, or not given."""
import json
from datetime import date

import pytest

from localagent.engines.execution import CallRunner
from localagent.glossary import other_names
from localagent.grounding import (Evidence, first_named, flag_touched, found, names_nothing_of, options_named, phrases,
                                  said_clock, said_length, ungiven)
from localagent.replies import shows_a_call, value_asked_for, value_name
from localagent.tools import Toolbox, from_openai_json

TODAY = date(2026, 11, 30)  # a Monday


UNITS = {"enum": ["km", "mile", "kg", "lb", "celsius", "fahrenheit"]}
ROOMS = {"enum": ["living room", "bedroom", "kids room"]}
BILLS = {"enum": ["电费", "水费", "燃气费"]}


def given(value, text, spec=None):
    return found(value, spec or {}, Evidence((text,), TODAY))


@pytest.mark.parametrize("case", [
    ("i-rj90a7e840y5cde", "实例id是：I-RJ90A7E840Y5CDE，续费"),      # case
    ("i-rj90a7e840y5cde", "id ｉ－ｒｊ９０ａ７ｅ８４０ｙ５ｃｄｅ"),       # full width
    ("138 0013 8000", "call 13800138000"),                           # spacing
    ("22", "续费二十二个月"), (22, "twenty-two months"), (3, "三张票"),  # numbers in words
    (2, "两个人"), (12, "a dozen eggs"), (105, "one hundred and five"), (1500.5, "pay 1,500.5"),
    ("2026-12-01", "明天下午"), ("2026-12-01", "tomorrow at noon"),     # relative dates
    ("2026-12-11", "下周五"), ("2026-12-04", "这周五"), ("2026-12-04", "this Friday"), ("2026-12-11", "next Friday"),
    ("2026-12-05", "12月5号"), ("2026-12-05", "December 5th"), ("2026-12-05", "十二月五日"),
    ("2026-12-05T19:00:00", "12月5日晚上7点"), ("19:30", "7:30pm"), ("18:30", "六点半"),
    ("CNY", "换成人民币", {"enum": ["USD", "CNY"]}), ("en", "翻译成英文", {"enum": ["en", "ja"]}),
    ("cool", "开制冷", {"enum": ["heat", "cool"], "description": "mode: heat (制热) or cool (制冷)"}),
    ("king_bed", "a king bed room", {"enum": ["twin", "king_bed"]}),
    ("1234*5678", "1234 乘以 5678"), ("weather in Paris", "Paris weather today?"),
    ("杭州市", "杭州的天气"),
    (24, "续费两年"), (90, "开一个半小时"), (120, "for two hours"), (30, "开半小时"), (30, "half an hour"),    # the same quantity in other units
    ("USD", "500美元能换多少人民币"), ("JPY", "twelve thousand Japanese yen"),  # codes as free text
    ("fahrenheit", "100华氏度是多少摄氏度", UNITS), ("celsius", "100华氏度是多少摄氏度", UNITS),  # units by their names
    ("km", "26.2英里是几公里", UNITS), ("mile", "how many km is 26.2 miles", UNITS), ("kg", "五公斤", UNITS),
    ("kilometers", "26.2英里是几公里"), ("lb", "10 pounds in kg", UNITS),
    # found on BFCL's own right answers (outside data): percentages, scales, other date orders
    (0.05, "an annual interest rate of 5%"), (0.4, "trait A contributing to 40 percent"), (0.05, "年利率百分之五"),
    (213000000, "the population is 213 million"), (3e9, "3 billion users"), (2e9, "two billion users"),
    (1200000, "$1.2M in 2020"), (2e-9, "charges of 1e-9 and 2e-9"),
    (2130000, "人口213万"), (25000, "预算2万5千"), (15000, "1.5万元"),
    (8762.5, "读数八千七百六十二点五度"), (0.25, "零点二五"),  # a decimal said the Chinese way
    ("2022-03-11", "closing March.11, 2022"), ("2023-06-20", "this weekend, Jun.20,2023"),
    ("2023-04-04", "from 2023 April 4th to April 8th"), ("2023-04-08", "from 2023 April 4th to April 8th"),
    ("08-16-2022", "London 2022/08/16"), ("15-10-2023", "starting from 15th October,2023"),
    (180, "a duration of 3 minutes", {"description": "length of the track in seconds"}),
    ("Chicago, IL", "a lawyer in Chicago", {"description": "The city"}),
    ("New York, NY", "restaurants in New York", {"description": "location"}),
    ("987/3.5", "What is 987 divided by 3.5?"),
    # options in the other language, by the dictionary's glosses (CC-CEDICT, glossary.py)
    ("living room", "把客厅温度调到二十四度", ROOMS), ("living room", "把客廳溫度調到24度", ROOMS), ("speaker", "把音箱音量调到百分之四十", {"enum": ["speaker", "tv"]}),
    ("水费", "Pay $85.40 on my water bill", BILLS), ("bedroom", "把卧室调到22度", ROOMS),
    ("weekdays", "Wake me up at 6:45 every weekday.", {"enum": ["daily", "weekdays"]}),  # a plural option in the singular
    # a common name of one character, as a word of its own
    ("CNY", "往 6217 0000 1111 2222 转 1500 元", {"enum": ["CNY", "USD"]}), ("meter", "跑了400米", {"enum": ["km", "meter"]}),
])
def test_given_in_another_spelling(case):
    assert given(*case)


@pytest.mark.parametrize("case", [
    ("i-bp1made0up0id", "请把 v2 部署到我的实例上"),
    ("i-abc3", "instance i-abc for 3 months"),                       # an id is not assembled from parts
    ("Beijing", "what's the weather like?"), (100, "convert dollars to yen"),
    ("2026-12-02", "明天"), ("20:00", "7pm"), ("USD", "换成人民币", {"enum": ["USD", "CNY"]}),
    ("it", "say hi in French", {"enum": ["it", "fr"]}),               # a code only as a word of its own
    ("it", "say its name in French", {"enum": ["it", "fr"]}),          # and not in the plural
    ("meter", "how many kilometers is a mile", {"enum": ["km", "meter"]}),  # a Latin name as a word of its own
    ("CNY", "换100美元", {"enum": ["CNY", "USD"]}), ("meter", "买点玉米", {"enum": ["km", "meter"]}),  # 元 of 美元, 米 of 玉米
    ("km", "100华氏度是多少摄氏度", UNITS),
    ("room 101", "book a meeting room"),
    (7, "续费三个月"),
    (30, "开一个半小时"), (30, "for an hour and a half"),             # not the "半" of "一个半"
    (30, "订一个网球场"), (60, "订一个网球场", {"description": "Duration in minutes"}), (24, "book 2 rooms"),  # no unit: the number only
    (12, "续费 1", {"description": "续费时长，单位：月"}),
    (0.5, "rate of 5%"), (30, "3万"), (2130, "人口213万"),                 # only as scaled
    ("Chicago, IL 60601", "a lawyer in Chicago", {"description": "city"}),
    ("Springfield, IL", "a lawyer in Chicago", {"description": "city"}),
    ("Alice, Bob", "send it to Alice", {"description": "who gets the message"}),  # not a place
    ("7700-1182-55", "account 7700, 1182 and 55"),                     # an id, not arithmetic
    ("living room", "把卧室调暖和一点", ROOMS), ("电费", "Pay my water bill", BILLS),  # another option's gloss
    ("kids room", "把儿童的房间调到22度", ROOMS),                        # words only near a gloss
    ("once", "帮我设一下明早七点的闹钟", {"enum": ["once", "daily"]}),       # 一下's fourth meaning, not its use here
    ("news", "what's new today", {"enum": ["news", "sports"]}),          # "news" is not the plural of "new"
])
def test_not_given(case):
    assert not given(*case)


MONTHS = {"description": "续费时长，单位：月"}
MINUTES = {"description": "Duration in minutes"}


@pytest.mark.parametrize("case", [
    (18, "renew it for one and a half years", MONTHS), (24, "续费两年", MONTHS), (22, "续费22个月", MONTHS),
    (6, "续费半年", MONTHS), (90, "for an hour and a half", MINUTES), (90, "开一个半小时", MINUTES),
    (30, "half an hour", MINUTES), (3, "续费3个月", MONTHS), ("12", "renew for a year", MONTHS),
    (22, "续费 22", MONTHS),                                          # a number said without a unit
])
def test_a_length_of_time_grounds_a_parameter_in_its_unit(case):
    assert given(*case)


@pytest.mark.parametrize("case", [
    (1.5, "renew it for one and a half years", MONTHS), (2, "续费两年", MONTHS), (1, "续费一年", MONTHS),
    (1.5, "开一个半小时", MINUTES), (2, "for two hours", MINUTES),
    (30, "开一个半小时", MINUTES),                                      # not the 半小时 of 一个半小时
    ("2", "续费两年", MONTHS), ("1.5", "renew it for one and a half years", MONTHS),  # also as strings
])
def test_a_length_of_time_said_in_another_unit_does_not_ground_it_unconverted(case):
    assert not given(*case)


def test_ungiven_checks_every_argument_and_knows_overrides():
    schema = {"properties": {"city": {"type": "string"}, "days": {"type": "integer", "default": 1},
                             "query": {"type": "string", "x-grounded": False},
                             "force": {"type": "boolean"}, "confirm": {"type": "boolean"}}}
    evidence = Evidence(("weather in Hangzhou please",), TODAY)
    args = {"city": "Shanghai", "days": 1, "query": "anything the model derived", "force": False, "confirm": False}
    # the default is what the tool does anyway; x-grounded: false is off; a flag left off is strict only on demand
    assert ungiven(args, schema, evidence) == ["city"]
    assert ungiven(args, schema, evidence, always={"confirm"}) == ["city", "confirm"]


PRINT_JOB = "send_print_job 发送文件到办公室打印机"
CAR = "reserveRentalCar Reserve a rental car"
CLEANING_JOB = "bookCleaning Book a home cleaning service"


@pytest.mark.parametrize("said, name, description, purpose, touched", [
    ("把“合同终稿.docx”发到前台打印机，打两份，要彩色的", "color", "彩色打印", PRINT_JOB, True),
    # 打印 is the tool's word (打印机): any print job says it; nothing here asks for both sides
    ("把“合同终稿.docx”发到前台打印机，打两份，要彩色的", "duplex", "双面打印", PRINT_JOB, False),
    ("Print quarterly_report.pdf, 5 copies, double-sided", "duplex", "双面打印", PRINT_JOB, True),  # CC-CEDICT: 双面
    ("need a rental car in Denver, SUV, automatic pls", "automatic", "automatic transmission", CAR, True),
    ("下周在成都租辆自动挡的车", "automatic", "automatic transmission", CAR, True),  # 自动 glossed "automatic"
    ("2027年7月1号到7月5号在成都租辆车，经济型的就行", "automatic", "automatic transmission", CAR, False),
    ("Make it a deep clean this time.", "deep_clean", "", CLEANING_JOB, True),
    ("I'd like a cleaner on Feb 20, for 3 hours.", "deep_clean", "", CLEANING_JOB, False),  # "clean" is the tool's
    ("约个保洁阿姨，做四个小时", "deep_clean", "", CLEANING_JOB, False),
    # 借 glosses "to borrow", but a flag is not touched by a word of one character
    ("帮我把图书馆借的书续借一下", "available_only", "only show copies that can be borrowed now",
     "search_library Search the library catalogue", False),
])
def test_a_flag_is_touched_by_words_of_its_own_not_the_tools(said, name, description, purpose, touched):
    assert flag_touched(name, {"type": "boolean", "description": description}, purpose, Evidence((said,), TODAY)) is touched


def test_an_optional_flag_switched_on_that_nobody_asked_for_is_not_given():
    schema = {"properties": {"file": {"type": "string"}, "duplex": {"type": "boolean", "description": "双面打印"},
                             "color": {"type": "boolean", "description": "彩色打印"},
                             "staple": {"type": "boolean", "description": "装订"}},
              "required": ["file", "staple"]}
    evidence = Evidence(("把合同.docx发到前台打印机，打两份，要彩色的",), TODAY)
    args = {"file": "合同.docx", "duplex": True, "color": True, "staple": True}
    assert ungiven(args, schema, evidence, purpose=PRINT_JOB) == ["duplex"]  # a required flag is the model's to set
    assert ungiven({**args, "duplex": False}, schema, evidence, purpose=PRINT_JOB) == []  # left off: nothing switched on
    asked = []
    confirm = lambda name, value, spec: asked.append(name) or True  # the model's reading, where the words say nothing
    assert ungiven(args, schema, evidence, confirm=confirm, purpose=PRINT_JOB) == [] and asked == ["duplex"]


def test_an_optional_flag_left_off_that_nobody_mentioned_is_left_to_the_tool_where_the_model_can_be_asked():
    """`automatic: false` for "租辆车，经济型的就行" is a manual car nobody asked for; "black and white"
    for `color` (彩色打印) shares no word with it, and only the model can tell that it was said."""
    schema = {"properties": {"city": {"type": "string"}, "automatic": {"type": "boolean", "description": "automatic transmission"}}}
    evidence = Evidence(("2027年7月1号到7月5号在成都租辆车，经济型的就行",), TODAY)
    args = {"city": "成都", "automatic": False}
    assert ungiven(args, schema, evidence, purpose=CAR) == []  # nobody to ask: kept as written
    asked = []
    assert ungiven(args, schema, evidence, purpose=CAR,
                   confirm=lambda name, value, spec: asked.append((name, value)) and False) == ["automatic"]
    assert asked == [("automatic", False)]
    touched = Evidence(("下周在成都租辆车，不要自动挡的",), TODAY)  # the words touch it: the model is not asked
    assert ungiven(args, schema, touched, purpose=CAR, confirm=lambda *a: pytest.fail("asked")) == []


CLEANING = {"properties": {"address": {"type": "string"}, "date": {"type": "string", "description": "YYYY-MM-DD"},
                           "start_time": {"type": "string", "description": "HH:MM"},
                           "hours": {"type": "number", "description": "how many hours (2-8)"}}}


@pytest.mark.parametrize("said, arguments, ungiven_ones", [
    # the 2 of 6月2号 is the date's: no length of the visit was said
    ("2027年6月2号下午来我家取衣服", {"address": "我家", "date": "2027-06-02", "hours": 2}, ["hours"]),
    ("June 2, 2027, at my place", {"address": "my place", "date": "2027-06-02", "hours": 2}, ["hours"]),
    ("3月6号早上九点开始，地址锦绣路8号", {"address": "锦绣路8号", "date": "2027-03-06", "start_time": "09:00", "hours": 9},
     ["hours"]),  # nor is the 9 of the start time
    # said apart from the date, or with no date in the call to take it, a number still counts
    ("2027年6月2号下午来我家，打扫两个小时", {"address": "我家", "date": "2027-06-02", "hours": 2}, []),
    ("6月2号在我家做2个钟头", {"address": "我家", "hours": 2}, []),
])
def test_a_number_inside_a_date_or_time_the_call_holds_counts_for_nothing_else(said, arguments, ungiven_ones):
    assert ungiven(arguments, CLEANING, Evidence((said,), TODAY)) == ungiven_ones


def test_a_date_split_into_its_numbers_is_still_given():
    schema = {"properties": {"year": {"type": "integer"}, "month": {"type": "integer"}, "day": {"type": "integer"}}}
    assert ungiven({"year": 2027, "month": 6, "day": 2}, schema, Evidence(("2027年6月2号有什么节日",), TODAY)) == []


@pytest.mark.parametrize("description, language, words", [
    ("续费时长，以月为单位 (renewal period in months, as the user said it)", "en", "renewal period in months"),
    ("续费时长，以月为单位 (renewal period in months, as the user said it)", "zh", "续费时长"),
    ("ECS实例ID (以 i- 开头)", "en", "period"),                         # nothing in English: the name
    ("YYYY-MM-DD", "en", "period"),                                     # how it is written names nothing
    ("出发日期 YYYY-MM-DD", "zh", "出发日期"),
    ("start time in ISO 8601", "en", "start time"),
    ("departure date in YYYY-MM-DD", "en", "departure date"),
    ("抄表日期 YYYY-MM-DD，可不填", "zh", "抄表日期"),
    ("HH:MM (optional, first free slot if empty)", "en", "period"),     # a remark in brackets is no name
    ("start time HH:MM", "en", "start time"),
])
def test_a_missing_value_is_named_in_the_users_language(description, language, words):
    assert value_name("period", {"description": description}, language) == words


def test_a_missing_option_is_asked_for_with_its_options():
    kind = {"description": "缴费类型", "enum": ["电费", "水费", "燃气费"]}
    assert value_asked_for("kind", kind, "zh") == "缴费类型（电费、水费或燃气费）"
    assert value_asked_for("kind", kind, "en") == "kind (电费, 水费 or 燃气费)"
    assert value_asked_for("kind", {"description": "缴费类型"}, "zh") == "缴费类型"


@pytest.mark.parametrize("reply, options, named", [
    ("living room. The user asked for temperature", ["bedroom", "living room"], "living room"),
    ("二等座, 一等座, 商务座", ["一等座", "二等座", "商务座"], "二等座"),
    ("Japanese", ["zh", "en", "ja"], "ja"),  # by a common name
    ("人民币", ["USD", "CNY"], "CNY"),
    ("king bed", ["twin", "king_bed"], "king_bed"),
    ("bedroom", ["living room", "bedroom", "room"], "bedroom"),  # a whole word, not a part of one
    ("then the user", ["zh", "en"], None),  # a short code only as a word of its own
    ('"not said"', ["heat", "cool"], None),
    ("30 minutes", [10, 30], 30),
])
def test_the_option_a_reply_names_first(reply, options, named):
    assert first_named(reply, options) == named


@pytest.mark.parametrize("reply, options, named", [
    (' "front/back/all"', ["front", "back", "all"], ["front", "back", "all"]),  # the list repeated: no pick
    ("living room", ["room", "living room"], ["living room"]),  # not the "room" inside "living room"
    ("华氏度 to celsius", ["celsius", "fahrenheit"], ["fahrenheit", "celsius"]),
    ("none of them", ["a1", "b2"], []),
])
def test_every_option_a_reply_names(reply, options, named):
    assert options_named(reply, options) == named


PERIOD = {"type": "string", "description": "续费时长，以月为单位 (renewal period in months)"}


@pytest.mark.parametrize("said, spec, value", [
    ("Renew it for one and a half years.", PERIOD, 18),
    ("续费两年", PERIOD, 24),
    ("2025年3月15日上午十点开始，开一个半小时", MINUTES, 90),  # 2025年 is a date's year, not a length
    ("二〇二五年三月十五日，开一个半小时", MINUTES, 90), ("续费两年三个月", PERIOD, None),
    ("开一个半小时", PERIOD, None),  # not a whole or half number of months
    ("续费半年，上次续了一年", PERIOD, None),  # which one?
    ("续费", PERIOD, None),
    ("开一个半小时", {"type": "integer", "description": "房间号"}, None),  # no unit of time
])
def test_the_one_length_of_time_the_user_said_converted(said, spec, value):
    assert said_length("p", spec, Evidence((said,))) == value


@pytest.mark.parametrize("value, said, given_", [
    ("19:00", "晚上7点", True), ("07:00", "晚上7点", False), ("19:00", "7pm", True), ("07:00", "7 p.m.", False),
    ("07:00", "7am", True), ("19:00", "早上7点", False), ("12:00", "中午12点", True), ("00:00", "noon", False),
    ("19:00", "7点", True), ("07:00", "7点", True), ("19:30", "7:30", True),  # no half said: either
    ("19:30", "19:30", True), ("07:30", "19:30", False),
    ("07:00", "7 in the morning", True), ("19:00", "7 in the morning", False),  # the half of the day in words
    ("19:30", "7:30 in the evening", True), ("07:30", "7:30 in the evening", False), ("22:00", "10 at night", True),
    ("12:00", "3 in the afternoon", False), ("12:00", "this afternoon", False),  # no "noon" in "afternoon"
    ("14:00", "from 2 to 3 pm", True), ("02:00", "from 2 to 3 pm", False), ("09:00", "9-11am", True),
    ("11:00", "11 to 1 pm", True), ("23:00", "11 to 1 pm", False),  # a range's start takes its end's half
    ("20:00", "on 2027-05-08 in the afternoon", False),  # the day of a date is no hour
])
def test_a_time_said_with_its_half_of_the_day_is_only_that_time(value, said, given_):
    assert given(value, said) is given_


@pytest.mark.parametrize("value, said, clock", [
    ("20:00", "晚上八点十分那场", "20:10"), ("08:00", "八点十分", "08:10"), ("7:00", "the 7:45 pm showing", "19:45"),
    ("08:00", "晚上八点", "20:00"), ("19:00", "早上七点", "07:00"), ("7:00", "at 7pm", "19:00"),  # the half of the day said
    ("20:00", "八点十分或者八点四十", None),  # which one?
    ("21:00", "晚上八点十分", None),           # another hour: not the agent's to correct
    ("tonight", "晚上八点十分", None), ("2027-02-06 20:00", "2月6日晚上八点十分", None),  # an HH:MM only
])
def test_the_minutes_of_the_one_time_the_user_said_at_that_hour(value, said, clock):
    assert said_clock(value, Evidence((said,), TODAY)) == clock


@pytest.mark.parametrize("said, amount", [("把一千二百五十块五毛人民币换成日元", 1250.5), ("三块五", 3.5),
                                          ("100元5角2分", 100.52), ("会议室C2，2025年", 2025)])
def test_money_said_the_chinese_way(said, amount):
    assert found(amount, {"type": "number"}, Evidence((said,)))


def test_a_comma_between_two_numbers_is_not_a_thousands_separator():
    assert not found(2202, {"type": "number"}, Evidence(("会议室C2，2025年",)))


def test_the_phrases_a_model_may_quote_as_the_users_words():
    said = phrases(["Pay $85.40 on my water bill, account 7700-1182-55.", "把客厅的空调开到二十四度"])
    assert said[:4] == ["把", "把客", "把客厅", "把客厅的"]  # the newest text first; up to four characters
    assert {"客厅", "二十四度", "water bill", "on my water bill", "85.40", "7700-1182-55"} <= set(said)
    assert "把客厅的空调" not in said and "Pay 85.40 on my water" not in said
    assert not [p for p in said if p != p.strip() or "," in p or "." == p[-1]]  # no phrase crosses a mark
    assert len(phrases(["word " * 1000], most=50)) == 4  # each phrase once
    assert len(phrases([" ".join(map(str, range(1000)))], most=50)) == 50


def test_words_that_name_only_something_else_of_the_call_name_no_option():
    kinds = ["电费", "水费", "燃气费"]
    bill = ["pay_utility_bill", "account", "amount", "0101 3386 2290", "120"]
    assert names_nothing_of("account", kinds, bill)  # another parameter's name
    assert names_nothing_of("account 0101 3386 2290", kinds, bill)  # ... and its value
    assert names_nothing_of("my bill", kinds, bill)  # the tool's name, a filler
    assert names_nothing_of("120", kinds, bill)
    # words that only stand for something said elsewhere: "My credit card ... was in it"
    assert names_nothing_of("in it", ["lost", "stolen"], ["report_lost_card", "last4", "4417"])
    assert not names_nothing_of("US", ["US", "UK", "CN"], ["ship_parcel"])  # unless they are an option
    assert not names_nothing_of("water", kinds, bill) and not names_nothing_of("water bill", kinds, bill)
    sizes = ["中杯", "大杯", "超大杯"]
    assert names_nothing_of("a milk tea", sizes, ["orderMilkTea", "sugar"])  # camelCase names too
    assert not names_nothing_of("a large milk tea", sizes, ["order_milk_tea", "sugar"])
    assert names_nothing_of("杯", sizes, ["order_milk_tea"])  # what every option has
    assert not names_nothing_of("大杯", sizes, ["order_milk_tea"])
    rooms = ["living room", "bedroom", "kids room", "office"]
    assert not names_nothing_of("客厅", rooms, ["set_thermostat", "temperature", "24"])
    assert not names_nothing_of("room", rooms, ["set_thermostat"])  # not in "office"


def test_other_names_are_whole_glosses_of_words():
    assert {"客厅", "起居室"} <= other_names("living room") and "客厅" in other_names("living_room")
    assert "water bill" in other_names("水费") and "speaker" in other_names("音箱")  # "(audio equipment)" left out
    assert "丢" in other_names("lost") and "偷" in other_names("stolen")  # glossed "to lose", "to steal"
    assert not any(g.startswith("CL:") for g in other_names("客厅"))   # a measure word is not a meaning
    assert other_names("kids room") == frozenset() and other_names("") == frozenset()
    assert "储蓄卡" in other_names("debit", ("card", "type")) and "储蓄卡" not in other_names("debit")


def test_a_word_of_one_character_names_an_option_only_as_a_word_of_its_own():
    """丢 ("to lose") names `lost` in 卡丢了, not inside 丢人; 高 not inside 提高."""
    reason = {"type": "string", "enum": ["lost", "stolen"]}
    assert given("lost", "我的储蓄卡丢了，尾号0936，赶紧帮我挂失！", reason)
    assert given("stolen", "钱包被偷了，卡尾号1234", reason)
    assert not given("lost", "别丢人了，帮我查下卡", reason)
    assert not given("high", "帮我提高一下效率", {"enum": ["low", "high"]})


def test_an_english_option_is_named_by_another_form_of_its_word():
    """"stole" names `stolen` (both forms of steal); the word's own form does not: "leave" is no `left`."""
    reason = {"type": "string", "enum": ["lost", "stolen"]}
    assert given("stolen", "Someone stole my wallet.", reason)
    assert not given("lost", "Someone stole my wallet.", reason)
    assert not given("left", "I leave at 5, book the seat", {"enum": ["left", "right"]})


def test_the_option_the_user_named_replaces_the_one_the_model_picked(tmp_path):
    """A real CallRunner: the model wrote `lost` for a stolen wallet; the user's words name
    `stolen` and only it, so the call runs with that. Words naming two other options, or none,
    leave the value not given: a required one is asked for."""
    path = tmp_path / "tools.json"
    path.write_text(json.dumps([{"type": "function", "function": {
        "name": "report_lost_card", "description": "Report a lost or stolen bank card.",
        "parameters": {"type": "object", "properties": {
            "last4": {"type": "string"}, "reason": {"type": "string", "enum": ["lost", "stolen", "damaged"]}},
            "required": ["last4", "reason"]}}}]))
    runner = CallRunner(Toolbox(from_openai_json(path)), dry_run=True)
    call = {"last4": "4417", "reason": "lost"}
    record = runner.run("report_lost_card", call, Evidence(("Someone stole my wallet, card ending 4417",), TODAY))
    assert record.status == "dry_run" and record.arguments == {"last4": "4417", "reason": "stolen"}
    record = runner.run("report_lost_card", {"last4": "0936", "reason": "stolen"},
                        Evidence(("我的卡丢了，尾号0936",), TODAY))
    assert record.status == "dry_run" and record.arguments["reason"] == "lost"
    record = runner.run("report_lost_card", {"last4": "5521", "reason": "damaged"},
                        Evidence(("I either lost it or it was stolen, card ending 5521",), TODAY))
    assert record.status == "refused" and record.missing == ["reason"]
    record = runner.run("report_lost_card", {"last4": "7310", "reason": "lost"},
                        Evidence(("Block my card ending 7310",), TODAY))
    assert record.status == "refused" and record.missing == ["reason"]


def test_an_option_is_named_as_a_kind_of_what_its_parameter_names():
    """`card_type: debit` is a debit card, 储蓄卡; an option is not named by another's kind."""
    card = {"type": "string", "enum": ["debit", "credit"]}
    said = Evidence(("我的储蓄卡丢了，尾号0936",), TODAY)
    assert found("debit", card, said, name="card_type") and found("debit", card, said, name="cardType")
    assert not found("credit", card, said, name="card_type") and not found("debit", card, said, name="reason")


@pytest.mark.parametrize("answer, shows", [
    ('1. Find the closest airport: get_closest_airport {"location": "Los Angeles", "radius": 1}', True),
    ('psychology_color_representation({"color": "purple", "context": "computer vision"})', True),
    ("search(query='cheap flights')", True),
    ("search()", True),
    ("You can search (online) for the schedule.", False),  # the name in prose, words in brackets
    ("I used search, and it found nothing.", False),
    ('research({"q": 1})', False),  # another name that ends like a tool's
])
def test_an_answer_that_writes_out_a_call(answer, shows):
    assert shows_a_call(answer, ["get_closest_airport", "psychology_color_representation", "search"]) is shows


def _runner_and_tool(tmp_path, parameters: dict) -> tuple[CallRunner, str]:
    path = tmp_path / "tools.json"
    path.write_text(json.dumps([{"type": "function", "function": {
        "name": "print_job", "description": "Send a file to an office printer", "parameters": parameters}}]),
        encoding="utf-8")
    return CallRunner(Toolbox(from_openai_json(path)), dry_run=True), "print_job"


PRINTING = {"type": "object", "required": ["file", "printer", "minutes"], "properties": {
    "file": {"type": "string"}, "printer": {"type": "string", "enum": ["front desk", "finance"]},
    "minutes": {"type": "number", "description": "how long to hold the job, in minutes"},
    "color": {"type": "boolean", "description": "color printing"},
    "paper": {"type": "string", "enum": ["A4", "A3"]}}}


@pytest.mark.parametrize("said, refused", [
    ("Print budget.xlsx, hold it 90 minutes.", True),        # the printer never named: refused whatever else
    ("Print budget.xlsx, hold it an hour and a half.", True),
    ("Print budget.xlsx on the accounts printer, hold it an hour and a half.", False),  # 90 minutes, converted
])
def test_the_model_is_not_asked_about_optional_values_of_a_call_refused_anyway(tmp_path, said, refused):
    """Each question costs the user a request's wait: where a required value is missing (and the
    agent cannot write it from what was said), the call is refused and the user asked, so the
    optional values are not asked about. Required ones still are: they decide what the user is asked."""
    runner, name = _runner_and_tool(tmp_path, PRINTING)
    asked = []

    def confirm(parameter, value, spec):
        asked.append(parameter)
        return parameter == "printer" and "accounts" in said  # the model reads "accounts" as finance

    arguments = {"file": "budget.xlsx", "printer": "finance", "minutes": 1.5, "color": False, "paper": "A3"}
    record = runner.run(name, arguments, Evidence((said,), TODAY), confirm=confirm)
    if refused:
        assert (record.status, record.missing, asked) == ("refused", ["printer"], ["printer"])
    else:
        assert record.status == "dry_run" and record.arguments["minutes"] == 90
        assert asked == ["printer", "color", "paper"]


@pytest.mark.parametrize("value, said, given_", [
    ("spinning", "Sign me up for the spin class", True), ("spin class", "a spinning class", True),
    ("spinning", "Sign me up for the yoga class", False)])
def test_a_word_of_free_text_said_in_another_form(value, said, given_):
    assert found(value, {"type": "string"}, Evidence((said,))) is given_
