"""tollway.gateway"""
