print("stt service")
