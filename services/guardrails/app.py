print("guardrails service")
