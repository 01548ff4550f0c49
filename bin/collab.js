#!/usr/bin/env node
// Installed entry point: runs the compiled CLI (built by `npm ci` / `npm run build`).
import '../dist/cli/collab.js'
