"""The Teams edge: HTTP server, authentication, activity parsing, replies. The only package that imports botbuilder."""
