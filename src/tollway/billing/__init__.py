"""tollway.billing"""
