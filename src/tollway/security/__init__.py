"""tollway.security"""
