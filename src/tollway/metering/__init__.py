"""tollway.metering"""
