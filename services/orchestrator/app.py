print("orchestrator service")
