def test_stt(): pass
