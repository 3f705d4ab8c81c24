#!/usr/bin/env node
// Runs the TypeScript entry point through tsx, so `npx labctl` works from a checkout.
import { register } from 'tsx/esm/api';

register();
await import('../control-plane/cli/main.ts');
