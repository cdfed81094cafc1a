"""DescribeInstance: read-only status of an ECS instance (simulated, deterministic per id)."""
import hashlib
import json


class DescribeInstance:
    name = "DescribeInstance"
    description = "查询一台ECS实例的状态、规格和到期时间 (describe an ECS instance: status, type, expiry)"
    parameters = [
        {"name": "instance_id", "description": "ECS实例ID (以 i- 开头)", "required": True,
         "type": "string"},
    ]

    def call(self, params: str, **kwargs) -> str:
        instance_id = json.loads(params)["instance_id"]
        digest = hashlib.sha256(instance_id.encode()).digest()
        return json.dumps({
            "instance_id": instance_id,
            "status": ["Running", "Stopped"][digest[0] % 2],
            "instance_type": ["ecs.g7.large", "ecs.c7.xlarge", "ecs.r7.2xlarge"][digest[1] % 3],
            "region": ["cn-hangzhou", "cn-beijing", "cn-shanghai"][digest[2] % 3],
            "expire_time": f"2027-{digest[3] % 12 + 1:02d}-{digest[4] % 28 + 1:02d}T00:00:00Z",
            "charge_type": "PrePaid",
        }, ensure_ascii=False)
