"""tollway.openapi"""
