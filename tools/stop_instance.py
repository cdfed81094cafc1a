"""StopInstance: a typed Python function is a tool too (schema from its type hints)."""


def StopInstance(instance_id: str, force: bool = False) -> dict:
    """Stop a running ECS instance (停止一台ECS实例).

    instance_id: the ECS instance id (starts with i-)
    force: stop immediately without waiting for the OS to shut down
    """
    return {"instance_id": instance_id, "status": "Stopped", "forced": force,
            "result": f"ECS实例{instance_id}已停止" + ("（强制）" if force else "")}


StopInstance.side_effect = True
