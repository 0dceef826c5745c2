"""tollway.workers"""
