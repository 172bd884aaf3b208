print("audio_processor service")
