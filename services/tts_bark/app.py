print("tts_bark service")
