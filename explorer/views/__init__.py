"""The explorer's pages, one module each. Every module has ``render()`` and ``PARAMS``, the view
state it mirrors in the URL (see ``explorer.state``)."""
