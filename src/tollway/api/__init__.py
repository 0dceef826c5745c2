"""tollway.api"""
