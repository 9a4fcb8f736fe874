"""A second, independent LSP client against `rbk lsp`: pygls's client, whose
lsprotocol types check every message against the protocol's schema (a
response of the wrong shape fails to deserialise). Run by tests/pygls.rs:

    python3 tests/pygls/check_server.py RBK_BIN WORKSPACE_DIR

WORKSPACE_DIR holds lib.rbk and main.rbk (written by the Rust test). Prints
one line per fact; exits non-zero on any failure.
"""

import asyncio
import sys
from pathlib import Path

from lsprotocol import types as t
from pygls.lsp.client import BaseLanguageClient


# The name of an incremental change differs between lsprotocol versions.
PartialChange = getattr(t, "TextDocumentContentChangePartial", None) or getattr(
    t, "TextDocumentContentChangeEvent_Type1"
)


async def main(rbk: str, root: Path) -> None:
    client = BaseLanguageClient("rbk-check", "1")
    diagnostics: dict[str, list[t.Diagnostic]] = {}
    published = asyncio.Event()

    @client.feature(t.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    def on_diagnostics(params: t.PublishDiagnosticsParams) -> None:
        diagnostics[params.uri] = params.diagnostics
        published.set()

    await client.start_io(rbk, "lsp")
    init = await client.initialize_async(
        t.InitializeParams(
            capabilities=t.ClientCapabilities(),
            root_uri=root.as_uri(),
            workspace_folders=[t.WorkspaceFolder(uri=root.as_uri(), name="ws")],
        )
    )
    caps = init.capabilities
    print("server", init.server_info.name if init.server_info else "?")
    print("encoding", caps.position_encoding)
    client.initialized(t.InitializedParams())

    main_path = root / "main.rbk"
    text = main_path.read_text()
    uri = main_path.as_uri()
    client.text_document_did_open(
        t.DidOpenTextDocumentParams(
            text_document=t.TextDocumentItem(uri=uri, language_id="rbk", version=1, text=text)
        )
    )
    await asyncio.wait_for(published.wait(), 30)
    for d in diagnostics[uri]:
        print("diagnostic", d.range.start.line, d.range.start.character, d.code, d.message.splitlines()[0])

    def pos(needle: str, shift: int = 0) -> t.Position:
        for i, line in enumerate(text.splitlines()):
            c = line.find(needle)
            if c >= 0:
                return t.Position(line=i, character=len(line[: c + shift].encode("utf-16-le")) // 2)
        raise AssertionError(needle)

    doc = t.TextDocumentIdentifier(uri=uri)
    hover = await client.text_document_hover_async(t.HoverParams(text_document=doc, position=pos("ticket.title", 1)))
    print("hover", hover.contents.value.splitlines()[1])
    print("hover-range", hover.range.start.line, hover.range.start.character, hover.range.end.character)

    definition = await client.text_document_definition_async(
        t.DefinitionParams(text_document=doc, position=pos(".get(", 2))
    )
    loc = definition if isinstance(definition, t.Location) else definition[0]
    print("definition", Path(loc.uri).name, loc.range.start.line, loc.range.start.character)

    refs = await client.text_document_references_async(
        t.ReferenceParams(
            text_document=doc, position=pos("ticket ="), context=t.ReferenceContext(include_declaration=True)
        )
    )
    print("references", len(refs))

    edit = await client.text_document_rename_async(
        t.RenameParams(text_document=doc, position=pos(".get(", 2), new_name="fetch")
    )
    print("rename-files", len(edit.changes))

    completion = await client.text_document_completion_async(
        t.CompletionParams(text_document=doc, position=pos("ticket.title", 7))
    )
    items = completion if isinstance(completion, list) else completion.items
    print("completion", " ".join(sorted(i.label for i in items)))

    sig = await client.text_document_signature_help_async(
        t.SignatureHelpParams(text_document=doc, position=pos("id: number", 0))
    )
    print("signature", sig.signatures[0].label)

    symbols = await client.text_document_document_symbol_async(t.DocumentSymbolParams(text_document=doc))
    print("symbols", " ".join(s.name for s in symbols))

    tokens = await client.text_document_semantic_tokens_full_async(t.SemanticTokensParams(text_document=doc))
    print("semantic-tokens", len(tokens.data) // 5)

    part = await client.text_document_semantic_tokens_range_async(
        t.SemanticTokensRangeParams(
            text_document=doc, range=t.Range(start=t.Position(line=3, character=0), end=t.Position(line=5, character=0))
        )
    )
    print("semantic-tokens-range", len(part.data) // 5)

    marks = await client.text_document_document_highlight_async(
        t.DocumentHighlightParams(text_document=doc, position=pos("ticket =", 0))
    )
    print("highlights", " ".join(str(h.kind.value if h.kind else 0) for h in marks))

    found = await client.workspace_symbol_async(t.WorkspaceSymbolParams(query="get"))
    print("workspace-symbols", " ".join(s.name for s in found))

    edits = await client.text_document_formatting_async(
        t.DocumentFormattingParams(text_document=doc, options=t.FormattingOptions(tab_size=2, insert_spaces=True))
    )
    print("formatting-edits", len(edits or []))

    err = diagnostics[uri][0]
    actions = await client.text_document_code_action_async(
        t.CodeActionParams(
            text_document=doc, range=err.range, context=t.CodeActionContext(diagnostics=[err])
        )
    )
    print("code-action", actions[0].title if actions else "none")

    # An edit, then the diagnostics of that version.
    published.clear()
    start = pos("numbr")
    client.text_document_did_change(
        t.DidChangeTextDocumentParams(
            text_document=t.VersionedTextDocumentIdentifier(uri=uri, version=2),
            content_changes=[
                PartialChange(
                    range=t.Range(start=start, end=t.Position(line=start.line, character=start.character + 5)),
                    text="number",
                )
            ],
        )
    )
    await asyncio.wait_for(published.wait(), 30)
    print("after-edit", len(diagnostics[uri]))

    await client.shutdown_async(None)
    client.exit(None)
    await client.stop()
    print("done")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], Path(sys.argv[2])))
