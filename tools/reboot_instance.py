"""RebootInstance: restarts an ECS instance (simulated)."""


def RebootInstance(instance_id: str) -> dict:
    """Reboot an ECS instance (重启一台ECS实例).

    instance_id: the ECS instance id (starts with i-)
    """
    return {"instance_id": instance_id, "status": "Running",
            "result": f"ECS实例{instance_id}已重启，当前状态 Running"}


RebootInstance.side_effect = True
