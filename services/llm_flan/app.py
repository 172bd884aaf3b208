print("llm_flan service")
