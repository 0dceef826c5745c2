"""tollway.domain"""
