"""tollway.portal"""
