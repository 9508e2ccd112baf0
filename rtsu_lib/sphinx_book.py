"""Sphinx extension with two fixes to the book's pages (``sphinx.extra_extensions`` in _config.yml).

- Launch buttons (Binder, Colab) open the committed notebook, not the executed copy: the book
  renders ``book/executed/NAME.ipynb`` (papermill outputs, not in the repository), so the theme's
  launch links would name a file the repository lacks; they are pointed at ``book/notebooks/``.
- Each script is written once per page. With jupyter-book 1.0.4 and Sphinx 7.4, the inline
  configuration scripts of sphinx-thebe and sphinx-togglebutton appear twice on every page, and the
  second ``const THEBE_JS_URL`` is a SyntaxError in the browser console (on every page, with or
  without the explorers).
"""

EXECUTED, SOURCES = "/executed/", "/notebooks/"


def point_launch_buttons_at_sources(app, pagename, templatename, context, doctree):
    for group in context.get("header_buttons", []):
        if group.get("label") != "launch-buttons":
            continue
        for button in group.get("buttons", []):
            if "url" in button:
                button["url"] = button["url"].replace(EXECUTED, SOURCES)


def script_key(script) -> tuple:
    """What a script tag writes. Sphinx holds the inline scripts added after its builder started once with
    filename None and once with filename '', so objects that render the same compare unequal."""
    attributes = getattr(script, "attributes", {})
    return getattr(script, "filename", script) or "", tuple(sorted(attributes.items()))


def write_each_script_once(app, pagename, templatename, context, doctree):
    if "script_files" not in context:
        return
    seen, unique = set(), []
    for script in context["script_files"]:
        if script_key(script) not in seen:
            seen.add(script_key(script))
            unique.append(script)
    context["script_files"] = unique  # a new list: the builder shares its own between pages


def setup(app):
    # sphinx-book-theme adds the launch buttons at priority 501
    app.connect("html-page-context", point_launch_buttons_at_sources, priority=510)
    app.connect("html-page-context", write_each_script_once, priority=510)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
