print("linter service")
