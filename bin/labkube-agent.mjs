#!/usr/bin/env node
// `labkube-agent ...` = `labkube agent ...`, run from a checkout through tsx (tests spawn it).
// Boards run the bundled dist/labkube-agent.mjs instead (`npm run bundle`).
import { register } from 'tsx/esm/api';

register();
await import('../agent/cli.ts');
