// Starts `rbk lsp` for .rbk files; every feature comes from the server.

import * as vscode from "vscode";
import {
  LanguageClient,
  LanguageClientOptions,
  ServerOptions,
  TransportKind,
} from "vscode-languageclient/node";

let client: LanguageClient | undefined;

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  const config = vscode.workspace.getConfiguration("rbk");
  const command = config.get<string>("path", "rbk");
  const args = ["lsp", ...config.get<string[]>("extraArgs", [])];
  const serverOptions: ServerOptions = {
    run: { command, args, transport: TransportKind.stdio },
    debug: { command, args, transport: TransportKind.stdio },
  };
  const clientOptions: LanguageClientOptions = {
    documentSelector: [
      { scheme: "file", language: "rbk" },
      { scheme: "untitled", language: "rbk" },
    ],
    synchronize: {
      fileEvents: vscode.workspace.createFileSystemWatcher("**/*.rbk"),
    },
  };
  client = new LanguageClient("rbk", "rbk language server", serverOptions, clientOptions);
  context.subscriptions.push(
    vscode.commands.registerCommand("rbk.restartServer", async () => {
      await client?.restart();
    }),
  );
  await client.start();
}

export async function deactivate(): Promise<void> {
  await client?.stop();
}
