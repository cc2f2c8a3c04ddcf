"""MkDocs hook: the command-line reference page is generated from panet's argparse parsers.

``docs/reference/cli.md`` holds the marker below; the build replaces it with
:func:`panet.cli.reference.cli_reference`, so the page cannot drift from ``panet --help``.
"""

from panet.cli.reference import cli_reference

MARKER = "<!-- cli-reference -->"


def on_page_markdown(markdown, page, config, files):
    if MARKER in markdown:
        return markdown.replace(MARKER, cli_reference())
    return markdown
