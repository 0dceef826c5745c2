"""tollway.store"""
