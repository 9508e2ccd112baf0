"""Sphinx extension: launch buttons (Binder, Colab) open the committed notebook, not the executed copy.

The book renders ``book/executed/NAME.ipynb`` (papermill outputs, not in the repository), so the
theme's launch links would name a file the repository lacks; they are pointed at
``book/notebooks/NAME.ipynb`` instead.
"""

EXECUTED, SOURCES = "/executed/", "/notebooks/"


def point_launch_buttons_at_sources(app, pagename, templatename, context, doctree):
    for group in context.get("header_buttons", []):
        if group.get("label") != "launch-buttons":
            continue
        for button in group.get("buttons", []):
            if "url" in button:
                button["url"] = button["url"].replace(EXECUTED, SOURCES)


def setup(app):
    # sphinx-book-theme adds the launch buttons at priority 501
    app.connect("html-page-context", point_launch_buttons_at_sources, priority=510)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
