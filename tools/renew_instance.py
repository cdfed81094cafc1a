"""RenewInstance: the seed's tool, in modelscope-agent's tool interface (works in both engines)."""


class RenewInstance:
    name = "RenewInstance"
    description = "续费一台包年包月ECS实例 (renew a subscription ECS instance for a number of months)"
    parameters = [
        {"name": "instance_id", "description": "ECS实例ID (以 i- 开头)", "required": True,
         "type": "string"},
        {"name": "period", "description": "续费时长，以月为单位 (renewal period in months, as the user said it)",
         "required": True, "type": "string"},
    ]
    side_effect = True  # renews a paid instance: the user confirms each call

    def call(self, params: str, **kwargs) -> str:
        import json5

        args = json5.loads(params)
        instance_id, period = args["instance_id"], str(args["period"]).strip()
        # A simulated result that reads as done, so the model answers instead of calling again.
        return str({"result": f"已完成ECS实例ID为{instance_id}的续费，续费时长{period}月",
                    "instance_id": instance_id, "period_months": period, "status": "Renewed"})
