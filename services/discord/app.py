print("discord service")
