"""tollway.webhooks"""
