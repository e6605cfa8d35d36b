"""Offer each executed chapter as an ``.ipynb`` in the page's download menu.

sphinx-book-theme adds the ``.ipynb`` entry only when a launch service
(Binder, JupyterHub, ...) is configured. This book has none, so this
extension does the theme's copy itself: the notebook MyST-NB executed into
``_build/jupyter_execute`` goes to ``_sources/`` beside the page's source,
and the theme's download menu then lists it.
"""

from pathlib import Path
from shutil import copy2


def offer_notebook(app, pagename, templatename, context, doctree):
    executed = Path(app.outdir).parent / "jupyter_execute" / f"{pagename}.ipynb"
    if doctree is None or not executed.is_file():
        return
    target = Path(app.outdir) / "_sources" / f"{pagename}.ipynb"
    target.parent.mkdir(parents=True, exist_ok=True)
    copy2(executed, target)
    context["ipynb_source"] = f"{pagename}.ipynb"


def setup(app):
    # Before the theme's header buttons (priority 501) read ``ipynb_source``.
    app.connect("html-page-context", offer_notebook, priority=500)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
