#!/usr/bin/env python3
"""Entry point: python agent_demo.py "请帮我续费一台ECS实例，实例id是：i-rj90a7e840y5cde，续费时长22个月" """
from localagent.cli import entry

if __name__ == "__main__":
    entry()
