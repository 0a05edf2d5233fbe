"""The web side of the app: the chat page's static files, sessions, and the protections every
response gets (security headers, the API's origin and rate checks)."""
