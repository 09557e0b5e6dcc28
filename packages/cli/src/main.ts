#!/usr/bin/env node
// The `geoml` executable: runs the command line on this process's arguments and exits with its code.
import { main } from './cli.js';

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e) => {
    process.stderr.write(`geoml: ${(e as Error).stack ?? e}\n`);
    process.exit(1);
  },
);
