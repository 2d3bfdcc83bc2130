#!/usr/bin/env node
const HELP = `Usage: tslay <command> [options]

Commands:
  echo       run an echo server
  connect    connect to a WebSocket server
  serve      serve a directory and the echo/chat protocols

Run 'tslay <command> --help' for a command's options.`;

type Command = (argv: string[]) => Promise<number>;
const commands: Record<string, () => Promise<Command>> = {
  echo: async () => (await import('./echo.ts')).echo,
  connect: async () => (await import('./connect.ts')).connectCommand,
  serve: async () => (await import('./serve.ts')).serveCommand,
};

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(`${HELP}\n`);
    return 0;
  }
  const load = commands[name];
  if (load === undefined) {
    process.stderr.write(`tslay: unknown command '${name}'\n\n${HELP}\n`);
    return 2;
  }
  return (await load())(rest);
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`tslay: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 1;
  },
);
