"""Talking to the Yoto cloud: the auth/REST client and the shared token store."""
