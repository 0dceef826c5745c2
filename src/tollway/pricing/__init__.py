"""tollway.pricing"""
